"""Builders yield exactly the published checkpoints' keys and shapes."""

from __future__ import annotations

import json

import pytest
import torch

from promptseg.model.build import build_sam
from promptseg.model.config import ARCHITECTURES


@pytest.mark.parametrize("arch", ["vit_b", "vit_l", "vit_h", "vit_t"])
def test_builder_keys_and_shapes(arch, shared_dir):
    expected = json.loads((shared_dir / "fixtures" / "sam" / "checkpoint_keys.json").read_text())[arch]
    with torch.device("meta"):  # shapes only: vit_h would need 2.5 GB otherwise
        model = build_sam(arch)
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert set(got) - set(expected) == set(), "keys the checkpoint lacks"
    assert set(expected) - set(got) == set(), "checkpoint keys the model lacks"
    mismatched = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert mismatched == {}


def test_unknown_architecture_is_rejected():
    with pytest.raises(ValueError, match="vit_b"):
        build_sam("vit_xl")


def test_architectures_differ_only_where_published():
    assert ARCHITECTURES["vit_h"].embed_dim == 1280 and ARCHITECTURES["vit_h"].depth == 32
    assert ARCHITECTURES["vit_t"].encoder == "tiny_vit"
