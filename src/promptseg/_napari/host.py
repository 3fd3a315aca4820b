"""What a panel of the annotator dock may ask of the annotator: the :class:`Annotator` interface.

A panel (embedding store, 3D propagation, image series, find similar, and
any new one) is a ``QWidget`` built with one argument, an object of this
interface, and added below the buttons by
:meth:`~promptseg._napari.annotator.AnnotatorWidget.add_panel`.  It reads the
current image layer, its session and the displayed slice; it changes the
annotation only through the calls listed here; and it hears of a new image or
a newly encoded slice by connecting to :attr:`Annotator.image_changed` and
:attr:`Annotator.slice_encoded`.  The annotator never calls a panel by name,
and a panel never touches the annotator's layers or private state, so
changing what a click does stays in :mod:`.annotator` and :mod:`.current`.

Example of a panel::

    class CountPanel(QWidget):
        def __init__(self, annotator: Annotator) -> None:
            super().__init__()
            self.annotator = annotator
            self.label = QLabel()
            QVBoxLayout(self).addWidget(self.label)
            annotator.image_changed.connect(self.recount)

        def recount(self) -> None:
            session = self.annotator.session
            self.label.setText("" if session is None else f"{len(session.committed)} objects")

This module imports no other module of the widget at run time (the types it
names are for readers and type checkers), so a panel importing it makes no
import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    import numpy as np
    from napari import Viewer
    from napari.layers import Image

    from ..backends import Backend
    from ..prompts import Prompts
    from ..session import SliceKey
    from .jobs import RunningJobs
    from .widget_session import WidgetSession


class Event:
    """A list of callbacks called, in the order connected, with no argument when the event is emitted."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], object]] = []

    def connect(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` on each :meth:`emit` from now on."""
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[[], object]) -> None:
        """Stop calling ``callback`` (no error when it was not connected)."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self) -> None:
        for callback in list(self._callbacks):
            callback()


class Annotator(Protocol):
    """The annotator as a panel sees it (implemented by :class:`~promptseg._napari.annotator.AnnotatorWidget`).

    Attributes
    ----------
    viewer : napari.Viewer
        The viewer the annotator is docked in (a panel may add its own layers).
    image_changed : Event
        Emitted after the annotated image changed: another layer, none (its
        layer was closed), or its objects were replaced.
    slice_encoded : Event
        Emitted after a slice of the annotated image got its embedding.
    history_changed : Event
        Emitted after Undo or Redo moved a step (e.g. took back a panel's commit).
    jobs : RunningJobs
        The panels' background jobs.  A panel calls ``jobs.begin(name, stop=...)``
        when its worker starts and ``jobs.end(name)`` when it finishes (also
        when stopped or failed): meanwhile every command that changes the
        current object or the committed objects (buttons, keys, clicks, a
        panel's own) is refused and the status line says why.  A panel asks
        ``jobs.refuse()`` before changing objects or starting a job.
    """

    viewer: Viewer
    image_changed: Event
    slice_encoded: Event
    history_changed: Event
    jobs: RunningJobs

    # ------------------------------------------------------------- reading
    @property
    def image_layer(self) -> Image | None:
        """The image layer being annotated (None: none chosen, or it was closed)."""

    @property
    def session(self) -> WidgetSession | None:
        """The annotation session of :attr:`image_layer`: its image stack, committed objects and current object.

        ``session.backend`` is the backend that answers its clicks (it reads
        from an embedding store when one is used); ``session.objects`` is the
        (*lead, H, W) int32 label array shown in the objects layer.
        """

    @property
    def backend(self) -> Backend | None:
        """The model chosen in the Model menu (None while none is loaded)."""

    @property
    def overwrite(self) -> bool:
        """Whether the user lets a commit take pixels of existing objects (the checkbox below the buttons)."""

    def displayed_slice(self) -> SliceKey | None:
        """Index of the 2D slice shown along the image's leading axes (``()`` for 2D), None in a 3D view."""

    def session_of(self, layer: Image) -> WidgetSession | None:
        """The session of image ``layer`` (None if it was never annotated)."""

    # ------------------------------------------------------------ changing
    def set_image_layer(self, layer: Image) -> None:
        """Annotate ``layer`` from now on (emits :attr:`image_changed`)."""

    def objects_changed(self, session: WidgetSession, slices: tuple[SliceKey | None, ...] = ()) -> None:
        """Show what a panel committed through ``session`` (e.g. ``accept_proposals``, ``commit_propagation``).

        Redraws ``session``'s objects layer; when it is the current session,
        also its prompts on ``slices`` (where the current object was before
        the commit) and its current object's mask.
        """

    def replace_objects(self, labels: np.ndarray) -> None:
        """Make integer ``labels`` of the image's label shape its objects (a new undo history).

        Raises PromptsegError for labels that do not fit, and while a job runs.
        """

    def edit_object(self, key: SliceKey, prompts: Prompts) -> None:
        """Make ``prompts`` on slice ``key`` the current object (undoable), draw them and show its mask.

        Refused (nothing changes, the status line says why) while a job runs.
        """

    def image_settings_changed(self) -> None:
        """Re-read the image's contrast limits and store (after a panel attached an embedding store)."""

    def show_correction(self, label: int | None) -> None:
        """Say on the status line that the current object will correct committed object ``label`` (None: it will not).

        For a panel that uses the current object as a correction (3D
        propagation with SAM 2.1 and an id chosen in *Object*): the line
        then names that object, and the new id a commit (C) would give instead.
        """

    def report_error(self, exc: Exception, *, status: str | None = None) -> None:
        """Tell the user about ``exc`` (status line, notification, log); committed objects are kept."""
