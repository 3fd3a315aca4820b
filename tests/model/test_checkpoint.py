"""Reading checkpoint files, inferring architectures, strict loading."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from promptseg.errors import CheckpointError
from promptseg.model.checkpoint import (
    LoadedCheckpoint,
    infer_config,
    load_sam,
    load_strict,
    read_state_dict,
    unwrap_state_dict,
)
from promptseg.model.config import ARCHITECTURES, SamConfig
from promptseg.model.download import content_hash, file_hash
from promptseg.model.registry import CheckpointInfo, get_info, registry_names

SMALL = ["small_vit", "small_tinyvit"]
FORMATS = ["plain", "micro_sam", "model", "state_dict", "data_parallel"]


def _wrap(state: dict, fmt: str) -> object:
    if fmt == "plain":
        return state
    if fmt == "micro_sam":
        decoder = {"encoders.0.weight": torch.zeros(2, 2)}
        return {"model_state": {"sam." + k: v for k, v in state.items()}, "decoder_state": decoder}
    if fmt == "data_parallel":
        return {"module." + k: v for k, v in state.items()}
    return {fmt: state, "epoch": 3, "optimizer": {"lr": 0.1}}


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


@pytest.fixture(scope="module")
def small_configs(shared_dir) -> dict[str, SamConfig]:
    fixtures = shared_dir / "fixtures" / "sam"
    return {name: SamConfig.from_dict(json.loads((fixtures / name / "config.json").read_text())) for name in SMALL}


@pytest.fixture(scope="module")
def small_states(small_configs) -> dict[str, dict[str, torch.Tensor]]:
    """Random-weight state dicts built by our own builder from the fixture configs."""
    from promptseg.model.build import build_sam

    torch.manual_seed(0)
    return {name: build_sam(config).state_dict() for name, config in small_configs.items()}


@pytest.fixture(scope="module")
def published_keys(shared_dir) -> dict[str, dict[str, list[int]]]:
    return json.loads((shared_dir / "fixtures" / "sam" / "checkpoint_keys.json").read_text())


def _meta_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


# ------------------------------------------------------------------ inference


@pytest.mark.parametrize("arch", ["vit_b", "vit_l", "vit_h", "vit_t"])
def test_infer_published_architectures(published_keys, arch):
    assert infer_config(_meta_state(published_keys[arch])) == ARCHITECTURES[arch]


@pytest.mark.parametrize("arch", ["vit_b", "vit_l", "vit_h", "vit_t"])
def test_published_keys_load_strictly_into_our_builder(published_keys, arch):
    from promptseg.model.build import build_sam

    with torch.device("meta"):
        model = build_sam(ARCHITECTURES[arch])
    load_strict(model, _meta_state(published_keys[arch]))


@pytest.mark.parametrize("name", SMALL)
def test_infer_fixture_state_dicts(shared_dir, small_configs, name):
    state = read_state_dict(shared_dir / "fixtures" / "sam" / name / "state_dict.pt")
    assert infer_config(state) == small_configs[name]


def test_infer_rejects_non_sam_state_dict():
    with pytest.raises(CheckpointError, match="not a SAM-family checkpoint"):
        infer_config({"fc.weight": torch.zeros(2, 2)})


def test_infer_vit_without_rel_pos_falls_back_to_published_numbers(published_keys):
    shapes = {k: v for k, v in published_keys["vit_b"].items() if "rel_pos" not in k}
    assert infer_config(_meta_state(shapes)) == replace(ARCHITECTURES["vit_b"], use_rel_pos=False)


# --------------------------------------------------------------------- reading


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", SMALL)
def test_read_and_infer_wrapped_formats(tmp_path, small_states, small_configs, name, fmt):
    path = _save(_wrap(small_states[name], fmt), tmp_path / "ckpt.pt")
    state = read_state_dict(path)
    assert list(state) == list(small_states[name])
    assert infer_config(state) == small_configs[name]


def test_unwrap_strips_sam_prefix_only_from_model_state():
    tensor = torch.zeros(1)
    assert unwrap_state_dict({"model_state": {"sam.a": tensor, "b": tensor}}) .keys() == {"a", "b"}
    assert unwrap_state_dict({"sam.a": tensor, "b": tensor}).keys() == {"sam.a", "b"}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot read checkpoint"),
        (b"not a torch file at all", "cannot read checkpoint"),
        (torch.zeros(3), "does not contain a state dict"),
        ({}, "does not contain a state dict"),
        ({"weights": torch.zeros(1), "epoch": 3}, "entries that are not tensors 1: epoch"),
        (Path("x"), "cannot read checkpoint"),  # not an allowed global under weights_only
    ],
)
def test_read_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        read_state_dict(path)


def test_read_rejects_truncated_file(tmp_path, small_states):
    path = _save(small_states["small_vit"], tmp_path / "full.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        read_state_dict(truncated)


def test_read_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "nope.pt")


# -------------------------------------------------------------------- loading


@pytest.mark.parametrize("fmt", ["plain", "micro_sam"])
@pytest.mark.parametrize("name", SMALL)
def test_load_sam_from_path(tmp_path, small_states, small_configs, name, fmt):
    path = _save(_wrap(small_states[name], fmt), tmp_path / f"{name}.pt")
    model, loaded = load_sam(path)
    assert isinstance(loaded, LoadedCheckpoint)
    assert (loaded.name, loaded.path, loaded.config) == (path.name, path, small_configs[name])
    assert loaded.architecture is None and loaded.registry_name is None
    assert loaded.content_hash == content_hash(path)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, small_states[name][key]), key


@pytest.mark.parametrize("name", SMALL)
def test_load_fixture_checkpoints(shared_dir, name):
    model, loaded = load_sam(shared_dir / "fixtures" / "sam" / name / "state_dict.pt")
    assert loaded.config.encoder == ("vit" if name == "small_vit" else "tiny_vit")


def _mutated(state: dict, change: str) -> tuple[dict, str]:
    state = dict(state)
    if change == "wrong shape":
        key = "mask_decoder.iou_token.weight"
        state[key] = torch.zeros(2, 256)
    elif change == "missing key":
        key = "prompt_encoder.not_a_point_embed.weight"
        del state[key]
    else:
        key = "mask_decoder.extra_head.weight"
        state[key] = torch.zeros(3)
    return state, key


@pytest.mark.parametrize(
    "change, label", [("wrong shape", "shape mismatches 1"), ("missing key", "missing keys 1"), ("unexpected key", "unexpected keys 1")]
)
def test_strict_loading_names_the_key(tmp_path, small_states, change, label):
    state, key = _mutated(small_states["small_vit"], change)
    path = _save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as err:
        load_sam(path)
    message = str(err.value)
    assert key in message and label in message and str(path) in message
    if change == "wrong shape":
        assert "(2, 256)" in message and "(1, 256)" in message


def test_key_needed_for_inference_missing(tmp_path, small_states):
    state = dict(small_states["small_vit"])
    del state["mask_decoder.mask_tokens.weight"]
    path = _save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="mask_decoder.mask_tokens.weight") as err:
        load_sam(path)
    assert str(path) in str(err.value)


def test_strict_loading_summarises_many_problems(small_states):
    from promptseg.model.build import build_sam

    state = {k: v for k, v in small_states["small_vit"].items() if not k.startswith("mask_decoder.")}
    model = build_sam(infer_config(small_states["small_vit"]))
    with pytest.raises(CheckpointError, match=r"missing keys \d+: .*\.\.\. \(\d+ more\)"):
        load_strict(model, state, source="test file")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path, small_states, bad):
    state = {k: v.clone() for k, v in small_states["small_vit"].items()}
    state["mask_decoder.iou_prediction_head.layers.0.weight"][0, 0] = bad
    path = _save(state, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=r"NaN or infinite weights in 1: mask_decoder\.iou_prediction_head"
                                              r"\.layers\.0\.weight.*Download it again") as err:
        load_sam(path)
    assert str(path) in str(err.value)


def test_tinyvit_index_buffers_in_file_are_ignored(tmp_path, small_states):
    state = dict(small_states["small_tinyvit"])
    state["image_encoder.layers.1.blocks.0.attn.attention_bias_idxs"] = torch.zeros(49, 49, dtype=torch.long)
    model, _ = load_sam(_save(state, tmp_path / "with_idxs.pt"))
    assert not model.training


def test_load_sam_unknown_name_or_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="neither a checkpoint file nor a registry name") as err:
        load_sam("sam_vit_x")
    assert all(name in str(err.value) for name in registry_names())
    with pytest.raises(CheckpointError, match="neither"):
        load_sam(tmp_path / "missing.pt")


def _file_info(path: Path, architecture: str) -> CheckpointInfo:
    base = get_info("mobile_sam_vit_t")
    return replace(base, architecture=architecture, url=path.as_uri(), mirrors=(), hash=file_hash(path), other_hashes=())


def test_load_sam_registry_entry_end_to_end(tmp_path):
    """A vit_t checkpoint served from a file:// URL is fetched, verified, cached and loaded."""
    from promptseg.model.build import build_sam

    source = _save(build_sam("vit_t").state_dict(), tmp_path / "mobile_sam.pt")
    info = _file_info(source, "vit_t")
    model, loaded = load_sam(info, cache_dir=tmp_path / "cache", progress=False)
    assert loaded.path == tmp_path / "cache" / "mobile_sam_vit_t.pt"
    assert (loaded.registry_name, loaded.architecture, loaded.config) == ("mobile_sam_vit_t", "vit_t", ARCHITECTURES["vit_t"])
    assert loaded.content_hash == content_hash(source)
    assert not model.training


def test_load_sam_registry_entry_with_wrong_architecture(tmp_path, shared_dir):
    source = shared_dir / "fixtures" / "sam" / "small_tinyvit" / "state_dict.pt"
    with pytest.raises(CheckpointError, match="does not fit the vit_t architecture: .*shape mismatches"):
        load_sam(_file_info(source, "vit_t"), cache_dir=tmp_path, progress=False)
