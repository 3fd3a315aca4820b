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


# ------------------------------------------------------------------ load_sam2


@pytest.fixture(scope="module")
def hiera_t_file(tmp_path_factory):
    """A full-size random-weight hiera_t checkpoint in the official layout ({'model': state dict})."""
    from promptseg.model.sam2.build import build_sam2

    torch.manual_seed(0)
    state = build_sam2("hiera_t").state_dict()
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    return path, state


def test_load_sam2_from_a_file_names_the_model(hiera_t_file):
    from promptseg.model.sam2.load import load_sam2

    path, state = hiera_t_file
    model, loaded = load_sam2(path)
    assert (loaded.architecture, loaded.name, loaded.registry_name) == ("hiera_t", path.name, None)
    assert loaded.config == SAM2_ARCHITECTURES["hiera_t"]
    assert loaded.content_hash.startswith(("xxh128:", "sha256:"))
    ours = model.state_dict()
    assert all(torch.equal(ours[key], value) for key, value in state.items())
    assert not model.training


def test_load_sam2_through_the_registry(hiera_t_file, tmp_path):
    from dataclasses import replace

    from promptseg.model.download import file_hash
    from promptseg.model.registry import get_info
    from promptseg.model.sam2.load import load_sam2

    path, _ = hiera_t_file
    info = replace(get_info("sam2.1_hiera_tiny"), url=path.as_uri(), hash=file_hash(path, "sha256"))
    _, loaded = load_sam2(info, cache_dir=tmp_path, progress=False)
    assert loaded.registry_name == "sam2.1_hiera_tiny" and loaded.path == tmp_path / "sam2.1_hiera_tiny.pt"
    wrong = replace(info, name="as_small", architecture="hiera_s")
    with pytest.raises(CheckpointError, match="keys are those of hiera_t"):
        load_sam2(wrong, cache_dir=tmp_path, progress=False)


def test_load_sam2_refuses_sam1_names_and_bad_files(tmp_path, hiera_t_file):
    from promptseg.model.sam2.load import load_sam2

    with pytest.raises(CheckpointError, match="SAM 1-family model.*load_sam"):
        load_sam2("sam_vit_b", cache_dir=tmp_path)
    with pytest.raises(CheckpointError, match="neither a checkpoint file nor a registry name"):
        load_sam2(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(hiera_t_file[0].read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_sam2(corrupt)
    path, state = hiera_t_file
    partial = dict(state)
    del partial["sam_mask_decoder.conv_s0.weight"]
    partial["extra.weight"] = torch.zeros(1)
    torch.save({"model": partial}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"missing keys 1: sam_mask_decoder.conv_s0.weight.*unexpected keys 1"):
        load_sam2(tmp_path / "partial.pt")


def test_load_sam2_refuses_unpickling_objects(tmp_path):
    from promptseg.model.sam2.load import load_sam2

    path = tmp_path / "pickled.pt"
    torch.save({"model": {"x": torch.zeros(1)}, "config": object()}, path)
    with pytest.raises(CheckpointError, match="for safety") as err:
        load_sam2(path)
    assert "weights_only=False" not in str(err.value)
