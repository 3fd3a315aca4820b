"""Encoder input of a video / stack frame, exactly as SAM 2's video frame loader makes it.

The official video predictor loads every frame with PIL, resizes it to
S x S (S = 1024, aspect ratio not kept) with PIL's default filter for RGB
images (bicubic, a = -0.5, 8-bit fixed-point arithmetic, rounded to 8 bits
after the horizontal and after the vertical pass), then scales to [0, 1] and
normalises with the ImageNet mean and std.  This differs from the image
predictor's float bilinear resize (:class:`promptseg.model.sam2.transforms.Sam2Geometry`).

:func:`resize_bicubic_u8` is our own implementation of that resize, in
integer arithmetic, so it gives PIL's bytes without calling PIL.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .sam2_model import PIXEL_MEAN, PIXEL_STD

__all__ = ["resize_bicubic_u8", "video_frame_input"]

#: Fixed-point precision of PIL's 8-bit resampling.
_PRECISION_BITS = 32 - 8 - 2


def _bicubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (support 2)."""
    a = -0.5
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """First input index (out,) and fixed-point weights (out, ksize) of one axis.

    Downscaling widens the kernel by the scale (antialiasing); weights are
    normalised to sum 1 in float64, then rounded half away from zero to
    22-bit integers.  Taps past the image edge have weight 0.
    """
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 2.0 * filter_scale
    ksize = int(math.ceil(support)) * 2 + 1
    centers = (np.arange(out_size) + 0.5) * scale
    # C's (int) cast truncates toward zero
    first = np.maximum(np.trunc(centers - support + 0.5).astype(np.int64), 0)
    last = np.minimum(np.trunc(centers + support + 0.5).astype(np.int64), in_size)
    count = last - first
    offsets = np.arange(ksize)
    valid = offsets[None, :] < count[:, None]
    weights = _bicubic(((first[:, None] + offsets[None, :]) - centers[:, None] + 0.5) * (1.0 / filter_scale))
    weights = np.where(valid, weights, 0.0)
    total = np.cumsum(weights, axis=1)[:, -1:]  # summed left to right, as PIL does
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total != 0)
    scaled = weights * (1 << _PRECISION_BITS)
    fixed = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5)).astype(np.int64)
    return first, fixed


def _resample_axis(image: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """One 8-bit pass along ``axis`` (0 rows, 1 columns) of an (H, W, C) uint8 image."""
    in_size = image.shape[axis]
    first, fixed = _taps(in_size, out_size)
    acc = np.full(
        (out_size, image.shape[1], image.shape[2]) if axis == 0 else (image.shape[0], out_size, image.shape[2]),
        1 << (_PRECISION_BITS - 1),
        dtype=np.int64,
    )
    for j in range(fixed.shape[1]):
        index = np.minimum(first + j, in_size - 1)
        if axis == 0:
            acc += image[index].astype(np.int64) * fixed[:, j][:, None, None]
        else:
            acc += image[:, index].astype(np.int64) * fixed[:, j][None, :, None]
    return np.clip(acc >> _PRECISION_BITS, 0, 255).astype(np.uint8)


def resize_bicubic_u8(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL's ``Image.resize(size[::-1])`` (bicubic) of an 8-bit image, bit for bit.

    Parameters
    ----------
    image : np.ndarray, shape (H, W) or (H, W, C), uint8
    size : (int, int)
        Output (height, width).

    Returns
    -------
    np.ndarray, shape (height, width[, C]), uint8
        Horizontal pass first, then vertical, each rounded and clipped to
        8 bits, as PIL's ``ImagingResampleInner`` does.  (Pillow 13 runs the
        vertical pass first for some shrinking sizes; its bytes then differ
        from these by a few grey levels.  Enlarging, as for any frame under
        1024 pixels a side, agrees exactly.)
    """
    if image.dtype != np.uint8:
        raise TypeError(f"resize_bicubic_u8 needs a uint8 image, got {image.dtype}")
    flat = image.ndim == 2
    out = image[:, :, None] if flat else image
    height, width = size
    for axis, length in ((1, width), (0, height)):
        if out.shape[axis] != length:
            out = _resample_axis(out, length, axis)
    return out[:, :, 0] if flat else out


def video_frame_input(rgb: np.ndarray, image_size: int = 1024) -> torch.Tensor:
    """Encoder input of one frame, as the official video predictor makes it.

    Parameters
    ----------
    rgb : np.ndarray, shape (H, W, 3), uint8
        The frame in its own (row, col) frame.
    image_size : int
        Side S of the square model input.

    Returns
    -------
    torch.Tensor, shape (1, 3, S, S), float32
        ``resize_bicubic_u8(rgb) / 255`` (computed in float64, stored as
        float32), minus the ImageNet mean, over the ImageNet std.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"a video frame must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    resized = resize_bicubic_u8(rgb, (image_size, image_size))
    x = torch.from_numpy(resized / 255.0).permute(2, 0, 1).to(torch.float32)
    mean = torch.tensor(PIXEL_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, dtype=torch.float32).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0).contiguous()
