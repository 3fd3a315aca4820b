"""A multiscale image layer annotated lazily: real canvas clicks and keys, tiles encoded only where clicked (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest
from canvas_events import click
from disk_backend import RADIUS, DiskBackend
from vispy.util import keys

SIZE = 4096


@pytest.fixture
def large_view(make_napari_viewer, qtbot):
    da = pytest.importorskip("dask.array")
    from promptseg._napari.large_image import LargeImageView

    viewer = make_napari_viewer(show=True)
    levels = [da.zeros((SIZE // 2 ** i, SIZE // 2 ** i), dtype="uint16", chunks=512) + 100 for i in range(3)]
    layer = viewer.add_image(levels, multiscale=True, contrast_limits=(0, 1000), name="slide")
    backend = DiskBackend()
    view = LargeImageView(viewer, layer, backend, level=1, tile=512, halo=64, contrast_limits=(0, 1000))
    viewer.layers.selection.active = view.points
    return viewer, view, backend


def test_canvas_clicks_on_a_multiscale_layer_segment_at_the_level_and_commit_at_full_resolution(large_view, qtbot):
    from qtpy.QtCore import Qt

    viewer, view, backend = large_view
    assert view.objects.multiscale and len(view.objects.data) == 3
    click(viewer, qtbot, 1000, 3000)
    assert view.last_error is None and view.preview.visible
    assert backend.encoded and all(shape == (512, 512) for shape in backend.encoded)
    assert len(backend.encoded) <= 2  # the tiles around the click, of 49 at level 1
    np.testing.assert_allclose(view.points.data, [[1000, 3000]], atol=1.5)
    # the preview lies over the clicked pixels: its data pixel under the click is set
    inside = np.round(view.preview.world_to_data((1000, 3000))).astype(int)
    assert view.preview.data[tuple(inside)] == 1
    click(viewer, qtbot, 1000, 3000, modifiers=(keys.CONTROL,))  # a Ctrl-click is negative: the disk goes
    assert not view.preview.visible or not view.preview.data.any()
    click(viewer, qtbot, 1000, 3000)
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key_Return)
    qtbot.wait(10)
    labels = view.session.labels
    assert labels.label_at(1000, 3000) == 1 and labels.label_at(1000, 3000 + 2 * RADIUS * 2 + 4) == 0
    assert labels.stored_chunks() <= 4
    assert view.objects.data[1][500, 1500] == 1  # the displayed level-1 view shows it


def test_a_click_outside_the_objects_window_is_reported_and_loses_nothing(large_view, qtbot):
    from qtpy.QtCore import Qt

    viewer, view, _ = large_view
    click(viewer, qtbot, 300, 300)
    click(viewer, qtbot, 3800, 3800)
    assert "outside the region of the current object" in view.last_error
    assert len(view.session.prompts.points) == 1
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key_Escape)
    qtbot.wait(10)
    assert view.session.prompts.is_empty and not view.preview.visible


def test_an_ome_zarr_folder_opens_lazily_with_labels_on_disk_kept_between_sessions(make_napari_viewer, qtbot,
                                                                                  tmp_path):
    import zarr

    from promptseg._napari.large_image import open_large

    group = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w")
    datasets = []
    for level in range(2):
        n = 2048 // 2 ** level
        group.create_array(str(level), shape=(n, n), chunks=(256, 256), dtype="uint16", fill_value=100)
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [2 ** level] * 2}]})
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": "y"}, {"name": "x"}], "datasets": datasets}]}
    labels = tmp_path / "labels.zarr"
    viewer = make_napari_viewer(show=True)
    view = open_large(viewer, tmp_path / "img.ome.zarr", DiskBackend(), labels=labels, tile=512, halo=64)
    assert view.layer.multiscale and view.session.labels.path == labels
    viewer.layers.selection.active = view.points
    click(viewer, qtbot, 700, 900)
    view.commit()
    assert view.session.labels.label_at(700, 900) == 1
    again = open_large(make_napari_viewer(), tmp_path / "img.ome.zarr", DiskBackend(), labels=labels, tile=512, halo=64)
    assert again.session.labels.label_at(700, 900) == 1 and again.session.next_label == 2


def test_a_shift_click_picks_up_a_committed_object_which_keeps_its_id(large_view, qtbot):
    from qtpy.QtCore import Qt

    viewer, view, _ = large_view
    click(viewer, qtbot, 2000, 2000)
    view.commit()
    assert view.session.labels.label_at(2000, 2000) == 1
    click(viewer, qtbot, 2000, 2000, modifiers=(keys.SHIFT,))
    assert view.last_error is None and view.preview.visible
    assert view.session.labels.label_at(2000, 2000) == 0  # out of the labels while it is edited
    click(viewer, qtbot, 2000, 2016)  # grow it
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key_Return)
    qtbot.wait(10)
    assert view.session.labels.label_at(2000, 2000) == 1 and view.session.labels.label_at(2000, 2016) == 1
    assert view.session.next_label == 2
