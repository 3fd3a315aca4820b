"""A running propagation or Segment all locks the commands that change the objects (issue: one object split in two).

Driven as a user does: Propagate / Segment all pressed, then the Commit
button, the keys (Qt key events on the canvas, real modifiers) and canvas
clicks (vispy events) while the job is held at its start; then it is let go.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
from qtpy.QtCore import Qt
from vispy.util import keys

from canvas_events import click
from sam2_fixture import drifting_disc_stack, tiny_tracker_model

import promptseg._napari.find_similar as find_similar_panel
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


def _centre(mask: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(mask)
    i = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    return int(rows[i]), int(cols[i])


def test_find_similar_locks_the_objects_and_a_deleted_point_comes_back(annotator, monkeypatch, qtbot) -> None:
    blobs = synthetic_nuclei_2d((96, 96), n_nuclei=6, seed=3)
    viewer, widget = annotator(blobs.image, load_backend("classic"))
    qtbot.wait(50)
    first, second = _centre(blobs.labels == 1), _centre(blobs.labels == 2)
    click(viewer, qtbot, *first)
    _key(viewer, qtbot, K.Key_C)  # object 1: the exemplar
    click(viewer, qtbot, *second)  # the current object: one point
    draft, objects = widget.session.draft, np.asarray(widget.layers.objects.data).copy()
    points = widget.layers.points
    assert len(points.data) == 1
    panel = widget.find_similar_panel
    gate = _hold(monkeypatch, find_similar_panel, "_run")
    qtbot.mouseClick(panel.run, Qt.LeftButton)
    assert panel.worker is not None and not widget.panel.commit.isEnabled()
    _every_command(viewer, widget, qtbot, second)
    # napari's own Delete key removes the selected point without any mouse press: the layers show it again
    viewer.layers.selection.active = points
    points.selected_data = {0}
    _key(viewer, qtbot, K.Key_Delete)
    assert len(points.data) == 1 and widget.session.draft is draft
    np.testing.assert_array_equal(np.asarray(widget.layers.objects.data), objects)
    assert widget.panel.status.text() == "Find similar running: wait for it."
    gate.set()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=30000)
    assert widget.panel.commit.isEnabled() and panel.proposals
    viewer.layers.selection.active = points  # the proposals layer was made active when shown
    points.selected_data = {0}
    _key(viewer, qtbot, K.Key_Delete)  # the job has ended: Delete deletes
    assert len(points.data) == 0 and widget.session.draft.is_empty


def test_the_series_stays_on_its_image_while_segment_all_runs(make_napari_viewer, monkeypatch, qtbot,
                                                             tmp_path) -> None:
    from promptseg._napari.annotator import AnnotatorWidget

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"cells_{i}.tif", synthetic_nuclei_2d((64, 64), n_nuclei=4, seed=i).image)
    viewer = make_napari_viewer(show=True)
    widget = AnnotatorWidget(viewer, backend=load_backend("classic"))
    viewer.window.add_dock_widget(widget)
    series = widget.series_panel
    qtbot.wait(50)
    qtbot.mouseClick(widget.panel.section_headers["Image series"], Qt.LeftButton)  # unfold the section
    qtbot.waitUntil(series.next.isVisible, timeout=2000)
    assert series.open_folder(folder) == 0
    qtbot.waitUntil(lambda: widget.session.embedding(()) is not None and not widget.encoder.busy, timeout=20000)
    gate = _hold(monkeypatch, objects_panel, "_segment_slices")
    qtbot.mouseClick(widget.objects_panel.run, Qt.LeftButton)
    assert widget.objects_panel.worker is not None
    qtbot.mouseClick(series.next, Qt.LeftButton)  # the job's objects belong to this image: Next waits
    assert series.index == 0 and widget.image_layer.name == "cells_0.tif"
    assert not (folder / "cells_0.labels.tif").exists()
    assert widget.panel.status.text() == "Segment all running: wait for it or press Cancel."
    assert series.open_folder(folder) is None and series.index == 0
    gate.set()
    qtbot.waitUntil(lambda: widget.objects_panel.worker is None, timeout=30000)
    assert widget.layers.objects.data.max() > 0
    qtbot.mouseClick(series.next, Qt.LeftButton)
    assert series.index == 1 and widget.image_layer.name == "cells_1.tif"
    saved = tifffile.imread(folder / "cells_0.labels.tif")
    assert saved.max() > 0
