"""Annotating an image larger than memory: one window of tiles at a time, labels written sparsely.

:class:`LargeImageSession` takes prompts in full-resolution (row, col)
pixels of a :class:`~promptseg.store.multiscale.MultiscaleImage`, answers
them at a working level (full resolution by default, changed between
objects by :meth:`LargeImageSession.set_level`) and writes committed
objects into :class:`~promptseg.store.sparse_labels.SparseLabels`.  The
first prompt of an object picks a *window*: the block of (by default 3 x 3)
tiles around it (:meth:`~promptseg.store.lazy_tiles.LazyTiles.window`).
Inside the window an ordinary :class:`~promptseg.session.session.AnnotationSession`
does the work the annotator does on a small image (prompt chain, feedback,
undo); its embedding is tiled and each tile is encoded only when a prompt
first needs it, then kept in the tiles' memory cache.  Nothing of the image
is read but the tiles asked for, and no array of the full image's size exists.

Examples
--------
>>> from promptseg.backends.classic import ClassicBackend                       # doctest: +SKIP
>>> s = LargeImageSession(open_multiscale("slide.ome.zarr"), ClassicBackend(),   # doctest: +SKIP
...                       labels=SparseLabels.create(shape, "slide.labels.zarr"))
>>> s.click((20_512.0, 7_300.0)); s.commit()                                     # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..backends.base import Backend, Prediction
from ..errors import PromptError, PromptsegError
from ..prompts import Prompts
from ..store.lazy_tiles import LazyTiles, Window
from ..store.multiscale import MultiscaleImage, open_multiscale
from ..store.sparse_labels import LabelPaint, SparseLabels
from ..store.tiled_backend import TiledBackend
from .history import CommittedObject
from .image_stack import ImageStack
from .provenance import backend_options, provenance, write_sidecar
from .session import AnnotationSession

__all__ = ["LargeImageSession"]


class _WindowPixels:
    """A window of one level, indexable like an array (read only when indexed)."""

    def __init__(self, image: MultiscaleImage, window: Window) -> None:
        self.image, self.window = image, window
        extra = (image.levels[0].shape[-1],) if image.rgb else ()
        self.shape = tuple(window.shape) + extra
        self.dtype = image.dtype

    def __getitem__(self, index: Any) -> np.ndarray:
        rs, cs = self.window.slices()
        return self.image.read(self.window.level, rs, cs)[index]


class LargeImageSession:
    """Prompts in full-resolution pixels, answers at a working level, objects in sparse full-resolution labels.

    Parameters
    ----------
    image : MultiscaleImage or anything :func:`~promptseg.store.multiscale.open_multiscale` opens
    backend : Backend
        Encodes one tile (the classic backend, a SAM-family model).
    labels : SparseLabels, optional
        Where objects are written; default a new in-memory one.  Labels from
        another tool (ids kept) are the starting objects: click one with
        :meth:`pick_up` to correct it.
    level : int
        Working resolution level (0: full resolution; a coarser one for large objects); see :meth:`set_level`.
    radius : int
        A window holds up to ``(2 radius + 1)^2`` tiles around the first prompt.
    max_tiles, tile, halo, tile_store, contrast_limits
        See :class:`~promptseg.store.lazy_tiles.LazyTiles`.
    """

    def __init__(self, image: Any, backend: Backend, *, labels: SparseLabels | None = None, level: int = 0,
                 radius: int = 1, max_tiles: int = 12, tile: int | None = None, halo: int | None = None,
                 tile_store: Any = None, contrast_limits: Sequence[float] | None = None) -> None:
        self.image = open_multiscale(image)
        self.inner = backend
        self._tile_options = dict(tile=tile, halo=halo, max_tiles=max_tiles, store=tile_store,
                                  contrast_limits=contrast_limits)
        self._level_tiles: dict[int, LazyTiles] = {}  # each level's tiles (and their encoded embeddings)
        self.window: Window | None = None
        self.session: AnnotationSession | None = None
        self._use_level(self.image.check_level(level))
        self.labels = labels if labels is not None else SparseLabels.create(self.image.shape)
        if self.labels.shape != self.image.shape:
            raise PromptsegError(f"the labels have shape {self.labels.shape}, the image {self.image.shape}; "
                                 "they must be the same (full resolution).")
        self.radius = int(radius)
        self.committed: list[CommittedObject] = []  # prompts in full-resolution pixels
        self.commit_times: dict[int, float] = {}
        self._paints: list[tuple[LabelPaint, ...]] = []
        self._picked: int | None = None
        self._next_label = self.labels.max_label() + 1
        self._undone_commit = False

    def with_backend(self, backend: Backend, **options: Any) -> "LargeImageSession":
        """A session on the same image and labels with another backend (a picked-up object is put back first).

        The committed objects, their records and the commits' undo carry
        over; the current object's prompts and the encoded tiles do not.
        ``options`` are the constructor's (level, tile, ...).
        """
        self.clear()
        new = LargeImageSession(self.image, backend, labels=self.labels, **options)
        new.committed, new.commit_times, new._paints = list(self.committed), dict(self.commit_times), self._paints
        return new

    # ------------------------------------------------------------ level
    def set_level(self, level: int) -> None:
        """Answer prompts at resolution ``level`` from now on (0: full resolution; a coarser one for larger objects).

        Prompts stay full-resolution (row, col) pixels and objects are written
        at full resolution: the committed objects, the labels and the commits'
        undo are kept.  Each level keeps its encoded tiles (a return encodes nothing).

        Parameters
        ----------
        level : int
            0 to ``image.n_levels - 1``; a pixel of level ``l`` covers
            ``image.factor(l)`` = (fr, fc) full-resolution pixels.

        Raises
        ------
        ImageError
            The image has no such level.
        PromptsegError
            An object is being drawn or corrected: commit or clear it first
            (nothing changes).
        StoreError
            The tile store cannot hold this level's tiles (nothing changes).

        Examples
        --------
        >>> s = LargeImageSession(open_multiscale("slide.ome.zarr"), ClassicBackend())  # doctest: +SKIP
        >>> s.set_level(2); s.click((20_512.0, 7_300.0)); s.commit()  # a large object, 1/4 resolution  # doctest: +SKIP
        """
        level = self.image.check_level(level)
        if level == self.level:
            return
        if self._picked is not None or (self.session is not None and not self.session.draft.is_empty):
            raise PromptsegError(f"the current object is answered at level {self.level}: commit it (C) or clear it "
                                 "(Shift-C) before changing the level.")
        self.tiles.drop_prepared(())
        self._use_level(level)

    def _use_level(self, level: int) -> None:
        """Make ``level`` the working level (its tiles made on first use); the current window is closed."""
        if level not in self._level_tiles:
            self._level_tiles[level] = LazyTiles(self.inner, self.image, level=level, **self._tile_options)
            self._tile_options["contrast_limits"] = self._level_tiles[level].contrast_limits  # the same at every level
        self.level, self.tiles, self.factor = level, self._level_tiles[level], self.image.factor(level)
        self.backend = TiledBackend(self.inner, tile=self.tiles.tiling.tile_shape[0], halo=self.tiles.tiling.halo)
        self.window, self.session = None, None

    # ----------------------------------------------------------- frames
    def to_window(self, points: Any) -> np.ndarray:
        """(N, 2) full-resolution points in the current window's frame (its level, its origin)."""
        return self.image.to_level(points, self.level) - np.asarray(self.window.origin, float)

    def to_full(self, points: Any) -> np.ndarray:
        """(N, 2) points of the current window's frame at full resolution."""
        return self.image.to_full(np.asarray(points, float).reshape(-1, 2) + np.asarray(self.window.origin), self.level)

    def _open_window(self, point_full: Sequence[float]) -> None:
        point = self.image.to_level([point_full], self.level)[0]
        window = self.tiles.window(point, self.radius)
        if window == self.window:
            return
        self.window, self.session = None, None  # the old window's answers and history go before the new one's
        self.tiles.drop_prepared(window.tiles)
        stack = ImageStack(_WindowPixels(self.image, window), rgb=self.image.rgb,
                           contrast_limits=self.tiles.contrast_limits, key=("large", id(self), window.origin))
        session = AnnotationSession(stack, self.backend, objects=self._window_labels(window))
        session.cache.put(session.embedding_key(()), self.tiles.embedding(window))
        self.window, self.session = window, session
        self._undone_commit = False

    def _window_labels(self, window: Window) -> np.ndarray:
        """The labels under ``window`` sampled at its level's pixel centres (only stored chunks are read)."""
        (r0, c0), (h, w) = window.origin, window.shape
        fr, fc = self.factor
        rows = np.minimum(np.floor((np.arange(r0, r0 + h) + 0.5) * fr).astype(np.int64), self.image.shape[0] - 1)
        cols = np.minimum(np.floor((np.arange(c0, c0 + w) + 0.5) * fc).astype(np.int64), self.image.shape[1] - 1)
        if self.level == 0:
            return np.array(self.labels.read(slice(r0, r0 + h), slice(c0, c0 + w)), dtype=np.int32)
        return np.asarray(self.labels.array.oindex[rows, cols], dtype=np.int32)

    def _full_box(self) -> tuple[slice, slice]:
        """The full-resolution pixels the current window covers."""
        (r0, c0), (h, w) = self.window.origin, self.window.shape
        fr, fc = self.factor
        return (slice(int(r0 * fr), min(int(np.ceil((r0 + h) * fr)), self.image.shape[0])),
                slice(int(c0 * fc), min(int(np.ceil((c0 + w) * fc)), self.image.shape[1])))

    # ---------------------------------------------------------- prompts
    @property
    def prediction(self) -> Prediction | None:
        """The current object's answer in the window's frame (its level), or None."""
        return None if self.session is None else self.session.prediction

    @property
    def prompts(self) -> Prompts:
        """The current object's prompts in the window's frame."""
        return Prompts() if self.session is None else self.session.draft.prompts

    def set_prompts(self, points: Any = (), labels: Sequence[int] = (), box: Sequence[float] | None = None
                    ) -> Prediction | None:
        """Make these full-resolution prompts the current object and answer them.

        The first prompt of an object (or of a picked-up one) chooses the
        window; later prompts must lie inside it.

        Raises
        ------
        PromptError
            A prompt outside the image, or outside the current object's window.
        """
        pts = np.asarray(points, float).reshape(-1, 2)
        corners = np.asarray(box, float).reshape(2, 2) if box is not None else np.zeros((0, 2))
        every = np.concatenate([pts, corners])
        if not len(every):
            raise PromptError("give at least one click or a box.")
        h, w = self.image.shape
        if not ((every >= -0.5).all() and (every[:, 0] <= h - 0.5).all() and (every[:, 1] <= w - 0.5).all()):
            raise PromptError(f"a prompt lies outside the image of {h} x {w} pixels; prompts are (row, col).")
        if self.session is None or (self.session.draft.is_empty and self._picked is None):
            self._open_window(every.mean(axis=0))
        local = self.to_window(every)
        wh, ww = self.window.shape
        if not ((local >= -0.5).all() and (local[:, 0] <= wh - 0.5).all() and (local[:, 1] <= ww - 0.5).all()):
            raise PromptError(
                "this prompt lies outside the region of the current object (its tiles around the first click): "
                "commit or clear the object first, or work at a coarser level for objects this large."
            )
        old = self.session.draft.prompts
        prompts = replace(old, points=local[: len(pts)], labels=np.asarray(labels, np.int64),
                          box=None if box is None else local[len(pts):].reshape(4))
        return self.session.set_prompts((), prompts)

    def click(self, point: Sequence[float], label: int = 1) -> Prediction | None:
        """Add one click at full-resolution (row, col) ``point`` to the current object."""
        old = self.prompts
        points = self.to_full(old.points) if len(old.points) else np.zeros((0, 2))
        box = None if old.box is None else self.to_full(old.box.reshape(2, 2)).reshape(4)
        return self.set_prompts(np.concatenate([points, np.reshape(point, (1, 2))]),
                                list(old.labels) + [int(label)], box)

    def clear(self) -> bool:
        """Forget the current object's prompts (a picked-up object goes back as it was)."""
        if self._picked is not None:
            self.labels.undo(self._paints.pop()[0])
            self._picked = None
            self.window, self.session = None, None
            return True
        return False if self.session is None else self.session.clear()

    def undo(self) -> int | None:
        """Take back the current object's last prompt change; with none left, the last commit (:meth:`undo_commit`).

        Returns the id of a commit taken back, else None.  A picked-up object
        whose prompts are all undone goes back into the labels as it was.
        """
        if self.session is not None and not self.session.draft.is_empty:
            self.session.undo()
            if self._picked is not None and self.session.draft.is_empty:
                self.clear()
            return None
        return self.undo_commit()

    def redo(self) -> bool:
        """Redo an undone prompt change of the current object; False when there is none.

        Raises
        ------
        PromptsegError
            When the last undo took back a commit (it cannot be redone: click the object again).
        """
        if self.session is None:
            if self._undone_commit:
                raise PromptsegError("a commit that was undone cannot be redone on a large image; "
                                     "click the object again and commit it.")
            return False
        return self.session.redo() is not None

    # ----------------------------------------------------------- objects
    def commit(self, *, overwrite: bool = False, label: int | None = None) -> CommittedObject:
        """Write the current answer into the labels (a new id, or the picked-up object's id; ``label`` when replaying).

        Raises
        ------
        PromptsegError
            Nothing to commit (no prompts, an empty mask or one entirely
            covered by other objects); the labels are left as they were.
        """
        if self.session is None or self.prediction is None:
            raise PromptsegError("nothing to commit: click on an object first.")
        if label is None:
            label = self._picked if self._picked is not None else self._next_label
        obj = self.session.commit(overwrite=overwrite, label=label)
        paint = self.labels.paint(self.prediction_mask(obj.label), self.window.origin, self.factor, label,
                                  overwrite=overwrite)
        if self._picked is not None:
            self._paints[-1] = self._paints[-1] + (paint,)
        else:
            self._paints.append((paint,))
        self._picked = None
        self._next_label = max(self._next_label, label + 1)
        full = Prompts(points=self.to_full(obj.prompts.points) if len(obj.prompts.points) else np.zeros((0, 2)),
                             labels=obj.prompts.labels,
                             box=None if obj.prompts.box is None else self.to_full(obj.prompts.box.reshape(2, 2)).reshape(4))
        record = replace(obj, prompts=full, area=paint.area)
        self.committed = [o for o in self.committed if o.label != label] + [record]
        self.commit_times[label] = time.time()
        return record

    def prediction_mask(self, label: int) -> np.ndarray:
        """The window pixels the last commit gave ``label`` (window frame)."""
        return self.session.objects == label

    def undo_commit(self) -> int | None:
        """Take back the last commit (or correction) from the labels; returns its id, None when there is none."""
        if not self._paints or self._picked is not None:
            return None
        paints = self._paints.pop()
        self._undone_commit = True
        for p in reversed(paints):
            self.labels.undo(p)
        label = next((p.label for p in paints if p.label), None)
        self.committed = [o for o in self.committed if o.label != label]
        self.window, self.session = None, None
        return label

    def pick_up(self, point: Sequence[float]) -> Prediction | None:
        """Make the committed object under full-resolution ``point`` the current object, its mask the starting prompt.

        Its pixels inside the window leave the labels until it is committed
        again (with the same id) or cleared (they come back).

        Raises
        ------
        PromptsegError
            No object under the point, or another object is being drawn.
        """
        if self.session is not None and not self.session.draft.is_empty:
            raise PromptsegError("commit or clear the current object before picking up another one.")
        label = self.labels.label_at(*point)
        if label == 0:
            raise PromptsegError(f"no object at ({point[0]:.0f}, {point[1]:.0f}); click inside a committed object.")
        self.window = None
        self._open_window(point)
        mask = self.session.objects == label
        rows, cols = self._full_box()
        self._paints.append((self.labels.erase(label, rows, cols),))
        self.session.objects[mask] = 0
        self._picked = label
        return self.session.set_prompts((), Prompts(mask=mask))

    @property
    def next_label(self) -> int:
        return self._next_label

    # -------------------------------------------------------- provenance
    def provenance(self) -> dict:
        """The labels' provenance sidecar (see :mod:`.provenance`): model, options, every object's prompts and time."""
        th, _ = self.tiles.tiling.tile_shape
        options = backend_options(self.inner, level=self.level, tile=th, halo=self.tiles.tiling.halo,
                                  window_radius=self.radius, contrast_limits=self.tiles.contrast_limits)
        return provenance(self.committed, self.inner, self.image.shape, options=options, times=self.commit_times)

    def write_provenance(self, labels_path: str | Path | None = None) -> Path:
        """Write :meth:`provenance` next to the labels (their zarr folder unless ``labels_path`` is given)."""
        path = labels_path if labels_path is not None else self.labels.path
        if path is None:
            raise PromptsegError("these labels live in memory: give the path the labels were exported to.")
        return write_sidecar(path, self.provenance())

    def replay(self, objects: Sequence[CommittedObject], *, overwrite: bool = False) -> list[str]:
        """Re-segment recorded objects (full-resolution prompts, as :func:`~.annotations.load_annotations` reads
        a sidecar) with their ids; returns one warning per object that could not be committed."""
        warnings = []
        for obj in objects:
            p = obj.prompts
            self.window, self.session, self._picked = None, None, None
            try:
                self.set_prompts(p.points, p.labels, None if p.box is None else p.box)
                self.commit(overwrite=overwrite, label=obj.label)
            except PromptsegError as exc:
                warnings.append(f"object {obj.label}: {exc}")
        self.window, self.session = None, None
        return warnings
