"""Encoding in thread workers: the displayed slice on demand, its neighbours when idle.

The work itself is :meth:`AnnotationSession.encode_iter` (a generator that
puts each embedding into the session's cache); this module only runs it in a
``napari.qt.threading`` worker with a progress bar, cancels stale workers and
prefetches neighbouring slices after the user has been idle for a moment.
The prefetch runs at background priority
(:func:`promptseg.model.threads.in_background`), so clicks meanwhile get
the cores first.
"""

from __future__ import annotations

import logging
from typing import Callable

from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from ..model.threads import in_background
from ..session import AnnotationSession, SliceKey
from .progress_bars import attach_progress
from .workers import start_worker

logger = logging.getLogger("promptseg")

#: Milliseconds without user activity before neighbours are encoded ahead.
IDLE_MS = 800
#: Slices encoded ahead on each side of the displayed one.
PREFETCH_RADIUS = 2


class EncodeScheduler:
    """Keeps at most one on-demand and one prefetch worker per annotator.

    Parameters
    ----------
    on_encoded : callable(session, slice_key)
        Called in the GUI thread after each slice is cached.
    on_error : callable(Exception)
        Called in the GUI thread when encoding the displayed slice fails
        (encoding ahead that fails is only logged: the slice is encoded, and
        its error reported, when it is shown).

    A slice that failed is not tried again for the same image, contrast and
    model until :meth:`cancel` (a new image, model or contrast): clicking on
    it again would only repeat the error.  :meth:`failure` says why.
    """

    def __init__(self, on_encoded: Callable, on_error: Callable[[Exception], None]) -> None:
        self._on_encoded = on_encoded
        self._on_error = on_error
        self._demand = None  # worker encoding the displayed slice
        self._demand_target: tuple | None = None
        self._running: dict[tuple, object] = {}  # single-slice workers still running, cancelled or not
        self._prefetch = None
        self._prefetch_target: tuple[AnnotationSession, SliceKey] | None = None
        self._failed: dict[tuple, Exception] = {}  # demand targets whose encoding raised
        self._idle = QTimer()
        self._idle.setSingleShot(True)
        self._idle.setInterval(IDLE_MS)
        self._idle.timeout.connect(self._start_prefetch)
        self.prefetch_enabled = True

    @property
    def busy(self) -> bool:
        """Whether a worker for the displayed slice is running."""
        return self._demand is not None

    def failure(self, session: AnnotationSession, key: SliceKey) -> Exception | None:
        """Why slice ``key`` of ``session`` (its current image and model) could not be encoded, or None."""
        return self._failed.get(_target(session, key))

    def request(self, session: AnnotationSession, key: SliceKey) -> None:
        """Make sure ``key`` gets encoded; cancels stale work (other slices, images or backends)."""
        self.user_active()
        target = _target(session, key)
        if (self._demand is not None and self._demand_target == target) or target in self._failed:
            return  # already on it, or it failed (the status line says why)
        self._quit("_demand")
        running = self._running.get(target)
        if running is not None:  # a cancelled worker is still encoding this very slice: its result will do
            self._demand, self._demand_target = running, target
        elif session.embedding(key) is None:
            self._demand = self._start(session, [key], "_demand", f"PromptSeg: encoding slice {key or ''}".strip(),
                                       target=target)
            self._demand_target = target
            self._running[target] = self._demand
        self._prefetch_target = (session, key)
        self._idle.start()

    def user_active(self) -> None:
        """The user did something: stop encoding ahead and wait for the next idle moment."""
        self._quit("_prefetch")
        if self._prefetch_target is not None:
            self._idle.start()

    def cancel(self) -> None:
        """Stop all work and forget failures (a new image, model or contrast tries failed slices again)."""
        self._failed.clear()
        self._idle.stop()
        self._prefetch_target = None
        self._quit("_demand")
        self._quit("_prefetch")

    def _start_prefetch(self) -> None:
        if self._demand is not None:  # still encoding the displayed slice: try again later
            self._idle.start()
            return
        if not self.prefetch_enabled or self._prefetch_target is None:
            return
        session, key = self._prefetch_target
        todo = [k for k in session.image.neighbours(key, PREFETCH_RADIUS) if session.embedding(k) is None]
        if todo:
            self._prefetch = self._start(session, todo, "_prefetch", "PromptSeg: encoding neighbours", background=True)

    def _start(self, session: AnnotationSession, keys: list[SliceKey], slot: str, desc: str, *,
               background: bool = False, target: tuple | None = None):
        job = (in_background, session.encode_iter) if background else (session.encode_iter,)
        worker = create_worker(
            *job, keys, _connect={"errored": lambda exc: self._errored(target, exc)},  # no re-raise in Qt
            _start_thread=False,
        )
        attach_progress(worker, desc, len(keys))
        worker.yielded.connect(lambda progress: self._on_encoded(session, progress.slice_key))
        worker.aborted.connect(lambda: self._aborted(worker))
        worker.finished.connect(lambda: self._finished(slot, worker))
        start_worker(worker)
        return worker

    def _errored(self, target: tuple | None, exc: Exception) -> None:
        if target is None:
            logger.info("PromptSeg: encoding ahead stopped: %s", exc)
            return
        self._failed[target] = exc
        self._on_error(exc)

    def _finished(self, slot: str, worker) -> None:
        self._running = {t: w for t, w in self._running.items() if w is not worker}
        if getattr(self, slot) is not worker:
            return
        setattr(self, slot, None)

    def _aborted(self, worker) -> None:
        """A cancelled worker that the displayed slice still waits for stopped before encoding it: start again."""
        # It encodes nothing more: a new request must not adopt it as "still encoding this slice".
        self._running = {t: w for t, w in self._running.items() if w is not worker}
        if worker is self._demand and self._demand_target is not None:
            session, _, _, key = self._demand_target
            self._demand, self._demand_target = None, None
            if session.embedding(key) is None:
                self.request(session, key)

    def _quit(self, slot: str) -> None:
        worker = getattr(self, slot)
        if worker is not None:
            worker.quit()  # takes effect at its next yield; what it encoded so far stays cached
            setattr(self, slot, None)


def _target(session: AnnotationSession, key: SliceKey) -> tuple:
    """What an encoding is for: the slice of the session's current image with its current model."""
    return (session, session.backend.backend_id, session.image.key, key)
