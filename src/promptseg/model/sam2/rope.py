"""Axial rotary position encoding of a token grid (SAM 2's memory attention).

A head of width ``d`` is seen as ``d / 2`` channel pairs, each a complex
number ``a + ib``.  The first half of the pairs turns with the token's
column ``x``, the second half with its row ``y``; pair ``i`` of a half turns
by the angle ``position * theta ** (-4 i / d)``.  Tokens are numbered in
row-major order of an (H, W) grid: token ``t`` sits at ``x = t % W``,
``y = t // W``.  The rotation is one complex product, done in place.
"""

from __future__ import annotations

import torch

__all__ = ["axial_rotation", "rotate_"]


def axial_rotation(head_dim: int, grid: tuple[int, int], theta: float = 10000.0) -> torch.Tensor:
    """Unit complex numbers that rotate every channel pair of every grid token.

    Parameters
    ----------
    head_dim : int
        Channels of one attention head; a multiple of 4.
    grid : (int, int)
        (H, W) of the token grid.
    theta : float
        Base of the frequencies.

    Returns
    -------
    torch.Tensor, shape (H * W, head_dim / 2), complex64
    """
    if head_dim % 4:
        raise ValueError(f"rotary encoding needs a head width divisible by 4, got {head_dim}")
    height, width = grid
    quarter = head_dim // 4
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 4)[:quarter].float() / head_dim))
    token = torch.arange(height * width, dtype=torch.float32)
    xs = token % width
    ys = torch.div(token, width, rounding_mode="floor")
    angles = torch.cat([torch.outer(xs, freqs), torch.outer(ys, freqs)], dim=1)
    return torch.polar(torch.ones_like(angles), angles)


def rotate_(x: torch.Tensor, rotation: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Rotate tokens in place: each channel pair ``(a, b)`` becomes ``(a c - b s, a s + b c)``.

    Parameters
    ----------
    x : torch.Tensor, shape (B, F * N, num_heads * D), float32
        ``F`` consecutive copies of the ``N``-token grid (F = 1 for the
        queries, one per memory frame for the keys); the last dimension
        must be contiguous.
    rotation : torch.Tensor, shape (N, D / 2), complex64
        From :func:`axial_rotation`.
    num_heads : int
        Heads sharing the rotation.

    Returns
    -------
    torch.Tensor
        ``x`` itself.
    """
    b, tokens, channels = x.shape
    grid = rotation.shape[0]
    if tokens % grid:
        raise ValueError(f"{tokens} rotated tokens are not whole copies of the {grid}-token grid")
    pairs = torch.view_as_complex(x.unflatten(-1, (num_heads, channels // num_heads // 2, 2)))
    pairs.view(b, tokens // grid, grid, num_heads, -1).mul_(rotation[:, None, :])
    return x
