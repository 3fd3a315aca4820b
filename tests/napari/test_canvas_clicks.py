"""Clicks on the canvas itself: vispy mouse events through napari's Points layer in add mode."""

from __future__ import annotations

import numpy as np
import pytest

from disk_backend import RADIUS, DiskBackend

pytestmark = pytest.mark.gui


def _click(viewer, qtbot, row: float, col: float, modifiers: tuple[str, ...] = ()) -> None:
    """Press and release the left button over image pixel (row, col).

    The camera is centred on the pixel first, so the click lands in the middle
    of the canvas whatever its size: napari's own tests simulate clicks the same
    way (``SceneCanvas.events.mouse_press`` / ``mouse_release``).
    """
    viewer.scene.camera.center = (row, col)
    qtbot.wait(10)
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    w, h = scene.size
    pos = (w / 2, h / 2)
    scene.events.mouse_press(pos=pos, modifiers=modifiers, button=1)
    scene.events.mouse_release(pos=pos, modifiers=modifiers, button=1)
    qtbot.wait(10)


def test_canvas_click_adds_a_point_and_updates_the_preview(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points = widget.layers.points
    assert viewer.layers.selection.active is points and points.mode == "add"
    _click(viewer, qtbot, 30, 20)
    assert len(points.data) == 1
    np.testing.assert_allclose(points.data[0], (30, 20), atol=1)
    preview = np.asarray(widget.layers.preview.data) > 0
    r, c = np.rint(points.data[0]).astype(int)
    assert preview[r, c] and preview.sum() == pytest.approx(np.pi * RADIUS**2, rel=0.3)
    assert widget.session.draft.prompts.labels.tolist() == [1]


def test_ctrl_click_on_the_canvas_is_negative(annotator, image_2d, qtbot) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points = widget.layers.points
    _click(viewer, qtbot, 30, 30)
    _click(viewer, qtbot, 30, 33, modifiers=("Control",))  # carves a disk out of the first one
    assert points.features["positive"].tolist() == [True, False]
    assert widget.session.draft.prompts.labels.tolist() == [1, 0]
    preview = np.asarray(widget.layers.preview.data) > 0
    assert not preview[30, 33] and preview[30, 26]
    face = points.face_color
    assert not np.allclose(face[0], face[1])
    _click(viewer, qtbot, 45, 45)  # the modifier applied to one click only
    assert points.features["positive"].tolist() == [True, False, True]
    assert (np.asarray(widget.layers.preview.data) > 0)[45, 45]
