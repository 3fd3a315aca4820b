"""Segment all, pick-up, delete, merge and adopted labels in the annotator dock (issue 20 item 5, issue 22 item 4).

Driven as a user does: the panel's buttons clicked, vispy mouse events through
the canvas with vispy's modifier keys, Qt key events on the canvas.
"""

from __future__ import annotations

import numpy as np
import pytest
from vispy.util import keys

from canvas_events import centre, choose, click

from promptseg.backends import load_backend
from promptseg.data import synthetic_nuclei_2d

pytestmark = pytest.mark.gui


@pytest.fixture
def blobs():
    return synthetic_nuclei_2d((96, 96), n_nuclei=6, seed=3)


def _key(viewer, qtbot, key, modifier=None) -> None:
    from qtpy.QtCore import Qt

    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, key, modifier or Qt.KeyboardModifier.NoModifier)
    qtbot.wait(10)


def _hover(viewer, qtbot, row, col) -> None:
    scene, pos = centre(viewer, qtbot, row, col)
    scene.events.mouse_move(pos=pos, modifiers=(), button=None)
    qtbot.wait(10)


def _segment_all(widget, qtbot) -> None:
    from qtpy.QtCore import Qt

    panel = widget.objects_panel
    qtbot.mouseClick(panel.run, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.worker is not None, timeout=5000)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=30000)


def _centroid(labels: np.ndarray, label: int) -> tuple[int, int]:
    rows, cols = np.nonzero(labels == label)
    i = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    return int(rows[i]), int(cols[i])


