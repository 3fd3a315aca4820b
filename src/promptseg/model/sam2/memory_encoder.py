"""SAM 2's memory encoder: a frame's image embedding and its mask become one memory."""

from __future__ import annotations

import torch
from torch import nn

from .fuser import Fuser
from .mask_downsampler import MaskDownSampler
from .position_encoding import PositionEmbeddingSine


class MemoryEncoder(nn.Module):
    """``out_proj(fuser(pix_feat_proj(image) + mask_downsampler(mask)))``.

    Parameters
    ----------
    dim : int
        Channels of the image embedding (256).
    memory_dim : int
        Channels of the memory (64).
    fuser_layers : int
        ConvNeXt blocks in the fuser (2).

    Notes
    -----
    Keys ``mask_downsampler.*``, ``pix_feat_proj``, ``fuser.layers.*`` and
    ``out_proj``, as under ``memory_encoder.`` in a SAM 2.1 checkpoint.  The
    memory's position encoding is the fixed sine encoding of its grid with
    ``memory_dim`` channels (:meth:`position`).
    """

    def __init__(self, dim: int = 256, memory_dim: int = 64, fuser_layers: int = 2) -> None:
        super().__init__()
        self.memory_dim = memory_dim
        self.mask_downsampler = MaskDownSampler(dim)
        self.pix_feat_proj = nn.Conv2d(dim, dim, kernel_size=1)
        self.fuser = Fuser(dim, fuser_layers)
        self.out_proj = nn.Conv2d(dim, memory_dim, kernel_size=1)
        self.position_encoding = PositionEmbeddingSine(memory_dim)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode one memory per object.

        Parameters
        ----------
        image : torch.Tensor, shape (1 or B, dim, h, w)
            The frame's image embedding (before any memory conditioning).
        mask : torch.Tensor, shape (B, 1, 16 h, 16 w)
            The mask as the memory encoder sees it (SAM 2 passes
            ``20 * p - 10`` with ``p`` the sigmoid of the logits, or the
            binarised mask for clicked frames).

        Returns
        -------
        torch.Tensor, shape (B, memory_dim, h, w)
        """
        x = self.pix_feat_proj(image) + self.mask_downsampler(mask)
        return self.out_proj(self.fuser(x))

    def position(self, grid: tuple[int, int]) -> torch.Tensor:
        """Sine position encoding of the memory grid, (1, memory_dim, H, W) (cached)."""
        return self.position_encoding.grid(grid[0], grid[1], self.out_proj.weight.device)[None]
