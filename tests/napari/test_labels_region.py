"""redraw_region: a written rectangle reaches the displayed slice exactly, with or without the fast path."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg._napari.labels_region import redraw_region


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


def _write(layer, key, box, value) -> bool:
    layer.data[key][box] = value
    return redraw_region(layer, key, box)


def test_region_reaches_the_display_without_a_refresh(labels_3d, monkeypatch) -> None:
    viewer, layer = labels_3d
    refreshed = []
    monkeypatch.setattr(layer, "refresh", lambda *a, **k: refreshed.append(1))
    empty = _canvas(viewer)
    box = (slice(5, 40), slice(10, 60))
    assert _write(layer, (2,), box, 1)  # the fast path works with the installed napari
    assert not refreshed
    drawn = _displayed(layer)
    shown = _canvas(viewer)
    assert (shown != empty).any()  # the rectangle is on the canvas
    monkeypatch.undo()
    layer.refresh()  # napari's own slicing of the data gives what the fast path drew
    np.testing.assert_array_equal(_displayed(layer), drawn)
    np.testing.assert_array_equal(_canvas(viewer), shown)
    assert _write(layer, (2,), box, 0)
    np.testing.assert_array_equal(_canvas(viewer), empty)  # and it is gone again


def test_other_slices_are_written_but_not_drawn(labels_3d) -> None:
    viewer, layer = labels_3d
    before = _displayed(layer)
    assert _write(layer, (1,), (slice(0, 10), slice(0, 10)), 3)
    np.testing.assert_array_equal(_displayed(layer), before)
    viewer.dims.set_current_step(0, 1)
    assert (_displayed(layer) != before).any()  # slicing shows it


def test_3d_display_falls_back_to_a_refresh(labels_3d) -> None:
    viewer, layer = labels_3d
    viewer.dims.ndisplay = 3
    assert not _write(layer, (2,), (slice(0, 48), slice(0, 64)), 2)
    viewer.dims.ndisplay = 2
    assert np.asarray(layer._slice.image.view).any()
