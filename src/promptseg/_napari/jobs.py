"""Background jobs of the annotator's panels, and the commands they lock while they run.

A 3D propagation, *Segment all* or a *Find similar* search reads the current
object and the committed objects when it starts and writes (or shows) its
result when it ends.  A commit, clear, undo or new click in between would be
lost or counted twice: a propagation tracking the current object as object
1, committed meanwhile by C as object 3, wrote it as object 1 as well.  So
while a job runs, :class:`RunningJobs` refuses every command that changes
the current object or the committed objects: it does nothing, the status
line says why (*Propagation running: wait for it or press Stop.*), and the
commands' buttons look disabled until the job ends (finished, stopped or
failed).

Clicks are stopped before napari adds them: a press on one of the
annotator's layers in a drawing or editing mode is turned into a pan for
that drag (the viewer's mouse callbacks run before the layer's, the same
way :mod:`.object_clicks` keeps a Shift-click from adding a point).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Generator, Sequence, TypeVar

if TYPE_CHECKING:
    from qtpy.QtWidgets import QWidget

    from .current import CurrentImage
    from .status import StatusLine

T = TypeVar("T")

#: Layer modes that change nothing (a press in any other mode draws, paints, moves or selects).
_VIEW_MODES = ("pan_zoom", "transform")


class RunningJobs:
    """The panels' jobs that run now, and the lock they put on the annotator's commands.

    Parameters
    ----------
    current : CurrentImage
        The annotated image, whose owned layers take no prompts while a job runs.
    status : StatusLine
        Says why a command was refused.
    buttons : sequence of QWidget
        The commands' buttons (Commit, Clear, Undo, Redo, Import): disabled while a job runs.

    Examples
    --------
    A panel with a worker::

        annotator.jobs.begin("Propagation", stop="Stop")  # after the worker is made
        worker.finished.connect(lambda: annotator.jobs.end("Propagation"))

    and, before changing objects itself::

        if annotator.jobs.refuse():
            return
    """

    def __init__(self, current: CurrentImage, status: StatusLine, buttons: Sequence[QWidget]) -> None:
        self.current = current
        self.status = status
        self.buttons = list(buttons)
        self._why: dict[str, str] = {}  # job name -> what the status line says to a refused command

    def begin(self, name: str, *, stop: str | None = None) -> None:
        """Job ``name`` started: lock the commands until :meth:`end` (``stop``: the button that stops it)."""
        how = f"wait for it or press {stop}" if stop else "wait for it"
        self._why[name] = f"{name} running: {how}."
        self._enable()

    def end(self, name: str) -> None:
        """Job ``name`` ended (finished, stopped or failed); no-op when it was not running."""
        self._why.pop(name, None)
        self._enable()

    @property
    def running(self) -> str | None:
        """Why commands are refused now (the first running job's line), None when no job runs."""
        return next(iter(self._why.values()), None)

    def refuse(self) -> bool:
        """Whether a job runs; when one does, the status line says so (the caller then does nothing)."""
        why = self.running
        if why is not None:
            self.status.show(why)
        return why is not None

    def guard(self, command: Callable[..., T]) -> Callable[..., T | None]:
        """``command``, refused (it returns None) while a job runs."""

        @functools.wraps(command)
        def guarded(*args: Any, **kwargs: Any) -> T | None:
            return None if self.refuse() else command(*args, **kwargs)

        return guarded

    def connect(self, viewer: Any) -> None:
        """Stop presses on the annotator's layers while a job runs (first of ``viewer``'s mouse callbacks)."""
        viewer.mouse_drag_callbacks.insert(0, self.on_mouse)

    def on_mouse(self, viewer: Any, event: Any) -> Generator[None, None, None]:
        """While a job runs, a press on an owned layer that would change it pans instead, and the status says why."""
        layers = self.current.layers
        layer = viewer.layers.selection.active
        if (self.running is None or layers is None or event.button != 1 or getattr(layer, "mode", None) in _VIEW_MODES
                or not any(layer is owned for owned in (layers.points, layers.shapes, layers.preview, layers.objects))):
            return
        mode, layer.mode = layer.mode, "pan_zoom"  # before the layer's own callbacks run: nothing is drawn
        try:
            yield
            while event.type == "mouse_move":
                yield
        finally:
            layer.mode = mode
        self.refuse()

    def _enable(self) -> None:
        for button in self.buttons:
            button.setEnabled(not self._why)
