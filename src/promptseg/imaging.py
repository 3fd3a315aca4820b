"""Turning user images into the 8-bit RGB arrays the encoders expect.

Microscopy and industrial data arrive as uint16, float, single channel or
RGBA.  Everything is scaled to 0-255 once, here, by explicit contrast limits
(napari's) or else by robust percentiles, and checked for the problems that
would otherwise give silent garbage (NaNs, constant images, wrong ndim).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import ImageError

#: Percentiles used to scale non-uint8 data when no contrast limits are given.
ROBUST_PERCENTILES = (0.5, 99.5)


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate a 2D image and return it as an ndarray.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C) with C in {1, 3, 4}
        Grayscale, RGB or RGBA pixels in (row, col[, channel]) order.

    Returns
    -------
    np.ndarray
        The same data (no copy when already an ndarray).

    Raises
    ------
    ImageError
        If the image is empty, has the wrong number of dimensions or channels,
        is not numeric, or contains NaN or infinite values.
    """
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ImageError(f"image has dtype {arr.dtype}; pass a numeric array (uint8, uint16 or float).")
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4):
        raise ImageError(
            f"image has shape {arr.shape}: a 3D array must be (H, W, C) with C = 1, 3 or 4 channels. "
            "For a stack or multichannel data, pass one 2D slice (e.g. image[z]) or one channel."
        )
    if arr.ndim not in (2, 3):
        raise ImageError(
            f"image has {arr.ndim} dimensions (shape {arr.shape}); pass a 2D (H, W) or (H, W, C) array. "
            "For stacks, encode one slice at a time."
        )
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageError(f"image of shape {arr.shape} is empty or too small; it needs at least 2x2 pixels.")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ImageError("image contains NaN or infinite values; replace them (e.g. np.nan_to_num) before segmenting.")
    return arr


def to_uint8_rgb(
    image: np.ndarray,
    *,
    contrast_limits: Sequence[float] | None = None,
) -> np.ndarray:
    """Scale an image to uint8 RGB.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C), C in {1, 3, 4}
        Pixels in (row, col[, channel]) order; any integer or float dtype.
    contrast_limits : (low, high), optional
        Values mapped to 0 and 255 for non-uint8 data (napari's layer
        contrast limits).  Without them, the 0.5 and 99.5 percentiles of the
        image are used.  uint8 data is never rescaled.

    Returns
    -------
    np.ndarray, shape (H, W, 3), dtype uint8
        Grayscale is repeated over three channels; alpha is dropped.

    Raises
    ------
    ImageError
        For invalid images (see :func:`check_image`) and for constant images,
        which no segmenter can split.

    Examples
    --------
    >>> import numpy as np
    >>> to_uint8_rgb(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)).shape
    (2, 2, 3)
    """
    arr = check_image(image)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint8 and contrast_limits is None:
        out = arr
    else:
        low, high = _limits(arr, contrast_limits)
        scaled = (arr.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
        out = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    if out.max() == out.min():
        raise ImageError(
            "image is constant after scaling to 8 bit (every pixel has the same value); "
            "check the contrast limits or pick another image or slice."
        )
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)


def check_contrast_limits(contrast_limits: Sequence[float] | None) -> tuple[float, float] | None:
    """Validate user contrast limits: None, or a finite (low, high) pair with low < high.

    Raises
    ------
    ImageError
        Not a pair, not finite, or ``high <= low``.
    """
    if contrast_limits is None:
        return None
    try:
        low, high = (float(v) for v in contrast_limits)
    except (TypeError, ValueError):
        raise ImageError(f"contrast_limits must be (low, high), got {contrast_limits!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise ImageError(f"contrast_limits {tuple(contrast_limits)!r} must be finite with low < high.")
    return low, high


#: Elements per block when a histogram is accumulated block by block.
_BLOCK = 1 << 22


def robust_limits(image: np.ndarray, percentiles: Sequence[float] = ROBUST_PERCENTILES) -> tuple[float, float]:
    """``np.percentile(image, percentiles)`` (linear interpolation) with bounded memory for 8/16-bit integers.

    ``np.percentile`` sorts a copy of the whole array; for integer data of at
    most 16 bits the order statistics are read from a histogram accumulated
    block by block instead, with the same interpolation formula, so the
    values are identical and the extra memory is a few MiB whatever the size.

    Parameters
    ----------
    image : np.ndarray, any shape
        Pixel values (channels included).
    percentiles : (float, float)

    Returns
    -------
    (float, float)
    """
    arr = np.asarray(image)
    if not (arr.dtype.kind in "ui" and arr.dtype.itemsize <= 2) or arr.size == 0:
        low, high = (float(v) for v in np.percentile(arr, percentiles))
        return low, high
    offset = int(np.iinfo(arr.dtype).min)
    counts = np.zeros(1 << (8 * arr.dtype.itemsize), np.int64)
    per_row = max(1, arr.size // arr.shape[0])
    step = max(1, _BLOCK // per_row)
    for start in range(0, arr.shape[0], step):  # blocks along the first axis: no copy of the whole array
        block = np.ravel(arr[start : start + step])
        counts += np.bincount(block.astype(np.int32) - offset, minlength=counts.size)
    cum = np.cumsum(counts)
    n = int(cum[-1])
    out = []
    for q in np.true_divide(np.asarray(percentiles, dtype=np.float64), 100):
        index = q * (n - 1)
        below = min(int(np.floor(index)), n - 1)
        t = index - below
        a, b = (float(np.searchsorted(cum, k, side="right") + offset) for k in (below, min(below + 1, n - 1)))
        out.append(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)  # numpy's lerp
    return out[0], out[1]


def _limits(arr: np.ndarray, contrast_limits: Sequence[float] | None) -> tuple[float, float]:
    if contrast_limits is not None:
        return check_contrast_limits(contrast_limits)
    low, high = robust_limits(arr)
    if high <= low:  # e.g. sparse images: fall back to the full range
        low, high = float(arr.min()), float(arr.max())
    if high <= low:
        raise ImageError(
            "image is constant (every pixel has the same value); there is nothing to segment. "
            "Pick another image or slice."
        )
    return low, high
