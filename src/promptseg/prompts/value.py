"""The one prompt value: everything one object's answer depends on.

:class:`Prompts` is immutable and validated once, when it is made: each user
action makes a new one (so the undo history keeps them by reference), the
session, the store wrappers, the evaluation and find-similar pass it along
unchanged, and a backend reads it in its ``answer`` method.  Coordinates are
napari (row, col) pixels of one 2D slice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from ..errors import PromptError
from .raster import check_vertices, path_masks

#: Prompt kinds a backend may read natively (``Backend.native_prompts``); others reach it as mask pixels.
PATH_KINDS = ("polygons", "scribbles")


def _frozen(array: Any, dtype: Any = np.float64) -> np.ndarray:
    """A read-only array of ``dtype`` (an array that already is one is kept, not copied)."""
    if isinstance(array, np.ndarray) and array.dtype == dtype and not array.flags.writeable:
        return array
    out = np.array(array, dtype=dtype)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Prompts:
    """Prompts for one object on one 2D slice, in that slice's (row, col) frame.

    Every argument is checked and normalised on construction (read-only
    arrays); malformed values raise :class:`~promptseg.errors.PromptError`
    saying what to give instead.  An empty value is allowed (an object
    without prompts yet); ``Backend.predict`` refuses it.

    Attributes
    ----------
    points : np.ndarray, shape (N, 2), float64
        Clicks (row, col); N may be 0.
    labels : np.ndarray, shape (N,), int64
        1 for a positive (object) click, 0 for a negative one; default all 1.
    box : np.ndarray, shape (4,), float64, or None
        (row0, col0, row1, col1) with row0 <= row1 and col0 <= col1 (corners
        may be given in any order; on an image they are clipped to it).
    polygons : tuple of np.ndarray, each (K, 2) float64, K >= 3
        Closed outlines; label 1 marks the inside as object, 0 as background.
    scribbles : tuple of np.ndarray, each (K, 2) float64, K >= 1
        Open paths drawn over the object (label 1) or the background (0).
    mask : np.ndarray, shape (H, W), bool, or None
        A mask painted (or corrected) by hand; an all-false mask is None.
    polygon_labels, scribble_labels : np.ndarray, int64
        One 0/1 label per polygon / scribble; default all 1.
    image_shape : (int, int) or None
        (H, W) of the slice the prompts were checked against: points must
        lie inside it, the box and paths must overlap it, the mask must have
        its size.  None: not checked yet (see :meth:`on_image`).
    """

    points: Any = ()
    labels: Any = None
    box: Any = None
    polygons: Any = ()
    scribbles: Any = ()
    mask: Any = None
    polygon_labels: Any = None
    scribble_labels: Any = None
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        shape = None if self.image_shape is None else (int(self.image_shape[0]), int(self.image_shape[1]))
        points, labels = _check_points(self.points, self.labels, shape)
        polygons, polygon_labels = _check_paths(self.polygons, self.polygon_labels, shape, "polygons")
        scribbles, scribble_labels = _check_paths(self.scribbles, self.scribble_labels, shape, "scribbles")
        values = dict(points=points, labels=labels, box=_check_box(self.box, shape), polygons=polygons,
                      scribbles=scribbles, mask=_check_mask(self.mask, shape), polygon_labels=polygon_labels,
                      scribble_labels=scribble_labels, image_shape=shape)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------- queries
    @property
    def is_empty(self) -> bool:
        """No prompt of any kind."""
        return (len(self.points) == 0 and self.box is None and not self.polygons and not self.scribbles
                and self.mask is None)

    @property
    def is_single_point(self) -> bool:
        """One click and nothing else: the ambiguous case SAM answers with three candidate masks."""
        return len(self.points) == 1 and self.box is None and self.mask is None and not self.has_paths

    @property
    def has_paths(self) -> bool:
        """Whether there are polygons or scribbles."""
        return bool(self.polygons or self.scribbles)

    def gives_mask(self, native: frozenset[str] | set[str] = frozenset()) -> bool:
        """Whether a backend reading ``native`` path kinds gets a mask prompt (painted, or paths drawn)."""
        if self.mask is not None:
            return True
        return bool(self.polygons and "polygons" not in native) or bool(self.scribbles and "scribbles" not in native)

    def same_as(self, other: "Prompts") -> bool:
        """Value equality (arrays compared element-wise; the image shape is not compared)."""
        return (np.array_equal(self.points, other.points) and np.array_equal(self.labels, other.labels)
                and self.same_but_clicks(other))

    def same_but_clicks(self, other: "Prompts") -> bool:
        """Whether the prompts other than clicks (box, paths, mask) are equal."""
        return (
            _same(self.box, other.box)
            and _same_paths(self.polygons, other.polygons)
            and np.array_equal(self.polygon_labels, other.polygon_labels)
            and _same_paths(self.scribbles, other.scribbles)
            and np.array_equal(self.scribble_labels, other.scribble_labels)
            and _same(self.mask, other.mask)
        )

    # ---------------------------------------------------------- new values
    def on_image(self, image_shape: Sequence[int]) -> "Prompts":
        """These prompts checked against a slice of (H, W) ``image_shape`` (itself when already checked so).

        Raises
        ------
        PromptError
            Points outside the slice, a box or path not overlapping it, a
            mask of another size, or prompts checked against another shape.
        """
        shape = (int(image_shape[0]), int(image_shape[1]))
        if self.image_shape == shape:
            return self
        if self.image_shape is not None:
            raise PromptError(f"these prompts were given for an image of {self.image_shape[0]} x "
                              f"{self.image_shape[1]} pixels, not {shape[0]} x {shape[1]}: give them for this image.")
        return replace(self, image_shape=shape)

    def with_points(self, points: Any, labels: Any) -> "Prompts":
        """The same prompts with these clicks instead."""
        return replace(self, points=points, labels=labels)

    def with_click(self, point: tuple[float, float], label: int) -> "Prompts":
        """These prompts plus one click at (row, col) ``point`` (``label`` 1 positive, 0 negative)."""
        points = np.concatenate([self.points, np.asarray(point, dtype=np.float64).reshape(1, 2)])
        return self.with_points(points, np.append(self.labels, np.int64(label)))

    def without_clicks(self) -> "Prompts":
        """The prompts other than clicks (box, paths, mask)."""
        return self.with_points(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))

    def rasterised(self, native: frozenset[str] | set[str] = frozenset(), *, where: str = "this backend") -> "Prompts":
        """Polygons and scribbles of kinds not in ``native`` drawn into the mask prompt (itself when none are).

        Needs :attr:`image_shape`.  Used for backends that read only points,
        a box and a mask (``where`` names them in the error).

        Raises
        ------
        PromptError
            Negative polygons or scribbles, which a mask prompt cannot say;
            a polygon of fewer than 3 vertices.
        """
        drawn = [kind for kind in PATH_KINDS if getattr(self, kind) and kind not in native]
        if not drawn:
            return self
        if self.image_shape is None:
            raise PromptError("prompts without an image shape cannot be rasterised: call on_image(shape) first.")
        for kind in drawn:
            if (getattr(self, kind[:-1] + "_labels") != 1).any():
                raise PromptError(f"negative {kind} cannot be given to {where}: it takes them as a mask prompt, "
                                  "which cannot say 'not here'; use negative clicks instead.")
        parts = [] if self.mask is None else [self.mask]
        parts += path_masks(self.polygons if "polygons" in drawn else (),
                            self.scribbles if "scribbles" in drawn else (), self.image_shape)
        changes: dict[str, Any] = {"mask": np.logical_or.reduce(parts) if len(parts) > 1 else parts[0]}
        for kind in drawn:
            changes[kind], changes[kind[:-1] + "_labels"] = (), None
        return replace(self, **changes)

    # --------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the mask is run-length encoded (see :mod:`promptseg.prompts.serial`)."""
        from .serial import prompts_to_json

        return prompts_to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Prompts":
        """Inverse of :meth:`to_json`."""
        from .serial import prompts_from_json

        return prompts_from_json(data)


