"""Slow backends predict in a worker: the GUI thread never waits, stale answers are dropped, commits are safe."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from disk_backend import DiskBackend
from promptseg._napari.widget_session import RECENT, SLOW_SECONDS, PredictTimes

pytestmark = pytest.mark.gui


def _compute(seconds: float) -> None:
    """Keep the calling thread's CPU busy for ``seconds`` of its CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class SleepyDisks(DiskBackend):
    """Disks, after computing longer than the slow threshold."""

    name = "sleepy"
    backend_id = "sleepy:1"

    def predict(self, embedding, *args, **kwargs):
        _compute(SLOW_SECONDS * 1.5)
        return super().predict(embedding, *args, **kwargs)


class CrowdedDisks(DiskBackend):
    """Disks, computed at once, but in a worker only after waiting longer than the slow threshold
    (as a worker's prediction waits for CPUs the viewer's drawing holds)."""

    name = "crowded"
    backend_id = "crowded:1"

    def predict(self, embedding, *args, **kwargs):
        _compute(0.005)
        if threading.current_thread() is not threading.main_thread():
            time.sleep(SLOW_SECONDS * 1.5)
        return super().predict(embedding, *args, **kwargs)


class GatedDisks(DiskBackend):
    """Disks, answered only once the test opens the gate."""

    name = "gated"
    backend_id = "gated:1"

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, embedding, *args, **kwargs):
        if not self.gate.wait(timeout=10):
            raise RuntimeError("the test never opened the gate")
        return super().predict(embedding, *args, **kwargs)


def _preview(widget) -> np.ndarray:
    return np.asarray(widget.layers.preview.data) > 0


def _settle(widget, qtbot) -> None:
    qtbot.waitUntil(lambda: widget.session._worker is None, timeout=20000)


def test_predict_times_decide_where_predict_runs() -> None:
    times = PredictTimes()
    fast, slow = DiskBackend(), SleepyDisks()
    assert not times.is_slow(fast) and not times.is_slow(slow)  # unknown and not measured: GUI thread
    times.record(slow, 0.3)
    times.record(fast, 0.0001)  # a memoised answer is no measurement
    assert times.is_slow(slow) and not times.is_slow(fast) and fast.backend_id not in times.seconds

    class RandomWalkerLike(DiskBackend):
        name, backend_id = "random_walker", "rw:1"

    assert times.is_slow(RandomWalkerLike())  # assumed slow until measured
    times.record(RandomWalkerLike(), 0.02)
    assert not times.is_slow(RandomWalkerLike())


def test_one_slow_call_does_not_move_a_fast_backend() -> None:
    times = PredictTimes(threshold=0.1)
    fast = DiskBackend()
    for seconds in (0.03, 0.04, 0.5):  # the third call met a garbage collection
        times.record(fast, seconds)
    assert not times.is_slow(fast) and times.estimate(fast) == pytest.approx(0.04)
    for seconds in (0.4, 0.6):  # slow for good now: most recent calls are slow
        times.record(fast, seconds)
    assert times.is_slow(fast)
    for seconds in (0.02,) * 5:  # only the last RECENT calls count
        times.record(fast, seconds)
    assert times.estimate(fast) == pytest.approx(0.02)


def test_a_measured_slow_backend_moves_to_a_worker(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, SleepyDisks(), slow_seconds=SLOW_SECONDS)
    points = widget.layers.points
    points.add([20, 20])
    assert widget.session.prediction is not None  # first answer in the GUI thread: measured slow
    assert widget.predict_times.is_slow(widget.session.backend)
    points.add([40, 40])
    assert widget.session.predicting and widget.session.prediction is None  # returned before the answer
    assert _preview(widget)[20, 20] and not _preview(widget)[40, 40]  # the last mask stays meanwhile
    assert "Predicting" in widget.panel.status.text()
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    assert _preview(widget)[40, 40] and _preview(widget)[20, 20]
    assert widget.commit() == 1


