"""Torch work runs in threads that end with their job, so no idle OpenMP team slows the GUI thread's clicks."""

from __future__ import annotations

import threading

import pytest

from promptseg._napari.workers import compute_pool, start_worker

pytestmark = pytest.mark.gui


def _thread_ident() -> int:
    return threading.get_ident()


def test_worker_runs_in_compute_pool_and_its_thread_ends(qtbot):
    from napari.qt.threading import WorkerBase, create_worker

    gui_thread = threading.get_ident()
    worker = create_worker(_thread_ident, _start_thread=False)
    with qtbot.waitSignal(worker.returned, timeout=10000) as returned:
        start_worker(worker)
        assert worker in WorkerBase._worker_set  # napari can ask it to quit at shutdown
    assert returned.args[0] != gui_thread
    qtbot.waitUntil(lambda: compute_pool().activeThreadCount() == 0, timeout=5000)
    qtbot.waitUntil(lambda: worker not in WorkerBase._worker_set, timeout=5000)
    # expiry 0: the pool keeps no idle thread (with its OpenMP team) alive
    assert compute_pool().expiryTimeout() == 0


def test_starting_twice_is_refused(qtbot):
    from napari.qt.threading import create_worker

    worker = create_worker(_thread_ident, _start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        start_worker(worker)
        with pytest.raises(RuntimeError, match="already started"):
            start_worker(worker)
