"""Multi-head attention of a Hiera block, with optional max-pooling of the queries."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..fused_linear import linear


def pool2x(x: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Max-pool a channels-last (B, H, W, C) tensor (kernel = stride, no padding, floor); views welcome.

    Written as element-wise maxima of strided slices, rows first, then
    columns: (sh - 1) + (sw - 1) passes over shrinking data, each a
    contiguous write, several times faster on a CPU than a reduction over a
    6-D view or a channels-first ``max_pool2d``.  Returns a new contiguous
    (B, H // sh, W // sw, C) tensor.
    """
    b, h, w, c = x.shape
    sh, sw = stride
    h2, w2 = h // sh, w // sw
    rows = _max_of_slices([x[:, i : h2 * sh : sh] for i in range(sh)])
    return _max_of_slices([rows[:, :, j : w2 * sw : sw] for j in range(sw)])


def _max_of_slices(parts: list[torch.Tensor]) -> torch.Tensor:
    """Element-wise maximum of equally shaped tensors, as a new contiguous tensor."""
    if len(parts) == 1:
        return parts[0].clone(memory_format=torch.contiguous_format)
    out = torch.maximum(parts[0], parts[1])
    for part in parts[2:]:
        torch.maximum(out, part, out=out)
    return out


class HieraAttention(nn.Module):
    """Attention among the tokens of each window (or of the whole grid).

    With ``q_stride`` the queries are max-pooled over the window's grid
    before attending, so the output grid is smaller by that stride (how
    Hiera moves to the next stage); keys and values are not pooled.

    Parameters
    ----------
    dim, dim_out : int
        Input and output channels (``qkv``: dim -> 3 dim_out; ``proj``: dim_out -> dim_out).
    num_heads : int
        Heads; the scale is 1 / sqrt(dim_out / num_heads).
    q_stride : (int, int) or None
        Query pooling.
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_stride: tuple[int, int] | None = None) -> None:
        super().__init__()
        if dim_out % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide dim_out {dim_out}")
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_stride = q_stride
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (B, h, w, dim) -> (B, h', w', dim_out); h' = h / stride with query pooling."""
        b, h, w, _ = x.shape
        heads, d = self.num_heads, self.dim_out // self.num_heads
        qkv = linear(x, self.qkv.weight, self.qkv.bias).view(b, h * w, 3, heads, d)
        q, k, v = qkv.unbind(2)  # (B, T, heads, d) views
        if self.q_stride:
            q = pool2x(q.view(b, h, w, heads * d), self.q_stride)
            h, w = q.shape[1:3]
            q = q.view(b, h * w, heads, d)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        out = out.transpose(1, 2).reshape(b, h, w, self.dim_out)
        return linear(out, self.proj.weight, self.proj.bias)
