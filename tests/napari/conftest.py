"""Fixtures for annotator GUI tests: a viewer with an image and the widget docked."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.data import synthetic_nuclei_2d, synthetic_nuclei_3d


@pytest.fixture
def annotator(make_napari_viewer, qtbot):
    """``make(image, backend, **image_kwargs) -> (viewer, widget)``; encoding of the displayed slice finished."""
    from promptseg._napari.annotator import AnnotatorWidget

    made = []

    def make(image: np.ndarray, backend, *, prefetch: bool = False, wait: bool = True,
             slow_seconds: float = 0.6, **kwargs):
        viewer = make_napari_viewer(show=True)
        viewer.add_image(image, name="img", **kwargs)
        widget = AnnotatorWidget(viewer, backend=backend)
        # A loaded CI machine can make a fast test backend look slow (> 0.1 s) and move its
        # predictions into a worker mid-test; tests that exercise the worker set their own.
        widget.predict_times.threshold = slow_seconds
        widget.encoder.prefetch_enabled = prefetch
        viewer.window.add_dock_widget(widget, name="PromptSeg")
        made.append(widget)
        if wait:
            key = widget.displayed_slice()
            qtbot.waitUntil(lambda: widget.session.embedding(key) is not None and not widget.encoder.busy, timeout=20000)
        qtbot.wait(50)  # the dock's first show fits the image to the canvas from a 0-ms timer: as a hand would, click after
        return viewer, widget

    yield make
    for widget in made:
        widget.encoder.cancel()
        qtbot.waitUntil(lambda: not widget.encoder.busy, timeout=20000)


@pytest.fixture
def image_2d() -> np.ndarray:
    return synthetic_nuclei_2d((64, 64), n_nuclei=4, seed=3).image


@pytest.fixture
def stack_3d() -> np.ndarray:
    return synthetic_nuclei_3d((8, 64, 64), n_nuclei=6, seed=3).image
