"""A tiny random-weight SAM shared by backend and CLI tests (fast on a CPU)."""

from __future__ import annotations

import pytest
import torch

from promptseg.backends.sam import SamBackend
from promptseg.model.build import build_sam
from promptseg.model.config import SamConfig

TINY = SamConfig(
    encoder="vit", img_size=256, embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,),
    window_size=4, decoder_mlp_dim=64,
)


@pytest.fixture(scope="session")
def tiny_model():
    torch.manual_seed(0)
    model = build_sam(TINY)
    with torch.no_grad():  # random, non-degenerate weights everywhere (defaults leave zeros)
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model


@pytest.fixture(scope="session")
def tiny_backend(tiny_model):
    return SamBackend(tiny_model, name="tiny", checkpoint_hash="test")
