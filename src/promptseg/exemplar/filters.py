"""Turning one backend answer into a proposal, or dropping it: overlap, negatives, size, duplicates."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi

from .proposal import Proposal

__all__ = ["seed_component", "box_edge_fraction", "suppress_duplicates", "merge_proposals"]


def seed_component(mask: np.ndarray, seed: tuple[float, float]) -> np.ndarray:
    """The connected part of an (H, W) mask that holds ``seed`` (the largest part when none does)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return mask
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    labels, n = ndi.label(mask[r0:r1, c0:c1])
    if n <= 1:
        return mask
    r, c = int(round(seed[0])) - r0, int(round(seed[1])) - c0
    inside = 0 <= r < labels.shape[0] and 0 <= c < labels.shape[1]
    keep = labels[r, c] if inside else 0
    if keep == 0:
        keep = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = labels == keep
    return out


def box_edge_fraction(mask: np.ndarray, box: Sequence[float] | None) -> float:
    """Share of a prompt box's inner edge (image edges left out) covered by the mask: high means the object leaked."""
    if box is None:
        return 0.0
    h, w = mask.shape
    r0, c0 = int(np.floor(box[0])), int(np.floor(box[1]))
    r1, c1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
    r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h - 1), min(c1, w - 1)
    edges = []
    if r0 > 0:
        edges.append(mask[r0, c0 : c1 + 1])
    if r1 < h - 1:
        edges.append(mask[r1, c0 : c1 + 1])
    if c0 > 0:
        edges.append(mask[r0 : r1 + 1, c0])
    if c1 < w - 1:
        edges.append(mask[r0 : r1 + 1, c1])
    if not edges:
        return 0.0
    line = np.concatenate(edges)
    return float(line.mean()) if line.size else 0.0


def suppress_duplicates(proposals: Sequence[Proposal], *, iou: float = 0.3, contained: float = 0.5) -> list[Proposal]:
    """Greedy non-maximum suppression: best score first, drop any proposal overlapping a kept one.

    A proposal is a duplicate when its IoU with a kept one exceeds ``iou``,
    or when more than ``contained`` of the smaller of the two lies in the other.
    """
    kept: list[Proposal] = []
    for p in sorted(proposals, key=lambda q: -q.score):
        if not any(_overlaps(p, q, iou, contained) for q in kept):
            kept.append(p)
    return kept


def merge_proposals(preferred: Sequence[Proposal], others: Sequence[Proposal], **limits) -> list[Proposal]:
    """Duplicate-free ``preferred`` proposals plus the ``others`` that duplicate none kept; highest score first.

    ``limits`` (``iou``, ``contained``) are those of :func:`suppress_duplicates`.
    """
    kept = suppress_duplicates(preferred, **limits)
    for p in suppress_duplicates(others, **limits):
        if not any(_overlaps(p, q, limits.get("iou", 0.3), limits.get("contained", 0.5)) for q in kept):
            kept.append(p)
    return sorted(kept, key=lambda q: -q.score)


def _overlaps(a: Proposal, b: Proposal, iou: float, contained: float) -> bool:
    r0, c0 = max(a.box[0], b.box[0]), max(a.box[1], b.box[1])
    r1, c1 = min(a.box[2], b.box[2]), min(a.box[3], b.box[3])
    if r0 >= r1 or c0 >= c1:
        return False
    ca = a.crop[r0 - a.box[0] : r1 - a.box[0], c0 - a.box[1] : c1 - a.box[1]]
    cb = b.crop[r0 - b.box[0] : r1 - b.box[0], c0 - b.box[1] : c1 - b.box[1]]
    inter = int(np.count_nonzero(ca & cb))
    if inter == 0:
        return False
    union = a.area + b.area - inter
    return inter / union > iou or inter / max(min(a.area, b.area), 1) > contained
