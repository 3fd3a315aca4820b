"""The SAM 2.1 encoder's fused shortcuts compute what the plain formulas compute.

Hiera blocks add the attention's windows into the residual in window order,
pool by strided maxima and write into a preallocated output; the neck
composes ``conv_s0`` / ``conv_s1`` with the lateral convolutions.  Each is
set against the textbook sequence of modules (nn.LayerNorm, nn.Linear,
max_pool2d, an unpartition copy, conv after neck), random weights.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from promptseg.model.sam2 import hiera_block
from promptseg.model.sam2.fpn_neck import FpnNeck
from promptseg.model.sam2.hiera_attention import pool2x
from promptseg.model.sam2.hiera_block import HieraBlock, window_partition, window_unpartition


def _max_pool(x: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    return F.max_pool2d(x.permute(0, 3, 1, 2), stride, stride).permute(0, 2, 3, 1)


def _textbook_block(block: HieraBlock, x: torch.Tensor) -> torch.Tensor:
    """The block as the official code spells it: whole grid, partition / unpartition copies, modules."""
    shortcut, x = x, block.norm1(x)
    if block.dim != block.dim_out:
        shortcut = block.proj(x)
        if block.q_stride:
            shortcut = _max_pool(shortcut, block.q_stride)
    size = block.window_size
    if size:
        hw = x.shape[1:3]
        x, padded = window_partition(x, size)
    b, h, w, _ = x.shape
    heads = block.attn.num_heads
    qkv = block.attn.qkv(x).reshape(b, h * w, 3, heads, -1)
    q, k, v = qkv.unbind(2)
    if block.q_stride:
        q = _max_pool(q.reshape(b, h, w, -1), block.q_stride)
        h, w = q.shape[1:3]
        q = q.reshape(b, h * w, heads, -1)
    att = torch.softmax(q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2) * q.shape[-1] ** -0.5, -1)
    x = block.attn.proj((att @ v.transpose(1, 2)).transpose(1, 2).reshape(b, h, w, -1))
    if size:
        if block.q_stride:
            size //= block.q_stride[0]
            hw = shortcut.shape[1:3]
            padded = (hw[0] + -hw[0] % size, hw[1] + -hw[1] % size)
        x = window_unpartition(x, size, padded, hw)
    x = shortcut + x
    return x + block.mlp(block.norm2(x))


@pytest.mark.parametrize("stripe_tokens", [1, 10**9])
@pytest.mark.parametrize(
    "dim, dim_out, q_stride, window, grid",
    [
        (8, 16, (2, 2), 4, (16, 24)),  # pooling, windows tile the grid
        (8, 8, None, 4, (16, 16)),
        (8, 8, None, 3, (10, 7)),  # padded windows
        (8, 16, (2, 2), 6, (12, 10)),  # pooling into padded 3x3 windows
        (8, 8, None, 0, (6, 5)),  # global attention
        (8, 16, (2, 2), 0, (7, 9)),  # global attention with pooling, odd grid
    ],
)
def test_block_equals_the_textbook_block(monkeypatch, stripe_tokens, dim, dim_out, q_stride, window, grid):
    torch.manual_seed(0)
    block = HieraBlock(dim, dim_out, 2, 4.0, q_stride=q_stride, window_size=window).eval()
    for p in block.parameters():
        nn.init.normal_(p, std=0.3)
    x = torch.randn(2, *grid, dim)  # two images: stripes of a batch are not contiguous
    monkeypatch.setattr(hiera_block, "STRIPE_TOKENS", stripe_tokens)
    with torch.inference_mode():
        ours = block(x)
    with torch.no_grad():
        expected = _textbook_block(block, x)
    assert ours.shape == expected.shape and ours.is_contiguous()
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("stride", [(2, 2), (1, 2), (3, 2), (1, 1)])
def test_pool2x_is_max_pool_on_views_and_odd_sizes(stride):
    torch.manual_seed(0)
    x = torch.randn(2, 9, 11, 4, 3)
    for view in (x[..., 0], x.unbind(3)[1], x[..., 0].contiguous()):
        pooled = pool2x(view, stride)
        assert pooled.is_contiguous() and pooled.data_ptr() != view.data_ptr()
        assert torch.equal(pooled, _max_pool(view, stride))


def test_neck_heads_equal_the_convolutions_after_the_neck():
    """conv_s0 / conv_s1 composed with the lateral convolutions (levels nothing else reads), applied after otherwise."""
    torch.manual_seed(0)
    channels = [64, 32, 16, 8]  # coarsest first
    neck = FpnNeck(24, channels, fpn_top_down_levels=(2, 3)).eval()
    heads = {0: nn.Conv2d(24, 3, 1), 1: nn.Conv2d(24, 6, 1), 2: nn.Conv2d(24, 5, 1)}
    xs = [torch.randn(2, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate(channels[::-1])]
    with torch.no_grad():
        plain = neck(xs)
        with_heads = neck(xs, heads)
        for level, head in heads.items():
            torch.testing.assert_close(with_heads[level], head(plain[level]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(with_heads[3], plain[3])
    # a top-down level feeding a finer one keeps its full map for it: the head comes after
    neck_all = FpnNeck(24, channels, fpn_top_down_levels=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        plain, with_heads = neck_all(xs), neck_all(xs, heads)
        for level, head in heads.items():
            torch.testing.assert_close(with_heads[level], head(plain[level]), atol=1e-5, rtol=1e-5)
