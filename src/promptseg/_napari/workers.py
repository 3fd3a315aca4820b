"""Start napari workers in a thread pool whose threads end as soon as they are idle.

Why not napari's global pool: torch computes with OpenMP, and every OS thread
that runs a parallel torch operation gets its own team of OpenMP helper
threads, which lives as long as that thread.  napari's global
``QThreadPool`` keeps an idle thread alive for 30 s.  While it lives, libgomp
counts more managed threads than CPUs and its threads stop spin-waiting
between parallel regions, so each of the ~150 small operations of one click's
mask decoder pays a thread wake-up: on 2 cores a vit_t prediction in the GUI
thread took 49-60 ms with an idle encoder thread alive against 32-36 ms once it
had exited (``benchmarks/bench_annotator.py`` figures in ``docs/annotator.md``).

Threads of this pool exit when their job ends, taking their OpenMP team with
them, so the GUI thread's next click predicts at full speed.  A new thread per
job costs well under a millisecond.
"""

from __future__ import annotations

from qtpy.QtCore import QThreadPool

_POOL: QThreadPool | None = None


def compute_pool() -> QThreadPool:
    """The pool for workers that run torch (encoding, propagation, searches, slow predictions)."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setExpiryTimeout(0)  # an idle thread exits at once
    return _POOL


def start_worker(worker) -> None:
    """Start a napari/superqt worker (created with ``_start_thread=False``) in :func:`compute_pool`.

    Does what ``WorkerBase.start`` does -- keeps the worker referenced until it
    finishes, so napari's shutdown can ask it to quit -- but on this pool.
    Falls back to ``worker.start()`` (napari's pool) if that bookkeeping is not
    available in the installed superqt.
    """
    workers = getattr(type(worker), "_worker_set", None)
    finished = getattr(worker, "_finished", None)
    discard = getattr(worker, "_set_discard", None)
    if workers is None or finished is None or discard is None:
        worker.start()
        return
    if worker in workers:
        raise RuntimeError("This worker is already started.")
    workers.add(worker)
    finished.connect(discard)
    compute_pool().start(worker)
