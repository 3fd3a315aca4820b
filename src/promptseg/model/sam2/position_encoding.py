"""Sine positional encoding of a feature grid (DETR style), as SAM 2's neck and memory encoder use it."""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionEmbeddingSine(nn.Module):
    """Fixed sine/cosine encoding of the (row, column) of every grid cell; no weights.

    Rows and columns are numbered from 1, divided by the last number (plus
    1e-6) and scaled by 2 pi; channel ``2i`` of each half holds
    ``sin(p / T^(2i/F))`` and channel ``2i+1`` holds ``cos(p / T^(2i/F))``
    with F = ``num_pos_feats / 2``.  The first half encodes the row (y), the
    second the column (x).

    Parameters
    ----------
    num_pos_feats : int
        Channels of the encoding (even; 256 for the neck, 64 for memories).
    temperature : float
        T above (10000).
    """

    def __init__(self, num_pos_feats: int, temperature: float = 10000.0) -> None:
        super().__init__()
        if num_pos_feats % 2:
            raise ValueError(f"num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self._cache: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def grid(self, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The encoding of an (height, width) grid, shape (num_pos_feats, height, width), float32 (cached)."""
        key = (height, width, torch.device(device))
        if key not in self._cache:
            half = self.num_pos_feats // 2
            dim_t = torch.arange(half, dtype=torch.float32, device=device)
            dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
            scale = 2 * math.pi
            rows = torch.arange(1, height + 1, dtype=torch.float32, device=device)
            cols = torch.arange(1, width + 1, dtype=torch.float32, device=device)
            enc_y = self._interleave((rows / (rows[-1] + 1e-6) * scale)[:, None] / dim_t)  # (H, half)
            enc_x = self._interleave((cols / (cols[-1] + 1e-6) * scale)[:, None] / dim_t)  # (W, half)
            pos = torch.cat(
                [enc_y.T[:, :, None].expand(-1, height, width), enc_x.T[:, None, :].expand(-1, height, width)], dim=0
            )
            self._cache[key] = pos.contiguous()
        return self._cache[key]

    @staticmethod
    def _interleave(angles: torch.Tensor) -> torch.Tensor:
        """sin of the even columns and cos of the odd ones, in column order."""
        return torch.stack([angles[:, 0::2].sin(), angles[:, 1::2].cos()], dim=2).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encoding for a (B, C, H, W) feature map: (B, num_pos_feats, H, W) in x's dtype."""
        pos = self.grid(x.shape[-2], x.shape[-1], x.device)
        return pos.to(x.dtype)[None].expand(x.shape[0], -1, -1, -1)
