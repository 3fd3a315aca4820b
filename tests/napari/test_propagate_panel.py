"""3D propagation from the annotator: one object across slices, one undo step."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.backends import load_backend
from promptseg.data import synthetic_nuclei_3d

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def sample():
    return synthetic_nuclei_3d((16, 64, 64), n_nuclei=3, seed=0)


def _tallest(labels: np.ndarray) -> tuple[int, int, int, int]:
    """(id, z, row, col): the nucleus on most slices, its widest slice and its innermost pixel there."""
    from scipy import ndimage

    ids = np.unique(labels[labels > 0])
    obj = int(ids[np.argmax([(labels == i).any(axis=(1, 2)).sum() for i in ids])])
    z = int(np.argmax((labels == obj).sum(axis=(1, 2))))
    depth = ndimage.distance_transform_edt(labels[z] == obj)
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return obj, z, int(r), int(c)


def _open_on(annotator, sample, z, qtbot):
    viewer, widget = annotator(sample.image, load_backend("classic"))
    viewer.dims.set_point(0, z)
    qtbot.waitUntil(lambda: widget.session.embedding((z,)) is not None and not widget.encoder.busy, timeout=30000)
    return viewer, widget


def _run(widget, qtbot, **kwargs):
    panel = widget.propagate_panel
    worker = panel.propagate(**kwargs)
    assert worker is not None and worker.pbar.desc == "PromptSeg: propagating"  # a napari progress bar
    assert not panel.run.isEnabled() and panel.stop.isEnabled()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120000)
    assert panel.run.isEnabled() and not panel.stop.isEnabled()


def test_propagate_current_object_then_undo(annotator, sample, qtbot) -> None:
    obj, z, r, c = _tallest(sample.labels)
    viewer, widget = _open_on(annotator, sample, z, qtbot)
    panel = widget.propagate_panel
    assert (panel.first.value(), panel.last.value(), panel.first.maximum()) == (0, 15, 15)
    widget.layers.points.add([z, r, c])
    assert widget.session.prediction is not None
    _run(widget, qtbot)
    objects = widget.layers.objects.data
    truth = sample.labels == obj
    slices = [k for k in range(16) if (objects[k] == 1).any()]
    assert len(slices) >= 3 and z in slices
    assert set(np.unique(objects).tolist()) == {0, 1}
    inter, union = np.logical_and(objects == 1, truth).sum(), np.logical_or(objects == 1, truth).sum()
    assert inter / union > 0.5, f"3D IoU {inter / union:.2f}"
    assert len(widget.session.committed) == 1 and widget.session.draft.is_empty
    assert len(widget.layers.points.data) == 0  # the click went with the committed object
    assert "Ctrl+Z removes it" in panel.status.text()
    widget.undo()  # one step: gone from every slice, the click is back
    assert objects.max() == 0 and len(widget.layers.points.data) == 1
    widget.redo()
    assert sorted(k for k in range(16) if (objects[k] == 1).any()) == slices


def test_propagate_committed_object_within_a_range(annotator, sample, qtbot) -> None:
    obj, z, r, c = _tallest(sample.labels)
    viewer, widget = _open_on(annotator, sample, z, qtbot)
    widget.layers.points.add([z, r, c])
    assert widget.commit() == 1
    panel = widget.propagate_panel
    panel.first.setValue(z)
    panel.last.setValue(z + 2)
    panel.object.setValue(1)
    _run(widget, qtbot)
    objects = widget.layers.objects.data
    with_object = {k for k in range(16) if (objects[k] == 1).any()}
    assert z in with_object and with_object <= {z, z + 1, z + 2} and len(with_object) >= 2
    assert len(widget.session.committed) == 1  # the committed object grew; no new one
    before = objects[z].copy()
    widget.undo()  # removes the extension only
    assert {k for k in range(16) if (objects[k] == 1).any()} == {z}
    np.testing.assert_array_equal(objects[z], before)


def test_propagate_refuses_what_it_cannot_do(annotator, sample, qtbot) -> None:
    from napari.utils.notifications import notification_manager

    obj, z, r, c = _tallest(sample.labels)
    viewer, widget = _open_on(annotator, sample, z, qtbot)
    seen = []
    notification_manager.notification_ready.connect(lambda n: seen.append(str(n.message)))
    assert widget.propagate_panel.propagate() is None  # nothing drawn yet
    assert any("segment an object" in m for m in seen)
    widget.layers.points.add([z, r, c])
    widget.propagate_panel.first.setValue(0)
    widget.propagate_panel.last.setValue(max(z - 1, 0))
    assert widget.propagate_panel.propagate() is None
    assert any("outside the range" in m for m in seen)
    assert widget.layers.objects.data.max() == 0


def test_stop_writes_nothing(annotator, stack_3d, qtbot) -> None:
    import threading

    from disk_backend import DiskBackend

    class Gated(DiskBackend):
        gate = threading.Event()

        def predict(self, embedding, *args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                self.gate.wait(timeout=10)  # the propagation's calls (worker thread) wait for the test
            return super().predict(embedding, *args, **kwargs)

    viewer, widget = annotator(stack_3d, Gated())
    (z,) = widget.displayed_slice()
    widget.layers.points.add([z, 30, 30])
    panel = widget.propagate_panel
    try:
        assert panel.propagate() is not None
        panel.cancel()
    finally:
        Gated.gate.set()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=20000)
    assert widget.layers.objects.data.max() == 0 and "nothing was written" in panel.status.text()
    assert not widget.session.draft.is_empty  # the object being drawn is still there
