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

This is separate from the annotator dock (which still refuses multiscale
layers); the encoding runs in the GUI thread.
"""

from __future__ import annotations

from typing import Any, Generator

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
                 **session_options: Any) -> None:
        levels = list(layer.data) if layer.multiscale else [layer.data]
        image = MultiscaleImage(levels, rgb=bool(layer.rgb), name=layer.name)
        labels = labels if labels is not None else SparseLabels.create(image.shape)
        self.viewer, self.layer = viewer, layer
        self.session = LargeImageSession(image, backend, labels=labels, **session_options)
        self.objects = viewer.add_labels(_label_levels(labels, image), name=f"{layer.name} objects",
                                         multiscale=image.n_levels > 1, opacity=0.5)
        self.preview = viewer.add_labels(np.zeros((2, 2), np.uint8), name=f"{layer.name} preview", opacity=0.6,
                                         visible=False)
        self.points = viewer.add_points(np.zeros((0, 2)), ndim=2, name=f"{layer.name} clicks", size=12,
                                        face_color="yellow")
        self.last_error: str | None = None
        viewer.mouse_drag_callbacks.append(self._on_mouse)
        for target in (self.objects, self.preview, self.points, layer):
            target.bind_key("Enter", lambda _layer: self.commit(), overwrite=True)
            target.bind_key("Escape", lambda _layer: self.clear(), overwrite=True)

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
        self.click((float(row), float(col)), 0 if held & NEGATIVE_MODIFIERS else 1)

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

    def _run(self, action: Any, *args: Any) -> None:
        """Do ``action`` on the session, then show the labels and the current object; an error is reported instead."""
        try:
            action(*args)
        except PromptsegError as exc:
            self._report(exc)
            return
        self.last_error = None
        self.objects.refresh()
        self._show()

    def _report(self, exc: Exception) -> None:
        from napari.utils.notifications import show_warning

        self.last_error = str(exc)
        show_warning(f"PromptSeg: {exc}")

    def _show(self) -> None:
        s = self.session
        pred = s.prediction
        clicks = s.to_full(s.prompts.points) if s.window is not None and len(s.prompts.points) else np.zeros((0, 2))
        self.points.data = clicks
        if pred is None:
            self.preview.visible = False
            return
        f = np.asarray(s.factor)
        self.preview.data = pred.mask.astype(np.uint8)
        self.preview.scale = tuple(f)
        self.preview.translate = tuple((np.asarray(s.window.origin) + 0.5) * f - 0.5)
        self.preview.visible = True


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


def open_large(viewer: Any, path: Any, backend: Backend, *, labels: Any = None, **session_options: Any) -> LargeImageView:
    """Open an OME-Zarr folder or zarr array lazily in ``viewer`` and annotate it with a :class:`LargeImageView`.

    Parameters
    ----------
    labels : path, optional
        A zarr label folder: opened (its objects kept, ids after them) when it
        exists, else created; default labels in memory.
    """
    from pathlib import Path

    image = open_multiscale(path)
    layer = viewer.add_image(image.levels if image.n_levels > 1 else image.levels[0], multiscale=image.n_levels > 1,
                             name=image.name, rgb=image.rgb, contrast_limits=image.contrast_limits())
    store = None
    if labels is not None:
        store = SparseLabels.open(labels) if Path(labels).exists() else SparseLabels.create(image.shape, labels)
    return LargeImageView(viewer, layer, backend, labels=store, **session_options)
