"""A running propagation or Segment all locks the commands that change the objects (issue: one object split in two).

Driven as a user does: Propagate / Segment all pressed, then the Commit
button, the keys (Qt key events on the canvas, real modifiers) and canvas
clicks (vispy events) while the job is held at its start; then it is let go.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from qtpy.QtCore import Qt
from vispy.util import keys

from canvas_events import click
from sam2_fixture import drifting_disc_stack, tiny_tracker_model

import promptseg._napari.objects_panel as objects_panel
from promptseg.backends import load_backend
from promptseg.backends.sam2 import Sam2Backend
from promptseg.data import synthetic_nuclei_2d
from promptseg.session.memory_propagation import MemoryPropagation

pytestmark = pytest.mark.gui

K = Qt.Key
MOD = Qt.KeyboardModifier


def _key(viewer, qtbot, key, modifier=MOD.NoModifier) -> None:
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, key, modifier)
    qtbot.wait(10)


def _hold(monkeypatch, owner, name: str) -> threading.Event:
    """Make the job ``owner.name`` wait (in its worker thread) until the returned event is set."""
    gate = threading.Event()
    original = getattr(owner, name)

    def held(*args, **kwargs):
        gate.wait(60)
        result = yield from original(*args, **kwargs)
        return result

    monkeypatch.setattr(owner, name, held)
    return gate


def _every_command(viewer, widget, qtbot, at: tuple[int, int]) -> None:
    """Commit button, C, Shift+C, Ctrl+Z, Ctrl+Shift+Z, D and M over ``at``, a click and a Shift-click there."""
    qtbot.mouseClick(widget.panel.commit, Qt.LeftButton)
    for key, modifier in ((K.Key_C, MOD.NoModifier), (K.Key_C, MOD.ShiftModifier), (K.Key_Z, MOD.ControlModifier),
                          (K.Key_Z, MOD.ControlModifier | MOD.ShiftModifier)):
        _key(viewer, qtbot, key, modifier)
    click(viewer, qtbot, *at)
    click(viewer, qtbot, *at, modifiers=(keys.SHIFT,))
    _key(viewer, qtbot, K.Key_D)  # the pointer rests over ``at`` after the clicks
    _key(viewer, qtbot, K.Key_M)


def test_commit_undo_and_clicks_wait_for_a_running_propagation(annotator, monkeypatch, qtbot) -> None:
    backend = Sam2Backend(tiny_tracker_model(), name="tiny-tracker", checkpoint_hash="test")
    viewer, widget = annotator(drifting_disc_stack(), backend)
    viewer.dims.set_point(0, 2)
    qtbot.waitUntil(lambda: widget.session.embedding((2,)) is not None and not widget.encoder.busy, timeout=30000)
    panel, buttons = widget.propagate_panel, widget.panel
    click(viewer, qtbot, 20, 21)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    draft, points = widget.session.draft, np.asarray(widget.layers.points.data).copy()
    gate = _hold(monkeypatch, MemoryPropagation, "run")
    qtbot.mouseClick(panel.run, Qt.LeftButton)
    assert panel.worker is not None
    assert not any(b.isEnabled() for b in (buttons.commit, buttons.clear, buttons.undo, buttons.redo))
    _every_command(viewer, widget, qtbot, (30, 40))
    assert widget.session.draft is draft  # nothing committed, cleared, undone or added
    np.testing.assert_array_equal(np.asarray(widget.layers.points.data), points)
    assert not widget.layers.objects.data.any() and widget.session.committed == []
    assert buttons.status.text() == "Propagation running: wait for it or press Stop."
    gate.set()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120000)
    objects = widget.layers.objects.data
    assert set(np.unique(objects).tolist()) == {0, 1} and [o.label for o in widget.session.committed] == [1]
    assert all(b.isEnabled() for b in (buttons.commit, buttons.clear, buttons.undo, buttons.redo))
    click(viewer, qtbot, 30, 40)  # clicks work again
    assert len(widget.layers.points.data) == 1


def test_segment_all_locks_the_objects_until_it_has_written_them(annotator, monkeypatch, qtbot) -> None:
    blobs = synthetic_nuclei_2d((96, 96), n_nuclei=6, seed=3)
    viewer, widget = annotator(blobs.image, load_backend("classic"))
    qtbot.wait(50)  # the dock fits the image to the canvas once shown: before the clicks centre the camera
    rows, cols = np.nonzero(blobs.labels == 1)
    i = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    inside = int(rows[i]), int(cols[i])
    click(viewer, qtbot, *inside)
    _key(viewer, qtbot, K.Key_C)
    before = np.asarray(widget.layers.objects.data).copy()
    assert before[inside] == 1
    panel = widget.objects_panel
    gate = _hold(monkeypatch, objects_panel, "_segment_slices")
    qtbot.mouseClick(panel.run, Qt.LeftButton)
    assert panel.worker is not None and not widget.panel.undo.isEnabled()
    _every_command(viewer, widget, qtbot, inside)  # over object 1: no pick-up, delete or merge either
    assert widget.session.draft.is_empty and len(widget.layers.points.data) == 0
    np.testing.assert_array_equal(np.asarray(widget.layers.objects.data), before)
    assert widget.panel.status.text() == "Segment all running: wait for it or press Cancel."
    gate.set()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=30000)
    after = np.asarray(widget.layers.objects.data)
    assert after.max() > 1 and (after[before == 1] == 1).all()
    _key(viewer, qtbot, K.Key_Z, MOD.ControlModifier)  # undo works again: Segment all's step
    np.testing.assert_array_equal(np.asarray(widget.layers.objects.data), before)
