"""The annotator dock widget: maps napari layer events to an AnnotationSession.

Every prompt change (a click, a shape, a paint stroke) re-reads the prompts of
the displayed slice from the owned layers and hands them to the
:class:`~.current.CurrentImage`, which calls
:meth:`AnnotationSession.set_prompts` and draws the prediction into the
preview layer, touching only the pixels that changed.  Encoding runs in
thread workers (:mod:`.encoding`); a click on a slice that is not encoded yet
waits in the session and is answered when its embedding arrives.  Slow
backends predict in a worker too (:mod:`.widget_session`).
Clicks are answered ahead, while the pointer rests and at the button's press
(:mod:`.click_ahead`).

The widget is built by composition: :class:`~.current.CurrentImage` (the
image, its session and layers), :class:`~.actions.AnnotatorActions` (the
commands), :class:`~.image_settings.ImageSettings` (contrast limits and
stores), :class:`~.status.StatusLine` and the Model menu.  The sections
below the buttons (embedding store, 3D propagation, image series, find
similar) are panels of their own modules that see the widget only through
the :class:`~.host.Annotator` interface (:meth:`AnnotatorWidget.add_panel`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from napari import Viewer
from napari.layers import Image
from napari.utils.events import Event as NapariEvent
from napari.utils.notifications import show_warning
from qtpy.QtCore import QTimer
from qtpy.QtGui import QShowEvent
from qtpy.QtWidgets import QWidget

from ..backends import Backend
from ..errors import PromptsegError
from ..prompts import Prompts
from ..session import EmbeddingCache, ImageStack, SliceKey
from .actions import AnnotatorActions
from .backend_choice import BackendMenu
from .click_ahead import ClickAhead
from .current import CurrentImage, NoBackend
from .encoding import EncodeScheduler
from .find_similar import FindSimilarPanel
from .host import Annotator, Event
from .image_settings import ImageSettings
from .jobs import RunningJobs
from .keys import bind_shortcuts
from .layer_events import LayerEvents
from .large_dock import LargeDock
from .layers import PromptLayers
from .object_clicks import ObjectClicks
from .objects_panel import ObjectsPanel
from .panel import Panel
from .propagate_panel import PropagatePanel
from .series_panel import SeriesPanel
from .status import StatusLine, error_line
from .store_panel import StorePanel
from .stores import ImageStores
from .widget_session import PredictTimes, WidgetSession


class AnnotatorWidget(QWidget):
    """PromptSeg annotator: click on an object and see its mask; C commits it.

    Implements :class:`~.host.Annotator`, the interface its panels use.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    backend : Backend or str, optional
        A ready backend object, or a name/path for ``load_backend``; default
        the ``classic`` backend when installed.
    """

    def __init__(self, napari_viewer: Viewer, backend: Backend | str | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.panel = Panel(self)
        self.backend: Backend | None = None
        self.image_changed = Event()
        self.slice_encoded = Event()
        self._sessions: dict[int, tuple[WidgetSession, PromptLayers]] = {}
        self._cache = EmbeddingCache()  # one byte budget for every image the widget annotates
        self._fitted_once = False  # the image was fitted to the canvas beside the docked widget
        self.encoder = EncodeScheduler(self._on_encoded, self._encode_failed)
        self.predict_times = PredictTimes()  # decides which backends predict in a worker
        self.status = StatusLine(self.panel.status)
        self.current = CurrentImage(self.viewer, self.encoder, on_shown=self._shown, on_error=self.report_error)
        self.stores = ImageStores()
        self.settings = ImageSettings(self.current, self.stores, self.encoder)
        self.object_clicks = ObjectClicks(self.current, self.status)  # Shift-click pick-up, D delete, M merge
        self.actions = AnnotatorActions(self.current, self.panel, self.status, self.object_clicks)
        self.history_changed = Event()
        self.correction: int | None = None  # the committed object a panel corrects with the current object
        p, a, o = self.panel, self.actions, self.object_clicks
        self.jobs = RunningJobs(self.current, self.status, (p.commit, p.clear, p.undo, p.redo, p.import_))
        guard = self.jobs.guard  # while a panel's job runs, commands that change the objects are refused
        self.commit, self.clear, self.import_prompts = guard(a.commit), guard(a.clear), guard(a.import_prompts)
        self.undo, self.redo = guard(self._replayed(a.undo)), guard(self._replayed(a.redo))
        self.delete_object, self.merge_objects = guard(o.delete_under_cursor), guard(o.merge_under_cursor)
        self.toggle_polarity, self.export_prompts = a.toggle_polarity, a.export_prompts
        # shortly after an answer is shown (the canvas drawn first), the backend prepares for the next click
        self._feedback_timer = QTimer(self, singleShot=True, interval=30)
        self._feedback_timer.timeout.connect(self._prepare_feedback)
        self.click_ahead = ClickAhead(self.current, self, self.jobs)
        self.layer_events = LayerEvents(self)  # prompts drawn, contrast and pixels changed
        self.large = LargeDock(self)
        self.menu = BackendMenu(self.panel.backend_combo, self, on_loaded=self._use_backend,
                                on_failed=self._load_failed, on_error=self.report_error)
        self.objects_panel = self.add_panel("Objects", ObjectsPanel, expanded=True)
        self.store_panel = self.add_panel("Embedding store", lambda host: StorePanel(host, self.stores))
        self.propagate_panel = self.add_panel("3D propagation", PropagatePanel)
        self.series_panel = self.add_panel("Image series", SeriesPanel)
        self.find_similar_panel = self.add_panel("Find similar", FindSimilarPanel)
        self._connect_panel()
        self.object_clicks.connect(self.viewer)
        self.jobs.connect(self.viewer)  # first: no prompt is drawn while a job runs
        self.viewer.dims.events.current_step.connect(self._on_dims)
        self.viewer.dims.events.ndisplay.connect(self._on_dims)
        self.viewer.layers.events.inserted.connect(self._refresh_image_combo)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        bind_shortcuts(self, [self.viewer])
        self._refresh_image_combo()
        self._fill_backend_combo(backend)

    # ------------------------------------------------------ the panel interface
    @property
    def image_layer(self) -> Image | None:
        """The image layer being annotated."""
        return self.current.image_layer

    @property
    def session(self) -> WidgetSession | None:
        """The annotation session of :attr:`image_layer`."""
        return self.current.session

    @property
    def layers(self) -> PromptLayers | None:
        """The prompts, shapes, preview and objects layers of :attr:`image_layer`."""
        return self.current.layers

    @property
    def overwrite(self) -> bool:
        """Whether a commit may take pixels of existing objects."""
        return self.panel.overwrite.isChecked()

    def add_panel(self, title: str, make: Callable[[Annotator], QWidget], *, expanded: bool = False) -> QWidget:
        """Add the panel ``make(self)`` below the buttons, under a header ``title`` that folds it; returns it."""
        return self.panel.add_section(title, make(self), expanded=expanded)

    def displayed_slice(self) -> SliceKey | None:
        """The slice of the image shown in the canvas, or None (3D view, axes transposed)."""
        return self.current.displayed_slice()

    def session_of(self, layer: Image) -> WidgetSession | None:
        """The annotation session of image ``layer`` (None if it was never annotated)."""
        found = self._sessions.get(id(layer))
        return None if found is None else found[0]

    def objects_changed(self, session: WidgetSession, slices: tuple[SliceKey | None, ...] = ()) -> None:
        """Show what a panel committed through ``session`` (see :meth:`.host.Annotator.objects_changed`)."""
        for known, layers in self._sessions.values():
            if known is session:
                layers.refresh_objects()
        if session is self.session:
            self.current.write_prompts(list(slices))
            self.current.show()

    def edit_object(self, key: SliceKey, prompts: Prompts) -> None:
        """Make ``prompts`` on slice ``key`` the current object (undoable), draw them and show its mask."""
        if not self.jobs.refuse():
            self.current.edit_object(key, prompts)

    def replace_objects(self, labels: np.ndarray) -> None:
        """Make ``labels`` (label_shape ints, e.g. saved ones) the current image's objects; starts its undo history afresh."""
        if self.jobs.running is not None:
            raise PromptsegError(self.jobs.running)
        labels = np.asarray(labels)
        shape = tuple(self.layers.objects.data.shape)
        if labels.shape != shape or not np.issubdtype(labels.dtype, np.integer):
            raise PromptsegError(f"labels of shape {labels.shape} ({labels.dtype}) do not fit the image: "
                                 f"integer labels of shape {shape} are needed.")
        layer = self.image_layer
        self.layers.objects.data = labels.astype(np.int32)
        self._sessions.pop(id(layer), None)  # a new session takes the new array and its next free id
        self.set_image_layer(layer)

    def image_settings_changed(self) -> None:
        """Re-derive the current image's contrast limits and backend (after a contrast or store change)."""
        if self.settings.apply(self.backend):
            self._redisplay()

    def report_error(self, exc: Exception, *, status: str | None = None) -> None:
        """Tell the user about ``exc`` (status line, notification, log); committed objects are kept."""
        self.status.report_error(exc, status=status)

    def show_correction(self, label: int | None) -> None:
        """Have the status line call the current object a correction of committed object ``label`` (None: not)."""
        self.correction = label
        if self.session is not None:
            self._refresh_status()

    def _replayed(self, command: Callable[[], object]) -> Callable[[], object]:
        """``command`` (undo or redo), then :attr:`history_changed` when it moved a step."""
        def run() -> object:
            step = command()
            if step is not None:
                self.history_changed.emit()
            return step

        return run

    # ------------------------------------------------------------- set-up
    def _connect_panel(self) -> None:
        p = self.panel
        p.image_combo.currentIndexChanged.connect(self._image_chosen)
        p.polarity.clicked.connect(self.toggle_polarity)
        for button, command in ((p.commit, self.commit), (p.clear, self.clear), (p.undo, self.undo), (p.redo, self.redo)):
            button.clicked.connect(lambda _checked=False, run=command: run())
        p.export.clicked.connect(lambda: self.export_prompts())
        p.import_.clicked.connect(lambda: self.import_prompts())

    def _image_layers(self) -> list[Image]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _refresh_image_combo(self, event: NapariEvent | None = None, *, auto_select: bool = True) -> None:
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

    def _on_layer_removed(self, event: NapariEvent) -> None:
        c = self.current
        owned = () if c.layers is None else (c.layers.points, c.layers.shapes, c.layers.preview, c.layers.objects)
        if event.value is c.image_layer or any(event.value is layer for layer in owned):
            self.encoder.cancel()
            self._disconnect_layers()
            self._sessions.pop(id(c.image_layer), None)
            c.image_layer, c.session, c.layers = None, None, None
            self.status.show(f"'{event.value.name}' was closed; pick an image to go on.")
            self.image_changed.emit()
        elif isinstance(event.value, Image):
            self._sessions.pop(id(event.value), None)  # its layer object is gone: never reuse its id
        self._refresh_image_combo(auto_select=False)

    def set_image_layer(self, layer: Image) -> None:
        """Annotate ``layer`` (its owned layers are created on first use and reused after)."""
        c = self.current
        self.encoder.cancel()
        self._disconnect_layers()
        c.session, c.layers = None, None  # no events reach the old session while layers are added
        c.image_layer = layer
        if self.large.take(layer):  # multiscale or too large to hold: annotated lazily (large_dock.py)
            self._refresh_image_combo()
            self.image_changed.emit()
            return
        self.stores.discover(layer)
        new = id(layer) not in self._sessions
        if new:
            try:
                stack = ImageStack(layer.data, rgb=layer.rgb, contrast_limits=self.settings.limits(layer),
                                   key=layer.unique_id)
            except PromptsegError as exc:
                show_warning(f"PromptSeg: cannot annotate '{layer.name}': {exc}")
                c.image_layer = None
                return
            layers = PromptLayers(self.viewer, layer, stack.label_shape)
            session = WidgetSession(stack, self.backend or NoBackend(), objects=layers.objects.data, cache=self._cache,
                                    times=self.predict_times, on_predicted=self._on_predicted, on_error=self.report_error)
            self._sessions[id(layer)] = (session, layers)
        c.session, c.layers = self._sessions[id(layer)]
        if self.backend is not None:
            c.session.set_backend(self.settings.backend(self.backend))
        self._connect_layers()
        c.layers.set_click_positive(c.positive)
        self._refresh_image_combo()
        self.viewer.layers.selection.active = c.layers.points
        c.layers.points.mode = "add"
        self._redisplay()
        self.image_changed.emit()
        if new:
            self.fit_image()

    def fit_image(self) -> None:
        """Fit the annotated image to the canvas (what napari's Home button does, for this image alone)."""
        layer = self.image_layer
        if layer is not None and layer in self.viewer.layers:
            # napari fits a subset of the layers only when they have every axis of the viewer
            self.viewer.fit_to_view(layers=[layer] if layer.ndim == self.viewer.dims.ndim else None)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Docked at last: fit the image to the canvas the dock left (once the layout has settled)."""
        super().showEvent(event)
        if not self._fitted_once:
            self._fitted_once = True
            QTimer.singleShot(0, self.fit_image)

    def _connect_layers(self) -> None:
        self.layer_events.connect()

    def _disconnect_layers(self) -> None:
        self.layer_events.disconnect()

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
            self.session.set_backend(self.settings.backend(backend))
            self._redisplay()
        else:
            self._refresh_status()
        self.menu.warm_up_once(backend)

    def _load_failed(self, key: str, exc: Exception) -> None:
        running = self.backend.name if self.backend is not None else "no model: pick one in the Model menu"
        self.report_error(exc, status=f"Not loaded: {error_line(exc)} Still using {running}.")

    # --------------------------------------------------------- slices
    def _redisplay(self) -> None:
        """Encode and predict the displayed slice afresh (new image, pixels, limits or backend)."""
        self.current.key = None
        self._on_dims()

    def _on_dims(self, event: NapariEvent | None = None) -> None:
        c = self.current
        key = c.displayed_slice()
        if key == c.key or c.session is None:
            return
        c.key = key
        if key is None or isinstance(c.session.backend, NoBackend):
            self._refresh_status()
            return
        self.encoder.request(c.session, key)
        c.predict(c.read(key), record=False)

    def _shown(self) -> None:
        """After the preview was drawn: the status line, and the backend's feedback a moment later."""
        self._refresh_status()
        if self.session.prediction is not None:
            self._feedback_timer.start()

    def _refresh_status(self) -> None:
        if self.large.describe(self.menu.loading):
            return
        s, key = self.session, self.current.key
        failure = None if s is None or key is None else self.encoder.failure(s, key)
        corrects = self.correction  # asked about the picked-up object only when a panel names a correction
        if corrects is not None and (s is None or self.object_clicks.label_for_commit(s) is not None):
            corrects = None
        self.status.describe(s, key, backend=self.backend, loading=self.menu.loading, failure=failure,
                             corrects=corrects)

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
            self.current.show()

    def _on_encoded(self, session: WidgetSession, key: SliceKey) -> None:
        if session is self.session and session.draft.slice_key == key and session.prediction is None:
            try:
                session.refresh()
            except (PromptsegError, MemoryError, RuntimeError) as exc:
                self.report_error(exc)
        if session is self.session:
            self.slice_encoded.emit()
            self.current.show()

    def _encode_failed(self, exc: Exception) -> None:
        self.report_error(exc)
        if self.session is not None:
            self.current.show()  # says so when it is the displayed slice that failed
