"""SAM 2.1 checkpoints: recognised from their keys, named, refused by the SAM 1 loader with a clear message."""

from __future__ import annotations

import json

import pytest
import torch

from promptseg.errors import CheckpointError
from promptseg.model.checkpoint import load_sam
from promptseg.model.sam2.config import SAM2_ARCHITECTURES, SAM2_CHECKPOINT_NAMES
from promptseg.model.sam2.identify import identify_sam2, is_sam2_state, trunk_layout

PUBLISHED = {name: arch for arch, name in SAM2_CHECKPOINT_NAMES.items()}


@pytest.fixture(scope="module")
def sam2_keys(shared_dir) -> dict[str, dict[str, list[int]]]:
    return json.loads((shared_dir / "fixtures" / "sam2" / "checkpoint_keys.json").read_text())


@pytest.fixture(scope="module")
def fixture_state(shared_dir) -> dict[str, torch.Tensor]:
    path = shared_dir / "fixtures" / "sam2" / "small_hiera" / "state_dict.pt"
    return torch.load(path, map_location="cpu", weights_only=True)


def _meta(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_each_published_model_is_named_from_its_keys(sam2_keys, name):
    state = _meta(sam2_keys[name])
    assert is_sam2_state(state)
    assert identify_sam2(state) == PUBLISHED[name]
    config = SAM2_ARCHITECTURES[PUBLISHED[name]]
    assert trunk_layout(state)["stages"] == config.stages


def test_published_trunks_are_told_apart(sam2_keys):
    layouts = [tuple(map(str, trunk_layout(_meta(sam2_keys[name])).values())) for name in PUBLISHED]
    assert len(set(layouts)) == 4


def test_sam1_keys_are_not_sam2(shared_dir):
    keys = json.loads((shared_dir / "fixtures" / "sam" / "checkpoint_keys.json").read_text())
    assert not any(is_sam2_state(_meta(shapes)) for shapes in keys.values())
    with pytest.raises(CheckpointError, match="not a SAM 2 checkpoint"):
        identify_sam2(_meta(keys["vit_b"]))


def test_sam2_0_file_is_refused_with_the_2_1_names(sam2_keys):
    state = _meta(sam2_keys["sam2.1_hiera_tiny"])
    del state["no_obj_embed_spatial"], state["obj_ptr_tpos_proj.weight"], state["obj_ptr_tpos_proj.bias"]
    with pytest.raises(CheckpointError, match="SAM 2.0") as err:
        identify_sam2(state)
    assert "sam2.1_hiera_tiny" in str(err.value)


def test_unpublished_trunk_says_how_to_build_it(fixture_state):
    assert trunk_layout(fixture_state) == {
        "embed_dim": 24, "stages": (1, 1, 2, 1), "window_pos_embed_bkg_spatial_size": (7, 7), "window0": 8
    }
    with pytest.raises(CheckpointError, match="none of the published models.*build_sam2"):
        identify_sam2(fixture_state)


def test_sam1_loader_names_a_sam2_registry_entry_without_downloading(tmp_path):
    with pytest.raises(CheckpointError, match=r"SAM 2.1 model \(hiera_t\).*load_sam2"):
        load_sam("sam2.1_hiera_tiny", cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())


def test_sam1_loader_refuses_a_sam2_file_clearly(tmp_path, fixture_state):
    path = tmp_path / "sam2.pt"
    torch.save({"model": fixture_state}, path)
    with pytest.raises(CheckpointError, match="SAM 2.1 checkpoint") as err:
        load_sam(path)
    assert str(path) in str(err.value)
