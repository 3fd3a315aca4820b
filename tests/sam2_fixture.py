"""SAM 2.1 test models: the small random-weight model of ../shared/fixtures/sam2/small_hiera, and a tiny one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from promptseg.model.checkpoint import load_strict
from promptseg.model.sam2.build import build_sam2
from promptseg.model.sam2.config import Sam2Config
from promptseg.model.sam2.sam2_model import Sam2Model

#: The numbers of small_hiera/config.yaml (everything else as published).
FIXTURE_CONFIG = Sam2Config(
    embed_dim=24,
    num_heads=1,
    stages=(1, 1, 2, 1),
    global_att_blocks=(3,),
    window_pos_embed_bkg_spatial_size=(7, 7),
    window_spec=(8, 4, 14, 7),
    memory_attention_layers=2,
    memory_attention_ffn_dim=512,
)


def golden_case(shared_dir: Path, kind: str) -> tuple[dict, dict]:
    """The fixture's ``{kind}_case.npz`` arrays and ``{kind}_prompts.json`` (``kind`` "image" or "video")."""
    folder = shared_dir / "fixtures" / "sam2" / "small_hiera"
    case = np.load(folder / f"{kind}_case.npz")
    return {key: case[key] for key in case.files}, json.loads((folder / f"{kind}_prompts.json").read_text())


def fixture_model(shared_dir: Path) -> Sam2Model:
    """The fixture model with its weights loaded strictly (weights_only)."""
    path = shared_dir / "fixtures" / "sam2" / "small_hiera" / "state_dict.pt"
    model = build_sam2(FIXTURE_CONFIG)
    load_strict(model, torch.load(path, map_location="cpu", weights_only=True), source=str(path))
    return model.eval()


#: A tiny SAM 2.1 (256 px input, 16 x 16 embedding, 32 channels) for backend, store and CLI tests (fast on a CPU).
TINY_SAM2 = Sam2Config(
    embed_dim=8, num_heads=1, stages=(1, 1, 2, 1), global_att_blocks=(3,), window_spec=(8, 4, 4, 2),
    window_pos_embed_bkg_spatial_size=(4, 4), d_model=32, image_size=256, decoder_mlp_dim=64,
    iou_head_hidden_dim=32, memory_attention_layers=1, memory_attention_ffn_dim=64,
)


def tiny_sam2_model(seed: int = 0) -> Sam2Model:
    """:data:`TINY_SAM2` with random, non-degenerate weights everywhere (the builder leaves zeros)."""
    torch.manual_seed(seed)
    model = build_sam2(TINY_SAM2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model.eval()


@pytest.fixture(scope="session")
def hiera_t_file(tmp_path_factory):
    """A full-size hiera_t with the builder's random weights, saved as an official checkpoint ({"model": state dict})."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam2") / "my_hiera.pt"
    torch.save({"model": build_sam2("hiera_t").state_dict()}, path)
    return path


#: A tiny SAM 2.1 whose memory networks run too (d_model 256: the tracker splits pointers into 64-wide tokens).
TRACKER_SAM2 = Sam2Config(
    embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), global_att_blocks=(2,), window_spec=(4, 4, 4, 4),
    image_size=256, memory_attention_layers=1, memory_attention_ffn_dim=32,
)


def tiny_tracker_model(seed: int = 0) -> Sam2Model:
    """:data:`TRACKER_SAM2` with the builder's random weights (as tests/session/test_stack_tracker.py builds it)."""
    torch.manual_seed(seed)
    return build_sam2(TRACKER_SAM2).eval()


def drifting_disc_stack(slices: int = 6, shape=(40, 50)) -> np.ndarray:
    """(slices, H, W) uint8: a bright disk drifting right by 3 px a slice through noisy slices (tracker tests)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    out = rng.integers(0, 60, (slices, *shape)).astype(np.uint8)
    for z in range(slices):
        out[z][(rows - 20) ** 2 + (cols - 15 - 3 * z) ** 2 < 64] = 220
    return out
