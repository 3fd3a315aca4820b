"""Predictions off the GUI thread for slow backends.

Fast backends (classic, SAM with a ready embedding) answer a click in tens of
milliseconds: they run in the GUI thread, which gives the lowest latency.  A
backend whose last measured ``predict`` took longer than
:data:`SLOW_SECONDS` (random walker and GrabCut are assumed slow until
measured) would freeze the viewer, so :class:`WidgetSession` then answers in a
``thread_worker``:

* the prompts, the undo history and the commits change at once in the GUI
  thread; only the prediction is computed in the worker;
* one worker at a time per session; while it runs, a newer prompt replaces
  any waiting one, and a result whose prompts are no longer the current ones
  is dropped;
* until the answer arrives :attr:`AnnotationSession.prediction` is None, so a
  commit is refused (the committed objects are never touched by a worker).

The wall time of a prediction in a worker is no measure of what it would
cost in the GUI thread: the viewer draws meanwhile and the two share the
CPUs (a random-weight vit_t took 90-109 ms p50 in a worker against 36 ms in
the GUI thread on 2 CPUs).  Timed that way, a fast backend that a burst of
slow calls had sent to a worker stayed there.  A worker's prediction is
therefore measured by the CPU time of its thread (38 ms p50 for the same
clicks), which waiting for the CPUs does not inflate; torch's OpenMP helper
threads work alongside the thread, so this tracks the GUI thread's wall time.
A backend that waited instead of computing (I/O, a remote service) would
look faster than it is; none of the built-in ones does.

The prediction chain (:class:`~promptseg.session.chain.PredictionChain`) is
only ever used by one thread at a time: by the GUI thread while no worker
runs, by the worker otherwise.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from napari.qt.threading import create_worker

from ..backends import Backend
from ..session import AnnotationSession, Draft
from ..session.chain import PredictionChain
from .workers import start_worker

#: A backend whose predict takes longer than this (seconds) runs in a worker.
SLOW_SECONDS = 0.1
#: Assumed predict times (seconds) of backends known to be slow, until measured.
ASSUMED_SECONDS = {"random_walker": 0.5, "grabcut": 0.5}
#: Shorter calls are memoised answers, not predictions: they are not recorded.
_MEMO_SECONDS = 0.001
#: How many recent predict times the estimate is the median of.
RECENT = 5


class PredictTimes:
    """Measured ``predict`` times of each backend (by ``backend_id``), shared by every session.

    The estimate is the median of the last :data:`RECENT` measurements, so one
    slow call (a garbage collection, another program taking the CPU) does not
    move a fast backend's next clicks into a worker, where each answer arrives
    a Qt event-loop turn later.  Measurements are seconds the GUI thread would
    be blocked: wall time there, thread CPU time in a worker (module docstring).
    """

    def __init__(self, threshold: float = SLOW_SECONDS) -> None:
        self.threshold = float(threshold)
        self.seconds: dict[str, float] = {}  #: current estimate per backend_id
        self._recent: dict[str, deque[float]] = {}

    def estimate(self, backend: Backend) -> float:
        """Seconds per prediction: measured (median of recent calls), else assumed from the backend's name."""
        measured = self.seconds.get(backend.backend_id)
        if measured is not None:
            return measured
        return ASSUMED_SECONDS.get(str(getattr(backend, "name", "")), 0.0)

    def is_slow(self, backend: Backend) -> bool:
        return self.estimate(backend) > self.threshold

    def record(self, backend: Backend, seconds: float) -> None:
        if seconds < _MEMO_SECONDS:
            return
        recent = self._recent.setdefault(backend.backend_id, deque(maxlen=RECENT))
        recent.append(float(seconds))
        self.seconds[backend.backend_id] = float(statistics.median(recent))


