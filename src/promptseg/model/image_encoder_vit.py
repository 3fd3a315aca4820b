"""SAM's plain ViT image encoder (vit_b / vit_l / vit_h).

Patch embedding, absolute positions, transformer blocks with windowed or
global self-attention and decomposed relative position bias, and a
convolutional neck to a (B, 256, 64, 64) embedding.  Parameter names follow
the published checkpoints (``image_encoder.blocks.N.attn.qkv`` ...).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d, LinMLP, gelu


class ImageEncoderViT(nn.Module):
    """ViT backbone plus neck.

    Parameters
    ----------
    img_size : int
        Side of the square, padded input (1024).
    patch_size : int
        Patch side (16), so the token grid is ``img_size // patch_size``.
    embed_dim, depth, num_heads : int
        Width, number of blocks and attention heads.
    global_attn_indexes : sequence of int
        Blocks that attend globally; the others use ``window_size`` windows.
    window_size : int
        Side of the local attention windows (14).
    out_chans : int
        Channels of the output embedding (256).
    """

    def __init__(
        self,
        *,
        img_size: int = 1024,
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        use_rel_pos: bool = True,
        window_size: int = 14,
        global_attn_indexes: Sequence[int] = (),
    ) -> None:
        super().__init__()
        grid = img_size // patch_size
        self.img_size = img_size
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                use_rel_pos=use_rel_pos,
                window_size=0 if i in set(global_attn_indexes) else window_size,
                grid=grid,
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 1024, 1024) normalised pixels -> (B, 256, 64, 64) embedding."""
        x = self.patch_embed(x) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens, (B, 3, H, W) -> (B, H/p, W/p, C)."""

    def __init__(self, patch_size: int, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Block(nn.Module):
    """Pre-norm transformer block with windowed (window_size > 0) or global attention."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float,
        qkv_bias: bool,
        use_rel_pos: bool,
        window_size: int,
        grid: int,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        side = window_size if window_size > 0 else grid
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, use_rel_pos=use_rel_pos, input_size=(side, side))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = LinMLP(dim, int(dim * mlp_ratio), gelu)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C)."""
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            x, padded = window_partition(x, self.window_size)
            x = self.attn(x)
            x = window_unpartition(x, self.window_size, padded, (h, w))
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Attention(nn.Module):
    """Multi-head self-attention with decomposed relative position bias.

    The bias for query (qh, qw) and key (kh, kw) is
    ``q . Rh[qh - kh] + q . Rw[qw - kw]`` (unscaled q), added to the scaled
    logits before the softmax.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        qkv_bias: bool = True,
        use_rel_pos: bool = True,
        input_size: tuple[int, int] = (14, 14),
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, H, W, C); B counts windows for windowed blocks."""
        b, h, w, c = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(b, h * w, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        if self.use_rel_pos:
            out = self._rel_pos_attention(q, k, v, (h, w))
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        return self.proj(out)

    def _rel_pos_attention(self, q, k, v, size: tuple[int, int]) -> torch.Tensor:
        """Attention with the relative position bias, in chunks of queries.

        The bias of a global block is heads x 4096 x 4096 floats (0.8 GB for
        vit_b); building it a few query rows (or windows) at a time keeps it
        in a small buffer and gives the same result.
        """
        b, heads, n, _ = q.shape
        h, w = size
        per_query = heads * n * 4  # bytes of bias per query row
        if b > 1:  # windows: chunk over windows
            step = max(1, _BIAS_CHUNK_BYTES // (per_query * n))
            parts = [
                F.scaled_dot_product_attention(
                    q[i : i + step], k[i : i + step], v[i : i + step],
                    attn_mask=rel_pos_bias(q[i : i + step], self.rel_pos_h, self.rel_pos_w, size, size),
                    scale=self.scale,
                )
                for i in range(0, b, step)
            ]
            return torch.cat(parts, 0) if len(parts) > 1 else parts[0]
        rows = max(1, _BIAS_CHUNK_BYTES // (per_query * w))
        parts = []
        for r in range(0, h, rows):
            rr = min(rows, h - r)
            qs = q[:, :, r * w : (r + rr) * w]
            bias = rel_pos_bias(qs, self.rel_pos_h, self.rel_pos_w, (rr, w), size, row_offset=r)
            parts.append(F.scaled_dot_product_attention(qs, k, v, attn_mask=bias, scale=self.scale))
        return torch.cat(parts, 2) if len(parts) > 1 else parts[0]


#: Size of one chunk of relative-position bias built at a time.
_BIAS_CHUNK_BYTES = 32 * 2**20


def rel_pos_bias(
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    q_size: tuple[int, int],
    k_size: tuple[int, int],
    row_offset: int = 0,
) -> torch.Tensor:
    """Decomposed relative position bias.

    Parameters
    ----------
    q : torch.Tensor, shape (B, heads, qh*qw, head_dim)
        Unscaled queries.
    rel_pos_h, rel_pos_w : torch.Tensor, shape (2*size-1, head_dim)
        Learned embeddings of relative row / column offsets.
    q_size, k_size : (int, int)
        Grid of the queries given and of all keys.
    row_offset : int
        Grid row of the first query row, when ``q`` holds only some rows of a
        ``k_size`` grid (chunked global attention).

    Returns
    -------
    torch.Tensor, shape (B, heads, qh*qw, kh*kw)
        Additive attention bias.
    """
    qh, qw = q_size
    kh, kw = k_size
    full_h = kh if row_offset or qh != kh else qh
    rh = _relative_table(full_h, kh, rel_pos_h)[row_offset : row_offset + qh]  # (qh, kh, d)
    rw = _relative_table(qw, kw, rel_pos_w)  # (qw, kw, d)
    b, heads, _, d = q.shape
    r_q = q.reshape(b, heads, qh, qw, d)
    bias_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, rh).contiguous()
    bias_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, rw).contiguous()
    # One pass into a contiguous buffer: for global attention this is the
    # largest tensor of the encoder (heads x 4096 x 4096), never copy it again.
    bias = torch.empty(b, heads, qh, qw, kh, kw, dtype=q.dtype, device=q.device)
    torch.add(bias_h.unsqueeze(-1), bias_w.unsqueeze(-2), out=bias)
    return bias.view(b, heads, qh * qw, kh * kw)


def _relative_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Gather (q_size, k_size, d) embeddings of relative offsets, resizing the table if needed."""
    max_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_dist:
        rel_pos = F.interpolate(rel_pos.T[None], size=max_dist, mode="linear")[0].T
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    offsets = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[offsets.long()]


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B * nWindows, window, window, C), zero-padding H and W up to multiples of ``window``."""
    b, h, w, c = x.shape
    pad_h = (window - h % window) % window
    pad_w = (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window: int, padded: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`window_partition`, dropping the padding."""
    hp, wp = padded
    h, w = size
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.view(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        x = x[:, :h, :w, :]
    return x.contiguous()
