"""Sample data: LayerData tuples without napari, and a real viewer under Xvfb."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg._napari.sample_data import nuclei_2d, nuclei_3d


@pytest.mark.parametrize(("loader", "ndim"), [(nuclei_2d, 2), (nuclei_3d, 3)])
def test_layer_data_tuples(loader, ndim: int) -> None:
    (image, image_kwargs, image_type), (labels, labels_kwargs, labels_type) = loader()
    assert (image_type, labels_type) == ("image", "labels")
    assert image.ndim == ndim and image.dtype == np.uint16
    assert labels.shape == image.shape and labels.max() > 0
    assert len(image_kwargs["scale"]) == len(labels_kwargs["scale"]) == ndim


def _assert_shows_something(screenshot: np.ndarray) -> None:
    """A rendered canvas with nuclei has both dark and bright pixels."""
    gray = screenshot[..., :3].mean(axis=-1)
    bright = (gray > 128).mean()
    assert screenshot.size > 0 and gray.std() > 5, "the canvas is blank"
    assert 0.005 < bright < 0.6, f"{bright:.1%} of the canvas is bright: not nuclei on a background"


@pytest.mark.gui
def test_open_2d_sample_in_viewer(make_napari_viewer) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-promptseg", "nuclei_2d")
    assert [layer.name for layer in viewer.layers] == ["nuclei 2D", "nuclei 2D ground truth"]
    assert viewer.layers["nuclei 2D"].data.shape == (256, 256)
    assert not viewer.layers["nuclei 2D ground truth"].visible
    _assert_shows_something(viewer.screenshot(canvas_only=True, flash=False))


@pytest.mark.gui
def test_open_3d_sample_in_viewer(make_napari_viewer) -> None:
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-promptseg", "nuclei_3d")
    image = viewer.layers["nuclei 3D"]
    assert image.data.shape == (32, 256, 256)
    np.testing.assert_allclose(image.scale, (2.0, 1.0, 1.0))
    viewer.dims.ndisplay = 3
    _assert_shows_something(viewer.screenshot(canvas_only=True, flash=False))
