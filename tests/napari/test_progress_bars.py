"""Progress bars reach napari's activity dialog, also after jobs that end before their bar is set up."""

from __future__ import annotations

import pytest
from canvas_events import click
from napari._qt.widgets.qt_progress_bar import QtLabeledProgressBar
from qtpy.QtCore import Qt
from sam2_fixture import drifting_disc_stack, tiny_tracker_model

from promptseg.backends.sam2 import Sam2Backend

pytestmark = pytest.mark.gui


def _bars(viewer) -> list[str]:
    """Descriptions of the progress bars the activity dialog shows now."""
    dialog = viewer.window._qt_window._activity_dialog
    return [bar.description_label.text() for bar in dialog.findChildren(QtLabeledProgressBar)]


def test_propagation_bar_shows_after_quick_encodes(annotator, qtbot) -> None:
    # A tiny model encodes a slice in milliseconds: with napari's own `_progress`
    # the encode's bar was closed while the dialog was still adding it, and the
    # dialog stopped listening for the rest of the session (no bar ever again).
    backend = Sam2Backend(tiny_tracker_model(), name="tiny-tracker", checkpoint_hash="test")
    viewer, widget = annotator(drifting_disc_stack(), backend)
    widget.encoder.prefetch_enabled = False
    for z in (2, 3, 2):  # a few quick encodes, each with its bar
        viewer.dims.set_point(0, z)
        qtbot.waitUntil(lambda: widget.session.embedding((z,)) is not None and not widget.encoder.busy,
                        timeout=30000)
    click(viewer, qtbot, 20, 21)
    qtbot.waitUntil(lambda: widget.session.prediction is not None, timeout=20000)
    panel = widget.propagate_panel
    seen: list[list[str]] = []

    def pressed() -> None:  # runs after the panel's own handler: the worker exists, not started yet
        seen.append(_bars(viewer))
        panel.worker.yielded.connect(lambda _: seen.append(_bars(viewer)))  # and while it runs

    panel.run.clicked.connect(pressed)
    qtbot.mouseClick(panel.run, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120000)
    assert len(seen) > 2
    assert all(any(text.startswith("PromptSeg: propagating") for text in bars) for bars in seen), seen
