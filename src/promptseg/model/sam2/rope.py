"""Axial rotary position encoding of a token grid (SAM 2's memory attention).

A head of width ``d`` is seen as ``d / 2`` pairs of channels.  The first half
of the pairs turns with the token's column ``x``, the second half with its row
``y``; pair ``i`` of a half turns by ``position * theta ** (-4 i / d)``.
Tokens are numbered in row-major order of an (H, W) grid: token ``t`` sits at
``x = t % W``, ``y = t // W``.  The rotation is done with real cosines and
sines, so no complex tensors are needed.
"""

from __future__ import annotations

import torch

__all__ = ["axial_rotation", "rotate_pairs"]


def axial_rotation(head_dim: int, grid: tuple[int, int], theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the rotation of every token of a grid.

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
    cos, sin : torch.Tensor, shape (H * W, head_dim), float32
        Each pair's value repeated for both of its channels, so that
        :func:`rotate_pairs` needs only elementwise products.
    """
    if head_dim % 4:
        raise ValueError(f"rotary encoding needs a head width divisible by 4, got {head_dim}")
    height, width = grid
    quarter = head_dim // 4
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 4)[:quarter].float() / head_dim))
    token = torch.arange(height * width, dtype=torch.float32)
    xs = token % width
    ys = torch.div(token, width, rounding_mode="floor")
    angles = torch.cat([torch.outer(xs, freqs), torch.outer(ys, freqs)], dim=1)  # (N, head_dim / 2)
    angles = angles.repeat_interleave(2, dim=1)
    return torch.cos(angles), torch.sin(angles)


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each channel pair ``(a, b)`` of ``x`` to ``(a c - b s, b c + a s)``.

    Parameters
    ----------
    x : torch.Tensor, shape (..., N, D)
        Tokens along the second-last axis, in the grid order of ``cos``.
    cos, sin : torch.Tensor, shape (N, D)
        From :func:`axial_rotation`; any leading axes of ``x`` broadcast.

    Returns
    -------
    torch.Tensor, shape of ``x``, float32
    """
    pairs = x.float().unflatten(-1, (-1, 2))
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x.float() * cos + swapped * sin
