"""3D propagation with SAM 2.1 memory from the annotator: real canvas clicks and button presses, correction, Stop."""

from __future__ import annotations

import numpy as np
import pytest
from canvas_events import click
from qtpy.QtCore import Qt
from sam2_fixture import drifting_disc_stack, tiny_tracker_model

from promptseg.backends.sam2 import Sam2Backend
from promptseg.session.memory_propagation import MemoryPropagation

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def backend():
    return Sam2Backend(tiny_tracker_model(), name="tiny-tracker", checkpoint_hash="test")


def _open(annotator, backend, qtbot, z: int):
    viewer, widget = annotator(drifting_disc_stack(), backend)
    viewer.dims.set_point(0, z)
    qtbot.waitUntil(lambda: widget.session.embedding((z,)) is not None and not widget.encoder.busy, timeout=30000)
    return viewer, widget


def _press(qtbot, button, panel) -> None:
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120000)


def _object_1_propagated(annotator, backend, qtbot):
    """(viewer, widget, panel) after a click on the object on slice 2 and Propagate: object 1 on every slice."""
    viewer, widget = _open(annotator, backend, qtbot, 2)
    panel = widget.propagate_panel
    click(viewer, qtbot, 20, 21)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    _press(qtbot, panel.run, panel)
    return viewer, widget, panel


def test_track_correct_and_track_again(annotator, backend, qtbot) -> None:
    viewer, widget = _open(annotator, backend, qtbot, 2)
    panel = widget.propagate_panel
    click(viewer, qtbot, 20, 21)  # the object on slice 2
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    tracked = []
    panel.run.clicked.connect(lambda: tracked.append(panel.worker))
    _press(qtbot, panel.run, panel)
    assert tracked[0] is not None and tracked[0].pbar.desc == "PromptSeg: propagating"  # a progress bar
    objects = widget.layers.objects.data
    assert set(np.unique(objects).tolist()) <= {0, 1} and (objects[2] == 1).any()
    memory = panel._memory
    assert isinstance(memory, MemoryPropagation)
    tracker = memory.tracker(())
    assert tracker.object_ids == [1] and set(tracker.engine.tracks[1].conditioning) == {2}
    assert "Object 1 on slices" in panel.status.text()
    before = objects.copy()
    # a correction on slice 4: click there, choose object 1, propagate again
    viewer.dims.set_point(0, 4)
    qtbot.waitUntil(lambda: widget.session.embedding((4,)) is not None and not widget.encoder.busy, timeout=30000)
    click(viewer, qtbot, 20, 27)
    qtbot.waitUntil(lambda: widget.session.draft.slice_key == (4,), timeout=20000)
    panel.object.setValue(1)
    _press(qtbot, panel.run, panel)
    assert set(tracker.engine.tracks[1].conditioning) == {2, 4}  # both prompted slices are kept
    assert set(np.unique(widget.layers.objects.data).tolist()) <= {0, 1}
    widget.undo()  # the second propagation is one step
    np.testing.assert_array_equal(widget.layers.objects.data, before)


def test_the_panel_says_when_its_run_is_undone(annotator, backend, qtbot) -> None:
    viewer, widget, panel = _object_1_propagated(annotator, backend, qtbot)
    done = panel.status.text()
    assert done.endswith("Ctrl+Z undoes it.")
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not widget.layers.objects.data.any() and panel.status.text() == "Propagation undone."
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert widget.layers.objects.data.any() and panel.status.text() == done


def test_stop_writes_nothing(annotator, backend, qtbot) -> None:
    viewer, widget = _open(annotator, backend, qtbot, 0)
    panel = widget.propagate_panel
    click(viewer, qtbot, 20, 15)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    panel.run.clicked.connect(lambda: qtbot.mouseClick(panel.stop, Qt.LeftButton))  # Stop right after starting
    _press(qtbot, panel.run, panel)
    assert not widget.layers.objects.data.any()
    assert panel.status.text() == "Stopped: nothing was written."


def test_needs_clicks_or_a_box(annotator, backend, qtbot) -> None:
    viewer, widget = _open(annotator, backend, qtbot, 1)
    panel = widget.propagate_panel
    qtbot.mouseClick(panel.run, Qt.LeftButton)
    assert panel.worker is None and not widget.layers.objects.data.any()


def _tracked(panel, label: int, z: int) -> np.ndarray:
    return panel._memory.tracker(()).answers(z)[label].mask


