"""The annotator in a real viewer (under Xvfb): every prompt kind, commit, undo, 3D, screenshot."""

from __future__ import annotations

import numpy as np
import pytest

from disk_backend import DiskBackend
from promptseg.prompts import SCRIBBLE_WIDTH, polygon_mask, scribble_mask

pytestmark = pytest.mark.gui


def _preview(widget, key=()):
    return np.asarray(widget.layers.preview.data[key]) > 0


def test_owned_layers_are_created_once(annotator, image_2d) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    names = [layer.name for layer in viewer.layers]
    assert names == ["img", "img objects", "img preview", "img shapes", "img prompts"]
    widget.set_image_layer(viewer.layers["img"])
    assert len(viewer.layers) == 5
    assert viewer.layers.selection.active is widget.layers.points and widget.layers.points.mode == "add"


def test_the_preview_is_drawn_above_the_objects_and_the_prompts_above_both(annotator, image_2d) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    lay = widget.layers
    order = [viewer.layers.index(layer) for layer in (lay.objects, lay.preview, lay.shapes, lay.points)]
    assert order == sorted(order)  # napari draws later layers on top
    viewer.add_image(image_2d, name="other")  # another image and back: the layers are found again, not added
    widget.set_image_layer(viewer.layers["img"])
    assert widget.layers.preview is lay.preview and len(viewer.layers) == 6


def test_click_shows_exactly_the_backend_answer(annotator, image_2d, tiny_backend) -> None:
    viewer, widget = annotator(image_2d, tiny_backend)
    widget.layers.points.add([30, 31])
    emb = widget.session.embedding(())
    expected = tiny_backend.predict(emb, points=[(30, 31)], labels=[1]).mask
    np.testing.assert_array_equal(_preview(widget), expected)
    assert expected.any()
    # A second (negative) click feeds the previous prediction back.
    widget.toggle_polarity()
    widget.layers.points.add([10, 12])
    first = tiny_backend.predict(emb, points=[(30, 31)], labels=[1])
    second = tiny_backend.predict(emb, points=[(30, 31), (10, 12)], labels=[1, 0], previous=first)
    np.testing.assert_array_equal(_preview(widget), second.mask)
    assert widget.layers.points.features["positive"].tolist() == [True, False]
    face = widget.layers.points.face_color
    assert not np.allclose(face[0], face[1])  # positive and negative look different


def test_box_polygon_scribble_prompts(annotator, image_2d) -> None:
    backend = DiskBackend()
    viewer, widget = annotator(image_2d, backend)
    shapes = widget.layers.shapes
    shapes.add(np.array([[10, 10], [10, 20], [20, 20], [20, 10]]), shape_type="rectangle")
    assert tuple(backend.calls[-1]["box"]) == (10.0, 10.0, 20.0, 20.0)
    expected = np.zeros((64, 64), bool)
    expected[10:21, 10:21] = True
    np.testing.assert_array_equal(_preview(widget), expected)
    poly = np.array([[30, 30], [30, 50], [50, 40]], float)
    shapes.add(poly, shape_type="polygon")
    np.testing.assert_array_equal(backend.calls[-1]["mask"], polygon_mask(poly, (64, 64)))
    path = np.array([[5, 40], [5, 60]], float)
    shapes.add(path, shape_type="path")
    mask = backend.calls[-1]["mask"]
    np.testing.assert_array_equal(mask, polygon_mask(poly, (64, 64)) | scribble_mask(path, (64, 64), SCRIBBLE_WIDTH))
    assert tuple(backend.calls[-1]["box"]) == (10.0, 10.0, 20.0, 20.0)


def test_painting_in_the_preview_is_a_mask_prompt(annotator, image_2d, qtbot) -> None:
    backend = DiskBackend()
    viewer, widget = annotator(image_2d, backend)
    widget.layers.points.add([30, 30])
    preview = widget.layers.preview
    preview.brush_size = 3
    preview.paint((50, 50), 1)
    qtbot.waitUntil(lambda: backend.calls[-1]["mask"] is not None, timeout=5000)
    painted = backend.calls[-1]["mask"]
    assert painted is not None and painted[50, 50] and painted[30, 30]
    assert _preview(widget)[50, 50] and widget.session.draft.prompts.mask is not None


