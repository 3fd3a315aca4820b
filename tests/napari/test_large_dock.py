"""The annotator dock annotates a multiscale (or large lazy) layer picked in its image menu lazily (issue 22)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from canvas_events import choose, click
from disk_backend import RADIUS, DiskBackend
from vispy.util import keys

SIZE = 4096


def _pyramid(da):
    return [da.zeros((SIZE // 2 ** i, SIZE // 2 ** i), dtype="uint16", chunks=512) + 100 for i in range(3)]


@pytest.fixture
def dock(annotator, image_2d):
    """A dock annotating a small image, a multiscale 4096^2 layer beside it (not picked yet)."""
    da = pytest.importorskip("dask.array")
    backend = DiskBackend()
    viewer, widget = annotator(image_2d, backend)
    widget.large.view_options.update(level=1, tile=512, halo=64, contrast_limits=(0, 1000))
    viewer.add_image(_pyramid(da), multiscale=True, contrast_limits=(0, 1000), name="slide")
    return viewer, widget, backend


def _key(viewer, qtbot, key, modifier=None):
    from qtpy.QtCore import Qt

    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, key, modifier or Qt.NoModifier)
    qtbot.wait(10)


def test_a_multiscale_layer_picked_in_the_dock_is_annotated_lazily_with_the_dock_commands(dock, qtbot):
    from qtpy.QtCore import Qt

    viewer, widget, backend = dock
    small = widget.session
    choose(qtbot, widget.panel.image_combo, "slide")
    assert widget.image_layer.name == "slide" and widget.session is None  # no full-size session or labels
    view = widget.large.view
    assert view is not None and view.objects.multiscale
    encoded_before = len(backend.encoded)
    click(viewer, qtbot, 1000, 3000)
    assert view.last_error is None and view.preview.visible
    new = backend.encoded[encoded_before:]
    assert 1 <= len(new) <= 2 and all(shape == (512, 512) for shape in new)  # tiles at level 1, of 49
    assert "slide: 4096 x 4096 px" in widget.panel.status.text() and "Enter or C commits" in widget.panel.status.text()
    _key(viewer, qtbot, Qt.Key_C)  # the dock's shortcut commits
    labels = view.session.labels
    assert labels.label_at(1000, 3000) == 1 and labels.label_at(1000, 3000 + 4 * RADIUS + 4) == 0
    assert "1 objects committed" in widget.panel.status.text()
    click(viewer, qtbot, 2000, 1000)
    qtbot.mouseClick(widget.panel.undo, Qt.LeftButton)  # takes back the click
    assert view.session.prompts.is_empty and labels.label_at(1000, 3000) == 1
    qtbot.mouseClick(widget.panel.undo, Qt.LeftButton)  # then the commit
    assert labels.label_at(1000, 3000) == 0
    qtbot.mouseClick(widget.panel.redo, Qt.LeftButton)  # cannot be redone: said so, nothing lost or broken
    assert "cannot be redone" in widget.panel.status.text()
    # the polarity toggle (N) makes plain clicks negative, as on ordinary images
    click(viewer, qtbot, 2000, 2000)
    _key(viewer, qtbot, Qt.Key_N)
    click(viewer, qtbot, 2000, 2000)
    assert list(view.session.prompts.labels) == [1, 0]
    _key(viewer, qtbot, Qt.Key_N)
    qtbot.mouseClick(widget.panel.clear, Qt.LeftButton)
    assert view.session.prompts.is_empty
    # back to the small image: its own session, and canvas clicks no longer reach the large view
    choose(qtbot, widget.panel.image_combo, "img")
    assert widget.session is small and widget.large.view is None and not view.attached
    click(viewer, qtbot, 20, 20)
    assert len(view.points.data) == 0


def test_the_dock_exports_and_imports_a_large_images_objects(dock, qtbot, tmp_path):
    viewer, widget, _ = dock
    choose(qtbot, widget.panel.image_combo, "slide")
    view = widget.large.view
    for point in ((500, 500), (3000, 1200)):
        click(viewer, qtbot, *point)
        click(viewer, qtbot, point[0], point[1] + 8, modifiers=(keys.CONTROL,))
        widget.large.commit()
    out = widget.large.export(tmp_path / "slide.json")
    data = json.loads(out.read_text())
    assert len(data["objects"]) == 2 and data["model"]["backend_id"] == "disks:1"
    before = np.asarray(view.session.labels.read(slice(0, SIZE), slice(0, SIZE), step=8))
    view.session.labels.erase(1, slice(0, SIZE), slice(0, SIZE))
    view.session.labels.erase(2, slice(0, SIZE), slice(0, SIZE))
    assert widget.large.import_(out) == []
    after = np.asarray(view.session.labels.read(slice(0, SIZE), slice(0, SIZE), step=8))
    np.testing.assert_array_equal(after, before)
    viewer.layers.remove("slide")  # closing the image lets go of it: clicks no longer reach its view
    assert widget.large.layer is None and widget.large.view is None and not view.attached
    assert view._on_mouse not in viewer.mouse_drag_callbacks and "was closed" in widget.panel.status.text()


def test_a_large_lazy_single_level_layer_goes_the_lazy_way(annotator, image_2d, qtbot, monkeypatch):
    """Above the size threshold a dask layer gets no full-size labels; a small one stays ordinary."""
    da = pytest.importorskip("dask.array")
    from promptseg._napari import large_dock

    monkeypatch.setattr(large_dock, "LARGE_LAZY_PIXELS", 1500 * 1500)
    viewer, widget = annotator(image_2d, DiskBackend())
    widget.large.view_options.update(tile=512, halo=64, contrast_limits=(0, 1000))
    viewer.add_image(da.zeros((2048, 2048), dtype="uint16", chunks=512) + 100, contrast_limits=(0, 1000),
                     name="lazy")
    choose(qtbot, widget.panel.image_combo, "lazy")
    assert widget.session is None and widget.large.view is not None and not widget.large.view.objects.multiscale
    click(viewer, qtbot, 700, 900)
    widget.large.commit()
    assert widget.large.view.session.labels.label_at(700, 900) == 1


def test_is_large_reads_only_shapes():
    da = pytest.importorskip("dask.array")
    from promptseg._napari.large_dock import is_large

    big = da.zeros((40_000, 40_000), dtype="uint16", chunks=1024)
    assert is_large(SimpleNamespace(multiscale=False, rgb=False, data=big))
    assert not is_large(SimpleNamespace(multiscale=False, rgb=False, data=np.zeros((3, 512, 512), np.uint8)))
    assert not is_large(SimpleNamespace(multiscale=False, rgb=True, data=big[:4000, :4000, None].repeat(3, 2)))
    assert is_large(SimpleNamespace(multiscale=True, rgb=False, data=[np.zeros((64, 64))]))


def test_a_large_stack_is_refused_with_what_to_do(annotator, image_2d, qtbot):
    da = pytest.importorskip("dask.array")

    viewer, widget = annotator(image_2d, DiskBackend())
    stack = [da.zeros((3, 1024 // 2 ** i, 1024 // 2 ** i), dtype="uint16", chunks=(1, 256, 256)) for i in range(2)]
    viewer.add_image(stack, multiscale=True, contrast_limits=(0, 1000), name="stack")
    choose(qtbot, widget.panel.image_combo, "stack")
    assert widget.large.view is None
    assert "one 2D plane at a time" in widget.panel.status.text()


@pytest.mark.parametrize("level", [0, 1])
def test_promptseg_annotate_on_an_ome_zarr_docks_the_annotator_on_it(make_napari_viewer, qtbot, tmp_path,
                                                                     monkeypatch, level):
    import napari
    import zarr

    from promptseg._napari import launch
    from promptseg.cli import build_parser

    group = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w")
    datasets = []
    for level in range(2):
        n = 2048 // 2 ** level
        arr = group.create_array(str(level), shape=(n, n), chunks=(256, 256), dtype="uint16", fill_value=100)
        arr[n // 4: n // 2, n // 4: n // 2] = 900  # not constant: contrast limits exist
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [2 ** level] * 2}]})
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": "y"}, {"name": "x"}], "datasets": datasets}]}
    viewer = make_napari_viewer(show=True)
    opened = []

    def open_annotator(images, *, backend=None, **kwargs):
        out = launch_open(images, backend=None, viewer=viewer)
        out[1].set_backend(DiskBackend())  # what --backend NAME loads, without a model file
        opened.append(out[1])
        return out

    launch_open = launch.open_annotator
    monkeypatch.setattr(launch, "open_annotator", open_annotator)
    monkeypatch.setattr(napari, "run", lambda: None)
    labels = tmp_path / "labels.zarr"
    args = build_parser().parse_args(["annotate", str(tmp_path / "img.ome.zarr"), "--labels", str(labels),
                                      "--level", str(level)])
    assert launch.run_annotate(args) == 0
    widget = opened[0]
    assert widget.image_layer.multiscale and widget.large.view is not None
    assert widget.panel.level_combo.currentIndex() == level and f"level {level} of 2" in widget.panel.status.text()
    widget.large.configure(tile=512, halo=64)  # later views only: this one uses the model's 1024-px tiles
    click(viewer, qtbot, 700, 900)
    widget.large.commit()
    from promptseg.store.sparse_labels import SparseLabels

    assert SparseLabels.open(labels).label_at(700, 900) == 1  # written to the folder as committed


def test_a_new_model_keeps_the_objects_a_picked_up_one_included(dock, qtbot):
    viewer, widget, _ = dock
    choose(qtbot, widget.panel.image_combo, "slide")
    view = widget.large.view
    click(viewer, qtbot, 1000, 1000)
    widget.large.commit()
    click(viewer, qtbot, 1000, 1000, modifiers=(keys.SHIFT,))  # picked up: out of the labels while edited
    labels = view.session.labels
    assert labels.label_at(1000, 1000) == 0
    other = DiskBackend()
    widget.set_backend(other)
    assert view.session.inner is other and labels.label_at(1000, 1000) == 1  # put back, not lost
    assert "with disks" in widget.panel.status.text()
    click(viewer, qtbot, 3000, 3000)
    widget.large.commit()
    assert other.encoded and labels.label_at(3000, 3000) == 2
    widget.large.undo()
    widget.large.undo()  # the commit made with the first model is undone too
    assert labels.label_at(3000, 3000) == 0 and labels.label_at(1000, 1000) == 0


def test_the_level_menu_switches_the_working_resolution_and_keeps_the_objects(dock, qtbot):
    from qtpy.QtCore import Qt

    viewer, widget, backend = dock
    combo, status = widget.panel.level_combo, widget.panel.status
    assert not combo.isVisibleTo(widget)  # an ordinary image has no levels
    choose(qtbot, widget.panel.image_combo, "slide")
    view = widget.large.view
    labels = view.session.labels
    assert combo.isVisibleTo(widget) and widget.panel.level_label.isVisibleTo(widget)
    assert [combo.itemText(i) for i in range(combo.count())] == ["0 (full resolution)", "1 (1/2)", "2 (1/4)"]
    assert combo.currentIndex() == 1 and "level 1 of 3" in status.text()  # the level the options chose (--level)
    click(viewer, qtbot, 1000, 3000)
    qtbot.keyClick(combo, Qt.Key_Down)  # level 2 asked while an object is being drawn: refused, the object kept
    assert combo.currentIndex() == 1 and view.session.level == 1 and len(view.session.prompts.points) == 1
    assert "commit it (C) or clear it (Shift-C)" in status.text() and view.preview.visible
    _key(viewer, qtbot, Qt.Key_C)
    choose(qtbot, combo, "0 (full resolution)")
    assert view.session.level == 0 and "level 0 of 3" in status.text()
    encoded = len(backend.encoded)
    click(viewer, qtbot, 2000, 2000)
    assert backend.encoded[encoded:] and tuple(view.preview.scale) == (1, 1)
    _key(viewer, qtbot, Qt.Key_C)
    # level 0: a disc of RADIUS pixels; the level-1 object stays, RADIUS level-1 pixels = 2 RADIUS full-resolution
    assert labels.label_at(2000, 2000 + RADIUS - 2) == 2 and labels.label_at(2000, 2000 + RADIUS + 3) == 0
    assert labels.label_at(1000, 3000 + 2 * RADIUS - 3) == 1 and labels.label_at(1000, 3000 + 2 * RADIUS + 4) == 0
    choose(qtbot, combo, "2 (1/4)")
    assert view.session.level == 2 and "level 2 of 3" in status.text()
    click(viewer, qtbot, 3000, 1000)
    assert tuple(view.preview.scale) == (4, 4)
    _key(viewer, qtbot, Qt.Key_C)
    assert labels.label_at(3000, 1000 + 4 * RADIUS - 5) == 3 and labels.label_at(3000, 1000 + 4 * RADIUS + 6) == 0
    assert [o.label for o in view.session.committed] == [1, 2, 3] and "3 objects committed" in status.text()
    choose(qtbot, widget.panel.image_combo, "img")  # an ordinary image again: no Level menu
    assert not combo.isVisibleTo(widget)
