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
