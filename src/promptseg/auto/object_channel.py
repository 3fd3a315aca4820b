"""One channel in which the objects are bright: grey, fluorescence or stained brightfield alike."""

from __future__ import annotations

import numpy as np
from skimage.filters import threshold_otsu

__all__ = ["object_channel"]

#: Range of the channel (percentiles) mapped to [0, 1]: the top is the maximum, so sparse objects are not clipped.
PERCENTILES = (0.5, 100.0)


def _grey_or_colour(arr: np.ndarray) -> np.ndarray:
    """(H, W) float64 for grey input or equal channels; (H, W, 3) float64 for colour."""
    a = np.asarray(arr, np.float64)
    if a.ndim == 2:
        return a
    a = a[..., :3] if a.shape[-1] >= 3 else a[..., :1]
    if a.shape[-1] == 1 or (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])):
        return a[..., 0]
    return a


def object_channel(arr: np.ndarray) -> np.ndarray:
    """The image as one float channel in [0, 1] where the objects are brighter than the background.

    Colour images are projected on the line between the mean colours of
    the two Otsu classes of their lightness (the colour difference that
    separates stained objects from tissue best along one axis).  The objects
    are taken to be the smaller of the two classes: a channel whose bright
    class covers more than half the image is inverted.

    Parameters
    ----------
    arr : np.ndarray, shape (H, W) or (H, W, C)

    Returns
    -------
    np.ndarray, shape (H, W), float64, in [0, 1]

    Examples
    --------
    >>> img = np.full((20, 20), 200, np.uint8); img[5:9, 5:9] = 40   # a dark spot on a bright field
    >>> x = object_channel(img)
    >>> float(x[6, 6]) > float(x[15, 15])
    True
    """
    a = _grey_or_colour(arr)
    if a.ndim == 3:
        light = a.mean(axis=2)
        if light.max() > light.min():
            split = light > threshold_otsu(light)
            direction = a[split].mean(axis=0) - a[~split].mean(axis=0)
            norm = np.linalg.norm(direction)
            a = a @ (direction / norm) if norm > 0 else light
        else:
            a = light
    low, high = np.percentile(a, PERCENTILES)
    if high <= low:
        low, high = float(a.min()), float(a.max())
    x = np.clip((a - low) / max(high - low, 1e-12), 0.0, 1.0)
    if x.max() > x.min() and np.mean(x > threshold_otsu(x)) > 0.5:
        x = 1.0 - x
    return x