def test_segment_all_writes_the_objects_after_the_existing_ones_in_one_undo_step(annotator, blobs, qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, widget = annotator(blobs.image, load_backend("classic"))
    r, c = _centroid(blobs.labels, 1)
    click(viewer, qtbot, r, c)
    _key(viewer, qtbot, Qt.Key.Key_C)
    objects = widget.layers.objects
    first = np.asarray(objects.data).copy()
    assert set(np.unique(first)) == {0, 1}
    _segment_all(widget, qtbot)
    after = np.asarray(objects.data).copy()
    ids = set(np.unique(after).tolist()) - {0, 1}
    assert len(ids) >= 4 and min(ids) == 2  # new ids follow the existing one
    assert (after[first == 1] == 1).all()  # the existing object won where they overlap
    assert "objects on this slice" in widget.objects_panel.status.text()
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one step removes them all
    np.testing.assert_array_equal(np.asarray(objects.data), first)
    assert [o.label for o in widget.session.committed] == [1]
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(np.asarray(objects.data), after)


def test_shift_click_picks_an_object_up_a_negative_click_shrinks_it_and_commit_keeps_its_id(annotator, blobs,
                                                                                            qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, widget = annotator(blobs.image, load_backend("classic"))
    _segment_all(widget, qtbot)
    objects, points = widget.layers.objects, widget.layers.points
    start = np.asarray(objects.data).copy()
    label = int(start[_centroid(blobs.labels, 2)])
    assert label > 0
    r, c = _centroid(start, label)
    click(viewer, qtbot, r, c, modifiers=(keys.SHIFT,))
    assert len(points.data) == 0 and points.mode == "add"  # no prompt point for the Shift-click
    assert not (np.asarray(objects.data) == label).any()  # out of the objects while it is corrected
    np.testing.assert_array_equal(widget.session.draft.prompts.mask, start == label)
    preview = np.asarray(widget.layers.preview.data) > 0
    np.testing.assert_array_equal(preview, start == label)  # shown as it was, pixel for pixel
    rows, cols = np.nonzero(start == label)
    edge = (int(rows.max()) - 1, int(cols[rows.argmax()]))  # inside, at its lowest row
    click(viewer, qtbot, *edge, modifiers=(keys.CONTROL,))
    shrunk = np.asarray(widget.layers.preview.data) > 0
    assert not shrunk[edge] and shrunk.sum() < (start == label).sum()
    rr, cc = np.nonzero(preview)
    far = (rr - edge[0]) ** 2 + (cc - edge[1]) ** 2 > 8**2  # the correction is local: the rest stays as shown
    assert shrunk[rr[far], cc[far]].all()
    _key(viewer, qtbot, Qt.Key.Key_C)
    now = np.asarray(objects.data)
    assert (now == label).sum() == shrunk.sum() and now.max() == start.max()  # same id, no new one
    # Shift+C on a picked-up object restores it unchanged
    other = int(start[_centroid(blobs.labels, 3)])
    before = now.copy()
    click(viewer, qtbot, *_centroid(start, other), modifiers=(keys.SHIFT,))
    click(viewer, qtbot, *_centroid(start, other), modifiers=(keys.CONTROL,))
    _key(viewer, qtbot, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(np.asarray(objects.data), before)
    assert widget.session.draft.is_empty
    click(viewer, qtbot, 5, 5)  # a plain click starts a new object as before
    assert len(points.data) == 1


def test_d_deletes_and_m_merges_the_objects_under_the_pointer_each_undoable(annotator, blobs, qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, widget = annotator(blobs.image, load_backend("classic"))
    _segment_all(widget, qtbot)
    objects = widget.layers.objects
    start = np.asarray(objects.data).copy()
    a, b = (int(start[_centroid(blobs.labels, i)]) for i in (1, 2))
    assert a and b and a != b
    _hover(viewer, qtbot, *_centroid(start, a))
    _key(viewer, qtbot, Qt.Key.Key_D)
    assert not (np.asarray(objects.data) == a).any()
    assert a not in [o.label for o in widget.session.committed]
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(np.asarray(objects.data), start)
    _key(viewer, qtbot, Qt.Key.Key_M)  # the pointer is still over a
    _hover(viewer, qtbot, *_centroid(start, b))
    _key(viewer, qtbot, Qt.Key.Key_M)
    merged = np.asarray(objects.data)
    assert not (merged == b).any() and (merged == a).sum() == ((start == a) | (start == b)).sum()
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(np.asarray(objects.data), start)


def test_a_labels_layer_is_adopted_with_its_ids_in_one_undo_step(annotator, blobs, qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, widget = annotator(blobs.image, load_backend("classic"))
    theirs = blobs.labels.astype(np.int32) * 10
    viewer.add_labels(np.zeros((50, 50), np.int32), name="wrong size")
    viewer.add_labels(theirs, name="cellpose")
    panel = widget.objects_panel
    objects = widget.layers.objects
    choose(qtbot, panel.labels_combo, "wrong size")
    qtbot.mouseClick(panel.adopt_button, Qt.MouseButton.LeftButton)
    assert "shape" in panel.status.text() and not np.asarray(objects.data).any()
    choose(qtbot, panel.labels_combo, "cellpose")
    qtbot.mouseClick(panel.adopt_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(np.asarray(objects.data), theirs)
    assert sorted(o.label for o in widget.session.committed) == sorted(set(np.unique(theirs).tolist()) - {0})
    viewer.layers.selection.active = widget.layers.points  # the added labels layer was selected: back to clicking
    r, c = _centroid(theirs, 20)
    click(viewer, qtbot, r, c, modifiers=(keys.SHIFT,))  # picked up like any object
    _key(viewer, qtbot, Qt.Key.Key_C)
    assert (np.asarray(objects.data)[r, c]) == 20
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the commit
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the pick-up
    np.testing.assert_array_equal(np.asarray(objects.data), theirs)
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the adoption, in one step
    assert not np.asarray(objects.data).any() and widget.session.committed == []


def test_segment_all_on_the_whole_stack_is_one_undo_step_and_cancel_writes_nothing(annotator, qtbot) -> None:
    from qtpy.QtCore import Qt

    from promptseg.data import synthetic_nuclei_3d

    stack = synthetic_nuclei_3d((12, 96, 96), n_nuclei=8, seed=2)
    viewer, widget = annotator(stack.image, load_backend("classic"))
    panel, objects = widget.objects_panel, widget.layers.objects
    choose(qtbot, panel.scope, "whole stack")
    qtbot.mouseClick(panel.run, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=30000)
    assert "nothing was written" in panel.status.text() and not np.asarray(objects.data).any()
    _segment_all(widget, qtbot)
    found = np.asarray(objects.data).copy()
    with_nuclei = [z for z in range(12) if stack.labels[z].any()]
    assert all(found[z].any() for z in with_nuclei)
    assert "12 slices" in panel.status.text()
    _key(viewer, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not np.asarray(objects.data).any() and widget.session.committed == []


def test_objects_are_not_added_while_an_object_is_picked_up(annotator, blobs, qtbot) -> None:
    from qtpy.QtCore import Qt

    viewer, widget = annotator(blobs.image, load_backend("classic"))
    _segment_all(widget, qtbot)
    objects = widget.layers.objects
    start = np.asarray(objects.data).copy()
    label = int(start[_centroid(blobs.labels, 4)])
    click(viewer, qtbot, *_centroid(start, label), modifiers=(keys.SHIFT,))
    lifted = np.asarray(objects.data).copy()
    qtbot.mouseClick(widget.objects_panel.run, Qt.MouseButton.LeftButton)  # would fill the picked-up object's place
    assert widget.objects_panel.worker is None and "current object first" in widget.objects_panel.status.text()
    np.testing.assert_array_equal(np.asarray(objects.data), lifted)
    _key(viewer, qtbot, Qt.Key.Key_C)
    np.testing.assert_array_equal(np.asarray(objects.data), start)  # back under its id, unchanged


def test_segment_all_with_a_sam_model_reuses_the_slice_embedding(annotator, blobs, qtbot, tiny_backend,
                                                                 monkeypatch) -> None:
    viewer, widget = annotator(blobs.image, tiny_backend)
    encoded = []
    real = tiny_backend.encode
    monkeypatch.setattr(tiny_backend, "encode", lambda *a, **k: encoded.append(1) or real(*a, **k))
    _segment_all(widget, qtbot)
    assert encoded == []  # the automatic mask generator ran on the embedding the clicks use
    assert "objects on this slice" in widget.objects_panel.status.text()
