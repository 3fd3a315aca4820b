"""The prompts of one object, in every kind the annotator offers.

:class:`ObjectPrompts` is an immutable value: each user action makes a new
one, so the undo history can keep them by reference.  It turns itself into the
keyword arguments of :meth:`Backend.predict` (polygons and scribbles are
rasterised into the ``mask=`` prompt unless the backend takes them natively)
and into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..backends.keywords import accepts_keywords
from ..errors import PromptError
from ..prompts import path_masks


def _frozen(array: Any, shape: tuple[int, ...] | None = None, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(array, dtype=dtype)
    if shape is not None:
        out = out.reshape(shape)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class ObjectPrompts:
    """Prompts for one object on one 2D slice, in that slice's (row, col) frame.

    Attributes
    ----------
    points : np.ndarray, shape (N, 2), float64
        Clicks (row, col).
    labels : np.ndarray, shape (N,), int64
        1 positive, 0 negative, one per click.
    box : np.ndarray, shape (4,), or None
        (row0, col0, row1, col1).
    polygons : tuple of np.ndarray, each (K, 2)
        Closed outlines around (parts of) the object.
    scribbles : tuple of np.ndarray, each (K, 2)
        Open paths drawn over the object.
    painted : np.ndarray, shape (H, W), bool, or None
        A mask painted (or corrected) by hand.
    """

    points: np.ndarray = field(default_factory=lambda: _frozen(np.zeros((0, 2))))
    labels: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(0), dtype=np.int64))
    box: np.ndarray | None = None
    polygons: tuple[np.ndarray, ...] = ()
    scribbles: tuple[np.ndarray, ...] = ()
    painted: np.ndarray | None = None

    def __post_init__(self) -> None:
        points = _frozen(self.points).reshape(-1, 2)
        labels = _frozen(self.labels, dtype=np.int64).reshape(-1)
        if len(points) != len(labels):
            raise PromptError(f"{len(points)} points but {len(labels)} labels; give one label per point.")
        if not np.isin(labels, (0, 1)).all():
            raise PromptError("point labels must be 1 (object) or 0 (background).")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "labels", labels)
        if self.box is not None:
            object.__setattr__(self, "box", _frozen(self.box, (4,)))
        object.__setattr__(self, "polygons", tuple(_frozen(p).reshape(-1, 2) for p in self.polygons))
        object.__setattr__(self, "scribbles", tuple(_frozen(s).reshape(-1, 2) for s in self.scribbles))
        if self.painted is not None:
            painted = _frozen(self.painted, dtype=bool)
            object.__setattr__(self, "painted", painted if painted.any() else None)

    # ------------------------------------------------------------- queries
    @property
    def is_empty(self) -> bool:
        """No prompt of any kind."""
        return (
            len(self.points) == 0
            and self.box is None
            and not self.polygons
            and not self.scribbles
            and self.painted is None
        )

    def extends(self, other: "ObjectPrompts") -> bool:
        """Whether this prompt set is ``other`` plus more clicks (so ``other``'s
        prediction is a good ``previous`` for this one)."""
        n = len(other.points)
        return (
            not other.is_empty
            and len(self.points) > n
            and np.array_equal(self.points[:n], other.points)
            and np.array_equal(self.labels[:n], other.labels)
            and _same(self.box, other.box)
            and _same_paths(self.polygons, other.polygons)
            and _same_paths(self.scribbles, other.scribbles)
            and _same(self.painted, other.painted)
        )

    def with_points(self, points: np.ndarray, labels: np.ndarray) -> "ObjectPrompts":
        return replace(self, points=points, labels=labels)

    def with_click(self, point: tuple[float, float], label: int) -> "ObjectPrompts":
        """These prompts plus one click at (row, col) ``point`` (``label`` 1 positive, 0 negative)."""
        points = np.concatenate([self.points, np.asarray(point, dtype=np.float64).reshape(1, 2)])
        return self.with_points(points, np.append(self.labels, np.int64(label)))

    def same_as(self, other: "ObjectPrompts") -> bool:
        """Value equality (arrays compared element-wise)."""
        return (
            np.array_equal(self.points, other.points)
            and np.array_equal(self.labels, other.labels)
            and _same(self.box, other.box)
            and _same_paths(self.polygons, other.polygons)
            and _same_paths(self.scribbles, other.scribbles)
            and _same(self.painted, other.painted)
        )

    # ------------------------------------------------------------ predict
    def region_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """Polygons, scribbles and the painted mask as one (H, W) bool mask, or None."""
        parts = path_masks(self.polygons, self.scribbles, shape)
        if self.painted is not None:
            if self.painted.shape != tuple(shape):
                raise PromptError(f"painted mask has shape {self.painted.shape}, the slice is {tuple(shape)}.")
            parts.append(self.painted)
        if not parts:
            return None
        return np.logical_or.reduce(parts) if len(parts) > 1 else parts[0].copy()

    def gives_mask(self, backend: Any = None) -> bool:
        """Whether :meth:`predict_kwargs` for ``backend`` holds a ``mask=`` prompt (without rasterising anything)."""
        if self.painted is not None:
            return True
        return bool(self.polygons or self.scribbles) and not accepts_keywords(backend, "polygons", "scribbles")

    def predict_kwargs(self, shape: tuple[int, int], backend: Any = None) -> dict[str, Any]:
        """Keyword arguments for ``backend.predict`` on a slice of ``shape``.

        Polygons and scribbles are passed natively as ``polygons=`` /
        ``scribbles=`` (lists of (K, 2) (row, col) arrays) when ``backend.predict``
        accepts those keywords; otherwise they are rasterised, together with
        the painted mask, into one ``mask=`` prompt.
        """
        kwargs: dict[str, Any] = {}
        if len(self.points):
            kwargs["points"] = self.points
            kwargs["labels"] = self.labels
        if self.box is not None:
            kwargs["box"] = tuple(float(v) for v in self.box)
        native = accepts_keywords(backend, "polygons", "scribbles")
        if native and (self.polygons or self.scribbles):
            if self.polygons:
                kwargs["polygons"] = list(self.polygons)
            if self.scribbles:
                kwargs["scribbles"] = list(self.scribbles)
            if self.painted is not None:
                kwargs["mask"] = self.painted
        else:
            mask = self.region_mask(shape)
            if mask is not None:
                kwargs["mask"] = mask
        return kwargs

    # --------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the painted mask is run-length encoded."""
        out: dict[str, Any] = {
            "points": self.points.tolist(),
            "labels": self.labels.tolist(),
            "box": None if self.box is None else self.box.tolist(),
            "polygons": [p.tolist() for p in self.polygons],
            "scribbles": [s.tolist() for s in self.scribbles],
            "painted": None if self.painted is None else encode_rle(self.painted),
        }
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ObjectPrompts":
        """Inverse of :meth:`to_json`."""
        try:
            painted = None if data.get("painted") is None else decode_rle(data["painted"])
            return cls(
                points=np.asarray(data.get("points") or np.zeros((0, 2)), dtype=np.float64),
                labels=np.asarray(data.get("labels") or [], dtype=np.int64),
                box=None if data.get("box") is None else data["box"],
                polygons=tuple(np.asarray(p, dtype=np.float64) for p in data.get("polygons", [])),
                scribbles=tuple(np.asarray(s, dtype=np.float64) for s in data.get("scribbles", [])),
                painted=painted,
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise PromptError(f"malformed prompts in the annotation file: {exc}") from exc


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """Run-length encode a bool mask (row-major): ``{"shape": [H, W], "runs": [start, length, ...]}``."""
    flat = np.asarray(mask, dtype=bool).ravel()
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[::2], edges[1::2]
    runs = np.stack([starts, ends - starts], axis=1).ravel()
    return {"shape": list(mask.shape), "runs": runs.tolist()}


def decode_rle(data: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_rle`."""
    shape = tuple(int(s) for s in data["shape"])
    flat = np.zeros(int(np.prod(shape)), dtype=bool)
    runs = np.asarray(data["runs"], dtype=np.int64).reshape(-1, 2)
    for start, length in runs:
        flat[start : start + length] = True
    return flat.reshape(shape)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _same_paths(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
