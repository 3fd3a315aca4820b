"""SAM 2.1 builders: the exact checkpoint layout of the four published models; the trunk's geometry."""

from __future__ import annotations

import json

import pytest
import torch

from promptseg.model.sam2.build import build_image_encoder, build_sam2
from promptseg.model.sam2.config import SAM2_ARCHITECTURES, SAM2_CHECKPOINT_NAMES, Sam2Config

from sam2_fixture import FIXTURE_CONFIG


@pytest.fixture(scope="module")
def sam2_keys(shared_dir) -> dict[str, dict[str, list[int]]]:
    return json.loads((shared_dir / "fixtures" / "sam2" / "checkpoint_keys.json").read_text())


@pytest.mark.parametrize("arch", list(SAM2_ARCHITECTURES))
def test_builder_makes_exactly_the_published_keys_and_shapes(sam2_keys, shared_dir, arch):
    with torch.device("meta"):
        model = build_sam2(arch)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    published = sam2_keys[SAM2_CHECKPOINT_NAMES[arch]]
    assert sorted(set(ours) - set(published)) == [] and sorted(set(published) - set(ours)) == []
    assert ours == published
    registry = json.loads((shared_dir / "model_registry.json").read_text())["checkpoints"]
    millions = next(e["params_millions"] for e in registry if e["name"] == SAM2_CHECKPOINT_NAMES[arch])
    params = sum(v.numel() for v in model.state_dict().values())
    assert int(params / 1e5) / 10 == millions  # published truncated to 0.1 M


def test_builder_takes_architecture_numbers(shared_dir):
    state = torch.load(shared_dir / "fixtures/sam2/small_hiera/state_dict.pt", map_location="cpu", weights_only=True)
    with torch.device("meta"):
        model = build_sam2(FIXTURE_CONFIG)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in state.items()}


def test_unknown_architecture_name():
    with pytest.raises(ValueError, match="unknown SAM 2.1 architecture 'hiera_x'"):
        build_sam2("hiera_x")
    with pytest.raises(ValueError, match="unknown architecture keys"):
        Sam2Config.from_dict({"embed_dim": 24, "depth": 3})


def test_config_round_trip():
    config = SAM2_ARCHITECTURES["hiera_b+"]
    assert Sam2Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.stage_dims == (112, 224, 448, 896) and config.embedding_size == 64


def test_image_encoder_strides_and_widths():
    torch.manual_seed(0)
    encoder = build_image_encoder(FIXTURE_CONFIG).eval()
    with torch.inference_mode():
        trunk = encoder.trunk(torch.randn(1, 3, 256, 256))
        maps = encoder(torch.randn(1, 3, 256, 256))
    assert [tuple(t.shape) for t in trunk] == [(1, 24, 64, 64), (1, 48, 32, 32), (1, 96, 16, 16), (1, 192, 8, 8)]
    assert [tuple(m.shape) for m in maps] == [(1, 256, 64, 64), (1, 256, 32, 32), (1, 256, 16, 16)]
    # blocks: window of the stage, a stage's first block keeps the previous stage's window, block 3 global
    assert [b.window_size for b in encoder.trunk.blocks] == [8, 8, 4, 0, 14]
    assert [b.q_stride for b in encoder.trunk.blocks] == [None, (2, 2), (2, 2), None, (2, 2)]


@pytest.mark.parametrize(
    "dim, dim_out, heads, q_stride, window, grid",
    [(16, 16, 2, None, 8, (40, 30)), (16, 32, 2, (2, 2), 14, (64, 64)), (16, 32, 1, (2, 2), 8, (32, 48))],
)
def test_striped_block_equals_whole_grid(monkeypatch, dim, dim_out, heads, q_stride, window, grid):
    """Windowed blocks run in stripes of whole windows; padding and pooling stay exact."""
    from promptseg.model.sam2 import hiera_block
    from promptseg.model.sam2.hiera_block import HieraBlock

    torch.manual_seed(1)
    block = HieraBlock(dim, dim_out, heads, q_stride=q_stride, window_size=window).eval()
    x = torch.randn(1, *grid, dim)
    with torch.inference_mode():
        monkeypatch.setattr(hiera_block, "STRIPE_TOKENS", 10**9)
        whole = block(x)
        monkeypatch.setattr(hiera_block, "STRIPE_TOKENS", 1)
        striped = block(x)
    stride = q_stride[0] if q_stride else 1
    assert whole.shape == (1, grid[0] // stride, grid[1] // stride, dim_out)
    torch.testing.assert_close(striped, whole, atol=1e-5, rtol=0)
