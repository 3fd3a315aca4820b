"""Annotating a multiscale or lazy (dask/zarr) image layer in napari without reading it whole.

:class:`LargeImageView` connects a napari Image layer — multiscale (a list of
levels, as napari's OME-Zarr readers open it) or a single dask/zarr array —
to a :class:`~promptseg.session.large.LargeImageSession`: a click on the
canvas (Ctrl/Alt-click: negative; Shift-click on a committed object picks it
up to correct it) answers the current object on the tiles
around it (encoded then, only those), the answer is shown as a preview
layer placed over its window, Enter commits it into sparse zarr labels,
Escape clears it.  The objects are shown by a multiscale Labels layer whose
levels are strided, lazy views of the sparse labels: napari reads only the
chunks on screen.  Coordinates are full-resolution (row, col) pixels (the
layer's data frame).

The annotator dock uses one when a large layer is picked in its image menu
(:mod:`.large_dock`); :func:`open_large` makes one without the dock.  The
encoding runs in the GUI thread.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Mapping

import numpy as np

from ..backends.base import Backend
from ..errors import PromptsegError
from ..session.large import LargeImageSession
from ..store.multiscale import MultiscaleImage, open_multiscale
from ..store.sparse_labels import SparseLabels
from .keys import modifier_names

__all__ = ["LargeImageView", "open_large"]

NEGATIVE_MODIFIERS = {"Control", "Alt"}


class LargeImageView:
    """Click-to-segment on a large image layer; see the module docstring.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image
        Multiscale or lazy; 2D (leading axes: the first plane).
    backend : Backend
    labels : SparseLabels, optional
        Where objects go (default in memory); existing ids are kept.
    **session_options
        ``level``, ``radius``, ``tile_store``, ... of :class:`LargeImageSession`.
    """

    def __init__(self, viewer: Any, layer: Any, backend: Backend, *, labels: SparseLabels | None = None,
                 keys: Mapping[str, Callable[[], Any]] | None = None, positive: Callable[[], bool] | None = None,
                 on_change: Callable[[], None] | None = None, **session_options: Any) -> None:
        levels = list(layer.data) if layer.multiscale else [layer.data]
        image = MultiscaleImage(levels, rgb=bool(layer.rgb), name=layer.name)
        labels = labels if labels is not None else SparseLabels.create(image.shape)
        self.viewer, self.layer = viewer, layer
        self._options = session_options
        self.session = LargeImageSession(image, backend, labels=labels, **session_options)
        self.objects = viewer.add_labels(_label_levels(labels, image), name=f"{layer.name} objects",
                                         multiscale=image.n_levels > 1, opacity=0.5)
        self.preview = viewer.add_labels(np.zeros((2, 2), np.uint8), name=f"{layer.name} preview", opacity=0.6,
                                         visible=False)
        self.points = viewer.add_points(np.zeros((0, 2)), ndim=2, name=f"{layer.name} clicks", size=12,
                                        face_color="yellow")
        self.last_error: str | None = None
        self._keys = {"Enter": self.commit, "Escape": self.clear, **(keys or {})}
        self._positive = positive or (lambda: True)
        self._on_change = on_change or (lambda: None)
        self.attached = False
        self.attach()

    @property
    def owned(self) -> tuple[Any, ...]:
        """The layers this view added (objects, preview, clicks)."""
        return self.objects, self.preview, self.points

    def attach(self) -> None:
        """Take canvas clicks and keys (done on creation; again after :meth:`detach`)."""
        if self.attached:
            return
        self.viewer.mouse_drag_callbacks.append(self._on_mouse)
        for target in (*self.owned, self.layer):
            for key, action in self._keys.items():
                target.bind_key(key, _caller(action), overwrite=True)
        self.attached = True

    def detach(self) -> None:
        """Stop taking clicks and keys (another image is annotated); the labels and the current object stay."""
        if not self.attached:
            return
        if self._on_mouse in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._on_mouse)
        for target in (*self.owned, self.layer):
            for key in self._keys:
                target.bind_key(key, None)
        self.attached = False

    def set_backend(self, backend: Backend) -> None:
        """Annotate with ``backend`` from now on (:meth:`LargeImageSession.with_backend`)."""
        old = self.session
        if backend is old.inner:
            return
        self.session = old.with_backend(backend, **self._options)
        self._show()

    def set_level(self, level: int) -> bool:
        """Answer clicks at resolution ``level`` from now on (:meth:`LargeImageSession.set_level`).

        Returns False when it is refused (no such level, or a current object
        to commit or clear first); the reason is in :attr:`last_error` and the
        level stays.
        """
        if not self._run(self.session.set_level, level):
            return False
        self._options["level"] = self.session.level  # a new model (set_backend) keeps it
        return True

    # ----------------------------------------------------------- events
    def _on_mouse(self, viewer: Any, event: Any) -> Generator[None, None, None]:
        """A press and release without a drag is a click; a drag pans as usual."""
        if event.button != 1:
            return
        start = np.asarray(event.position)
        yield
        while event.type == "mouse_move":
            yield
        if event.type != "mouse_release" or np.abs(np.asarray(event.position) - start).max() > 2:
            return
        row, col = self.layer.world_to_data(start)[-2:]
        held = modifier_names(event)
        if "Shift" in held:
            self.pick_up((float(row), float(col)))
            return
        self.click((float(row), float(col)), 0 if held & NEGATIVE_MODIFIERS or not self._positive() else 1)

    # ---------------------------------------------------------- actions
    def click(self, point: tuple[float, float], label: int = 1) -> None:
        """Add a click at full-resolution (row, col) and show the answer; errors go to :attr:`last_error`."""
        self._run(self.session.click, point, label)

    def pick_up(self, point: tuple[float, float]) -> None:
        """Make the committed object under full-resolution ``point`` the current one (Shift-click), to correct it."""
        self._run(self.session.pick_up, point)

    def commit(self) -> None:
        """Write the current object into the labels (Enter)."""
        self._run(self.session.commit)

    def clear(self) -> None:
        """Forget the current object's prompts (Escape)."""
        self._run(self.session.clear)

    def undo(self) -> None:
        """Take back the current object's last prompt, else the last commit."""
        self._run(self.session.undo)

    def redo(self) -> None:
        """Redo a prompt change of the current object that was undone."""
        self._run(self.session.redo)

    def _run(self, action: Any, *args: Any) -> bool:
        """Do ``action`` on the session, then show the labels and the current object; an error is reported instead
        (False)."""
        try:
            action(*args)
        except PromptsegError as exc:
            self._report(exc)
            return False
        self.last_error = None
        self.objects.refresh()
        self._show()
        return True

    def _report(self, exc: Exception) -> None:
        from napari.utils.notifications import show_warning

        self.last_error = str(exc)
        show_warning(f"PromptSeg: {exc}")
        self._on_change()

    def describe(self) -> str:
        """One line for a status: the image, the working level, the tiles encoded, the current object."""
        s = self.session
        level = f"level {s.level} of {s.image.n_levels}" if s.image.n_levels > 1 else "one level"
        h, w = s.image.shape
        text = (f"{s.image.name}: {h} x {w} px, annotated lazily at {level} with {s.inner.name} "
                f"({len(s.tiles.encoded)} of {s.tiles.tiling.n_tiles} tiles encoded); {len(s.committed)} objects "
                f"committed.")
        if self.last_error is not None:
            return f"{text} Not done: {self.last_error}"
        if s.prediction is not None:
            return f"{text} Current object: {s.prediction.mask.sum()} px at this level; Enter or C commits it."
        return f"{text} Click on an object (Shift-click a committed one to correct it)."

    def _show(self) -> None:
        s = self.session
        pred = s.prediction
        clicks = s.to_full(s.prompts.points) if s.window is not None and len(s.prompts.points) else np.zeros((0, 2))
        self.points.data = clicks
        if pred is None:
            self.preview.visible = False
            self._on_change()
            return
        f = np.asarray(s.factor)
        self.preview.data = pred.mask.astype(np.uint8)
        self.preview.scale = tuple(f)
        self.preview.translate = tuple((np.asarray(s.window.origin) + 0.5) * f - 0.5)
        self.preview.visible = True
        self._on_change()