class WidgetSession(AnnotationSession):
    """An :class:`AnnotationSession` that predicts in a thread worker when its backend is slow.

    Parameters
    ----------
    image, backend, objects, cache
        As for :class:`AnnotationSession`.
    times : PredictTimes
        Measured predict times; decides where each prediction runs.
    on_predicted : callable(session)
        Called in the GUI thread when a worker's prediction became :attr:`prediction`.
    on_error : callable(Exception)
        Called in the GUI thread when a worker's prediction failed.
    """

    def __init__(self, image, backend: Backend, *, times: PredictTimes, on_predicted: Callable[[Any], None],
                 on_error: Callable[[Exception], None], **kwargs: Any) -> None:
        super().__init__(image, backend, **kwargs)
        self.times = times
        self._on_predicted = on_predicted
        self._on_error = on_error
        self._worker = None
        self._waiting: tuple | None = None  # (draft, embedding, backend, chain) to predict next
        self._running: tuple | None = None  # (draft, embedding, backend) the worker predicts
        self.dropped = 0  # results that arrived for prompts that were no longer current
        self._synchronous = 0

    @property
    def predicting(self) -> bool:
        """Whether the current object's prediction is being computed in a worker."""
        return self._worker is not None and self.prediction is None and not self.draft.is_empty

    def refresh(self):
        """Predict the current object: here when the backend is fast, else in a worker (returns None then)."""
        d = self.draft
        emb = None if d.is_empty else self.embedding(d.slice_key)
        here = self._synchronous or (self._worker is None and not self.times.is_slow(self.backend))
        if emb is None or here:
            start = time.perf_counter()
            pred = super().refresh()
            if emb is not None:
                self.times.record(self.backend, time.perf_counter() - start)
            return pred
        self.prediction = None
        running = self._running
        if running and running[1] is emb and running[2] is self.backend and _same(running[0], d):
            self._waiting = None  # the worker is on it already
            return None
        self._waiting = (d, emb, self.backend, self._chain)
        if self._worker is None:
            self._start_next()
        return None

    def look_ahead(self, slice_key, prompts) -> bool:
        """As :meth:`AnnotationSession.look_ahead`, for backends that answer in the GUI thread only.

        A slow backend would freeze the viewer while the pointer merely rests,
        and while a worker runs the chain is the worker's: nothing is done then.
        """
        if self._worker is not None or self._synchronous or self.times.is_slow(self.backend):
            return False
        start = time.perf_counter()
        kept = super().look_ahead(slice_key, prompts)
        if kept:
            self.times.record(self.backend, time.perf_counter() - start)
        return kept

    def set_backend(self, backend: Backend) -> None:
        # A running worker keeps the old chain; the new backend starts a fresh one (AnnotationSession.set_backend).
        self._waiting = None
        super().set_backend(backend)

    @contextmanager
    def synchronous(self) -> Iterator[None]:
        """Predict in the calling thread inside this block (replaying saved prompts commits each answer at once)."""
        self.wait()
        self._synchronous += 1
        try:
            yield
        finally:
            self._synchronous -= 1

    def wait(self, timeout: float = 30.0) -> None:
        """Block until no worker runs (scripts and tests; the GUI never calls this)."""
        from qtpy.QtWidgets import QApplication

        end = time.monotonic() + timeout
        while self._worker is not None and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.005)

    # ----------------------------------------------------------- workers
    def _start_next(self) -> None:
        job, self._waiting = self._waiting, None
        if job is None:
            return
        draft, emb, backend, chain = job
        worker = create_worker(_predict, chain, backend, emb, draft, _start_thread=False,
                               _connect={"errored": self._failed})
        worker.returned.connect(lambda result: self._arrived(draft, backend, result))
        self._worker, self._running = worker, (draft, emb, backend)
        start_worker(worker)

    def _arrived(self, draft: Draft, backend: Backend, result: tuple) -> None:
        pred, seconds = result
        self._worker, self._running = None, None
        self.times.record(backend, seconds)
        current = self._waiting is None and backend is self.backend and _same(draft, self.draft)
        if current:
            self.prediction = pred
            self._on_predicted(self)
        else:
            self.dropped += 1
            self._start_next()

    def _failed(self, exc: Exception) -> None:
        self._worker, self._running = None, None
        self._on_error(exc)
        self._start_next()


def _predict(chain: PredictionChain, backend: Backend, emb, draft: Draft) -> tuple:
    """In the worker: one (memoised) prediction of ``draft`` and the CPU seconds its thread spent on it."""
    start = time.thread_time()
    pred = chain.predict(backend, emb, draft.prompts)
    return pred, time.thread_time() - start


def _same(a: Draft, b: Draft) -> bool:
    if a.is_empty or b.is_empty:
        return a.is_empty and b.is_empty
    return a.slice_key == b.slice_key and a.prompts.same_as(b.prompts)
