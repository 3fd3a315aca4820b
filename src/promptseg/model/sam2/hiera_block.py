"""One Hiera block: (windowed) attention with optional query pooling, then an MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import MLP, gelu
from ..fused_linear import linear
from .hiera_attention import HieraAttention, pool2x

#: Tokens per stripe of a windowed block: intermediates of tens of MB stay in
#: the allocator's heap instead of 100-MB fresh pages, while each operation
#: stays large: on a busy 2-core machine every parallel operation waits for
#: its slowest thread, and 32768-token stripes encoded hiera_t 15 % faster
#: than 8192-token ones (same process, alternating, load average 11).
STRIPE_TOKENS = 32768


def window_partition(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Channels-last (B, H, W, C) -> (B * nW, size, size, C) windows, zero-padding H and W up to multiples of size.

    Returns the windows and the padded (Hp, Wp).
    """
    b, h, w, c = x.shape
    pad_h, pad_w = -h % size, -w % size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // size, size, wp // size, size, c).transpose(2, 3)
    return x.reshape(-1, size, size, c), (hp, wp)


def window_unpartition(windows: torch.Tensor, size: int, padded: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, size, size, C) -> (B, H, W, C), padding dropped."""
    hp, wp = padded
    c = windows.shape[-1]
    b = windows.shape[0] // ((hp // size) * (wp // size))
    x = windows.view(b, hp // size, wp // size, size, size, c).transpose(2, 3).reshape(b, hp, wp, c)
    h, w = hw
    return x[:, :h, :w] if (hp, wp) != (h, w) else x


def add_unpartitioned(
    grid: torch.Tensor, windows: torch.Tensor, size: int, padded: tuple[int, int], out: torch.Tensor
) -> None:
    """``out = grid + window_unpartition(windows)`` without forming the unpartitioned copy.

    grid and out are (B, H, W, C) (views welcome); windows (B * nW, size, size, C).
    """
    b, h, w, c = grid.shape
    if padded != (h, w):
        torch.add(grid, window_unpartition(windows, size, padded, (h, w)), out=out)
        return
    nh, nw = h // size, w // size
    window_order = windows.view(b, nh, nw, size, size, c).transpose(2, 3)
    torch.add(grid.view(b, nh, size, nw, size, c), window_order, out=out.view(b, nh, size, nw, size, c))


class HieraBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``, channels last.

    A block that widens the features (first block of a stage) projects the
    normalised input for the residual (``proj``) and pools it with the
    queries, so the grid halves.

    Windows never mix, and everything but the attention works token by
    token, so a windowed block runs in horizontal stripes of whole windows
    (:data:`STRIPE_TOKENS` tokens or so): the same arithmetic, on
    intermediates small enough to be reused from the heap, each stripe's
    result written straight into the block's output.

    Parameters
    ----------
    dim, dim_out : int
        Input and output channels.
    num_heads : int
        Attention heads.
    mlp_ratio : float
        MLP hidden width / dim_out.
    q_stride : (int, int) or None
        Query (and residual) pooling at a stage change.
    window_size : int
        Side of the attention windows in the input grid; 0 for global attention.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        q_stride: tuple[int, int] | None = None,
        window_size: int = 0,
    ) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window_size = window_size
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = HieraAttention(dim, dim_out, num_heads, q_stride)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, 2, activation=gelu)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, dim) -> (B, H', W', dim_out), H' = H / stride with query pooling."""
        size = self.window_size or None
        b, h, w, _ = x.shape
        sh, sw = self.q_stride or (1, 1)
        out = x.new_empty(b, h // sh, w // sw, self.dim_out)
        rows = h if size is None else size * max(1, STRIPE_TOKENS // (size * (w + -w % size)))
        for r0 in range(0, h, rows):
            stripe = x[:, r0 : r0 + rows]
            self._stripe(stripe, size, out[:, r0 // sh : (r0 + stripe.shape[1]) // sh])
        return out

    def _stripe(self, x: torch.Tensor, size: int | None, out: torch.Tensor) -> None:
        """The block on (B, h, W, dim) rows holding whole windows (``size``) or on the whole grid (None).

        Writes the (B, h', W', dim_out) result into ``out`` (a slice of the
        block's output): the residual sums are formed there, the attention's
        windows added straight from their window order.
        """
        shortcut = x
        x = F.layer_norm(x, (self.dim,), self.norm1.weight, self.norm1.bias, self.norm1.eps)
        if self.dim != self.dim_out:
            shortcut = linear(x, self.proj.weight, self.proj.bias)
            if self.q_stride:
                shortcut = pool2x(shortcut, self.q_stride)
        if size is None:
            torch.add(shortcut, self.attn(x), out=out)
        else:
            hw = x.shape[1:3]
            x, padded = window_partition(x, size)
            x = self.attn(x)
            if self.q_stride:
                size //= self.q_stride[0]
                hw = shortcut.shape[1:3]
                padded = (hw[0] + (-hw[0] % size), hw[1] + (-hw[1] % size))
            add_unpartitioned(shortcut, x, size, padded, out)
        y = F.layer_norm(out, (self.dim_out,), self.norm2.weight, self.norm2.bias, self.norm2.eps)
        out.add_(self._mlp(y))

    def _mlp(self, y: torch.Tensor) -> torch.Tensor:
        """The block's MLP (``mlp.layers.0``, GELU, ``mlp.layers.1``) with the GELU fused into the first product."""
        first, second = self.mlp.layers
        return linear(linear(y, first.weight, first.bias, "gelu"), second.weight, second.bias)