def _caller(action: Callable[[], Any]) -> Callable[[Any], None]:
    def call(_target: Any) -> None:
        action()

    return call


def _label_levels(labels: SparseLabels, image: MultiscaleImage) -> list[Any] | Any:
    """Lazy views of the labels for each image level (every f-th pixel), read by napari chunk by chunk."""
    import dask.array as da

    full = da.from_zarr(labels.array)
    if image.n_levels == 1:
        return full
    out = []
    for level in range(image.n_levels):
        fr, fc = (max(int(round(v)), 1) for v in image.factor(level))
        out.append(full[fr // 2::fr, fc // 2::fc])
    return out


def add_large_layer(viewer: Any, path: Any) -> tuple[Any, MultiscaleImage]:
    """Add an OME-Zarr folder or zarr array to ``viewer`` as a lazy (multiscale when it has levels) image layer."""
    image = open_multiscale(path)
    layer = viewer.add_image(image.levels if image.n_levels > 1 else image.levels[0], multiscale=image.n_levels > 1,
                             name=image.name, rgb=image.rgb, contrast_limits=image.contrast_limits())
    return layer, image


def open_labels(path: Any, shape: tuple[int, int]) -> SparseLabels | None:
    """Sparse labels in the zarr folder ``path``: opened (objects kept) when it exists, else created; None: none."""
    from pathlib import Path

    if path is None:
        return None
    return SparseLabels.open(path) if Path(path).exists() else SparseLabels.create(shape, path)


def open_large(viewer: Any, path: Any, backend: Backend, *, labels: Any = None, **session_options: Any) -> LargeImageView:
    """Open an OME-Zarr folder or zarr array lazily in ``viewer`` and annotate it with a :class:`LargeImageView`.

    Parameters
    ----------
    labels : path, optional
        A zarr label folder: opened (its objects kept, ids after them) when it
        exists, else created; default labels in memory.
    """
    layer, image = add_large_layer(viewer, path)
    return LargeImageView(viewer, layer, backend, labels=open_labels(labels, image.shape), **session_options)
