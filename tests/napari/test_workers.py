"""Torch work runs in threads that end with their job, so no idle OpenMP team slows the GUI thread's clicks."""

from __future__ import annotations

import threading

import pytest

from promptseg._napari.workers import start_worker

pytestmark = pytest.mark.gui


def _thread_ident() -> int:
    return threading.get_ident()


def test_worker_runs_in_its_own_thread_which_ends(qtbot):
    from napari.qt.threading import WorkerBase, create_worker

    gui_thread = threading.get_ident()
    worker = create_worker(_thread_ident, _start_thread=False)
    with qtbot.waitSignal(worker.returned, timeout=10000) as returned:
        thread = start_worker(worker)
        assert worker in WorkerBase._worker_set  # napari can ask it to quit at shutdown
    assert returned.args[0] not in (gui_thread, None)
    thread.join(timeout=5)
    assert not thread.is_alive()  # no idle thread (with its OpenMP team) stays behind
    qtbot.waitUntil(lambda: worker not in WorkerBase._worker_set, timeout=5000)


def test_back_to_back_workers_all_run(qtbot):
    """Each job runs, also when started the moment the previous one ended (a Qt 5 pool with no idle time can drop it)."""
    from napari.qt.threading import create_worker

    seen = []
    for _ in range(20):
        worker = create_worker(_thread_ident, _start_thread=False)
        worker.returned.connect(seen.append)
        with qtbot.waitSignal(worker.finished, timeout=10000):
            start_worker(worker)
    assert len(seen) == 20


def test_starting_twice_is_refused(qtbot):
    from napari.qt.threading import create_worker

    worker = create_worker(_thread_ident, _start_thread=False)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        start_worker(worker)
        with pytest.raises(RuntimeError, match="already started"):
            start_worker(worker)


def test_started_from_an_event_handler_runs_after_it(qtbot):
    """From inside the event loop the thread starts once the handler returned, and it does start."""
    from napari.qt.threading import create_worker
    from qtpy.QtCore import QTimer

    order = []
    worker = create_worker(lambda: order.append("job") or threading.get_ident(), _start_thread=False)

    def handler():
        start_worker(worker)
        order.append("handler returned")

    with qtbot.waitSignal(worker.finished, timeout=10000):
        QTimer.singleShot(0, handler)
    assert order == ["handler returned", "job"]
