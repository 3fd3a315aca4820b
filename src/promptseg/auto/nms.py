"""Greedy non-maximum suppression of boxes (what ``torchvision.ops.batched_nms`` computes, without torchvision)."""

from __future__ import annotations

import numpy as np

__all__ = ["box_iou", "box_nms"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4), (x0, y0, x1, y1), area (x1-x0)*(y1-y0) -> (n, m).

    Examples
    --------
    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2], [4, 4, 5, 5]])).round(3).tolist()
    [[0.333, 0.0]]
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    inter = np.clip(wh, 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, groups: np.ndarray | None = None) -> np.ndarray:
    """Keep boxes best score first, dropping any whose IoU with a kept box of its group exceeds ``threshold``.

    Parameters
    ----------
    boxes : np.ndarray, shape (n, 4)
        (x0, y0, x1, y1).
    scores : np.ndarray, shape (n,)
    threshold : float
        IoU above which the lower-scored box is suppressed.
    groups : np.ndarray, shape (n,), optional
        Boxes only suppress boxes of their own group (default: one group).

    Returns
    -------
    np.ndarray, shape (k,), int64
        Indices of the kept boxes, best score first (ties: lower index first).

    Examples
    --------
    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    >>> box_nms(b, np.array([0.9, 0.95, 0.5]), 0.7).tolist()
    [1, 2]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).ravel()
    order = np.argsort(-scores, kind="stable")
    if len(order) == 0:
        return order.astype(np.int64)
    overlap = box_iou(boxes[order], boxes[order]) > threshold
    if groups is not None:
        g = np.asarray(groups)[order]
        overlap &= g[:, None] == g[None, :]
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if alive[i]:
            alive[i + 1:] &= ~overlap[i, i + 1:]
    return order[alive].astype(np.int64)
