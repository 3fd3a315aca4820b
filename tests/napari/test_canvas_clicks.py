"""Clicks on the canvas itself: vispy mouse events through napari's Points layer in add mode."""

from __future__ import annotations

import numpy as np
import pytest

from vispy.util import keys

from canvas_events import centre, click, qt_click
from disk_backend import RADIUS, DiskBackend

pytestmark = pytest.mark.gui


def test_canvas_click_adds_a_point_and_updates_the_preview(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points = widget.layers.points
    assert viewer.layers.selection.active is points and points.mode == "add"
    click(viewer, qtbot, 30, 20)
    assert len(points.data) == 1
    np.testing.assert_allclose(points.data[0], (30, 20), atol=1)
    preview = np.asarray(widget.layers.preview.data) > 0
    r, c = np.rint(points.data[0]).astype(int)
    assert preview[r, c] and preview.sum() == pytest.approx(np.pi * RADIUS**2, rel=0.3)
    assert widget.session.draft.prompts.labels.tolist() == [1]


@pytest.mark.parametrize("modifier", [keys.CONTROL, keys.ALT], ids=["ctrl", "alt"])
def test_ctrl_or_alt_click_on_the_canvas_is_negative(annotator, image_2d, qtbot, modifier) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points = widget.layers.points
    click(viewer, qtbot, 30, 30)
    click(viewer, qtbot, 30, 33, modifiers=(modifier,))  # carves a disk out of the first one
    assert points.features["positive"].tolist() == [True, False]
    assert widget.session.draft.prompts.labels.tolist() == [1, 0]
    preview = np.asarray(widget.layers.preview.data) > 0
    assert not preview[30, 33] and preview[30, 26]
    face = points.face_color
    assert not np.allclose(face[0], face[1])
    click(viewer, qtbot, 45, 45)  # the modifier applied to one click only
    assert points.features["positive"].tolist() == [True, False, True]
    assert (np.asarray(widget.layers.preview.data) > 0)[45, 45]


@pytest.mark.parametrize("modifier", ["ControlModifier", "AltModifier"])
def test_a_qt_ctrl_or_alt_click_on_the_canvas_widget_is_negative(annotator, image_2d, qtbot, modifier) -> None:
    """One level lower: a Qt mouse event with a Qt modifier, turned into vispy's event by vispy itself."""
    from qtpy.QtCore import Qt

    viewer, widget = annotator(image_2d, DiskBackend())
    qt_click(viewer, qtbot, 30, 30)
    qt_click(viewer, qtbot, 30, 33, getattr(Qt, modifier))
    assert widget.layers.points.features["positive"].tolist() == [True, False]
    assert widget.session.draft.prompts.labels.tolist() == [1, 0]
    assert not (np.asarray(widget.layers.preview.data) > 0)[30, 33]


def test_a_ctrl_click_is_negative_whatever_the_toggle_says(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    widget.toggle_polarity()  # negative clicks
    click(viewer, qtbot, 30, 30, modifiers=(keys.CONTROL,))
    widget.toggle_polarity()  # positive again
    click(viewer, qtbot, 40, 40)
    assert widget.layers.points.features["positive"].tolist() == [False, True]


def test_a_press_answers_the_click_before_its_release(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    backend = widget.session.backend
    scene, pos = centre(viewer, qtbot, 30, 20)
    scene.events.mouse_press(pos=pos, modifiers=(keys.CONTROL,), button=1)
    assert len(backend.calls) == 1 and backend.calls[0]["points"] is not None  # answered at the press
    assert not (np.asarray(widget.layers.preview.data) > 0).any()  # but nothing shown before the click is made
    scene.events.mouse_release(pos=pos, modifiers=(keys.CONTROL,), button=1)
    qtbot.wait(10)
    assert len(backend.calls) == 1  # the release added that very click: no second predict
    assert widget.session.draft.prompts.labels.tolist() == [0]
    np.testing.assert_array_equal(np.asarray(backend.calls[0]["points"]), widget.session.draft.prompts.points)


def test_the_answer_is_drawn_at_the_release_before_napari_adds_the_point(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points, preview = widget.layers.points, widget.layers.preview
    seen = []
    points.events.data.connect(lambda e: seen.append((str(e.action), int((np.asarray(preview.data) > 0).sum()))),
                               position="first")
    scene, pos = centre(viewer, qtbot, 30, 20)
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    scene.events.mouse_release(pos=pos, modifiers=(), button=1)
    qtbot.wait(10)
    assert seen and seen[0][1] > 0  # napari's first data event of the add found the mask drawn
    assert len(points.data) == 1
    widget.undo()
    assert len(points.data) == 0 and not (np.asarray(preview.data) > 0).any()
    assert not widget.session.history.can_undo  # the click was one undo step, not two


def test_a_drag_pans_and_answers_nothing(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    scene, pos = centre(viewer, qtbot, 30, 20)
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    far = (pos[0] + 40, pos[1])
    scene.events.mouse_move(pos=far, modifiers=(), button=1, press_event=None)
    scene.events.mouse_release(pos=far, modifiers=(), button=1)
    qtbot.wait(10)
    assert len(widget.layers.points.data) == 0 and widget.session.draft.is_empty
    assert not (np.asarray(widget.layers.preview.data) > 0).any()


def test_a_resting_pointer_answers_the_click_it_would_make(annotator, image_2d, qtbot) -> None:
    from promptseg._napari.click_ahead import LOOK_AHEAD_MS

    viewer, widget = annotator(image_2d, DiskBackend())
    backend = widget.session.backend
    click(viewer, qtbot, 30, 30)
    first = widget.session.prediction
    assert len(backend.calls) == 1
    scene, pos = centre(viewer, qtbot, 30, 38)
    scene.events.mouse_move(pos=(pos[0] - 3, pos[1]), modifiers=(), button=None)
    scene.events.mouse_move(pos=pos, modifiers=(), button=None)
    qtbot.wait(LOOK_AHEAD_MS + 100)
    assert len(backend.calls) == 2 and backend.calls[1]["previous"] is first  # the second click, fed the first
    assert widget.session.prediction is first and len(widget.layers.points.data) == 1  # nothing changed yet
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    scene.events.mouse_release(pos=pos, modifiers=(), button=1)
    qtbot.wait(10)
    assert len(backend.calls) == 2 and len(widget.layers.points.data) == 2
    preview = np.asarray(widget.layers.preview.data) > 0
    assert preview[30, 30] and preview[30, 38]


def test_slow_backends_are_not_asked_ahead(annotator, image_2d, qtbot) -> None:
    from promptseg._napari.click_ahead import LOOK_AHEAD_MS

    viewer, widget = annotator(image_2d, DiskBackend(), slow_seconds=-1.0)  # every backend counts as slow
    backend = widget.session.backend
    scene, pos = centre(viewer, qtbot, 30, 20)
    scene.events.mouse_move(pos=(pos[0] - 3, pos[1]), modifiers=(), button=None)
    scene.events.mouse_move(pos=pos, modifiers=(), button=None)
    qtbot.wait(LOOK_AHEAD_MS + 100)
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    assert backend.calls == []  # neither the resting pointer nor the press made it predict
    scene.events.mouse_release(pos=pos, modifiers=(), button=1)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=5000)  # answered by a worker
    assert len(backend.calls) == 1


def test_clicks_on_a_stack_are_answered_ahead_on_the_displayed_slice(annotator, stack_3d, qtbot) -> None:
    viewer, widget = annotator(stack_3d, DiskBackend())
    viewer.dims.set_current_step(0, 5)
    qtbot.waitUntil(lambda: widget.session.embedding((5,)) is not None and not widget.encoder.busy, timeout=20000)
    backend = widget.session.backend
    calls = len(backend.calls)
    scene, pos = centre(viewer, qtbot, 30, 20)
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    assert len(backend.calls) == calls + 1
    scene.events.mouse_release(pos=pos, modifiers=(), button=1)
    qtbot.wait(10)
    assert len(backend.calls) == calls + 1 and widget.session.draft.slice_key == (5,)
    preview = np.asarray(widget.layers.preview.data) > 0
    assert preview[5].any() and not preview[4].any() and not preview[6].any()
