"""Image geometry of the SAM 2 image predictor: a square resize that ignores the aspect ratio.

:class:`Sam2Geometry` owns every resize of the SAM 2 path, as
:class:`promptseg.model.transforms.ImageGeometry` does for SAM 1: the image,
as float in [0, 1], is resized to S x S (S = 1024) *without keeping its
aspect ratio* (bilinear, antialiased, align_corners=False: what torchvision's
tensor ``Resize`` computes), then normalised with the ImageNet mean and std;
(x, y) prompt coordinates are divided by the original width / height and
multiplied by S; low-resolution logits are resized bilinearly straight to the
original size.  No padding, no crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..transforms import InputFrame
from .sam2_model import PIXEL_MEAN, PIXEL_STD


@dataclass(frozen=True)
class Sam2Geometry(InputFrame):
    """SAM 2's frames: the image resized to S x S whatever its aspect ratio.

    Attributes
    ----------
    target_length : int
        Side S of the square model input (1024).
    """

    target_length: int = 1024

    @classmethod
    def for_image(cls, original_size: tuple[int, int], target_length: int = 1024) -> "Sam2Geometry":
        return cls((int(original_size[0]), int(original_size[1])), target_length)

    @property
    def input_size(self) -> tuple[int, int]:
        """(S, S): the whole model input holds the image (no padding)."""
        return (self.target_length, self.target_length)

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """(1, 3, S, S) input: ``rgb / 255`` resized to S x S (bilinear, antialiased), minus
        the ImageNet mean, over the ImageNet std."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).to(torch.float32).div_(255.0)
        size = (self.target_length, self.target_length)
        if tuple(x.shape[1:]) != size:
            x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        mean = torch.tensor(PIXEL_MEAN).view(3, 1, 1)
        std = torch.tensor(PIXEL_STD).view(3, 1, 1)
        return x.sub_(mean).div_(std).unsqueeze(0)

    def upsample_logits(self, low_res: torch.Tensor) -> torch.Tensor:
        """Low-resolution logits (B, M, 4h, 4w) -> (B, M, H, W) at the original size (bilinear, align_corners=False)."""
        return F.interpolate(low_res, self.original_size, mode="bilinear", align_corners=False)