# ------------------------------------------------------------------ checks
def _check_points(points: Any, labels: Any, shape: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points if points is not None else (), dtype=np.float64)
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
    if not np.isfinite(pts).all():
        raise PromptError("points contain NaN or infinite coordinates.")
    if shape is not None:
        h, w = shape
        outside = (pts[:, 0] < 0) | (pts[:, 0] > h - 1) | (pts[:, 1] < 0) | (pts[:, 1] > w - 1)
        if outside.any():
            bad = pts[outside][0]
            raise PromptError(
                f"point (row={bad[0]:g}, col={bad[1]:g}) lies outside the image of {h} x {w} pixels; "
                "points are (row, col) and must satisfy 0 <= row < H and 0 <= col < W."
            )
    return _frozen(pts), _frozen(labs, np.int64)


def _check_box(box: Any, shape: tuple[int, int] | None) -> np.ndarray | None:
    if box is None:
        return None
    given = np.asarray(box, dtype=np.float64).reshape(-1)
    if given.shape != (4,) or not np.isfinite(given).all():
        raise PromptError(f"box must be (row0, col0, row1, col1), got {box!r}.")
    r0, r1 = sorted((given[0], given[2]))
    c0, c1 = sorted((given[1], given[3]))
    bx = np.array([r0, c0, r1, c1])
    if shape is not None:
        h, w = shape
        if r1 < 0 or c1 < 0 or r0 > h - 1 or c0 > w - 1:
            raise PromptError(f"box {tuple(given)} does not overlap the image of {h} x {w} pixels.")
        bx = np.array([max(r0, 0.0), max(c0, 0.0), min(r1, h - 1.0), min(c1, w - 1.0)])
    flat = [side for side, size in (("height", bx[2] - bx[0]), ("width", bx[3] - bx[1])) if size <= 0]
    if flat:
        raise PromptError(
            f"box {tuple(float(v) for v in given)} has zero {' and '.join(flat)} inside the image: give two "
            "opposite corners of the object's bounding box (row0, col0, row1, col1), or click a point instead."
        )
    return _frozen(bx)


