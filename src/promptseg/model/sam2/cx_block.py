"""ConvNeXt block of SAM 2's memory fuser."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import LayerNorm2d


class CXBlock(nn.Module):
    """``x + gamma * pw2(gelu(pw1(norm(dwconv(x)))))`` on a (B, C, H, W) map.

    Parameters
    ----------
    dim : int
        Channels.
    kernel_size, padding : int
        Of the depthwise convolution (7 and 3 in the published models).

    Notes
    -----
    Keys ``dwconv``, ``norm`` (channel layer norm, eps 1e-6), ``pwconv1``,
    ``pwconv2`` (linear layers on channels-last tokens) and ``gamma``.
    """

    def __init__(self, dim: int = 256, *, kernel_size: int = 7, padding: int = 3) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=padding, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)