def test_propagating_again_replaces_the_object(annotator, backend, qtbot) -> None:
    viewer, widget, panel = _object_1_propagated(annotator, backend, qtbot)
    objects = widget.layers.objects.data
    # what a larger earlier answer (or the user's paint) left of object 1, and object 2 on slices 0-1
    objects[:, 0:4, 0:6] = 1
    objects[:2, 36:40, 0:6] = 2
    widget.layers.objects.refresh()
    before = objects.copy()
    viewer.dims.set_point(0, 4)
    qtbot.waitUntil(lambda: widget.session.embedding((4,)) is not None and not widget.encoder.busy, timeout=30000)
    click(viewer, qtbot, 20, 27)  # the correction
    qtbot.waitUntil(lambda: widget.session.draft.slice_key == (4,), timeout=20000)
    panel.object.setValue(1)
    _press(qtbot, panel.run, panel)
    stale = 0
    for z in range(6):  # object 1 is the tracked mask on every slice, nothing of the old one is left
        expected = _tracked(panel, 1, z) & (before[z] != 2)
        np.testing.assert_array_equal(objects[z] == 1, expected, err_msg=f"slice {z}")
        np.testing.assert_array_equal(objects[z] == 2, before[z] == 2)  # the other object untouched
        stale += int(((before[z] == 1) & ~expected).sum())
    assert stale > 0  # there were old pixels to clear
    assert "Object 1 on slices 0–5" in panel.status.text()
    qtbot.mouseClick(widget.panel.undo, Qt.LeftButton)  # one step, restored exactly
    np.testing.assert_array_equal(widget.layers.objects.data, before)


def test_all_objects_on_the_slice_are_tracked(annotator, backend, qtbot) -> None:
    stack = drifting_disc_stack()
    rows, cols = np.mgrid[:40, :50]
    stack[:, (rows - 8) ** 2 + (cols - 40) ** 2 < 16] = 200  # a second, still disc
    viewer, widget = annotator(stack, backend)
    viewer.dims.set_point(0, 2)
    qtbot.waitUntil(lambda: widget.session.embedding((2,)) is not None and not widget.encoder.busy, timeout=30000)
    panel = widget.propagate_panel
    assert panel.all_objects.isChecked()
    click(viewer, qtbot, 20, 21)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    qtbot.mouseClick(widget.panel.commit, Qt.LeftButton)  # object 1, on slice 2 only
    objects = widget.layers.objects.data
    assert (objects[2] == 1).any() and not (objects[[0, 1, 3, 4, 5]] == 1).any()
    committed = objects.copy()
    click(viewer, qtbot, 8, 40)  # the current object (2), not committed
    qtbot.waitUntil(lambda: widget.session.draft.slice_key == (2,) and widget.session.prediction is not None,
                    timeout=20000)
    started = []
    panel.run.clicked.connect(lambda: started.append(panel.status.text()))
    _press(qtbot, panel.run, panel)
    assert started == ["Propagating 2 object(s) from slice 2 over 0–5…"]
    tracker = panel._memory.tracker(())
    assert tracker.object_ids == [2, 1]  # the current object, then the committed one from its mask
    assert all(2 in tracker.engine.tracks[i].conditioning for i in (1, 2))
    assert tracker.engine.tracks[1].conditioning[2].iou == 1.0  # the committed mask is its answer there
    given, kept = committed[2] == 1, _tracked(panel, 1, 2)  # the mask through the model's input size and back
    assert (given & kept).sum() / (given | kept).sum() > 0.8
    for z in range(6):  # both written, ids kept; the current object wins where they overlap
        m1 = committed[2] == 1 if z == 2 else _tracked(panel, 1, z)  # the committed mask stays as it was
        m2 = _tracked(panel, 2, z)
        np.testing.assert_array_equal(objects[z], np.where(m2, 2, np.where(m1, 1, 0)), err_msg=f"slice {z}")
    assert (objects[[0, 1, 3, 4, 5]] == 1).any()  # object 1 carried to other slices
    assert "Objects 2, 1 on slices 0–5" in panel.status.text()
    assert [o.label for o in widget.session.committed] == [1, 2]
    qtbot.mouseClick(widget.panel.undo, Qt.LeftButton)
    np.testing.assert_array_equal(widget.layers.objects.data, committed)


def test_the_status_names_the_object_a_correction_is_for(annotator, backend, qtbot) -> None:
    viewer, widget, panel = _object_1_propagated(annotator, backend, qtbot)
    viewer.dims.set_point(0, 4)
    qtbot.waitUntil(lambda: widget.session.embedding((4,)) is not None and not widget.encoder.busy, timeout=30000)
    click(viewer, qtbot, 20, 27)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    status = widget.panel.status
    assert status.text().startswith("Object 2: ")
    qtbot.keyClick(panel.object, Qt.Key.Key_Up)  # Object: 1
    assert panel.object.value() == 1
    assert status.text().startswith("Correction of object 1: ")
    assert status.text().endswith("Propagate applies it (C commits it as new object 2).")
    qtbot.keyClick(panel.object, Qt.Key.Key_Down)  # back to the current object: a new object
    assert status.text().startswith("Object 2: ") and status.text().endswith("C commits it.")
