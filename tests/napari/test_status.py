"""The status line says what is true now; a failed load is one line and leaves the running model in the menu."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

from canvas_events import choose, click
from disk_backend import DiskBackend

pytestmark = pytest.mark.gui


def _status(widget) -> str:
    return widget.panel.status.text()


def test_status_says_ready_once_the_image_is_encoded(annotator, image_2d) -> None:
    viewer, widget = annotator(image_2d, DiskBackend())  # returns once the slice is encoded
    assert _status(widget) == "Ready (disks). Click on an object."


def test_an_empty_viewer_says_the_model_is_ready_then_the_image(make_napari_viewer, image_2d, qtbot) -> None:
    from promptseg._napari.annotator import AnnotatorWidget

    viewer = make_napari_viewer(show=True)
    widget = AnnotatorWidget(viewer)  # loads the default model, classic, in a worker
    viewer.window.add_dock_widget(widget)
    qtbot.waitUntil(lambda: widget.backend is not None, timeout=20000)
    assert _status(widget) == "classic is ready: open an image (File > Open) or pick one in the Image menu."
    viewer.add_image(image_2d, name="img")
    qtbot.waitUntil(lambda: _status(widget) == "Ready (classic). Click on an object.", timeout=20000)
    widget.encoder.cancel()


@pytest.mark.parametrize("kind", ["constant", "nan"])
def test_a_click_on_a_slice_that_cannot_be_encoded_says_why(annotator, qtbot, kind) -> None:
    from promptseg.backends.classic import ClassicBackend

    image = np.full((64, 64), 7, np.uint16)
    if kind == "nan":
        image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
        image[5, 5] = np.nan
    viewer, widget = annotator(image, ClassicBackend(), wait=False)
    qtbot.waitUntil(lambda: widget.encoder.failure(widget.session, ()) is not None, timeout=20000)
    click(viewer, qtbot, 30, 30)
    text = _status(widget)
    assert text.startswith("This slice cannot be segmented: image ")
    assert ("constant" if kind == "constant" else "NaN") in text and "answered as soon" not in text
    assert not widget.encoder.busy and len(widget.layers.points.data) == 1  # the click is kept
    assert widget.panel.status.toolTip()


def test_status_after_loading_a_checkpoint_file(annotator, image_2d, tiny_model, tmp_path, qtbot) -> None:
    import torch

    path = tmp_path / "tiny.pt"
    torch.save(tiny_model.state_dict(), path)
    viewer, widget = annotator(image_2d, DiskBackend())
    widget.set_backend(str(path))
    assert _status(widget) == f"Ready (disks). Click on an object. (Loading {path}…)"
    qtbot.waitUntil(lambda: widget.backend.name == "tiny.pt", timeout=30000)
    qtbot.waitUntil(lambda: widget.session.embedding(()) is not None and not widget.encoder.busy, timeout=30000)
    assert _status(widget) == "Ready (tiny.pt). Click on an object."
    assert widget.panel.backend_combo.currentText() == "tiny.pt (loaded)"


def _dock(widget):
    from qtpy.QtWidgets import QDockWidget

    parent = widget.parent()
    while not isinstance(parent, QDockWidget):
        parent = parent.parent()
    return parent


def test_a_corrupt_checkpoint_is_one_line_and_the_menu_shows_the_running_model(
        annotator, image_2d, tmp_path, qtbot, monkeypatch, caplog) -> None:
    import torch
    from napari.utils.notifications import notification_manager
    from qtpy.QtWidgets import QFileDialog

    bad = tmp_path / "trained.pt"  # a training script's checkpoint: weights plus pickled Python objects
    torch.save({"model": {"w": torch.zeros(2)}, "args": argparse.Namespace(lr=0.1)}, bad)
    viewer, widget = annotator(image_2d, DiskBackend())
    click(viewer, qtbot, 20, 20)
    widget.commit()
    combo, dock = widget.panel.backend_combo, _dock(widget)
    running, width = combo.currentText(), dock.width()
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (asked.append(a), (str(bad), ""))[1])
    notes = []
    notification_manager.notification_ready.connect(lambda n: notes.append(str(n.message)))

    choose(qtbot, combo, "Checkpoint file…")
    assert len(asked) == 1
    qtbot.waitUntil(lambda: widget.menu.loading is None, timeout=20000)
    qtbot.wait(50)
    text, tip = _status(widget), widget.panel.status.toolTip()
    assert text == ("Not loaded: cannot read checkpoint trained.pt: it holds Python objects besides tensors "
                    "(argparse.Namespace), not loaded for safety. Use a weights-only file "
                    "(torch.save(model.state_dict(), ...)) or a published checkpoint. Still using disks.")
    assert str(bad) in tip
    shown = [text, tip, *notes, caplog.text]
    assert not any(re.search(r"weights_only\W*(set to|=)\W*False|file an issue", t, re.I) for t in shown)
    assert combo.currentText() == running and widget.backend.name == "disks"
    assert dock.width() == width and dock.minimumSizeHint().width() <= 350
    assert widget.layers.objects.data.max() == 1

    choose(qtbot, combo, "Checkpoint file…")  # the same choice again: the dialog opens again
    assert len(asked) == 2
    qtbot.waitUntil(lambda: widget.menu.loading is None, timeout=20000)
    assert combo.currentText() == running


def test_a_dialog_closed_without_a_file_leaves_the_running_model(annotator, image_2d, qtbot, monkeypatch) -> None:
    from qtpy.QtWidgets import QFileDialog

    viewer, widget = annotator(image_2d, DiskBackend())
    combo = widget.panel.backend_combo
    running = combo.currentText()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    choose(qtbot, combo, "Checkpoint file…")
    assert combo.currentText() == running and widget.menu.loading is None


def test_a_classic_answer_shows_no_score(annotator, image_2d) -> None:
    """classic's score is no quality estimate (a good box answer scored 0.20): it is not shown."""
    from promptseg.backends.classic import ClassicBackend

    viewer, widget = annotator(image_2d, ClassicBackend())
    widget.layers.shapes.add(np.array([[10, 10], [10, 40], [40, 40], [40, 10]]), shape_type="rectangle")
    assert widget.session.prediction is not None
    assert re.fullmatch(r"Object 1: \d+ px\. C commits it\.", _status(widget)), _status(widget)


