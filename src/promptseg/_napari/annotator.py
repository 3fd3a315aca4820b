"""The annotator dock widget: maps napari layer events to an AnnotationSession.

Every prompt change (a click, a shape, a paint stroke) re-reads the prompts of
the displayed slice from the owned layers and calls
:meth:`AnnotationSession.set_prompts`; the prediction goes straight into the
preview layer, touching only the pixels that changed.  Encoding runs in
thread workers (:mod:`.encoding`); a click on a slice that is not encoded yet
waits in the session and is answered when its embedding arrives.  Slow
backends predict in a worker too (:mod:`.predict_worker`).
Clicks are answered ahead, while the pointer rests and at the button's press
(:mod:`.click_ahead`).

The sections below the buttons (embedding store, 3D propagation, image
series, find similar) are panels of their own modules, added with
``Panel.add_section``; when the widget switches images it asks the store
panel to look for the image's store (and then for its contrast limits and
backend) and calls the propagation panel's ``image_changed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QWidget

from ..backends import Backend
from ..errors import PromptsegError
from ..session import EmbeddingCache, ImageStack, SliceKey
from .actions import AnnotatorActions, NoBackend
from .backend_choice import BackendMenu
from .click_ahead import ClickAhead
from .encoding import EncodeScheduler
from .image_settings import ImageSettings
from .keys import bind_shortcuts, modifier_names, unbind_shortcuts
from .layers import PromptLayers
from .find_similar import FindSimilarPanel
from .panel import Panel
from .predict_worker import PredictTimes, WidgetSession
from .propagate_panel import PropagatePanel
from .series_panel import SeriesPanel
from .status import StatusReporter, error_line
from .store_panel import StorePanel

_NEGATIVE_MODIFIERS = {"Control", "Alt"}


class AnnotatorWidget(ImageSettings, AnnotatorActions, StatusReporter, QWidget):
    """PromptSeg annotator: click on an object and see its mask; C commits it.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    backend : Backend or str, optional
        A ready backend object, or a name/path for ``load_backend``; default
        the ``classic`` backend when installed.
    """

    def __init__(self, napari_viewer: Any, backend: Backend | str | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.panel = Panel(self)
        self.backend: Backend | None = None
        self.session: WidgetSession | None = None
        self.layers: PromptLayers | None = None
        self.image_layer: Image | None = None
        self.positive = True
        self._sessions: dict[int, tuple[WidgetSession, PromptLayers]] = {}
        self._cache = EmbeddingCache()  # one byte budget for every image the widget annotates
        self._key: SliceKey | None = None
        self._syncing = False  # set while the widget itself writes into its layers
        self._fitted_once = False  # the image was fitted to the canvas beside the docked widget
        self._warmed: set[str] = set()  # backend_ids whose warm_up ran in the GUI thread
        self.encoder = EncodeScheduler(self._on_encoded, self._encode_failed)
        self.predict_times = PredictTimes()  # decides which backends predict in a worker
        self._contrast_timer = QTimer(self, singleShot=True, interval=400)
        self._contrast_timer.timeout.connect(self._contrast_changed)
        # shortly after an answer is shown (the canvas drawn first), the backend prepares for the next click
        self._feedback_timer = QTimer(self, singleShot=True, interval=30)
        self._feedback_timer.timeout.connect(self._prepare_feedback)
        self.click_ahead = ClickAhead(self)
        self.menu = BackendMenu(self.panel.backend_combo, self, on_loaded=self._use_backend,
                                on_failed=self._load_failed)
        self.store_panel = self.panel.add_section("Embedding store", StorePanel(self))
        self.propagate_panel = self.panel.add_section("3D propagation", PropagatePanel(self))
        self.series_panel = self.panel.add_section("Image series", SeriesPanel(self))
        self.find_similar_panel = self.panel.add_section("Find similar", FindSimilarPanel(self))
        self._connect_panel()
        self.viewer.dims.events.current_step.connect(self._on_dims)
        self.viewer.dims.events.ndisplay.connect(self._on_dims)
        self.viewer.layers.events.inserted.connect(self._refresh_image_combo)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        bind_shortcuts(self, [self.viewer])
        self._refresh_image_combo()
        self._fill_backend_combo(backend)

    # ------------------------------------------------------------- set-up
    def _connect_panel(self) -> None:
        p = self.panel
        p.image_combo.currentIndexChanged.connect(self._image_chosen)
        p.polarity.clicked.connect(self.toggle_polarity)
        p.commit.clicked.connect(self.commit)
        p.clear.clicked.connect(self.clear)
        p.undo.clicked.connect(self.undo)
        p.redo.clicked.connect(self.redo)
        p.export.clicked.connect(lambda: self.export_prompts())
        p.import_.clicked.connect(lambda: self.import_prompts())

    def _image_layers(self) -> list[Image]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _refresh_image_combo(self, event: Any = None, *, auto_select: bool = True) -> None:
        combo = self.panel.image_combo
        layers = self._image_layers()
        combo.blockSignals(True)
        combo.clear()
        for layer in layers:
            combo.addItem(layer.name, layer.unique_id)
        if self.image_layer in layers:
            combo.setCurrentIndex(layers.index(self.image_layer))
        combo.blockSignals(False)
        if auto_select and self.image_layer is None and layers:
            self.set_image_layer(layers[-1])

    def _image_chosen(self, index: int) -> None:
        layers = self._image_layers()
        if 0 <= index < len(layers) and layers[index] is not self.image_layer:
            self.set_image_layer(layers[index])

    def _on_layer_removed(self, event: Any) -> None:
        owned = () if self.layers is None else (self.layers.points, self.layers.shapes, self.layers.preview,
                                                self.layers.objects)
        if event.value is self.image_layer or any(event.value is layer for layer in owned):
            self.encoder.cancel()
            self._disconnect_layers()
            self._sessions.pop(id(self.image_layer), None)
            self.image_layer, self.session, self.layers = None, None, None
            self._set_status(f"'{event.value.name}' was closed; pick an image to go on.")
            self.propagate_panel.image_changed()
        elif isinstance(event.value, Image):
            self._sessions.pop(id(event.value), None)  # its layer object is gone: never reuse its id
        self._refresh_image_combo(auto_select=False)

    def set_image_layer(self, layer: Image) -> None:
        """Annotate ``layer`` (its owned layers are created on first use and reused after)."""
        if layer.multiscale:
            show_warning(f"PromptSeg: '{layer.name}' is multiscale; open one resolution level as a plain image.")
            return
        self.encoder.cancel()
        self._disconnect_layers()
        self.session, self.layers = None, None  # no events reach the old session while layers are added
        self.image_layer = layer
        self.store_panel.discover(layer)
        new = id(layer) not in self._sessions
        if new:
            try:
                stack = ImageStack(layer.data, rgb=layer.rgb, contrast_limits=self._limits(layer), key=layer.unique_id)
            except PromptsegError as exc:
                show_warning(f"PromptSeg: cannot annotate '{layer.name}': {exc}")
                self.image_layer = None
                return
            layers = PromptLayers(self.viewer, layer, stack.label_shape)
            session = WidgetSession(stack, self.backend or NoBackend(), objects=layers.objects.data, cache=self._cache,
                                    times=self.predict_times, on_predicted=self._on_predicted, on_error=self.report_error)
            self._sessions[id(layer)] = (session, layers)
        self.session, self.layers = self._sessions[id(layer)]
        if self.backend is not None:
            self.session.set_backend(self._session_backend())
        self._connect_layers()
        self.layers.set_click_positive(self.positive)
        self._refresh_image_combo()
        self.viewer.layers.selection.active = self.layers.points
        self.layers.points.mode = "add"
        self._key = None
        self._on_dims()
        self.propagate_panel.image_changed()
        if new:
            self.fit_image()

    def fit_image(self) -> None:
        """Fit the annotated image to the canvas (what napari's Home button does, for this image alone)."""
        layer = self.image_layer
        if layer is not None and layer in self.viewer.layers:
            # napari fits a subset of the layers only when they have every axis of the viewer
            self.viewer.fit_to_view(layers=[layer] if layer.ndim == self.viewer.dims.ndim else None)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        """Docked at last: fit the image to the canvas the dock left (once the layout has settled)."""
        super().showEvent(event)
        if not self._fitted_once:
            self._fitted_once = True
            QTimer.singleShot(0, self.fit_image)

    def _connect_layers(self) -> None:
        lay = self.layers
        lay.points.events.data.connect(self._on_prompt_data, position="first")  # mask first, then napari redraws the point
        lay.shapes.events.data.connect(self._on_prompt_data)
        lay.preview.events.paint.connect(self._on_paint)
        lay.points.mouse_drag_callbacks.append(self._on_click)
        self.click_ahead.connect(lay.points)
        self.image_layer.events.contrast_limits.connect(self._on_contrast)
        self.image_layer.events.data.connect(self._on_image_data)
        bind_shortcuts(self, [lay.points, lay.shapes, lay.preview, lay.objects])

    def _disconnect_layers(self) -> None:
        if self.layers is None:
            return
        lay = self.layers
        lay.points.events.data.disconnect(self._on_prompt_data)
        lay.shapes.events.data.disconnect(self._on_prompt_data)
        lay.preview.events.paint.disconnect(self._on_paint)
        if self._on_click in lay.points.mouse_drag_callbacks:
            lay.points.mouse_drag_callbacks.remove(self._on_click)
        self.click_ahead.disconnect(lay.points)
        self.image_layer.events.contrast_limits.disconnect(self._on_contrast)
        self.image_layer.events.data.disconnect(self._on_image_data)
        unbind_shortcuts([lay.points, lay.shapes, lay.preview, lay.objects])

    # ------------------------------------------------------------ backend
    def _fill_backend_combo(self, backend: Backend | str | None) -> None:
        choice = self.menu.fill()
        if backend is None and choice is not None:
            backend = choice.key
        if backend is not None:
            self.set_backend(backend)

    def set_backend(self, backend: Backend | str) -> None:
        """Use ``backend`` (an object, or a name/path loaded in a thread worker)."""
        if isinstance(backend, str):
            self.menu.load(backend)
            self._refresh_status()
        else:
            self._use_backend(backend)

    def _use_backend(self, backend: Backend) -> None:
        self.backend = backend
        self.menu.show_running(backend)
        if self.session is not None:
            self.encoder.cancel()
            self.session.set_backend(self._session_backend())
            self._key = None
            self._on_dims()
        else:
            self._refresh_status()
        warm_up = getattr(backend, "warm_up", None)
        if callable(warm_up) and backend.backend_id not in self._warmed:
            # Once the combo has repainted: the first click then finds the GUI thread's math libraries ready.
            self._warmed.add(backend.backend_id)
            QTimer.singleShot(0, lambda: self._warm_up(warm_up))

    def _load_failed(self, key: str, exc: Exception) -> None:
        running = self.backend.name if self.backend is not None else "no model: pick one in the Model menu"
        self.report_error(exc, status=f"Not loaded: {error_line(exc)} Still using {running}.")

    def _warm_up(self, warm_up) -> None:
        try:
            warm_up()
        except Exception as exc:  # a backend that cannot answer a blank click will not answer the user's either
            self.report_error(exc)

    # --------------------------------------------------------- slices
    def displayed_slice(self) -> SliceKey | None:
        """The slice of the image shown in the canvas, or None (3D view, axes transposed)."""
        if self.image_layer is None or self.session is None:
            return None
        dims = self.viewer.dims
        if dims.ndisplay != 2 or tuple(sorted(dims.displayed)) != (dims.ndim - 2, dims.ndim - 1):
            return None
        lead = self.session.image.leading_shape
        pos = np.asarray(self.image_layer.world_to_data(dims.point))[: len(lead)]
        return tuple(int(np.clip(np.rint(v), 0, n - 1)) for v, n in zip(pos, lead))

    def _on_dims(self, event: Any = None) -> None:
        key = self.displayed_slice()
        if key == self._key or self.session is None:
            return
        self._key = key
        if key is None:
            self._refresh_status()
            return
        if isinstance(self.session.backend, NoBackend):
            self._refresh_status()
            return
        self.encoder.request(self.session, key)
        draft = self.session.draft
        painted = draft.prompts.painted if draft.slice_key == key else None
        self._predict(self.layers.read(key, painted), record=False)

    # ------------------------------------------------------------ prompts
    def click_positive(self, event: Any) -> bool:
        """Whether a click with ``event``'s modifiers is positive: Ctrl/Alt-click is negative, else the toggle says."""
        return self.positive and not _NEGATIVE_MODIFIERS & modifier_names(event)

    def _on_click(self, layer: Any, event: Any):
        """Ctrl/Alt-click adds a negative point whatever the toggle says."""
        if layer.mode == "add":
            self.layers.set_click_positive(self.click_positive(event))
        yield

    def _on_prompt_data(self, event: Any) -> None:
        if self._syncing or str(getattr(event, "action", "changed")) not in ("added", "removed", "changed"):
            return
        self.layers.recolor_points()  # no-op unless a point got the wrong colour
        self.layers.set_click_positive(self.positive)  # after a Ctrl/Alt-click; no-op otherwise
        self._prompts_changed()

    def _on_paint(self, event: Any) -> None:
        # napari emits `paint` before it writes the pixels of a single paint() call: read them a moment later.
        if not self._syncing and self._key is not None:
            QTimer.singleShot(0, self._read_paint)

    def _read_paint(self) -> None:
        if self._key is None or self.layers is None:
            return
        self.layers.forget_preview_cache()
        painted = np.asarray(self.layers.preview.data[self._key]) > 0
        self._prompts_changed(painted=painted)

    def _prompts_changed(self, painted: np.ndarray | None = None) -> None:
        key = self._key
        if key is None or self.session is None:
            return
        if painted is None and self.session.draft.slice_key == key:
            painted = self.session.draft.prompts.painted
        self.encoder.user_active()
        self._predict(self.layers.read(key, painted), record=True)

    def _predict(self, prompts, *, record: bool) -> None:
        try:
            self.session.set_prompts(self._key, prompts, record=record)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
        except (MemoryError, RuntimeError) as exc:
            self.report_error(exc)
        if self.session.waiting_for is not None and not isinstance(self.session.backend, NoBackend):
            self.encoder.request(self.session, self.session.waiting_for)  # no-op when on it (or when it failed)
        self._show()

    def _show(self) -> None:
        """Draw the session's prediction (or nothing) in the preview; update the status line."""
        s = self.session
        pred = s.prediction
        if pred is not None or not s.predicting:  # while a worker answers, the last mask stays until then
            self._syncing = True
            try:
                self.layers.show_preview(s.draft.slice_key if pred is not None else self._key,
                                         None if pred is None else pred.mask)
            finally:
                self._syncing = False
        self._refresh_status()
        if pred is not None:
            self._feedback_timer.start()

    def _prepare_feedback(self) -> None:
        """While the user is idle after an answer: the backend's work for the next click, ahead of it."""
        if self.session is None or self.session.predicting:
            return
        try:
            self.session.prepare_feedback()
        except (PromptsegError, MemoryError, RuntimeError, ValueError) as exc:
            self.report_error(exc)

    def _on_predicted(self, session: WidgetSession) -> None:
        if session is self.session:
            self._show()

    def _on_encoded(self, session: WidgetSession, key: SliceKey) -> None:
        if session is self.session and session.draft.slice_key == key and session.prediction is None:
            try:
                session.refresh()
            except (PromptsegError, MemoryError, RuntimeError) as exc:
                self.report_error(exc)
        if session is self.session:
            self.store_panel.refresh_status()
            self._show()

    def _encode_failed(self, exc: Exception) -> None:
        self.report_error(exc)
        if self.session is not None:
            self._show()  # says so when it is the displayed slice that failed
