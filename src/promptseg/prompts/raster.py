"""Rasterisation of polygon and scribble prompts, and the natural click inside a mask.

All coordinates are napari (row, col) pixels; pixel (r, c) has its centre at
(r, c).  Pure numpy (scipy for the distance transform).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..errors import PromptError


def polygon_mask(vertices_rc: Sequence[Sequence[float]] | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a closed polygon: the pixels whose centres lie inside it.

    Parameters
    ----------
    vertices_rc : array_like, shape (K, 2)
        Vertices in the image's (row, col) pixel frame, in drawing order; the
        polygon is closed from the last vertex back to the first.  K >= 3.
    shape : (H, W)
        Size of the mask.

    Returns
    -------
    np.ndarray, shape (H, W), bool
        Inside by the even-odd rule; pixel (r, c) has its centre at (r, c).

    Examples
    --------
    >>> polygon_mask([(1, 1), (1, 3), (3, 3), (3, 1)], (5, 5)).sum()
    np.int64(9)
    """
    verts = check_vertices(vertices_rc, "polygon", min_len=3)
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=bool)
    r_lo, c_lo = np.maximum(np.floor(verts.min(axis=0)).astype(int), 0)
    r_hi, c_hi = np.minimum(np.ceil(verts.max(axis=0)).astype(int) + 1, (h, w))
    if r_lo >= r_hi or c_lo >= c_hi:
        return out
    rows = np.arange(r_lo, r_hi, dtype=np.float64)[:, None]
    cols = np.arange(c_lo, c_hi, dtype=np.float64)[None, :]
    inside = np.zeros((r_hi - r_lo, c_hi - c_lo), dtype=bool)
    start, end = verts, np.roll(verts, -1, axis=0)
    for (r0, c0), (r1, c1) in zip(start, end):
        if r0 == r1:
            continue  # horizontal edges never cross a horizontal ray
        crosses = (rows >= min(r0, r1)) & (rows < max(r0, r1))
        col_at = c0 + (rows - r0) * (c1 - c0) / (r1 - r0)
        inside ^= crosses & (cols < col_at)
    # Points exactly on the boundary count as inside, so thin polygons still show.
    out[r_lo:r_hi, c_lo:c_hi] = inside | scribble_mask(np.vstack([verts, verts[:1]]), shape, width=1.0)[
        r_lo:r_hi, c_lo:c_hi
    ]
    return out


#: Pen diameter (pixels) scribbles are rasterised with when a backend takes them as a mask.
SCRIBBLE_WIDTH = 3.0


def scribble_mask(
    path_rc: Sequence[Sequence[float]] | np.ndarray, shape: tuple[int, int], width: float = SCRIBBLE_WIDTH
) -> np.ndarray:
    """Rasterise an open path (a scribble) drawn with a round pen.

    Parameters
    ----------
    path_rc : array_like, shape (K, 2)
        Path vertices in the (row, col) pixel frame; K >= 1 (one vertex is a dot).
    shape : (H, W)
        Size of the mask.
    width : float
        Pen diameter in pixels; a pixel is drawn when its centre lies within
        ``width / 2`` of the path (at least the pixel nearest each vertex).

    Returns
    -------
    np.ndarray, shape (H, W), bool

    Examples
    --------
    >>> scribble_mask([(2, 0), (2, 4)], (5, 5), width=1).sum(axis=1).tolist()
    [0, 0, 5, 0, 0]
    """
    path = check_vertices(path_rc, "scribble", min_len=1)
    if not width > 0:
        raise PromptError(f"scribble width must be positive, got {width!r}.")
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=bool)
    radius = max(width / 2.0, 0.5)
    segments = zip(path, path[1:]) if len(path) > 1 else [(path[0], path[0])]
    for a, b in segments:
        lo = np.maximum(np.floor(np.minimum(a, b) - radius).astype(int), 0)
        hi = np.minimum(np.ceil(np.maximum(a, b) + radius).astype(int) + 1, (h, w))
        if lo[0] >= hi[0] or lo[1] >= hi[1]:
            continue
        rr = np.arange(lo[0], hi[0], dtype=np.float64)[:, None] - a[0]
        cc = np.arange(lo[1], hi[1], dtype=np.float64)[None, :] - a[1]
        d = b - a
        length2 = float(d @ d)
        t = np.clip((rr * d[0] + cc * d[1]) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        dist2 = (rr - t * d[0]) ** 2 + (cc - t * d[1]) ** 2
        out[lo[0] : hi[0], lo[1] : hi[1]] |= dist2 <= radius**2
    return out


def check_vertices(vertices: Sequence[Sequence[float]] | np.ndarray, what: str, *, min_len: int) -> np.ndarray:
    """A (K, 2) float64 array of the (row, col) vertices of a ``what`` ("polygon", "scribble"); K >= ``min_len``.

    Raises
    ------
    PromptError
        Not (K, 2), fewer than ``min_len`` vertices, or non-finite values.
    """
    arr = np.asarray(vertices, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < min_len:
        raise PromptError(f"a {what} needs at least {min_len} (row, col) vertices, got an array of shape {arr.shape}"
                          + (": it encloses nothing; add a vertex, or draw a path (a scribble) for a line."
                             if what == "polygon" else "."))
    if not np.isfinite(arr).all():
        raise PromptError(f"{what} vertices contain NaN or infinite coordinates.")
    return arr


def path_masks(polygons: Sequence[np.ndarray], scribbles: Sequence[np.ndarray], shape: tuple[int, int]) -> list[np.ndarray]:
    """Polygons filled and scribbles drawn :data:`SCRIBBLE_WIDTH` wide, one (H, W) bool mask each.

    Vertices are (K, 2) (row, col) pixel coordinates; the masks are what a
    backend that takes only a mask prompt is given for them.

    Raises
    ------
    PromptError
        A polygon of fewer than 3 vertices (it encloses nothing), malformed
        or non-finite vertices.
    """
    parts = [polygon_mask(p, shape) for p in polygons]
    parts += [scribble_mask(s, shape, SCRIBBLE_WIDTH) for s in scribbles if len(s)]
    return parts


def deepest_point(mask: np.ndarray) -> tuple[float, float]:
    """The (row, col) pixel of an (H, W) bool mask farthest from its boundary (first in row-major order).

    Pixels outside the array count as background, so the point keeps away
    from the image edge too: the natural click for an object given as a mask.
    """
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float(r), float(c)
