"""SAM 2.1 memory modules: checkpoint layout, strict loading, position encodings."""

from __future__ import annotations

import json
import math

import pytest
import torch

from promptseg.model.sam2.memory_attention import MemoryAttention
from promptseg.model.sam2.memory_encoder import MemoryEncoder
from promptseg.model.sam2.rope import axial_rotation, rotate_
from promptseg.model.sam2.rope_attention import RoPEAttention
from promptseg.model.sam2.temporal_encoding import sine_offset_encoding

PUBLISHED = ["sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large"]


def _shapes(module: torch.nn.Module, prefix: str) -> dict[str, list[int]]:
    return {prefix + k: list(v.shape) for k, v in module.state_dict().items()}


def _published(shared_dir, name: str, prefix: str) -> dict[str, list[int]]:
    keys = json.loads((shared_dir / "fixtures" / "sam2" / "checkpoint_keys.json").read_text())[name]
    return {k: v for k, v in keys.items() if k.startswith(prefix)}


@pytest.mark.parametrize("name", PUBLISHED)
def test_memory_modules_match_published_layout(shared_dir, name):
    assert _shapes(MemoryAttention(256, 64, num_layers=4, ffn_dim=2048), "memory_attention.") == _published(
        shared_dir, name, "memory_attention."
    )
    assert _shapes(MemoryEncoder(256, 64, fuser_layers=2), "memory_encoder.") == _published(
        shared_dir, name, "memory_encoder."
    )


def test_memory_modules_load_fixture_strictly(shared_dir):
    state = torch.load(
        shared_dir / "fixtures" / "sam2" / "small_hiera" / "state_dict.pt", map_location="cpu", weights_only=True
    )
    for prefix, module in (
        ("memory_attention.", MemoryAttention(256, 64, num_layers=2, ffn_dim=512)),
        ("memory_encoder.", MemoryEncoder(256, 64, fuser_layers=2)),
    ):
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        module.load_state_dict(part, strict=True)
        with pytest.raises(RuntimeError):
            MemoryAttention(256, 64, num_layers=3, ffn_dim=512).load_state_dict(
                {k[len("memory_attention.") :]: v for k, v in state.items() if k.startswith("memory_attention.")}
            )


def _rotated(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    return rotate_(x.clone()[None], rotation, num_heads=1)[0]


def test_rotation_depends_only_on_offset():
    # <rot(q, m), rot(k, n)> must depend on n - m only (per axis).
    rotation = axial_rotation(8, (4, 5))
    q, k = torch.randn(8), torch.randn(8)
    rq, rk = _rotated(q.expand(20, 8), rotation), _rotated(k.expand(20, 8), rotation)

    def score(m: int, n: int) -> float:
        return float(rq[m] @ rk[n])

    # token (y, x) is y * 5 + x: (0, 1)->(1, 3) and (2, 0)->(3, 2) share the offset (1, 2)
    assert score(1, 8) == pytest.approx(score(10, 17), abs=1e-5)
    assert score(1, 8) != pytest.approx(score(1, 9), abs=1e-3)
    # token 0 is not rotated; the norm never changes
    assert torch.equal(rq[0], q)
    assert rq.norm(dim=1) == pytest.approx([float(q.norm())] * 20, rel=1e-5)


def test_rotation_of_one_pair_by_hand():
    rotation = axial_rotation(4, (1, 3), theta=100.0)
    # head width 4: pair 0 turns with x at frequency 1, pair 1 with y (always 0 here)
    out = _rotated(torch.tensor([[1.0, 0.0, 1.0, 0.0]] * 3), rotation)
    assert out[2].tolist() == pytest.approx([math.cos(2), math.sin(2), 1.0, 0.0], abs=1e-6)
    # copies of the grid turn alike; two heads share the rotation
    twice = rotate_(torch.tensor([[1.0, 0.0, 1.0, 0.0] * 2] * 6)[None], rotation, num_heads=2)[0]
    assert torch.allclose(twice[5], torch.cat([out[2], out[2]]), atol=1e-6)


def test_rope_attention_rejects_partial_grids():
    attn = RoPEAttention(8, 2, kv_dim=4, grid=(2, 2))
    with pytest.raises(ValueError, match="whole copies"):
        attn(torch.randn(1, 4, 8), torch.randn(1, 7, 4), torch.randn(1, 7, 4))
    with pytest.raises(ValueError, match="2x2 grid"):
        attn(torch.randn(1, 5, 8), torch.randn(1, 8, 4), torch.randn(1, 8, 4))
    out = attn(torch.randn(1, 4, 8), torch.randn(1, 11, 4), torch.randn(1, 11, 4), num_unrotated=3)
    assert out.shape == (1, 4, 8)


def test_pointer_tokens_are_not_rotated():
    # a pointer token's score must not change when it is moved to another place among the pointers
    torch.manual_seed(0)
    attn = RoPEAttention(8, 1, kv_dim=4, grid=(2, 2)).eval()
    q, grid_mem = torch.randn(1, 4, 8), torch.randn(1, 4, 4)
    a, b = torch.randn(1, 1, 4), torch.randn(1, 1, 4)
    one = attn(q, torch.cat([grid_mem, a, b], 1), torch.cat([grid_mem, a, b], 1), num_unrotated=2)
    two = attn(q, torch.cat([grid_mem, b, a], 1), torch.cat([grid_mem, b, a], 1), num_unrotated=2)
    assert torch.allclose(one, two, atol=1e-6)


def test_sine_offset_encoding_by_hand():
    # 8 channels: 4 frequencies 1, 1, 1/100, 1/100 (each exponent pairs up, as in the official code)
    enc = sine_offset_encoding(torch.tensor([0.0, 0.5]), 8)
    assert enc[0].tolist() == [0.0] * 4 + [1.0] * 4
    sines = [math.sin(0.5)] * 2 + [math.sin(0.005)] * 2
    cosines = [math.cos(0.5)] * 2 + [math.cos(0.005)] * 2
    assert enc[1].tolist() == pytest.approx(sines + cosines, abs=1e-6)


def test_memory_encoder_shapes():
    enc = MemoryEncoder(32, 8, fuser_layers=1)
    out = enc(torch.randn(1, 32, 4, 4), torch.randn(3, 1, 64, 64))
    assert out.shape == (3, 8, 4, 4)
    assert enc.position((4, 4)).shape == (1, 8, 4, 4)


def test_memory_attention_shapes():
    attn = MemoryAttention(16, 8, num_layers=2, ffn_dim=32, num_heads=2, grid=(2, 3))
    out = attn(torch.randn(2, 6, 16), torch.randn(1, 6, 16), torch.randn(2, 2 * 6 + 4, 8), torch.randn(2, 16, 8), 4)
    assert out.shape == (2, 6, 16)
