"""Start napari workers in threads of their own that end with their job.

Why not napari's global thread pool: torch computes with OpenMP, and every OS
thread that runs a parallel torch operation gets its own team of OpenMP
helper threads, which lives as long as that thread.  napari's global
``QThreadPool`` keeps an idle thread alive for 30 s.  While it lives, libgomp
counts more managed threads than CPUs and its threads stop spin-waiting
between parallel regions, so each of the ~150 small operations of one click's
mask decoder pays a thread wake-up: on 2 cores a vit_t prediction in the GUI
thread took 49-60 ms with an idle encoder thread alive against 32-36 ms once it
had exited (figures in ``docs/annotator.md``).

So each job gets a plain Python thread, which runs the worker's ``run`` (its
signals reach the GUI thread queued, as from a pool thread) and exits at the
end, taking its OpenMP team with it.  Starting a thread costs well under a
millisecond.  (A private ``QThreadPool`` with ``setExpiryTimeout(0)`` would do
the same, but Qt 5 restarts expired thread objects of a pool, which races with
their exit at an expiry of 0.)
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Callable

from qtpy.QtCore import QThread, QTimer

#: Threads started here that may still run; joined (briefly) when Python exits.
_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
#: Threads waiting for the event handler that started them to return.
_PENDING: set[threading.Thread] = set()
#: Seconds each running job gets to end when Python exits (jobs napari asked to quit stop at their next step).
EXIT_JOIN_SECONDS = 10.0


def start_worker(worker) -> threading.Thread:
    """Run a napari/superqt worker (created with ``_start_thread=False``) in a new daemon thread.

    Does what ``WorkerBase.start`` does besides -- keeps the worker
    referenced until it finishes, so napari's shutdown can ask it to quit.

    Returns
    -------
    threading.Thread
        The thread; it ends when the worker's job does.  Called from an event
        handler, the thread starts once the handler has returned.

    Raises
    ------
    RuntimeError
        When the worker was started already.
    """
    workers = getattr(type(worker), "_worker_set", None)  # superqt's registry of running workers
    if getattr(worker, "_promptseg_started", False) or (workers is not None and worker in workers):
        raise RuntimeError("This worker is already started.")
    worker._promptseg_started = True
    if workers is not None:
        workers.add(worker)
        worker._finished.connect(worker._set_discard)
    thread = threading.Thread(target=worker.run, name=f"promptseg-{type(worker).__name__}", daemon=True)
    _THREADS.add(thread)
    if QThread.currentThread().loopLevel():
        # Called from an event handler: start once it has returned, as WorkerBase.start
        # does, so the job never runs while the GUI is still setting up what it reads.
        _PENDING.add(thread)  # referenced until it starts (Qt holds a bound method only weakly)
        QTimer.singleShot(1, lambda: _start_pending(worker, thread))
    else:
        _start(worker, thread)
    return thread


def before_start(worker, call: Callable[[], None]) -> None:
    """Have ``call()`` run in the GUI thread just before ``worker``'s thread starts (see :func:`start_worker`)."""
    worker.__dict__.setdefault("_promptseg_before_start", []).append(call)


def _start_pending(worker, thread: threading.Thread) -> None:
    _PENDING.discard(thread)
    _start(worker, thread)


def _start(worker, thread: threading.Thread) -> None:
    for call in worker.__dict__.pop("_promptseg_before_start", []):
        call()
    thread.start()


@atexit.register
def _join_running() -> None:
    """Let running jobs end before the interpreter tears down (a daemon thread inside torch at exit can crash)."""
    for thread in list(_THREADS):
        if thread.is_alive():
            thread.join(timeout=EXIT_JOIN_SECONDS)
