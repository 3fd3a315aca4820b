"""Per-mask measures and clean-ups of the automatic mask generator.

The formulas are SAM's (Kirillov et al. 2023, segment-anything
``utils/amg.py``): the stability score of a mask's logits, its (x0, y0, x1,
y1) box, the filter for masks cut by a crop's inner edge, and the removal
of small holes and islands.  Boxes here are pixel-index boxes: x1 and y1 are
the last column and row of the mask (inclusive), as SAM computes them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy import ndimage as ndi

__all__ = ["stability_score", "mask_boxes", "near_crop_edge", "remove_small_regions"]

_EIGHT = np.ones((3, 3), bool)


def stability_score(logits: torch.Tensor, threshold: float = 0.0, offset: float = 1.0) -> torch.Tensor:
    """IoU of the masks at ``threshold + offset`` and ``threshold - offset``.

    The higher cut's mask lies inside the lower one's, so the IoU is the
    ratio of their areas.

    Parameters
    ----------
    logits : torch.Tensor, shape (K, H, W)
        Mask logits.
    threshold, offset : float
        The mask is ``logits > threshold``; the score compares the cuts
        ``threshold +- offset``.

    Returns
    -------
    torch.Tensor, shape (K,), float32
        In [0, 1]; NaN where even the lower cut is empty.

    Examples
    --------
    >>> stability_score(torch.tensor([[[3.0, 0.5, -0.5, -3.0]]]))
    tensor([0.3333])
    """
    high = (logits > threshold + offset).flatten(1).sum(1, dtype=torch.int64)
    low = (logits > threshold - offset).flatten(1).sum(1, dtype=torch.int64)
    return high.to(torch.float32) / low.to(torch.float32)


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Boxes around masks, (K, H, W) bool -> (K, 4) int64 (x0, y0, x1, y1), inclusive; zeros for empty masks.

    Examples
    --------
    >>> m = torch.zeros(2, 4, 5, dtype=torch.bool); m[0, 1:3, 2:4] = True
    >>> mask_boxes(m).tolist()
    [[2, 1, 3, 2], [0, 0, 0, 0]]
    """
    k, h, w = masks.shape
    out = torch.zeros(k, 4, dtype=torch.int64)
    if k == 0:
        return out
    rows, cols = masks.any(2), masks.any(1)  # (K, H), (K, W)
    filled = rows.any(1)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    out[:, 0] = torch.where(cols, ar_w, w).min(1).values
    out[:, 1] = torch.where(rows, ar_h, h).min(1).values
    out[:, 2] = torch.where(cols, ar_w, -1).max(1).values
    out[:, 3] = torch.where(rows, ar_h, -1).max(1).values
    out[~filled] = 0
    return out


def near_crop_edge(boxes: torch.Tensor, crop_box: Sequence[int], image_box: Sequence[int],
                   atol: float = 20.0) -> torch.Tensor:
    """Which boxes come within ``atol`` pixels of an edge of their crop that is not an edge of the image.

    Parameters
    ----------
    boxes : torch.Tensor, shape (K, 4)
        (x0, y0, x1, y1) in the crop's frame.
    crop_box, image_box : (x0, y0, x1, y1)
        The crop and the whole image in image pixels (x1, y1 exclusive).
    atol : float
        Distance in pixels.

    Returns
    -------
    torch.Tensor, shape (K,), bool
        True for masks SAM drops as probably cut by the crop.
    """
    crop = torch.as_tensor(crop_box, dtype=torch.float32)
    image = torch.as_tensor(image_box, dtype=torch.float32)
    shifted = boxes.to(torch.float32) + crop[[0, 1, 0, 1]]
    at_crop = (shifted - crop).abs() <= atol
    at_image = (shifted - image).abs() <= atol
    return (at_crop & ~at_image).any(dim=1)


def remove_small_regions(mask: np.ndarray, min_area: int, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes (``mode="holes"``) or drop islands (``"islands"``) smaller than ``min_area`` pixels.

    Regions are 8-connected.  A hole is any 8-connected region of the
    complement (the outside counts when it is small).  When every island is
    small, the largest is kept.

    Returns
    -------
    mask : np.ndarray, shape (H, W), bool
    changed : bool
    """
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}.")
    mask = np.asarray(mask, bool)
    holes = mode == "holes"
    regions, n = ndi.label(~mask if holes else mask, structure=_EIGHT)
    if n == 0:
        return mask, False
    sizes = np.bincount(regions.ravel(), minlength=n + 1)[1:]
    small = sizes < min_area
    if not small.any():
        return mask, False
    if holes:
        return mask | small[regions - 1] & (regions > 0), True
    keep = ~small if not small.all() else np.arange(n) == int(np.argmax(sizes))
    return (regions > 0) & keep[regions - 1], True
