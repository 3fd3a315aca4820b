"""Small-hole filling of mask logits (the video predictor's ``fill_hole_area``), on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

__all__ = ["fill_small_holes"]

#: 8-connectivity, as the official connected-components kernel uses.
_EIGHT = np.ones((3, 3), dtype=bool)

#: Logit given to a filled hole (just inside the object).
HOLE_LOGIT = 0.1


def fill_small_holes(logits: torch.Tensor, max_area: int) -> torch.Tensor:
    """Turn every small background region of each mask into foreground.

    A background region is an 8-connected component of pixels with logit
    <= 0; one of at most ``max_area`` pixels gets the logit 0.1, whether or
    not it touches the border (as the official post-processing does).

    Parameters
    ----------
    logits : torch.Tensor, shape (N, 1, H, W), float
        Low-resolution mask logits (256 x 256 for SAM 2).
    max_area : int
        Largest region filled, in pixels; 0 returns ``logits`` unchanged.

    Returns
    -------
    torch.Tensor, shape of ``logits``
        A new tensor when anything was filled, else ``logits`` itself.
    """
    if max_area <= 0:
        return logits
    background = (logits <= 0).cpu().numpy()
    fill = np.zeros_like(background)
    for index in np.ndindex(background.shape[:2]):
        labels, count = ndimage.label(background[index], structure=_EIGHT)
        if count == 0:
            continue
        areas = np.bincount(labels.ravel())
        small = areas <= max_area
        small[0] = False  # label 0 is the foreground
        fill[index] = small[labels]
    if not fill.any():
        return logits
    return torch.where(torch.from_numpy(fill).to(logits.device), torch.tensor(HOLE_LOGIT, dtype=logits.dtype), logits)
