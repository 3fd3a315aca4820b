"""The image being annotated, seen as a stack of 2D slices.

An (..., H, W) or RGB (..., H, W, C) array — numpy, dask, zarr — whose leading
axes (planes, time points, ...) index 2D slices.  A slice is named by its
*slice key*, the tuple of its leading indices (``()`` for a 2D image).
"""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np

from ..errors import ImageError

SliceKey = tuple[int, ...]


class ImageStack:
    """Slices of one image, with the contrast limits used to scale them to 8 bits.

    Parameters
    ----------
    data : array_like, shape (..., H, W) or (..., H, W, C)
        The image; only the slices asked for are read (lazy arrays stay lazy).
    rgb : bool
        Whether the last axis holds colour channels (C = 3 or 4).
    contrast_limits : (low, high), optional
        How non-uint8 data is scaled to 0-255 (napari's layer contrast limits);
        default: robust percentiles of each slice.
    key : hashable, optional
        Identity of the image in embedding-cache keys; default ``id(data)``.

    Examples
    --------
    >>> stack = ImageStack(np.zeros((4, 32, 48), np.uint8))
    >>> stack.leading_shape, stack.plane_shape, stack.neighbours((1,), 2)
    ((4,), (32, 48), [(2,), (0,), (3,)])
    """

    def __init__(
        self,
        data: Any,
        *,
        rgb: bool = False,
        contrast_limits: Sequence[float] | None = None,
        key: Hashable | None = None,
    ) -> None:
        shape = tuple(int(s) for s in np.shape(data))
        spatial = 3 if rgb else 2
        if len(shape) < spatial:
            kind = "an RGB image (..., H, W, C)" if rgb else "an image (..., H, W)"
            raise ImageError(f"expected {kind}, got an array of shape {shape}.")
        if rgb and shape[-1] not in (3, 4):
            raise ImageError(f"an RGB image needs 3 or 4 channels in its last axis, got shape {shape}.")
        if min(shape[len(shape) - spatial :][:2]) < 2:
            raise ImageError(f"image of shape {shape} is too small to segment.")
        self.data = data
        self.rgb = bool(rgb)
        self.contrast_limits = None if contrast_limits is None else tuple(float(v) for v in contrast_limits)
        self._key = id(data) if key is None else key
        self.label_shape: tuple[int, ...] = shape[:-1] if rgb else shape
        self.leading_shape: tuple[int, ...] = self.label_shape[:-2]
        self.plane_shape: tuple[int, int] = (self.label_shape[-2], self.label_shape[-1])

    @property
    def key(self) -> Hashable:
        """Cache identity: the image and how it is scaled (new limits mean new embeddings)."""
        return (self._key, self.contrast_limits)

    def check_key(self, slice_key: Sequence[int]) -> SliceKey:
        """Validate a slice key against :attr:`leading_shape` and return it as a tuple of ints."""
        key = tuple(int(i) for i in slice_key)
        if len(key) != len(self.leading_shape) or any(not 0 <= i < n for i, n in zip(key, self.leading_shape)):
            raise ImageError(f"slice {key} does not exist in an image with leading axes {self.leading_shape}.")
        return key

    def plane(self, slice_key: Sequence[int]) -> np.ndarray:
        """The 2D (H, W) or (H, W, C) slice as a numpy array."""
        return np.asarray(self.data[self.check_key(slice_key)])

    def neighbours(self, slice_key: Sequence[int], radius: int) -> list[SliceKey]:
        """Slices near ``slice_key`` along the last leading axis, nearest first (next before previous)."""
        key = self.check_key(slice_key)
        if not key:
            return []
        size = self.leading_shape[-1]
        out = []
        for step in range(1, radius + 1):
            for index in (key[-1] + step, key[-1] - step):
                if 0 <= index < size:
                    out.append(key[:-1] + (index,))
        return out
