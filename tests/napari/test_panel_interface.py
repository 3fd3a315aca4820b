"""A new panel works through the host.Annotator interface alone: events, the session, committing, editing."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from canvas_events import click
from disk_backend import DiskBackend
from promptseg._napari.host import Annotator
from promptseg.prompts import Prompts

pytestmark = pytest.mark.gui


class CountPanel(QWidget):
    """Counts committed objects; commits a square through the session, as a feature panel would."""

    def __init__(self, annotator: Annotator) -> None:
        super().__init__()
        self.annotator = annotator
        self.label = QLabel()
        QVBoxLayout(self).addWidget(self.label)
        self.images = self.encoded = 0
        annotator.image_changed.connect(self._image)
        annotator.slice_encoded.connect(self._encoded)

    def _image(self) -> None:
        self.images += 1

    def _encoded(self) -> None:
        self.encoded += 1

    def commit_square(self) -> int:
        session = self.annotator.session
        key = self.annotator.displayed_slice()
        session.set_prompts(key, Prompts(points=[(50, 50)], labels=[1]))
        label = session.commit(overwrite=self.annotator.overwrite).label
        self.annotator.objects_changed(session, (key,))
        return label


def test_a_panel_sees_events_and_commits_through_the_interface(annotator, qtbot) -> None:
    image = np.zeros((3, 64, 64), np.uint8)
    viewer, widget = annotator(image, DiskBackend())
    panel = widget.add_panel("Count", CountPanel, expanded=True)
    assert isinstance(panel, CountPanel) and widget.panel.section_headers["Count"].isChecked()
    key = (0,) if widget.displayed_slice() != (0,) else (2,)
    viewer.dims.set_point(0, key[0])  # a slice not encoded yet
    qtbot.waitUntil(lambda: panel.encoded >= 1, timeout=20000)
    click(viewer, qtbot, 20, 20)  # a real click: the panel then replaces this current object by its own
    assert widget.session.prediction is not None and widget.session.draft.slice_key == key
    label = panel.commit_square()
    objects = widget.layers.objects
    assert objects.data[key + (50, 50)] == label and objects.data[key + (20, 20)] == 0
    shown = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
    widget.undo()  # the panel's commit is one undoable step of the session
    assert objects.data[key + (50, 50)] == 0
    assert (np.asarray(viewer.screenshot(canvas_only=True, flash=False)) != shown).any()
    images = panel.images
    widget.set_image_layer(viewer.add_image(image[0], name="other"))
    assert panel.images == images + 1 and widget.session is widget.session_of(viewer.layers["other"])
