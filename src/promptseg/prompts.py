"""Prompt validation and the one conversion between napari and model frames.

napari and numpy index images as (row, col); Segment-Anything models take
(x, y) = (col, row).  :func:`to_xy` is the only place in the package that swaps
the axes, and :func:`check_prompts` the only place that validates prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

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
        image, a mask of another size, or no prompt at all.
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