def test_commits_get_ids_1_2_3_without_overwriting(annotator, image_2d) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points, objects = widget.layers.points, widget.layers.objects
    for r, c in [(20, 20), (24, 24), (45, 45)]:
        points.add([r, c])
        widget.commit()
        assert len(points.data) == 0 and not _preview(widget).any()
    data = objects.data
    assert sorted(np.unique(data).tolist()) == [0, 1, 2, 3]
    assert (data == 1).sum() == 81  # disk of radius 5, intact
    assert (data == 2).sum() < 81  # object 2 only took free pixels
    widget.panel.overwrite.setChecked(True)
    points.add([20, 20])
    assert widget.commit() == 4 and data[20, 20] == 4


def test_undo_redo(annotator, image_2d) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    points, objects = widget.layers.points, widget.layers.objects
    points.add([20, 20])
    points.add([20, 26])
    widget.commit()
    points.add([45, 45])
    widget.clear()
    assert len(points.data) == 0
    widget.undo()  # the clear
    assert len(points.data) == 1 and _preview(widget)[45, 45]
    widget.undo()  # the click
    assert len(points.data) == 0 and not _preview(widget).any()
    widget.undo()  # the commit: object gone, its two clicks and preview back
    assert objects.data.max() == 0 and len(points.data) == 2 and _preview(widget)[20, 23]
    widget.redo()
    assert objects.data.max() == 1 and len(points.data) == 0
    widget.undo()
    widget.undo()  # the second click
    np.testing.assert_array_equal(points.data, [[20, 20]])
    widget.redo()
    widget.redo()
    assert objects.data.max() == 1 and widget.redo() is not None  # the click on the next object
    assert len(points.data) == 1


def test_shortcuts_are_bound(annotator, image_2d) -> None:
    from napari.utils.key_bindings import coerce_keybinding

    viewer, widget = annotator(image_2d, DiskBackend())
    widget.layers.points.add([20, 20])
    for target in (viewer, widget.layers.points, widget.layers.preview):
        assert coerce_keybinding("C") in target.keymap and coerce_keybinding("Control-Z") in target.keymap
    widget.layers.preview.keymap[coerce_keybinding("C")](widget.layers.preview)
    assert widget.layers.objects.data.max() == 1
    viewer.keymap[coerce_keybinding("Control-Z")](viewer)
    assert widget.layers.objects.data.max() == 0


def test_3d_prompts_act_on_the_displayed_slice(annotator, stack_3d, qtbot) -> None:
    backend = DiskBackend()
    viewer, widget = annotator(stack_3d, backend)
    (z,) = widget.displayed_slice()  # napari opens a stack in its middle
    points = widget.layers.points
    points.add([z, 30, 30])
    assert _preview(widget, (z,))[30, 30]
    widget.commit()
    viewer.dims.set_point(0, 6)
    assert widget.displayed_slice() == (6,)
    points.add([6, 40, 40])  # not encoded yet: queued, answered when ready
    assert widget.session.waiting_for in ((6,), None)
    qtbot.waitUntil(lambda: _preview(widget, (6,))[40, 40], timeout=20000)
    widget.commit()
    objects = widget.layers.objects.data
    assert objects[z, 30, 30] == 1 and objects[6, 40, 40] == 2
    assert not objects[[i for i in range(8) if i not in (z, 6)]].any()
    assert widget.session.committed[1].slice_key == (6,)
    viewer.dims.set_point(0, z)
    widget.undo()  # uncommit object 2: the viewer goes back to slice 6, its click is back
    assert widget.displayed_slice() == (6,)
    assert objects[6].max() == 0 and len(points.data) == 1 and points.data[0, 0] == 6
    assert _preview(widget, (6,))[40, 40]


def test_neighbours_are_encoded_ahead(annotator, stack_3d, qtbot) -> None:
    backend = DiskBackend()
    viewer, widget = annotator(stack_3d, backend, prefetch=True)
    (z,) = widget.displayed_slice()
    qtbot.waitUntil(lambda: len(backend.encoded) >= 5, timeout=20000)
    assert all(widget.session.embedding((i,)) is not None for i in range(z - 2, z + 3))


