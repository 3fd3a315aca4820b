"""Superpixels of the working image and the region adjacency graph over them.

The working image is over-segmented by a watershed of its colour gradient
from a regular grid of markers (fast, and it follows edges closely); each
superpixel gets its mean colour, and each pair of touching superpixels an
edge with its boundary length and the colour contrast across it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from .features import WorkingImage

__all__ = ["SuperpixelGraph", "build_graph"]


@dataclass(frozen=True)
class SuperpixelGraph:
    """Superpixels and their adjacency, all in the working image's (row, col) frame.

    Attributes
    ----------
    labels : np.ndarray, shape (h, w), int32
        Superpixel id of every working pixel, 0 .. n-1.
    size : np.ndarray, shape (n,), float32
        Pixels per superpixel.
    colour : np.ndarray, shape (n, 3), float32
        Mean Lab colour.
    spread : np.ndarray, shape (n,), float32
        Standard deviation of the colour inside (texture), Lab units.
    centroid : np.ndarray, shape (n, 2), float32
        Mean (row, col).
    border : np.ndarray, shape (n,), bool
        Touches the image edge.
    boxes : np.ndarray, shape (n, 4), int32
        Bounding box (row0, col0, row1, col1), end exclusive.
    edges : np.ndarray, shape (E, 2), int32
        Pairs (i, j), i < j, of touching superpixels.
    length : np.ndarray, shape (E,), float32
        Boundary length in pixel pairs.
    contrast : np.ndarray, shape (E,), float32
        Mean squared Lab difference of the pixel pairs across the boundary.
    """

    labels: np.ndarray
    size: np.ndarray
    colour: np.ndarray
    spread: np.ndarray
    centroid: np.ndarray
    border: np.ndarray
    boxes: np.ndarray
    edges: np.ndarray
    length: np.ndarray
    contrast: np.ndarray

    @property
    def n(self) -> int:
        """Number of superpixels."""
        return int(self.size.shape[0])


def oversegment(work: WorkingImage, *, area: float) -> np.ndarray:
    """Watershed superpixels of about ``area`` pixels each, shape (h, w), int32 ids from 0."""
    h, w = work.shape
    step = max(2, int(round(np.sqrt(area))))
    markers = np.zeros((h, w), np.int32)
    rows = np.arange(min(step // 2, h - 1), h, step)
    cols = np.arange(min(step // 2, w - 1), w, step)
    markers[np.ix_(rows, cols)] = np.arange(1, rows.size * cols.size + 1, dtype=np.int32).reshape(rows.size, cols.size)
    labels = watershed(work.gradient, markers=markers)
    labels -= 1
    # relabel consecutively (a marker can be swallowed on plateaus)
    present = np.zeros(rows.size * cols.size, bool)
    present[labels.ravel()] = True
    if not present.all():
        remap = np.cumsum(present, dtype=np.int32) - 1
        labels = remap[labels]
    return labels.astype(np.int32, copy=False)


def build_graph(work: WorkingImage, *, area: float) -> SuperpixelGraph:
    """Over-segment the working image and measure superpixels and their boundaries.

    Parameters
    ----------
    work : WorkingImage
        From :func:`~promptseg.backends.classic.features.prepare_image`.
    area : float
        Target superpixel size in working pixels.
    """
    labels = oversegment(work, area=area)
    h, w = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    lab = work.lab.reshape(-1, 3)
    size = np.bincount(flat, minlength=n).astype(np.float64)
    colour = np.stack([np.bincount(flat, lab[:, c], n) for c in range(3)], axis=1) / size[:, None]
    sq = sum(np.bincount(flat, lab[:, c].astype(np.float64) ** 2, n) for c in range(3)) / size
    spread = np.sqrt(np.maximum(sq - (colour**2).sum(axis=1), 0.0))
    rr, cc = np.divmod(np.arange(h * w), w)
    centroid = np.stack([np.bincount(flat, rr, n), np.bincount(flat, cc, n)], axis=1) / size[:, None]
    border = np.zeros(n, bool)
    border[labels[0]] = border[labels[-1]] = border[labels[:, 0]] = border[labels[:, -1]] = True

    boxes = np.array([[sl[0].start, sl[1].start, sl[0].stop, sl[1].stop] for sl in ndi.find_objects(labels + 1)],
                     dtype=np.int32)

    keys, diffs = [], []
    for a, b, la, lb in (
        (work.lab[:, :-1], work.lab[:, 1:], labels[:, :-1], labels[:, 1:]),
        (work.lab[:-1], work.lab[1:], labels[:-1], labels[1:]),
    ):
        cross = la != lb
        i, j = la[cross].astype(np.int64), lb[cross].astype(np.int64)
        keys.append(np.minimum(i, j) * n + np.maximum(i, j))
        diffs.append(((a[cross] - b[cross]) ** 2).sum(axis=1))
    keys_all = np.concatenate(keys)
    uniq, inverse = np.unique(keys_all, return_inverse=True)
    length = np.bincount(inverse, minlength=uniq.size)
    contrast = np.bincount(inverse, np.concatenate(diffs), uniq.size) / length
    edges = np.stack(np.divmod(uniq, n), axis=1).astype(np.int32)
    return SuperpixelGraph(
        labels=labels,
        size=size.astype(np.float32),
        colour=colour.astype(np.float32),
        spread=spread.astype(np.float32),
        centroid=centroid.astype(np.float32),
        border=border,
        boxes=boxes,
        edges=edges,
        length=length.astype(np.float32),
        contrast=contrast.astype(np.float32),
    )
