"""Image series mode: walk a folder, one label TIFF per image, resume where the user stopped."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from disk_backend import DiskBackend
from promptseg.data import synthetic_nuclei_2d

pytestmark = pytest.mark.gui


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        tifffile.imwrite(images / f"cells_{i}.tif", synthetic_nuclei_2d((48, 56), n_nuclei=3, seed=i).image)
    return images


def _widget(make_napari_viewer, qtbot):
    from promptseg._napari.annotator import AnnotatorWidget

    viewer = make_napari_viewer(show=True)
    widget = AnnotatorWidget(viewer, backend=DiskBackend())
    widget.encoder.prefetch_enabled = False
    viewer.window.add_dock_widget(widget)
    return viewer, widget


def _ready(widget, qtbot) -> None:
    qtbot.waitUntil(lambda: widget.session is not None and widget.session.embedding(()) is not None
                    and not widget.encoder.busy, timeout=20000)


def test_walk_save_and_resume(make_napari_viewer, qtbot, folder, tmp_path) -> None:
    viewer, widget = _widget(make_napari_viewer, qtbot)
    panel = widget.series_panel
    assert panel.open_folder(folder) == 0
    assert widget.image_layer.name == "cells_0.tif" and "Image 1 of 3" in panel.status.text()
    _ready(widget, qtbot)
    widget.layers.points.add([20, 20])
    assert widget.commit() == 1
    assert panel.step(1) == 1  # saves image 0, opens image 1
    assert (folder / "cells_0.labels.tif").exists()
    assert [layer.name for layer in viewer.layers if "cells_0" in layer.name] == []  # the old image is closed
    assert widget.image_layer.name == "cells_1.tif" and widget.layers.objects.data.max() == 0
    _ready(widget, qtbot)
    widget.layers.points.add([30, 30])
    widget.commit()
    widget.layers.points.add([10, 40])
    widget.commit()
    assert panel.step(1) == 2
    saved = tifffile.imread(folder / "cells_1.labels.tif")
    assert saved.shape == (48, 56) and sorted(np.unique(saved).tolist()) == [0, 1, 2]
    assert saved[30, 30] == 1 and saved[10, 40] == 2
    assert not (folder / "cells_2.labels.tif").exists()
    viewer.close()

    viewer2, widget2 = _widget(make_napari_viewer, qtbot)  # another day: resumes at the first unlabelled image
    assert widget2.series_panel.open_folder(folder) == 2
    assert widget2.image_layer.name == "cells_2.tif"
    assert widget2.series_panel.step(-1) == 1  # back: the saved objects are there, ids go on after them
    np.testing.assert_array_equal(widget2.layers.objects.data, saved)
    _ready(widget2, qtbot)
    widget2.layers.points.add([40, 10])
    assert widget2.commit() == 3
    widget2.undo()
    np.testing.assert_array_equal(widget2.layers.objects.data, saved)  # the saved objects are not undone


def test_output_folder_and_errors(make_napari_viewer, qtbot, folder, tmp_path) -> None:
    from napari.utils.notifications import notification_manager

    viewer, widget = _widget(make_napari_viewer, qtbot)
    seen = []
    notification_manager.notification_ready.connect(lambda n: seen.append(str(n.message)))
    assert widget.series_panel.open_folder(tmp_path / "missing") is None
    assert any("not found" in m for m in seen)
    out = tmp_path / "labels"
    panel = widget.series_panel
    assert panel.open_folder(folder, output_dir=out) == 0
    _ready(widget, qtbot)
    widget.layers.points.add([20, 20])  # drawn, not committed: not saved, and the user is told
    assert panel.step(1) == 1
    assert any("not committed" in m for m in seen)
    assert not (out / "cells_0.labels.tif").exists() and not (folder / "cells_0.labels.tif").exists()  # nothing to save
    assert panel.step(-1) == 0 and panel.step(-1) == 0  # the first image: stays
    widget.set_image_layer(viewer.add_image(tifffile.imread(folder / "cells_2.tif"), name="other"))
    _ready(widget, qtbot)
    assert panel.step(1) == 1  # the series image is saved from its own session while another is shown
    assert widget.image_layer.name == "cells_1.tif"
    viewer.layers.remove(widget.image_layer)  # the user closes the series image: nothing to save, go on
    assert panel.step(1) == 2 and widget.image_layer.name == "cells_2.tif"


def test_next_past_an_empty_image_resumes_there_unless_marked_done(make_napari_viewer, qtbot, folder) -> None:
    from qtpy.QtCore import Qt

    viewer, widget = _widget(make_napari_viewer, qtbot)
    panel = widget.series_panel
    assert panel.open_folder(folder) == 0
    _ready(widget, qtbot)
    qtbot.mouseClick(panel.next, Qt.LeftButton)  # nothing committed, not marked: image 0 stays to do
    assert widget.image_layer.name == "cells_1.tif"
    assert not (folder / "cells_0.labels.tif").exists()
    assert "(not done)" in panel.status.text() and not panel.mark_done.isChecked()
    _ready(widget, qtbot)
    qtbot.mouseClick(panel.mark_done, Qt.LeftButton)  # nothing to annotate in image 1: done on purpose
    assert panel.mark_done.isChecked() and "done: marked, no objects" in panel.status.text()
    assert tifffile.imread(folder / "cells_1.labels.tif").max() == 0
    qtbot.mouseClick(panel.next, Qt.LeftButton)
    assert widget.image_layer.name == "cells_2.tif" and not panel.mark_done.isChecked()
    viewer.close()

    viewer2, widget2 = _widget(make_napari_viewer, qtbot)
    panel2 = widget2.series_panel
    assert panel2.open_folder(folder) == 0  # the image passed over untouched is where the work resumes
    assert widget2.image_layer.name == "cells_0.tif"
    _ready(widget2, qtbot)
    widget2.layers.points.add([20, 20])
    assert widget2.commit() == 1
    qtbot.mouseClick(panel2.next, Qt.LeftButton)
    assert widget2.image_layer.name == "cells_1.tif" and panel2.mark_done.isChecked()  # its mark is shown
    assert "done: 1 object saved" not in panel2.status.text()
    _ready(widget2, qtbot)
    qtbot.mouseClick(panel2.mark_done, Qt.LeftButton)  # unmarked: to do again
    assert not panel2.mark_done.isChecked() and "(not done)" in panel2.status.text()
    viewer2.close()
    viewer3, widget3 = _widget(make_napari_viewer, qtbot)
    assert widget3.series_panel.open_folder(folder) == 1
