"""The annotator dock on images larger than memory: multiscale and large lazy layers go the lazy way.

When the image picked in the dock is multiscale (an OME-Zarr opened by a
napari reader, a list of dask arrays) or one plane is too large to hold
beside its labels (:func:`is_large`), the dock does not build its usual
session (which would allocate labels of the full size and read the whole
plane to encode it).  :class:`LargeDock` annotates it through a
:class:`~.large_image.LargeImageView` instead: tiles encoded around each
click only, objects in sparse zarr labels shown by a lazy Labels layer.  The
dock's model, status line, Level menu (the working resolution of a
multiscale image: :mod:`.level_choice`), polarity, Commit/C, Clear/Shift-C,
Undo/Ctrl-Z, Redo (prompt changes), Export (the provenance JSON with every
object's prompts) and Import (re-segments such a file) work on it; the
panels below the buttons (store, propagation, series, find similar) do not,
and the status line says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image
from napari.utils.events import Event as NapariEvent
from napari.utils.notifications import show_info, show_warning

from ..errors import PromptsegError
from ..session import load_annotations
from .keys import SHORTCUTS
from .large_image import LargeImageView
from .level_choice import LevelChoice

if TYPE_CHECKING:
    from .annotator import AnnotatorWidget

__all__ = ["LARGE_LAZY_PIXELS", "LARGE_PIXELS", "LargeDock", "is_large"]

#: A lazy (dask, zarr) plane with more pixels than this is annotated lazily (8192^2: 256 MB of int32 labels).
LARGE_LAZY_PIXELS = 8192 * 8192
#: Any plane with more pixels than this is annotated lazily (16384^2: 1 GB of int32 labels).
LARGE_PIXELS = 16384 * 16384

UNSUPPORTED = ("the panels below the buttons (embedding store, 3D propagation, image series, find similar) "
               "work on ordinary images only")


def is_large(layer: Image) -> bool:
    """Whether ``layer`` is annotated lazily: multiscale, or a plane too large to hold beside its labels."""
    if layer.multiscale:
        return True
    shape = tuple(int(s) for s in np.shape(layer.data))
    h, w = shape[-3:-1] if layer.rgb else shape[-2:]
    lazy = not isinstance(layer.data, np.ndarray)
    return h * w > (LARGE_LAZY_PIXELS if lazy else LARGE_PIXELS)


class LargeDock:
    """What the annotator dock does with a large image layer (see the module docstring).

    Parameters
    ----------
    widget : AnnotatorWidget
        The dock: its viewer, panel buttons, status line, polarity and model.
    **view_options
        ``level``, ``tile``, ``halo``, ``tile_store``, ``labels`` (a
        :class:`~promptseg.store.sparse_labels.SparseLabels`) ... for every
        :class:`~.large_image.LargeImageView` it makes (``promptseg annotate``
        passes its options here).

    Attributes
    ----------
    layer : Image or None
        The large layer being annotated.
    view : LargeImageView or None
        Its view (None until a model is loaded, or when the layer cannot be annotated).
    """

    def __init__(self, widget: AnnotatorWidget, **view_options: Any) -> None:
        self.widget = widget
        self.view_options: dict[str, Any] = {}
        self._first_labels = None
        self.configure(**view_options)
        self.layer: Image | None = None
        self.view: LargeImageView | None = None
        self.problem: str | None = None
        self._views: dict[int, LargeImageView] = {}
        self._labels: dict[int, Any] = {}  # id(layer) -> its SparseLabels, kept when its view's layers are closed
        p = widget.panel
        for button, action in ((p.commit, self.commit), (p.clear, self.clear), (p.undo, self.undo),
                               (p.redo, self.redo)):
            button.clicked.connect(lambda _checked=False, a=action: a())
        self.levels = LevelChoice(p.level_combo, p.level_label, lambda: self.view)
        p.export.clicked.connect(lambda: self.export())
        p.import_.clicked.connect(lambda: self.import_())
        widget.viewer.layers.events.removed.connect(self._on_removed)

    def configure(self, *, labels: Any = None, **view_options: Any) -> None:
        """Options for the views made from now on; ``labels`` (SparseLabels) go to the next large layer picked."""
        self.view_options.update(view_options)
        if labels is not None:
            self._first_labels = labels

    # ------------------------------------------------------------ routing
    def take(self, layer: Image) -> bool:
        """Annotate ``layer`` here when it is large (True); otherwise let go of any large layer (False)."""
        self.release()
        if not is_large(layer):
            return False
        self.layer, self.problem = layer, None
        shape = tuple(int(s) for s in np.shape(layer.data[0] if layer.multiscale else layer.data))
        lead = shape[:-3] if layer.rgb else shape[:-2]
        if int(np.prod(lead)) > 1:
            self.problem = (f"'{layer.name}' is a large stack of shape {shape}; large images are annotated one "
                            "2D plane at a time: open one plane as its own layer (e.g. viewer.add_image(data[t, z])).")
        self.describe()
        return True

    def release(self) -> None:
        """Stop annotating the large layer (its view keeps its labels and current object for a later pick)."""
        if self.view is not None:
            self.view.detach()
        self.layer, self.view, self.problem = None, None, None
        self.levels.show(None)

    def ensure_view(self) -> LargeImageView | None:
        """The view of :attr:`layer`, made (or switched to the dock's model) when a model is loaded."""
        backend = self.widget.backend
        if self.layer is None or self.problem is not None or backend is None:
            return None
        view = self._views.get(id(self.layer))
        try:
            if view is None:
                labels = self._labels.get(id(self.layer))
                if labels is None:
                    labels, self._first_labels = self._first_labels, None
                view = LargeImageView(self.widget.viewer, self.layer, backend, labels=labels, positive=self._positive,
                                      on_change=self.describe, keys=self._keys(), **self.view_options)
                self._views[id(self.layer)] = view
                self._labels[id(self.layer)] = view.session.labels
            else:
                view.set_backend(backend)
                view.attach()
        except PromptsegError as exc:
            self.problem = f"cannot annotate '{self.layer.name}': {exc}"
            return None
        if self.view is not view:
            self.view = view
            self.widget.viewer.layers.selection.active = view.points
        return view

    def describe(self, loading: str | None = None) -> bool:
        """Write the dock's status line for the large layer; False when no large layer is annotated."""
        if self.layer is None:
            return False
        view = self.ensure_view()
        if self.problem is not None:
            text = f"Not annotated: {self.problem}"
        elif view is None:
            text = (f"Loading {loading}…" if loading else "No model loaded: pick one in the Model menu.") + \
                f" '{self.layer.name}' will be annotated lazily (tiles around each click)."
        else:
            text = view.describe() + f" ({UNSUPPORTED}.)"
            if loading:
                text += f" (Loading {loading}…)"
        self.levels.show(view)
        self.widget.status.show(text)
        return True

    # ------------------------------------------------------------ commands
    def commit(self) -> None:
        """Commit the current object (Commit button, C, Enter)."""
        self._on_view("commit")

    def clear(self) -> None:
        """Clear the current object's prompts (Clear button, Shift-C, Escape)."""
        self._on_view("clear")

    def undo(self) -> None:
        """The current object's last prompt, else the last commit (Undo button, Ctrl-Z)."""
        self._on_view("undo")

    def redo(self) -> None:
        """Redo an undone prompt change (Redo button, Ctrl-Shift-Z)."""
        self._on_view("redo")

    def _on_view(self, action: str) -> None:
        if self.ensure_view() is not None:
            getattr(self.view, action)()

    def export(self, path: str | Path | None = None) -> Path | None:
        """Write every committed object's full-resolution prompts, model and options (the provenance JSON)."""
        if self.ensure_view() is None:
            return None
        if path is None:
            path = self._ask_path("Export prompts", save=True)
            if not path:
                return None
        session = self.view.session
        out = Path(path)
        try:
            out.write_text(json.dumps(session.provenance(), indent=1), encoding="utf-8")
        except OSError as exc:
            self.widget.report_error(PromptsegError(f"cannot write {out}: {exc}; choose another path."))
            return None
        show_info(f"PromptSeg: saved the prompts of {len(session.committed)} objects to {out}")
        return out

    def import_(self, path: str | Path | None = None) -> list[str]:
        """Re-segment the objects of an exported file (ids kept) into the labels; returns warnings."""
        if self.ensure_view() is None:
            return []
        if path is None:
            path = self._ask_path("Import prompts", save=False)
            if not path:
                return []
        try:
            objects = load_annotations(path).objects
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return [str(exc)]
        warnings = self.view.session.replay(objects)
        self.view.objects.refresh()
        self.view.clear()  # shows the state after the replay
        for text in warnings:
            show_warning(f"PromptSeg: {text}")
        return warnings

    # ------------------------------------------------------------ helpers
    def _positive(self) -> bool:
        return self.widget.current.positive

    def _keys(self) -> dict[str, Any]:
        """The dock's shortcuts (:data:`.keys.SHORTCUTS`), on the large image's layers, to these commands."""
        mine = {"commit": self.commit, "clear": self.clear, "undo": self.undo, "redo": self.redo,
                "toggle_polarity": lambda: self.widget.toggle_polarity()}
        return {key: mine.get(method) or self._not_here(text) for key, method, text in SHORTCUTS}

    def _not_here(self, what: str) -> Any:
        def say() -> None:
            self.widget.status.show(f"Not available on a large image yet: {what}. ({UNSUPPORTED}.)")

        return say

    def _ask_path(self, title: str, *, save: bool) -> str:
        from qtpy.QtWidgets import QFileDialog

        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = ask(self.widget.panel.dock, title, "annotations.json" if save else "", "JSON (*.json)")
        return path

    def _on_removed(self, event: NapariEvent) -> None:
        gone = event.value
        for key, view in list(self._views.items()):
            if gone is view.layer or any(gone is layer for layer in view.owned):
                view.detach()
                del self._views[key]
                if view is self.view:
                    self.view = None
                    if gone is not self.layer:
                        self.problem = f"a layer of '{self.layer.name}' was closed; pick the image again to go on."
                        self.describe()
        if isinstance(gone, Image):
            self._labels.pop(id(gone), None)
        if gone is self.layer:
            self.layer, self.problem = None, None
        self.levels.show(self.view)
