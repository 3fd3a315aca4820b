"""The fuser of SAM 2's memory encoder: a stack of ConvNeXt blocks."""

from __future__ import annotations

import torch
from torch import nn

from .cx_block import CXBlock


class Fuser(nn.Module):
    """``num_layers`` :class:`CXBlock` in sequence (keys ``layers.{i}.*``).

    Parameters
    ----------
    dim : int
        Channels (256).
    num_layers : int
        Blocks (2 in the published models).
    kernel_size, padding : int
        Of each block's depthwise convolution.
    """

    def __init__(self, dim: int = 256, num_layers: int = 2, *, kernel_size: int = 7, padding: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim, kernel_size=kernel_size, padding=padding) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        for layer in self.layers:
            x = layer(x)
        return x