def test_screenshot_after_commit_shows_the_object(annotator, image_2d, tmp_path) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    widget.layers.points.add([32, 32])
    widget.commit()
    widget.layers.points.visible = False
    shot = viewer.screenshot(canvas_only=True, flash=False)
    rgb = shot[..., :3].astype(int)
    colourful = (rgb.max(axis=-1) - rgb.min(axis=-1)) > 60  # the gray image has none
    assert colourful.mean() > 0.005, "the committed object is not visible in the screenshot"


def test_export_and_import_prompts_reproduce_objects(annotator, image_2d, tmp_path) -> None:
    import json

    viewer, widget = annotator(image_2d, DiskBackend())
    widget.layers.points.add([20, 20])
    widget.commit()
    widget.layers.shapes.add(np.array([[40, 40], [40, 50], [50, 50], [50, 40]]), shape_type="rectangle")
    widget.commit()
    path = widget.export_prompts(tmp_path / "prompts.json")
    data = json.loads(path.read_text())
    assert [o["label"] for o in data["objects"]] == [1, 2]
    assert data["objects"][0]["backend"] == "disks" and data["objects"][0]["checkpoint_hash"] == "disk-hash"
    expected = widget.layers.objects.data.copy()
    viewer2, widget2 = annotator(image_2d, DiskBackend())
    assert widget2.import_prompts(path) == []
    np.testing.assert_array_equal(widget2.layers.objects.data, expected)


def test_objects_layer_saves_with_napari_writers(annotator, image_2d, tmp_path) -> None:
    import tifffile

    viewer, widget = annotator(image_2d, DiskBackend())
    widget.layers.points.add([20, 20])
    widget.commit()
    out = widget.layers.objects.save(str(tmp_path / "objects.tif"))
    np.testing.assert_array_equal(tifffile.imread(out[0]), widget.layers.objects.data)


def test_rgb_and_uint16_contrast_limits(annotator) -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[10:30, 10:30] = (200, 50, 50)
    viewer, widget = annotator(rgb, DiskBackend())
    assert widget.layers.objects.data.shape == (48, 64)
    assert widget.session.image.contrast_limits is None  # uint8 is never rescaled
    widget.layers.points.add([20, 20])
    assert widget.commit() == 1
    gray = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    viewer2, widget2 = annotator(gray, DiskBackend(), contrast_limits=(100, 3000))
    assert widget2.session.image.contrast_limits == (100.0, 3000.0)


def test_backend_errors_become_notifications(annotator, image_2d, qtbot) -> None:
    from napari.utils.notifications import notification_manager

    viewer, widget = annotator(image_2d, DiskBackend())
    widget.layers.points.add([20, 20])
    widget.commit()
    seen = []
    notification_manager.notification_ready.connect(lambda n: seen.append(str(n.message)))
    widget.set_backend("/nonexistent/checkpoint.pt")
    qtbot.waitUntil(lambda: any("PromptSeg" in m for m in seen), timeout=20000)
    assert any("committed objects are kept" in m.lower() for m in seen)
    assert widget.layers.objects.data.max() == 1


def test_ctrl_click_on_a_slice_of_a_stack_is_negative(annotator, stack_3d, qtbot) -> None:
    from vispy.util import keys

    from canvas_events import click

    viewer, widget = annotator(stack_3d, DiskBackend())
    (z,) = widget.displayed_slice()
    points = widget.layers.points
    click(viewer, qtbot, 30, 30)
    click(viewer, qtbot, 30, 34, modifiers=(keys.CONTROL,))
    click(viewer, qtbot, 50, 50)
    assert points.features["positive"].tolist() == [True, False, True]
    assert widget.session.draft.prompts.labels.tolist() == [1, 0, 1]
    assert widget.session.draft.slice_key == (z,) and not _preview(widget, (z,))[30, 34]


