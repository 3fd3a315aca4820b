"""From overlapping object masks to one labels image."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["paint_labels"]


def paint_labels(shape: tuple[int, int], boxes: np.ndarray, masks: Sequence[np.ndarray],
                 scores: np.ndarray, *, min_area: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Paint masks into a labels image; where masks overlap the higher score wins.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the image.
    boxes : np.ndarray, shape (K, 4)
        (x0, y0, x1, y1) of each mask, inclusive, image pixels.
    masks : sequence of np.ndarray
        Mask k as bool of shape (y1 - y0 + 1, x1 - x0 + 1).
    scores : np.ndarray, shape (K,)
    min_area : int
        Objects left with fewer pixels after the overlaps are resolved are dropped.

    Returns
    -------
    labels : np.ndarray, shape (H, W), uint32
        0 background; objects numbered 1..n by decreasing score.
    object_scores : np.ndarray, shape (n,), float32
        Score of label ``i + 1``.

    Examples
    --------
    >>> a = np.ones((2, 2), bool)
    >>> labels, s = paint_labels((3, 3), np.array([[0, 0, 1, 1], [1, 1, 2, 2]]), [a, a], np.array([0.5, 0.75]))
    >>> labels.tolist(), s.tolist()
    ([[2, 2, 0], [2, 1, 1], [0, 1, 1]], [0.75, 0.5])
    """
    scores = np.asarray(scores, np.float64).ravel()
    order = np.argsort(-scores, kind="stable")  # order[r] has rank r
    canvas = np.zeros(shape, np.int64)  # rank + 1
    for rank in range(len(order) - 1, -1, -1):  # worst first, so better ones paint over it
        k = order[rank]
        x0, y0, x1, y1 = (int(v) for v in boxes[k])
        region = canvas[y0:y1 + 1, x0:x1 + 1]
        region[np.asarray(masks[k], bool)] = rank + 1
    areas = np.bincount(canvas.ravel(), minlength=len(order) + 1)[1:]
    alive = areas >= max(int(min_area), 1)
    new_id = np.zeros(len(order) + 1, np.uint32)
    new_id[1:][alive] = np.arange(1, int(alive.sum()) + 1, dtype=np.uint32)
    return new_id[canvas], scores[order][alive].astype(np.float32)
