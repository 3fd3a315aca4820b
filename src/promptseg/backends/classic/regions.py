"""Moving prompts from the image's (row, col) frame onto superpixels.

Clicks and scribbles become superpixel ids (seeds); boxes, mask prompts,
polygons and the previous answer become the fraction of every superpixel
they cover.  Everything is done on the working copy (see
:class:`~promptseg.backends.classic.features.WorkingImage`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from skimage.draw import line, polygon

from .encoder import ClassicFeatures

__all__ = ["coverage", "path_pixels", "path_superpixels", "polygon_pixels", "box_pixels"]


def coverage(features: ClassicFeatures, work_mask: np.ndarray) -> np.ndarray:
    """Fraction of every superpixel covered by an (h, w) working-frame mask or coverage map, shape (n,)."""
    g = features.graph
    return (np.bincount(g.labels.ravel(), np.asarray(work_mask, np.float32).ravel(), g.n) / g.size).astype(np.float32)


def box_pixels(features: ClassicFeatures, box_rc: np.ndarray) -> np.ndarray:
    """Working pixels inside a (row0, col0, row1, col1) image-frame box, shape (h, w), float32 0/1."""
    corners = features.work.to_work(np.asarray(box_rc, dtype=np.float64).reshape(2, 2))
    inside = np.zeros(features.work.shape, np.float32)
    inside[corners[0, 0] : corners[1, 0] + 1, corners[0, 1] : corners[1, 1] + 1] = 1.0
    return inside


def path_pixels(features: ClassicFeatures, path_rc: np.ndarray) -> np.ndarray:
    """Working pixels (P, 2) (row, col) of an open polyline of (N, 2) image-frame vertices."""
    pts = features.work.to_work(path_rc)
    rows, cols = [pts[:1, 0]], [pts[:1, 1]]
    for (r0, c0), (r1, c1) in zip(pts[:-1], pts[1:]):
        rr, cc = line(int(r0), int(c0), int(r1), int(c1))
        rows.append(rr), cols.append(cc)
    return np.stack([np.concatenate(rows), np.concatenate(cols)], axis=1).astype(np.intp)


def path_superpixels(features: ClassicFeatures, path_rc: np.ndarray) -> np.ndarray:
    """Ids of the superpixels an open polyline of (N, 2) image-frame vertices passes through."""
    px = path_pixels(features, path_rc)
    return np.unique(features.graph.labels[px[:, 0], px[:, 1]])


def polygon_pixels(features: ClassicFeatures, polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Working pixels inside the union of closed polygons ((N, 2) image-frame vertices), shape (h, w), float32 0/1."""
    work = features.work
    inside = np.zeros(work.shape, np.float32)
    for vertices in polygons:
        v = (np.asarray(vertices, dtype=np.float64) + 0.5) / work.factor - 0.5
        rr, cc = polygon(v[:, 0], v[:, 1], shape=work.shape)
        inside[rr, cc] = 1.0
        edge = work.to_work(vertices)  # thin polygons still cover their outline
        inside[edge[:, 0], edge[:, 1]] = 1.0
    return inside
