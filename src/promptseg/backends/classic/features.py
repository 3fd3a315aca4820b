"""Image-level features of the classic backend: working copy, colour, gradient.

Everything here depends on the image alone and runs once, in ``encode``.
Images larger than ``max_pixels`` are reduced by an integer factor (block
means), so that one working pixel covers a ``factor x factor`` block of the
image; all later stages work in that (row, col) frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from ...errors import ImageError
from ...imaging import to_uint8_rgb

__all__ = ["MAX_REDUCTION", "WorkingImage", "prepare_image", "srgb_to_lab"]

#: The largest reduction factor of the working copy.  Beyond it an object of
#: a hundred pixels across shrinks below one superpixel and the graph cut,
#: left without an object to hold on to, can take the whole image: larger
#: images are refused and must be segmented tile by tile.
MAX_REDUCTION = 8


@dataclass(frozen=True)
class WorkingImage:
    """The image as the classic backend sees it.

    Attributes
    ----------
    lab : np.ndarray, shape (h, w, 3), float32
        CIELAB colour of the working copy (L in 0..100), (row, col, channel).
    gradient : np.ndarray, shape (h, w), float32
        Colour gradient magnitude (Sobel, summed over the Lab channels).
    image_shape : (int, int)
        (H, W) of the original image.
    factor : int
        Working pixel (r, c) covers image rows ``r*factor .. r*factor+factor-1``
        (likewise columns); 1 when the image is used at full size.
    is_gray : bool
        Whether the image has a single channel (or three equal ones).
    """

    lab: np.ndarray
    gradient: np.ndarray
    image_shape: tuple[int, int]
    factor: int
    is_gray: bool

    @cached_property
    def median_gradient(self) -> float:
        """Median of ``gradient``: how much the image's texture varies (computed on first use, then kept)."""
        return float(np.median(self.gradient))

    @property
    def shape(self) -> tuple[int, int]:
        """(h, w) of the working copy."""
        return int(self.lab.shape[0]), int(self.lab.shape[1])

    def to_work(self, points_rc: np.ndarray) -> np.ndarray:
        """Map (N, 2) (row, col) image coordinates to integer working pixels, shape (N, 2)."""
        pts = np.asarray(points_rc, dtype=np.float64).reshape(-1, 2)
        h, w = self.shape
        rows = np.clip(np.floor((pts[:, 0] + 0.5) / self.factor), 0, h - 1)
        cols = np.clip(np.floor((pts[:, 1] + 0.5) / self.factor), 0, w - 1)
        return np.stack([rows, cols], axis=1).astype(np.intp)

    def mask_to_work(self, mask: np.ndarray) -> np.ndarray:
        """Fraction of each working pixel covered by an (H, W) bool mask, shape (h, w), float32."""
        return block_mean(np.asarray(mask, dtype=np.float32), self.factor)[: self.shape[0], : self.shape[1]]


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of an (H, W[, C]) array (edge-padded to a multiple).

    Returns an array of shape (ceil(H / factor), ceil(W / factor)[, C]).
    """
    if factor == 1:
        return image
    h, w = image.shape[:2]
    hh, ww = -(-h // factor), -(-w // factor)
    pad = [(0, hh * factor - h), (0, ww * factor - w)] + [(0, 0)] * (image.ndim - 2)
    if any(p[1] for p in pad):
        image = np.pad(image, pad, mode="edge")
    shaped = image.reshape(hh, factor, ww, factor, *image.shape[2:])
    return shaped.mean(axis=(1, 3), dtype=np.float32)


def prepare_image(
    image: np.ndarray, *, contrast_limits: Sequence[float] | None, max_pixels: int
) -> WorkingImage:
    """Scale an image to 8 bit, reduce it to at most ``max_pixels`` and compute colour and gradient.

    Parameters
    ----------
    image : np.ndarray, shape (H, W) or (H, W, C)
        Grayscale, RGB or RGBA; any dtype :func:`promptseg.imaging.to_uint8_rgb` accepts
        (16-bit and float data are scaled by ``contrast_limits`` or robust percentiles).
    contrast_limits : (low, high), optional
        Display range for non-uint8 data (napari's contrast limits).
    max_pixels : int
        Upper bound on the working copy's h * w.

    Raises
    ------
    ImageError
        Wrong dimensions, NaNs, constant images, images that would need a
        reduction beyond :data:`MAX_REDUCTION`.
    """
    shape = np.shape(image)
    if len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4)):  # refuse before any full-size copy
        _reduction(shape[0], shape[1], max_pixels)
    rgb = to_uint8_rgb(image, contrast_limits=contrast_limits)
    hh, ww = rgb.shape[:2]
    is_gray = bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]))
    factor = _reduction(hh, ww, max_pixels)
    if is_gray:
        gray = rgb[..., 0]
        small = block_mean(gray.astype(np.float32), factor) if factor > 1 else gray.astype(np.float32)
        lab = np.zeros(small.shape + (3,), np.float32)
        lab[..., 0] = _srgb_lightness(small)
    else:
        small = block_mean(rgb.astype(np.float32), factor) if factor > 1 else rgb
        lab = srgb_to_lab(small)
    gradient = np.zeros(lab.shape[:2], np.float32)
    for c in range(1 if is_gray else 3):
        channel = lab[..., c]
        gradient += ndi.sobel(channel, axis=0) ** 2 + ndi.sobel(channel, axis=1) ** 2
    np.sqrt(gradient, out=gradient)
    gradient *= np.float32(0.125)  # Sobel sums 8 differences
    return WorkingImage(lab=lab, gradient=gradient, image_shape=(int(hh), int(ww)), factor=factor, is_gray=is_gray)


def _reduction(hh: int, ww: int, max_pixels: int) -> int:
    """The working copy's reduction factor for an (hh, ww) image; ImageError above :data:`MAX_REDUCTION`."""
    factor = max(1, math.ceil(math.sqrt(hh * ww / float(max_pixels))))
    if factor > MAX_REDUCTION:
        raise ImageError(
            f"image of {hh} x {ww} pixels is too large for the classic backend in one piece: it would work on a "
            f"copy reduced {factor} x {factor}, where small objects vanish. Segment it tile by tile "
            "(`promptseg segment` and `promptseg embed` do; in Python wrap the backend in "
            "promptseg.store.TiledBackend), or crop it."
        )
    return factor


_LINEAR_LUT = None


def _linear(values: np.ndarray) -> np.ndarray:
    """sRGB 0..255 (uint8 or float) -> linear light 0..1, float32."""
    global _LINEAR_LUT
    if values.dtype == np.uint8:
        if _LINEAR_LUT is None:
            _LINEAR_LUT = _linear(np.arange(256, dtype=np.float32))
        return _LINEAR_LUT[values]
    v = np.asarray(values, dtype=np.float32) / np.float32(255.0)
    return np.where(v <= 0.04045, v / np.float32(12.92), ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > 0.008856, np.cbrt(t), t * np.float32(7.787) + np.float32(16.0 / 116.0)).astype(np.float32)


def _srgb_lightness(gray: np.ndarray) -> np.ndarray:
    """CIE L (0..100) of a gray sRGB image, float32."""
    return np.float32(116.0) * _f(_linear(gray)) - np.float32(16.0)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an (h, w, 3) sRGB image with values 0..255, float32 (h, w, 3).

    Examples
    --------
    >>> srgb_to_lab(np.array([[[255, 255, 255]]], np.uint8)).round(1).tolist()
    [[[100.0, 0.0, 0.0]]]
    """
    lin = _linear(rgb)
    m = np.array(
        [[0.412453 / 0.950456, 0.357580 / 0.950456, 0.180423 / 0.950456],
         [0.212671, 0.715160, 0.072169],
         [0.019334 / 1.088754, 0.119193 / 1.088754, 0.950227 / 1.088754]],
        dtype=np.float32,
    )
    xyz = lin @ m.T
    f = _f(xyz)
    lab = np.empty_like(f)
    lab[..., 0] = np.float32(116.0) * f[..., 1] - np.float32(16.0)
    lab[..., 1] = np.float32(500.0) * (f[..., 0] - f[..., 1])
    lab[..., 2] = np.float32(200.0) * (f[..., 1] - f[..., 2])
    return lab
