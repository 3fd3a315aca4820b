"""Image geometry between the user's image and the model's 1024x1024 input.

:class:`ImageGeometry` owns every resize in the package: the image is resized
so its longest side is 1024 (bilinear, antialiased, as PIL does), normalised
and zero-padded at the bottom/right; model-frame (x, y) prompt coordinates
are scaled by the same factors; low-resolution mask logits are upsampled to
the padded input, cropped and resized back to the original size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .sam import PIXEL_MEAN, PIXEL_STD


@dataclass(frozen=True)
class InputFrame:
    """The original frame <-> model input frame of one image: what every SAM-family geometry answers.

    A subclass adds an ``input_size`` (h, w), the resized image's size in
    the model input, and says how the image is resized and normalised
    (:meth:`preprocess`) and how logits come back (:meth:`upsample_logits`).

    Attributes
    ----------
    original_size : (int, int)
        (H, W) of the user's image.
    """

    original_size: tuple[int, int]

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """Encoder input from an 8-bit image.

        Parameters
        ----------
        rgb : np.ndarray, shape (H, W, 3), uint8
            The image in the original frame.

        Returns
        -------
        torch.Tensor, shape (1, 3, L, L), float32
            The normalised model input (L = ``target_length``).
        """
        raise NotImplementedError

    def coords_to_input(self, xy: np.ndarray) -> np.ndarray:
        """Scale (..., 2) (x, y) original-pixel coordinates into the resized input frame.

        Boxes as (..., 2, 2) corner pairs (XYXY reshaped) use the same call.
        """
        h, w = self.original_size
        nh, nw = self.input_size
        out = np.asarray(xy, dtype=np.float64).copy()
        out[..., 0] *= nw / w
        out[..., 1] *= nh / h
        return out

    def upsample_logits(self, low_res: torch.Tensor) -> torch.Tensor:
        """Low-resolution logits (B, M, 4h, 4w) back to the original frame, (B, M, H, W)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ImageGeometry(InputFrame):
    """SAM 1's frames: the longest side resized to ``target_length``, the rest zero-padded.

    Attributes
    ----------
    input_size : (int, int)
        (h, w) after resizing the longest side to ``target_length``.
    target_length : int
        Side of the square model input (1024).
    """

    input_size: tuple[int, int]
    target_length: int = 1024

    @classmethod
    def for_image(cls, original_size: tuple[int, int], target_length: int = 1024) -> "ImageGeometry":
        h, w = int(original_size[0]), int(original_size[1])
        scale = target_length / max(h, w)
        return cls((h, w), (int(h * scale + 0.5), int(w * scale + 0.5)), target_length)

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """(1, 3, L, L) input: ``rgb`` resized to ``input_size``, normalised with SAM's pixel
        statistics, zero-padded at the bottom and right to L = ``target_length``."""
        h, w = self.input_size
        if (h, w) != tuple(rgb.shape[:2]):
            rgb = np.array(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).to(torch.float32)
        mean = torch.tensor(PIXEL_MEAN).view(3, 1, 1)
        std = torch.tensor(PIXEL_STD).view(3, 1, 1)
        x = (x - mean) / std
        size = self.target_length
        return F.pad(x, (0, size - w, 0, size - h)).unsqueeze(0)

    def upsample_logits(self, low_res: torch.Tensor) -> torch.Tensor:
        """Low-resolution logits back to the original frame.

        Parameters
        ----------
        low_res : torch.Tensor, shape (B, M, 256, 256)

        Returns
        -------
        torch.Tensor, shape (B, M, H, W)
            Bilinear upsampling to the padded input, crop to ``input_size``,
            bilinear resize to ``original_size`` (skipped when equal, where it
            is the identity).
        """
        size = self.target_length
        x = F.interpolate(low_res, (size, size), mode="bilinear", align_corners=False)
        x = x[..., : self.input_size[0], : self.input_size[1]]
        if tuple(self.input_size) != tuple(self.original_size):
            x = F.interpolate(x, self.original_size, mode="bilinear", align_corners=False)
        return x
