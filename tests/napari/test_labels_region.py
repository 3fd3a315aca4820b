"""RegionWriter: a written rectangle reaches the displayed slice exactly, through public napari API only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from promptseg._napari import labels_region
from promptseg._napari.labels_region import RegionWriter


@pytest.fixture
def labels_3d(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((4, 48, 64)), name="img")
    layer = viewer.add_labels(np.zeros((4, 48, 64), np.uint8), name="lab")
    viewer.dims.set_current_step(0, 2)
    return viewer, layer


def _displayed(layer) -> np.ndarray:
    return np.asarray(layer._slice.image.view).copy()


def _canvas(viewer) -> np.ndarray:
    return viewer.screenshot(canvas_only=True, flash=False)


def _write(writer, key, box, value) -> int:
    shape = (box[0].stop - box[0].start, box[1].stop - box[1].start)
    return writer.write(key, box, np.full(shape, value, np.uint8))


def test_region_reaches_the_display_without_a_refresh(labels_3d, monkeypatch) -> None:
    viewer, layer = labels_3d
    monkeypatch.setattr(labels_region, "SLICE_FRACTION", 1)  # through data_setitem
    writer = RegionWriter(layer)
    refreshed = []
    monkeypatch.setattr(layer, "refresh", lambda *a, **k: refreshed.append(1))
    empty = _canvas(viewer)
    box = (slice(5, 40), slice(10, 60))
    assert _write(writer, (2,), box, 1) == 35 * 50
    assert not refreshed
    assert (layer.data[2][box] == 1).all() and layer.data.sum() == 35 * 50
    drawn = _displayed(layer)
    shown = _canvas(viewer)
    assert (shown != empty).any()  # the rectangle is on the canvas
    monkeypatch.undo()
    layer.refresh()  # napari's own slicing of the data gives what the write drew
    np.testing.assert_array_equal(_displayed(layer), drawn)
    np.testing.assert_array_equal(_canvas(viewer), shown)
    assert _write(writer, (2,), box, 0) == 35 * 50
    np.testing.assert_array_equal(_canvas(viewer), empty)  # and it is gone again
    assert _write(writer, (2,), box, 0) == 0  # nothing changes: nothing written


@pytest.mark.parametrize("fraction", [1, 10**9], ids=["data_setitem", "refreshed"])
def test_no_private_napari_attribute_is_used(make_napari_viewer_proxy, monkeypatch, fraction) -> None:
    monkeypatch.setattr(labels_region, "SLICE_FRACTION", fraction)
    viewer = make_napari_viewer_proxy(show=True)  # what a plugin's dock widget gets
    viewer.add_labels(np.zeros((4, 48, 64), np.uint8), name="lab")
    layer = viewer.layers["lab"]  # a proxy that warns on private attributes
    writer = RegionWriter(layer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        for value in (1, 0):
            assert _write(writer, (0,), (slice(0, 10), slice(0, 10)), value) == 100
            writer.drop_history()


@pytest.mark.parametrize("fraction", [1, 10**9], ids=["data_setitem", "refreshed"])
def test_both_ways_draw_what_napari_draws(labels_3d, monkeypatch, fraction) -> None:
    viewer, layer = labels_3d
    writer = RegionWriter(layer)
    monkeypatch.setattr(labels_region, "SLICE_FRACTION", fraction)
    refreshed, refresh = [], layer.refresh
    monkeypatch.setattr(layer, "refresh", lambda *a, **k: (refreshed.append(1), refresh(*a, **k)))
    empty = _canvas(viewer)
    box = (slice(3, 23), slice(30, 50))
    assert _write(writer, (2,), box, 4) == 400
    assert len(refreshed) == (fraction > 1) and (writer.history_bytes > 0) == (fraction == 1)
    drawn, shown = _displayed(layer), _canvas(viewer)
    assert (shown != empty).any()
    monkeypatch.undo()
    layer.refresh()
    np.testing.assert_array_equal(_displayed(layer), drawn)
    np.testing.assert_array_equal(_canvas(viewer), shown)
    assert (layer.data[2][box] == 4).all() and layer.data.sum() == 4 * 400


def test_other_slices_are_written_but_not_drawn(labels_3d) -> None:
    viewer, layer = labels_3d
    writer = RegionWriter(layer)
    before = _displayed(layer)
    assert _write(writer, (1,), (slice(0, 10), slice(0, 10)), 3) == 100
    np.testing.assert_array_equal(_displayed(layer), before)
    viewer.dims.set_current_step(0, 1)
    assert (_displayed(layer) != before).any()  # slicing shows it


def test_3d_display_shows_the_write(labels_3d) -> None:
    viewer, layer = labels_3d
    writer = RegionWriter(layer)
    viewer.dims.ndisplay = 3
    assert _write(writer, (2,), (slice(0, 48), slice(0, 64)), 2) == 48 * 64
    viewer.dims.ndisplay = 2
    assert np.asarray(layer._slice.image.view).any()


def test_undo_history_is_dropped_past_its_budget(labels_3d, monkeypatch) -> None:
    viewer, layer = labels_3d
    monkeypatch.setattr(labels_region, "SLICE_FRACTION", 1)  # every write through data_setitem
    layer.mode = "paint"
    writer = RegionWriter(layer)
    box = (slice(0, 10), slice(0, 10))
    _write(writer, (2,), box, 1)
    layer.undo()  # below the budget: napari's history still holds the write
    assert not layer.data.any()
    monkeypatch.setattr(labels_region, "HISTORY_BYTES", 1000)
    _write(writer, (2,), box, 1)  # 100 pixels x 26 bytes: past the budget
    assert writer.history_bytes == 0 and layer.mode == "paint" and layer.editable
    layer.undo()  # nothing left to undo
    assert (layer.data[2][box] == 1).all()