def test_a_sam_answer_shows_its_predicted_iou(annotator, image_2d, tiny_backend, qtbot) -> None:
    viewer, widget = annotator(image_2d, tiny_backend)
    click(viewer, qtbot, 30, 30)
    assert widget.session.prediction is not None
    assert re.fullmatch(r"Object 1: \d+ px, score -?\d+\.\d\d\. C commits it\.", _status(widget)), _status(widget)


def test_the_dock_fits_in_350_pixels_with_everything_in_it(annotator, image_2d, qtbot) -> None:
    from qtpy.QtCore import Qt

    from promptseg._napari.keys import SHORTCUTS
    from promptseg.errors import CheckpointError

    viewer, widget = annotator(image_2d, DiskBackend())
    viewer.window._qt_window.resize(1000, 600)  # a short window: the unfolded dock is taller than it
    dock = _dock(widget)
    assert dock.minimumSizeHint().width() <= 350
    for header in widget.panel.section_headers.values():  # every section unfolded
        if not header.isChecked():
            qtbot.mouseClick(header, Qt.LeftButton)
    widget.report_error(CheckpointError("cannot read checkpoint " + "/a_long_folder_name" * 12 + "/x.pt: broken"))
    qtbot.wait(50)
    assert all(h.isChecked() for h in widget.panel.section_headers.values())
    assert dock.minimumSizeHint().width() <= 350
    for section in (widget.store_panel, widget.propagate_panel, widget.series_panel, widget.find_similar_panel,
                    widget.panel.help):  # nothing is squeezed: what does not fit scrolls
        assert section.height() >= section.minimumSizeHint().height(), type(section).__name__
        assert section.width() >= section.minimumSizeHint().width(), type(section).__name__
    assert widget.panel.scroll.verticalScrollBar().maximum() > 0
    help_text = widget.panel.help.text()
    for key, _, _ in SHORTCUTS:
        assert f"<b>{key.replace('Control', 'Ctrl').replace('-', '+')}</b>" in help_text
    assert "Ctrl/Alt-click" in help_text
    p = widget.panel
    for button, shortcut in ((p.clear, "Shift+C"), (p.undo, "Ctrl+Z"), (p.redo, "Ctrl+Shift+Z"), (p.polarity, "N")):
        assert shortcut in button.toolTip()
