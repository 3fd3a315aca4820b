"""The image being annotated: its session, its owned layers and the displayed slice, kept in step.

:class:`CurrentImage` is where a prompt read from the layers becomes a
prediction and the prediction becomes preview pixels.  The annotator widget
owns one and points it at an image; the click-ahead handlers, the buttons'
actions and the panels (through :class:`~promptseg._napari.host.Annotator`)
all go through its public methods:

* :meth:`CurrentImage.read` -- the prompts drawn on a slice (the layers are read once);
* :meth:`CurrentImage.predict` -- make them the current object's and show the answer;
* :meth:`CurrentImage.write_prompts` -- make the layers show the session's prompts (undo, redo, import);
* :meth:`CurrentImage.show` -- draw the session's prediction in the preview.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_warning

from ..errors import PromptsegError
from ..prompts import Prompts
from ..session import SliceKey
from .keys import modifier_names
from .layers import PromptLayers
from .widget_session import WidgetSession

if TYPE_CHECKING:
    from napari import Viewer

    from .encoding import EncodeScheduler

_NEGATIVE_MODIFIERS = {"Control", "Alt"}


class NoBackend:
    """Stands in until a model is loaded."""

    name = "no model"
    backend_id = "none"

    def encode(self, image, *, contrast_limits=None):
        raise PromptsegError("no model is loaded yet: pick one in the Model menu.")

    def predict(self, embedding, prompts=None, **short):
        raise PromptsegError("no model is loaded yet: pick one in the Model menu.")


class CurrentImage:
    """The annotated image layer, its session and owned layers, and the slice displayed.

    Parameters
    ----------
    viewer : napari.Viewer
    encoder : EncodeScheduler
        Asked to encode the slice a prediction waits for.
    on_shown : callable()
        Called after each :meth:`show` (the widget updates its status line and
        prepares the backend's feedback).
    on_error : callable(Exception)
        Reports a prediction that failed.

    Attributes
    ----------
    image_layer : Image or None
    session : WidgetSession or None
    layers : PromptLayers or None
        The points, shapes, preview and objects layers of ``image_layer``.
    key : tuple of int or None
        The slice the prompts go to (``()`` for 2D), None while no 2D slice is displayed.
    positive : bool
        Whether a plain click is positive (the polarity toggle).
    syncing : bool
        True while the annotator itself writes into its layers: their data
        events are then not prompts.
    """

    def __init__(self, viewer: Viewer, encoder: EncodeScheduler, *, on_shown: Callable[[], None],
                 on_error: Callable[[Exception], None]) -> None:
        self.viewer = viewer
        self.encoder = encoder
        self.image_layer: Image | None = None
        self.session: WidgetSession | None = None
        self.layers: PromptLayers | None = None
        self.key: SliceKey | None = None
        self.positive = True
        self.syncing = False
        self._on_shown = on_shown
        self._on_error = on_error

    @property
    def ready(self) -> bool:
        """Whether an image with a session is annotated and a 2D slice of it displayed."""
        return self.session is not None and self.key is not None

    def click_positive(self, event: object) -> bool:
        """Whether a click with ``event``'s modifiers is positive: Ctrl/Alt-click is negative, else the toggle says."""
        return self.positive and not _NEGATIVE_MODIFIERS & modifier_names(event)

    # -------------------------------------------------------- layers -> session
    def read(self, key: SliceKey, painted: np.ndarray | None = None) -> Prompts:
        """The prompts drawn on slice ``key``; the painted mask is ``painted``, else the current object's there."""
        draft = self.session.draft
        if painted is None and draft.slice_key == key:
            painted = draft.prompts.mask
        return self.layers.read(key, painted)

    def predict(self, prompts: Prompts, *, record: bool) -> None:
        """Make ``prompts`` (on the displayed slice) the current object's and show the answer.

        ``record``: an undoable step (a user's change) or not (the slice was
        merely shown).  Bad prompts are reported in a notification; the
        committed objects are never touched.
        """
        session = self.session
        try:
            session.set_prompts(self.key, prompts, record=record)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
        except (MemoryError, RuntimeError) as exc:
            self._on_error(exc)
        if session.waiting_for is not None and not isinstance(session.backend, NoBackend):
            self.encoder.request(session, session.waiting_for)  # no-op when on it (or when it failed)
        self.show()

    def edit_object(self, key: SliceKey, prompts: Prompts) -> None:
        """Make ``prompts`` on slice ``key`` the current object (an undoable step) and show them and their mask."""
        self.session.set_prompts(key, prompts)
        self.write_prompts([key])
        self.show()

    # -------------------------------------------------------- session -> layers
    def show(self) -> None:
        """Draw the session's prediction (or nothing) in the preview."""
        s = self.session
        pred = s.prediction
        if pred is not None or not s.predicting:  # while a worker answers, the last mask stays until then
            self.syncing = True
            try:
                self.layers.show_preview(s.draft.slice_key if pred is not None else self.key,
                                         None if pred is None else pred.mask)
            finally:
                self.syncing = False
        self._on_shown()

    def write_prompts(self, keys: list[SliceKey | None]) -> None:
        """Make the points and shapes layers show the session's current object on ``keys``."""
        draft = self.session.draft
        self.syncing = True
        try:
            for key in dict.fromkeys(k for k in keys if k is not None):
                self.layers.write(key, draft.prompts if draft.slice_key == key else None)
        finally:
            self.syncing = False

    def go_to_slice(self, key: SliceKey) -> None:
        """Move the viewer's sliders so that slice ``key`` of the image is displayed."""
        layer, dims = self.image_layer, self.viewer.dims
        data_pos = np.asarray(layer.world_to_data(dims.point), float)
        data_pos[: len(key)] = key
        world = layer.data_to_world(data_pos)
        offset = dims.ndim - layer.ndim
        for i in range(len(key)):
            dims.set_point(offset + i, world[i])

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
