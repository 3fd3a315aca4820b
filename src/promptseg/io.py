"""Reading and writing images and masks for the command line and scripts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ImageError

TIFF_SUFFIXES = (".tif", ".tiff")
#: Formats a mask is written in: lossless ones only (a JPEG would blur the object's edge).
MASK_SUFFIXES = TIFF_SUFFIXES + (".png", ".bmp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into an array.

    TIFF files (including multi-page stacks and OME-TIFF) are read with
    tifffile; PNG, JPEG, BMP and the other common formats with scikit-image.

    Returns
    -------
    np.ndarray
        (H, W), (H, W, C), or (Z, H, W[, C]) for stacks, in the file's dtype.

    Raises
    ------
    ImageError
        If the path does not exist, is a folder, or cannot be decoded.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise ImageError(f"{p} is a folder, not an image file; give one image file (TIFF, PNG, JPEG, ...).")
    if not p.is_file():
        raise ImageError(f"image file not found: {p}")
    try:
        if p.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            return np.asarray(tifffile.imread(p))
        from skimage import io as skio

        return np.asarray(skio.imread(p))
    except Exception as exc:  # decoding errors come in many types
        raise ImageError(f"cannot read {p} as an image ({type(exc).__name__}: {exc}).") from exc


def write_mask(path: str | os.PathLike, mask: np.ndarray, *, value: int = 255) -> Path:
    """Write a boolean mask as an 8-bit image (0 background, ``value`` object).

    The format follows the suffix (:data:`MASK_SUFFIXES`): TIFF through
    tifffile (compressed), PNG and BMP through scikit-image.

    Raises
    ------
    ImageError
        For any other suffix (nothing is written).
    """
    p = Path(path).expanduser()
    if p.suffix.lower() not in MASK_SUFFIXES:
        raise ImageError(f"cannot write a mask as {p.name!r}: the name must end with one of {', '.join(MASK_SUFFIXES)}.")
    p.parent.mkdir(parents=True, exist_ok=True)
    data = np.where(np.asarray(mask, bool), np.uint8(value), np.uint8(0))
    if p.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        tifffile.imwrite(p, data, compression="zlib")
    else:
        from skimage import io as skio

        skio.imsave(p, data, check_contrast=False)
    return p
