"""The image fills the canvas when the annotator opens it; colours tell the preview, objects and stains apart."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from disk_backend import DiskBackend

pytestmark = pytest.mark.gui


def _visible_fraction(viewer, layer) -> tuple[float, float]:
    """(share of the image inside the canvas, share of the canvas the image spans along its tighter axis)."""
    w, h = viewer.window._qt_viewer.canvas._scene_canvas.size
    camera = viewer.scene.camera
    zoom = camera.zoom
    cy, cx = camera.center[-2:]
    view = np.array([[cy - h / 2 / zoom, cx - w / 2 / zoom], [cy + h / 2 / zoom, cx + w / 2 / zoom]])
    lo, hi = np.asarray(layer.extent.world)[:, -2:]
    inside = np.clip(np.minimum(hi, view[1]) - np.maximum(lo, view[0]), 0, None)
    shown = float(np.prod(inside) / np.prod(hi - lo))
    spans = float(np.max((hi - lo) / (view[1] - view[0])))
    return shown, spans


def _fits(viewer, layer, qtbot) -> None:
    qtbot.wait(100)  # the dock and the canvas have their final sizes
    shown, spans = _visible_fraction(viewer, layer)
    assert shown > 0.99 and spans > 0.8, f"{shown:.0%} of the image shown, spanning {spans:.0%} of the canvas"


def test_opening_the_annotator_fits_the_image_to_the_canvas(make_napari_viewer, tmp_path, qtbot) -> None:
    from promptseg._napari.launch import open_annotator

    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 255, (100, 600), dtype=np.uint8))
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1000, 700)
    qtbot.wait(50)
    viewer, widget = open_annotator([path], backend=DiskBackend(), viewer=viewer)
    _fits(viewer, widget.image_layer, qtbot)
    widget.encoder.cancel()


def test_the_next_image_of_a_series_is_fitted(make_napari_viewer, tmp_path, qtbot) -> None:
    from promptseg._napari.annotator import AnnotatorWidget

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(folder / "a_small.tif", rng.integers(0, 255, (40, 40), dtype=np.uint8))
    tifffile.imwrite(folder / "b_large.tif", rng.integers(0, 255, (400, 900), dtype=np.uint8))
    viewer = make_napari_viewer(show=True)
    widget = AnnotatorWidget(viewer, backend=DiskBackend())
    viewer.window.add_dock_widget(widget)
    panel = widget.series_panel
    panel.open_folder(folder)
    _fits(viewer, widget.image_layer, qtbot)
    panel.show_image(1)  # what Next does once the labels are saved
    assert widget.image_layer.name == "b_large.tif"
    _fits(viewer, widget.image_layer, qtbot)
    widget.encoder.cancel()


def _colour(layer, value: int) -> np.ndarray:
    return np.asarray(layer.colormap.map(np.array([value])))[0, :3]


#: Colours of stained tissue and nuclei as they appear on screen (RGB).
STAINS = {"hematoxylin": (0.35, 0.25, 0.55), "eosin": (0.9, 0.55, 0.75), "DAPI blue": (0.25, 0.3, 1.0),
          "magenta": (1.0, 0.0, 1.0), "purple": (0.5, 0.2, 0.6)}


def test_the_preview_has_a_colour_no_object_gets(annotator, image_2d) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())
    objects, preview = widget.layers.objects, widget.layers.preview
    shown = _colour(preview, 1)
    nearest = min(np.linalg.norm(_colour(objects, i) - shown) for i in range(1, 201))
    assert nearest > 0.5, f"the preview's colour is {nearest:.2f} from an object's"


def test_object_colours_differ_from_stains_and_from_their_neighbours(annotator, image_2d) -> None:
    import colorsys

    viewer, widget = annotator(image_2d, DiskBackend())
    colours = np.array([_colour(widget.layers.objects, i) for i in range(1, 101)])
    for name, stain in STAINS.items():
        assert np.linalg.norm(colours - np.asarray(stain), axis=1).min() > 0.4, name
    hues = np.array([colorsys.rgb_to_hsv(*c)[0] * 360 for c in colours])
    assert not ((hues > 200) & (hues < 350)).any()  # no blue, purple, magenta or pink
    assert np.linalg.norm(colours[1:] - colours[:-1], axis=1).min() > 0.4  # ids next to each other look different
    assert widget.layers.objects.colormap.map(np.array([0]))[0, 3] == 0  # the background stays transparent
