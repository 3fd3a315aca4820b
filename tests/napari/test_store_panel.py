"""The annotator reads embeddings from a store and never re-encodes what it holds."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from promptseg.data import synthetic_nuclei_3d
from promptseg.store import StoredBackend, embed_stack, store_path_for

pytestmark = pytest.mark.gui


@pytest.fixture
def small_stack() -> np.ndarray:
    return synthetic_nuclei_3d((8, 48, 48), n_nuclei=4, seed=5).image[:5].copy()


def _embed(stack, backend, path, **kwargs):
    for _ in embed_stack(stack, backend, path, **kwargs):
        pass


def _count_encodes(monkeypatch, backend) -> list:
    calls = []
    encode = backend.encode

    def counting(image, **kwargs):
        calls.append(np.shape(image))
        return encode(image, **kwargs)

    monkeypatch.setattr(backend, "encode", counting)
    return calls


def _visit_every_slice(viewer, widget, qtbot, n: int) -> None:
    for z in [*range(n), 2, 0]:
        viewer.dims.set_point(0, z)
        qtbot.waitUntil(lambda: widget.session.embedding((z,)) is not None and not widget.encoder.busy, timeout=20000)


def test_store_next_to_the_image_is_found_and_never_reencoded(make_napari_viewer, qtbot, tmp_path, monkeypatch,
                                                               small_stack, tiny_backend) -> None:
    from promptseg._napari.annotator import AnnotatorWidget

    image = tmp_path / "stack.tif"
    tifffile.imwrite(image, small_stack)
    _embed(small_stack, tiny_backend, store_path_for(image), contrast_limits=(100, 3000))
    calls = _count_encodes(monkeypatch, tiny_backend)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(image), plugin="napari")  # the builtin reader: no reader-choice dialog
    widget = AnnotatorWidget(viewer, backend=tiny_backend)
    widget.encoder.prefetch_enabled = True
    viewer.window.add_dock_widget(widget)
    stored = widget.session.backend
    assert isinstance(stored, StoredBackend)
    assert widget.session.image.contrast_limits == (100.0, 3000.0)  # scaled as the store was
    assert tuple(viewer.layers["stack"].contrast_limits) == (100.0, 3000.0)
    _visit_every_slice(viewer, widget, qtbot, 5)
    widget.layers.points.add([0, 24, 24])  # on the displayed slice
    assert widget.session.prediction is not None
    widget.encoder.cancel()
    qtbot.waitUntil(lambda: not widget.encoder.busy, timeout=20000)
    # Every slice came from the store (a slice asked for by the prefetcher and on demand at once may be read twice).
    assert calls == [] and stored.misses == 0 and stored.hits >= 5
    assert f"{stored.hits} slices read, 0 encoded" in widget.store_panel.status.text()


def test_store_chosen_in_the_field(annotator, qtbot, tmp_path, monkeypatch, small_stack, tiny_backend) -> None:
    path = tmp_path / "chosen.embeddings.zarr"
    _embed(small_stack, tiny_backend, path)
    viewer, widget = annotator(small_stack, tiny_backend)  # an array layer: no file, no store found
    assert not isinstance(widget.session.backend, StoredBackend)
    calls = _count_encodes(monkeypatch, tiny_backend)
    widget.store_panel.field.setText(str(path))
    assert widget.store_panel.open_store(str(path))
    assert isinstance(widget.session.backend, StoredBackend)
    assert widget.session.image.contrast_limits is None  # the store used robust percentiles
    _visit_every_slice(viewer, widget, qtbot, 5)
    assert calls == []


def test_store_of_other_data_is_refused_with_a_notification(annotator, qtbot, tmp_path, monkeypatch,
                                                            small_stack, tiny_backend) -> None:
    from napari.utils.notifications import notification_manager

    path = tmp_path / "other.embeddings.zarr"
    _embed(small_stack[:, ::-1].copy(), tiny_backend, path)  # same shape, other pixels
    viewer, widget = annotator(small_stack, tiny_backend)
    seen = []
    notification_manager.notification_ready.connect(lambda n: seen.append(str(n.message)))
    calls = _count_encodes(monkeypatch, tiny_backend)
    assert not widget.store_panel.open_store(path)
    assert any("other data" in m and "promptseg embed" in m for m in seen)
    assert not isinstance(widget.session.backend, StoredBackend)
    viewer.dims.set_point(0, 0)
    qtbot.waitUntil(lambda: widget.session.embedding((0,)) is not None and not widget.encoder.busy, timeout=20000)
    assert len(calls) == 1  # encoded live: the annotator keeps working
    widget.layers.points.add([0, 24, 24])
    assert widget.session.prediction is not None


def test_store_of_another_model_says_which_model(annotator, qtbot, tmp_path, small_stack, tiny_backend) -> None:
    from napari.utils.notifications import notification_manager

    from disk_backend import DiskBackend

    path = tmp_path / "s.embeddings.zarr"
    _embed(small_stack, tiny_backend, path)
    viewer, widget = annotator(small_stack, DiskBackend())
    seen = []
    notification_manager.notification_ready.connect(lambda n: seen.append(str(n.message)))
    widget.store_panel.open_store(path)
    assert any("computed with the model 'tiny'" in m and "Model menu" in m for m in seen)
    assert widget.session.backend.name == "disks"
    widget.set_backend(tiny_backend)  # the store's model: now the store is used
    assert isinstance(widget.session.backend, StoredBackend)


def test_series_images_find_their_stores(make_napari_viewer, qtbot, tmp_path, monkeypatch, small_stack,
                                         tiny_backend) -> None:
    from promptseg._napari.annotator import AnnotatorWidget

    for i in range(2):
        tifffile.imwrite(tmp_path / f"plane_{i}.tif", small_stack[i])
    _embed(small_stack[1], tiny_backend, store_path_for(tmp_path / "plane_1.tif"))
    calls = _count_encodes(monkeypatch, tiny_backend)
    viewer = make_napari_viewer(show=True)
    widget = AnnotatorWidget(viewer, backend=tiny_backend)
    viewer.window.add_dock_widget(widget)
    assert widget.series_panel.open_folder(tmp_path) == 0
    qtbot.waitUntil(lambda: widget.session.embedding(()) is not None and not widget.encoder.busy, timeout=20000)
    assert len(calls) == 1 and not isinstance(widget.session.backend, StoredBackend)  # no store: encoded
    widget.series_panel.step(1)
    qtbot.waitUntil(lambda: widget.session.embedding(()) is not None and not widget.encoder.busy, timeout=20000)
    assert len(calls) == 1 and isinstance(widget.session.backend, StoredBackend)  # read from its store