def test_switching_between_2d_and_3d_images_keeps_each_session(annotator, image_2d, stack_3d, qtbot) -> None:
    viewer, widget = annotator(stack_3d, DiskBackend())
    (z,) = widget.displayed_slice()
    widget.layers.points.add([z, 30, 30])
    widget.commit()
    flat = viewer.add_image(image_2d, name="flat")
    widget.set_image_layer(flat)
    assert widget.layers.objects.data.shape == (64, 64)
    qtbot.waitUntil(lambda: widget.session.embedding(widget.displayed_slice()) is not None, timeout=20000)
    widget.layers.points.add([20, 20])
    assert widget.commit() == 1
    widget.set_image_layer(viewer.layers["img"])
    assert widget.session.next_label == 2 and widget.layers.objects.data[z, 30, 30] == 1


def test_new_image_data_or_contrast_means_new_embeddings(annotator, image_2d, qtbot) -> None:
    backend = DiskBackend()
    viewer, widget = annotator(image_2d, backend)
    assert len(backend.encoded) == 1
    viewer.layers["img"].data = image_2d[::-1].copy()
    qtbot.waitUntil(lambda: len(backend.encoded) == 2 and not widget.encoder.busy, timeout=20000)
    viewer.layers["img"].contrast_limits = (100, 2000)
    qtbot.waitUntil(lambda: len(backend.encoded) == 3 and not widget.encoder.busy, timeout=20000)
    assert widget.session.image.contrast_limits == (100.0, 2000.0)


def test_preview_changes_are_written_exactly_on_their_slice(annotator, stack_3d, qtbot) -> None:
    """A mask covering much of the slice, then a small edit, then nothing: the preview holds exactly each."""
    backend = DiskBackend()
    viewer, widget = annotator(stack_3d, backend)
    (z,) = widget.displayed_slice()
    shapes = widget.layers.shapes
    shapes.add(np.array([[z, 4, 4], [z, 4, 59], [z, 59, 59], [z, 59, 4]]), shape_type="rectangle")
    expected = np.zeros((64, 64), bool)
    expected[4:60, 4:60] = True
    np.testing.assert_array_equal(_preview(widget, (z,)), expected)
    others = [i for i in range(8) if i != z]
    assert not np.asarray(widget.layers.preview.data)[others].any()  # only the displayed slice was written
    widget.layers.points.add([z, 30, 30])  # a click inside the box: box + click, a few pixels change
    np.testing.assert_array_equal(_preview(widget, (z,)), backend.predict(
        widget.session.embedding((z,)), points=[(30, 30)], labels=[1], box=(4.0, 4.0, 59.0, 59.0)).mask)
    widget.clear()
    assert not _preview(widget, (z,)).any()


class WarmDisks(DiskBackend):
    """Disks that count their warm-ups (and in which thread they ran)."""

    def __init__(self) -> None:
        super().__init__()
        self.warmed: list[str] = []

    def warm_up(self) -> float:
        import threading

        self.warmed.append(threading.current_thread().name)
        return 0.0


class PreparingDisks(DiskBackend):
    """Disks that record the answers they were asked to prepare the next click's feedback for."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared: list = []

    def prepare_feedback(self, embedding, previous) -> None:
        import threading

        self.prepared.append((threading.current_thread().name, previous))


def test_after_a_click_the_backend_prepares_the_next_one_in_the_gui_thread(annotator, image_2d, qtbot) -> None:
    import threading

    backend = PreparingDisks()
    viewer, widget = annotator(image_2d, backend)
    widget.layers.points.add([30, 31])
    qtbot.waitUntil(lambda: len(backend.prepared) == 1, timeout=5000)
    assert backend.prepared[0] == (threading.main_thread().name, widget.session.prediction)
    widget.layers.points.add([10, 12])  # fed back: the very answer that was prepared
    assert backend.calls[-1]["previous"] is backend.prepared[0][1]
    qtbot.waitUntil(lambda: len(backend.prepared) == 2, timeout=5000)


def test_a_backend_is_warmed_up_once_in_the_gui_thread(annotator, image_2d, qtbot) -> None:
    import threading

    backend = WarmDisks()
    viewer, widget = annotator(image_2d, backend)
    qtbot.waitUntil(lambda: len(backend.warmed) == 1, timeout=5000)
    assert backend.warmed == [threading.main_thread().name]
    widget.set_backend(backend)  # chosen again: already warm
    qtbot.wait(50)
    assert len(backend.warmed) == 1
