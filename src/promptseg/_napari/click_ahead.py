"""Clicks answered before napari adds them.

A person's click is a press and, about a tenth of a second later, a release;
napari's Points layer adds the point at the release, then spends a few tens
of milliseconds of its own on it (extent, selection, redraw) before its data
event reaches the annotator.  The position of the click is known earlier:

* when the pointer has rested over the image for :data:`LOOK_AHEAD_MS`, the
  click it would make there is answered
  (:meth:`~promptseg.session.AnnotationSession.look_ahead`), nothing shown;
* at the press, the same for the press position (a no-op when the resting
  pointer's answer is that one);
* at the release, before napari's own handler adds the point, the answer is
  made the current prediction and drawn; napari's data event that follows
  finds the same prompts and changes nothing.

Only backends that answer in the GUI thread are asked ahead (a slow one would
freeze the viewer while the pointer merely rests); for them a click, a drag
(napari pans instead of adding a point) or a click off the image behaves as
without this module.
"""

from __future__ import annotations

from typing import Generator

import numpy as np
from napari.layers import Points
from napari.utils.events import Event
from qtpy.QtCore import QObject, QTimer

from ..errors import PromptsegError
from ..prompts import Prompts
from .current import CurrentImage
from .jobs import RunningJobs

#: Milliseconds the pointer rests over the image before the click it would make there is answered ahead.
LOOK_AHEAD_MS = 60
#: Canvas pixels the pointer may move between press and release for napari to add a point (its own value).
_DRAG_DISTANCE = 5


class ClickAhead:
    """Hover, press and release handlers of the prompts Points layer for one annotator widget.

    Parameters
    ----------
    current : CurrentImage
        The annotated image: its session, displayed slice, layers and click polarity.
    parent : QObject
        Owner of the rest timer (the annotator widget).
    jobs : RunningJobs
        While one of them runs, no click is answered (the press does not reach the layer either).
    """

    def __init__(self, current: CurrentImage, parent: QObject, jobs: RunningJobs) -> None:
        self.current = current
        self.jobs = jobs
        self.timer = QTimer(parent, singleShot=True, interval=LOOK_AHEAD_MS)
        self.timer.timeout.connect(self._at_rest)
        self._hover: tuple[np.ndarray, bool] | None = None  # (data coordinates, positive) where the pointer rests

    def connect(self, points: Points) -> None:
        # First in the list: at the release the answer is drawn before napari's add handler runs.
        points.mouse_drag_callbacks.insert(0, self.on_drag)
        points.mouse_move_callbacks.append(self.on_hover)

    def disconnect(self, points: Points) -> None:
        self.timer.stop()
        self._hover = None
        for callbacks, handler in ((points.mouse_drag_callbacks, self.on_drag),
                                   (points.mouse_move_callbacks, self.on_hover)):
            if handler in callbacks:
                callbacks.remove(handler)

    # ------------------------------------------------------------ handlers
    def on_hover(self, layer: Points, event: Event) -> None:
        if layer.mode != "add":
            self.timer.stop()
            return
        coords = np.asarray(layer.world_to_data(event.position), dtype=np.float64)
        positive = self.current.click_positive(event)
        last = self._hover
        if last is not None and last[1] == positive and np.array_equal(last[0], coords):
            return  # not a move (napari repeats the last position after a click): nothing new to answer
        self._hover = (coords, positive)
        self.timer.start()

    def on_drag(self, layer: Points, event: Event) -> Generator[None, None, None]:
        if layer.mode != "add":
            return
        self.timer.stop()
        positive = self.current.click_positive(event)
        coords = np.asarray(layer.world_to_data(event.position), dtype=np.float64)
        self._hover = (coords, positive)  # the pointer is here: a repeated position is no new rest
        self.look_ahead(coords, positive)
        start = np.asarray(event.pos, dtype=np.float64)
        yield
        while event.type == "mouse_move":
            yield
        if np.linalg.norm(np.asarray(event.pos, dtype=np.float64) - start) < _DRAG_DISTANCE:
            self.answer(layer.world_to_data(event.position), positive)

    def _at_rest(self) -> None:
        if self._hover is not None:
            self.look_ahead(*self._hover)

    # ------------------------------------------------------------- actions
    def look_ahead(self, coords: np.ndarray, positive: bool) -> Prompts | None:
        """Answer now the click napari would add at ``coords`` (the points layer's data frame, (ndim,)).

        Returns the prompts that click makes when their answer is kept, else None.
        """
        c = self.current
        key = c.key
        if not c.ready or c.syncing or self.jobs.running is not None:
            return None
        coords = np.asarray(coords, dtype=np.float64)
        if not c.layers.on_slice(coords, key):
            return None
        prompts = c.read(key).with_click(coords[-2:], int(positive))
        try:
            kept = c.session.look_ahead(key, prompts)
        except (PromptsegError, MemoryError, RuntimeError, ValueError):
            kept = False  # the click itself meets the same error when it is made, and reports it
        return prompts if kept else None

    def answer(self, coords: np.ndarray, positive: bool) -> None:
        """At the release: draw the click's answer now, when it is known, before napari adds the point."""
        prompts = self.look_ahead(coords, positive)
        if prompts is not None:
            self.current.predict(prompts, record=True)