def test_a_fast_backend_sent_to_a_worker_comes_back(annotator, image_2d, qtbot) -> None:
    backend = CrowdedDisks()
    viewer, widget = annotator(image_2d, backend, slow_seconds=SLOW_SECONDS)
    for _ in range(RECENT):  # a burst of slow calls (the machine was busy) sent it to a worker
        widget.predict_times.record(backend, 0.5)
    points, session = widget.layers.points, widget.session
    for k in range(RECENT // 2 + 1):  # a worker's wall time is inflated; its thread's CPU time is not
        points.add([20, 20 + 5 * k])
        assert session.predicting, k
        qtbot.waitUntil(lambda: session.prediction is not None, timeout=20000)
        _settle(widget, qtbot)
    assert not widget.predict_times.is_slow(backend)
    assert widget.predict_times.estimate(backend) < SLOW_SECONDS / 4
    points.add([45, 45])  # answered in the GUI thread again
    assert not session.predicting and _preview(widget)[45, 45]


def test_newer_prompts_supersede_and_commits_are_never_lost(annotator, image_2d, qtbot) -> None:
    backend = GatedDisks()
    viewer, widget = annotator(image_2d, backend)
    widget.predict_times.seconds[backend.backend_id] = 1.0
    points, objects, session = widget.layers.points, widget.layers.objects, widget.session
    try:
        backend.gate.clear()
        points.add([20, 20])  # the worker blocks on the gate; the GUI thread goes on
        points.add([20, 30])
        points.add([45, 45])
        qtbot.wait(50)
        assert session.predicting and len(points.data) == 3
        assert widget.commit() is None and objects.data.max() == 0  # nothing to commit yet
        backend.gate.set()
        qtbot.waitUntil(lambda: session.prediction is not None, timeout=20000)
        _settle(widget, qtbot)
        assert session.dropped >= 1  # the answer to the first click alone was never shown
        expected = backend.predict(session.embedding(()), points=[(20, 20), (20, 30), (45, 45)], labels=[1, 1, 1]).mask
        np.testing.assert_array_equal(_preview(widget), expected)
        assert widget.commit() == 1
        committed = objects.data.copy()

        widget.predict_times.seconds[backend.backend_id] = 1.0  # the open gate was measured fast
        backend.gate.clear()
        points.add([10, 50])  # next object, answer pending...
        assert session.predicting
        widget.undo()  # ...and taken back before it arrives
        backend.gate.set()
        _settle(widget, qtbot)
        assert session.prediction is None and not _preview(widget).any()  # the late answer was dropped
        np.testing.assert_array_equal(objects.data, committed)  # the commit is intact
        widget.undo()  # the commit itself is still undoable
        assert objects.data.max() == 0
    finally:
        backend.gate.set()
        _settle(widget, qtbot)


def test_import_prompts_with_a_slow_backend(annotator, image_2d, qtbot, tmp_path) -> None:
    backend = GatedDisks()
    viewer, widget = annotator(image_2d, backend)
    widget.predict_times.seconds[backend.backend_id] = 1.0
    for click in ([20, 20], [45, 45]):
        widget.layers.points.add(click)
        qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
        widget.predict_times.seconds[backend.backend_id] = 1.0
        assert widget.commit() is not None
    path = widget.export_prompts(tmp_path / "prompts.json")
    backend2 = GatedDisks()
    viewer2, widget2 = annotator(image_2d, backend2)
    widget2.predict_times.seconds[backend2.backend_id] = 1.0
    assert widget2.import_prompts(path) == []  # replayed in the GUI thread: each answer is committed at once
    np.testing.assert_array_equal(widget2.layers.objects.data, widget.layers.objects.data)
    # the replay measured the real (fast) backend when the machine was slow enough to record it
    widget2.predict_times.seconds[backend2.backend_id] = 1.0
    widget2.layers.points.add([10, 50])  # and clicks go back to the worker afterwards
    assert widget2.session.predicting
    _settle(widget2, qtbot)