def _check_paths(paths: Any, labels: Any, shape: tuple[int, int] | None,
                 kind: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Polygons or scribbles as read-only (K, 2) arrays and one 0/1 label each."""
    if paths is None:
        paths = ()
    if isinstance(paths, np.ndarray) and paths.ndim == 2:
        paths = [paths]
    arrays = []
    for path in paths:
        arr = np.asarray(path, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            raise PromptError(f"each of the {kind} must be an (N, 2) array of (row, col) vertices, got shape {arr.shape}.")
        if kind == "polygons":
            check_vertices(arr, "polygon", min_len=3)
        if not np.isfinite(arr).all():
            raise PromptError(f"{kind} contain NaN or infinite coordinates.")
        if shape is not None:
            (r0, c0), (r1, c1) = arr.min(axis=0), arr.max(axis=0)
            if r1 < 0 or c1 < 0 or r0 > shape[0] - 1 or c0 > shape[1] - 1:
                raise PromptError(f"one of the {kind} lies entirely outside the image of {shape[0]} x {shape[1]} "
                                  "pixels; draw it over the image, in (row, col).")
        arrays.append(_frozen(arr))
    labs = np.ones(len(arrays), np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if len(labs) != len(arrays):
        raise PromptError(f"got {len(arrays)} {kind} but {len(labs)} labels; give one label (1 or 0) per {kind[:-1]}.")
    if not np.isin(labs, (0, 1)).all():
        raise PromptError(f"{kind} labels must be 1 (object) or 0 (background), got {sorted(set(labs.tolist()))}.")
    return tuple(arrays), _frozen(labs, np.int64)


def _check_mask(mask: Any, shape: tuple[int, int] | None) -> np.ndarray | None:
    if mask is None:
        return None
    mk = np.asarray(mask)
    if mk.ndim != 2:
        raise PromptError(f"mask prompt must be a 2D (H, W) array, got shape {mk.shape}.")
    if shape is not None and mk.shape != shape:
        raise PromptError(f"mask prompt has shape {mk.shape}; it must match the image, {shape}.")
    mk = _frozen(mk, bool)
    return mk if mk.any() else None


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _same_paths(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
