"""Prompt validation and the one conversion between napari and model frames.

napari and numpy index images as (row, col); Segment-Anything models take
(x, y) = (col, row).  :func:`to_xy` is the only place in the package that swaps
the axes, and :func:`check_prompts` the only place that validates prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from .errors import PromptError


@dataclass(frozen=True)
class Prompts:
    """A validated prompt set in the image's (row, col) pixel frame.

    Attributes
    ----------
    points : np.ndarray, shape (N, 2), float64
        Click positions (row, col); N may be 0.
    labels : np.ndarray, shape (N,), int64
        1 for a positive (object) click, 0 for a negative (background) one.
    box : np.ndarray, shape (4,), float64, or None
        (row0, col0, row1, col1) with row0 <= row1 and col0 <= col1.
    mask : np.ndarray, shape (H, W), bool, or None
        A rough object mask (painted, or a rasterised polygon or scribble).
    """

    points: np.ndarray
    labels: np.ndarray
    box: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def is_single_point(self) -> bool:
        """One click and nothing else: the ambiguous case SAM answers with three masks."""
        return len(self.points) == 1 and self.box is None and self.mask is None

    @property
    def is_empty(self) -> bool:
        return len(self.points) == 0 and self.box is None and self.mask is None


def check_prompts(
    image_shape: tuple[int, int],
    *,
    points: Sequence[Sequence[float]] | np.ndarray | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    box: Sequence[float] | np.ndarray | None = None,
    mask: np.ndarray | None = None,
    allow_empty: bool = False,
) -> Prompts:
    """Validate user prompts against an image of shape (H, W).

    Parameters
    ----------
    image_shape : (H, W)
        Size of the image the prompts refer to.
    points : array_like, shape (N, 2), optional
        (row, col) pixel coordinates; sub-pixel values are allowed.
    labels : array_like, shape (N,), optional
        1 positive, 0 negative.  Defaults to all positive.
    box : (row0, col0, row1, col1), optional
        Corners in any order; they are sorted.
    mask : array_like, shape (H, W), optional
        Mask prompt; non-zero is object.
    allow_empty : bool
        Whether an empty prompt set is acceptable.

    Returns
    -------
    Prompts

    Raises
    ------
    PromptError
        Malformed arrays, label values other than 0/1, coordinates outside the
        image, a box of zero width or height, a mask of another size, or no
        prompt at all.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    pts = np.zeros((0, 2)) if points is None else np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        pts = np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise PromptError(f"points must be a list of (row, col) pairs, got an array of shape {pts.shape}.")
    if labels is None:
        labs = np.ones(len(pts), dtype=np.int64)
    else:
        labs = np.asarray(labels).reshape(-1)
        if len(labs) != len(pts):
            raise PromptError(f"got {len(pts)} points but {len(labs)} labels; give one label (1 or 0) per point.")
        if not np.isin(labs, (0, 1)).all():
            raise PromptError(f"labels must be 1 (object) or 0 (background), got {sorted(set(labs.tolist()))}.")
        labs = labs.astype(np.int64)
    if not np.isfinite(pts).all():
        raise PromptError("points contain NaN or infinite coordinates.")
    outside = (pts[:, 0] < 0) | (pts[:, 0] > h - 1) | (pts[:, 1] < 0) | (pts[:, 1] > w - 1)
    if outside.any():
        bad = pts[outside][0]
        raise PromptError(
            f"point (row={bad[0]:g}, col={bad[1]:g}) lies outside the image of {h} x {w} pixels; "
            "points are (row, col) and must satisfy 0 <= row < H and 0 <= col < W."
        )
    bx = None
    if box is not None:
        bx = np.asarray(box, dtype=np.float64).reshape(-1)
        if bx.shape != (4,) or not np.isfinite(bx).all():
            raise PromptError(f"box must be (row0, col0, row1, col1), got {box!r}.")
        r0, r1 = sorted((bx[0], bx[2]))
        c0, c1 = sorted((bx[1], bx[3]))
        if r1 < 0 or c1 < 0 or r0 > h - 1 or c0 > w - 1:
            raise PromptError(f"box {tuple(bx)} does not overlap the image of {h} x {w} pixels.")
        bx = np.array([max(r0, 0.0), max(c0, 0.0), min(r1, h - 1.0), min(c1, w - 1.0)])
        flat = [side for side, size in (("height", bx[2] - bx[0]), ("width", bx[3] - bx[1])) if size <= 0]
        if flat:
            raise PromptError(
                f"box {tuple(float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1))} has zero "
                f"{' and '.join(flat)} inside the image: give two opposite corners of the object's bounding box "
                "(row0, col0, row1, col1), or click a point instead."
            )
    mk = None
    if mask is not None:
        mk = np.asarray(mask)
        if mk.shape != (h, w):
            raise PromptError(f"mask prompt has shape {mk.shape}; it must match the image, {(h, w)}.")
        mk = mk.astype(bool)
        if not mk.any():
            mk = None
    result = Prompts(points=pts, labels=labs, box=bx, mask=mk)
    if result.is_empty and not allow_empty:
        raise PromptError("no prompt given: add at least one point, a box or a mask.")
    return result


def to_xy(points_rc: np.ndarray) -> np.ndarray:
    """(row, col) -> (x, y): the only axis swap in the package.

    Parameters
    ----------
    points_rc : np.ndarray, shape (..., 2)
        Coordinates in the image's (row, col) frame.

    Returns
    -------
    np.ndarray, shape (..., 2)
        The same points as (x, y) = (col, row).
    """
    return np.asarray(points_rc)[..., ::-1].copy()


def box_to_xyxy(box_rc: np.ndarray) -> np.ndarray:
    """(row0, col0, row1, col1) -> (x0, y0, x1, y1), via :func:`to_xy`."""
    return to_xy(np.asarray(box_rc, dtype=np.float64).reshape(2, 2)).reshape(4)


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
