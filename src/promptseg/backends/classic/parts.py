"""An object is the connected part(s) of its answer that hold its positive prompts.

Pixel-level steps (the boundary refinement, the fine mode's cuts) can leave
islands that no longer touch the clicked part: after a negative click the
refinement may cut a thin bridge and leave the far side behind.  Such
fragments are not what the user pointed at; :func:`keep_seeded_parts`
removes them, on the working copy, with 8-connectivity (a diagonal one-pixel
scratch stays one part).  Several parts survive when each holds a positive
prompt (a defect in pieces).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["EIGHT", "keep_seeded_parts", "seeded_parts"]

#: 8-connectivity structuring element.
EIGHT = np.ones((3, 3), bool)


def seeded_parts(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected parts of ``mask`` that contain at least one seed pixel.

    Parameters
    ----------
    mask : np.ndarray, shape (h, w), bool
    seeds : np.ndarray, shape (S, 2), int
        (row, col) pixels inside the frame of ``mask``.

    Returns
    -------
    np.ndarray, shape (h, w), bool

    Examples
    --------
    >>> m = np.array([[1, 1, 0, 1], [0, 0, 0, 1]], bool)
    >>> seeded_parts(m, np.array([[0, 0]])).astype(int).tolist()
    [[1, 1, 0, 0], [0, 0, 0, 0]]
    """
    seeds = np.asarray(seeds, dtype=np.intp).reshape(-1, 2)
    if not mask.any() or seeds.size == 0:
        return np.zeros(mask.shape, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    inside = (seeds[:, 0] >= r0) & (seeds[:, 0] < r1) & (seeds[:, 1] >= c0) & (seeds[:, 1] < c1)
    labels, _ = ndi.label(mask[r0:r1, c0:c1], structure=EIGHT)
    ids = np.unique(labels[seeds[inside, 0] - r0, seeds[inside, 1] - c0])
    out = np.zeros(mask.shape, bool)
    out[r0:r1, c0:c1] = np.isin(labels, ids[ids > 0])
    return out


def keep_seeded_parts(logits: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Logits whose positive parts without a seed pixel are turned negative.

    Parameters
    ----------
    logits : np.ndarray, shape (h, w), float32
        Working-frame logits, positive for the object.
    seeds : np.ndarray, shape (S, 2), int
        (row, col) working pixels of the positive prompts; with none, the
        logits are returned unchanged.

    Returns
    -------
    np.ndarray, shape (h, w), float32
        A new array where some pixels changed, else ``logits`` itself.
    """
    if len(seeds) == 0:
        return logits
    positive = logits > 0
    drop = positive & ~seeded_parts(positive, seeds)
    if not drop.any():
        return logits
    return np.where(drop, -np.maximum(np.abs(logits), np.float32(1e-3)), logits).astype(np.float32)
