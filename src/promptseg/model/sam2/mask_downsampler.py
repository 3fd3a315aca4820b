"""Mask down-sampler of SAM 2's memory encoder: a full-size mask to the embedding grid."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..common import LayerNorm2d


class MaskDownSampler(nn.Module):
    """Strided convolutions, each followed by a channel layer norm and GELU, then a 1x1 conv.

    Every step divides the side by ``stride`` and multiplies the channels by
    ``stride ** 2`` (1 -> 4 -> 16 -> 64 -> 256 for the published stride 2,
    total stride 16); a last 1x1 convolution maps to ``dim``.

    Parameters
    ----------
    dim : int
        Output channels (256).
    kernel_size, stride, padding : int
        Of every strided convolution (3, 2, 1 in the published models).
    total_stride : int
        Side reduction of the whole stack (16).

    Notes
    -----
    Keys ``encoder.{3 i}`` (conv), ``encoder.{3 i + 1}`` (norm) and
    ``encoder.{3 n}`` (the 1x1 conv), as the official ``nn.Sequential``.
    """

    def __init__(
        self, dim: int = 256, *, kernel_size: int = 3, stride: int = 2, padding: int = 1, total_stride: int = 16
    ) -> None:
        super().__init__()
        steps = round(math.log(total_stride, stride))
        if stride**steps != total_stride:
            raise ValueError(f"total_stride {total_stride} is not a power of stride {stride}")
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(steps):
            out = channels * stride**2
            layers += [nn.Conv2d(channels, out, kernel_size, stride, padding), LayerNorm2d(out), nn.GELU()]
            channels = out
        layers.append(nn.Conv2d(channels, dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) mask values -> (B, dim, S / total_stride, S / total_stride)."""
        return self.encoder(mask)
