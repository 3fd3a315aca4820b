"""EmbeddingStore: round trip, float16 vs float32, signature mismatch, resume, StoredBackend."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from store_fakes import ComponentBackend, ScriptedBackend, iou, run

from promptseg.data import synthetic_nuclei_2d, synthetic_nuclei_3d
from promptseg.errors import StoreError, StoreMismatchError
from promptseg.prompts import Prompts
from promptseg.session import AnnotationSession, ImageStack
from promptseg.store import (
    EmbeddingStore, StoredBackend, describe_image, embed_stack, expected_metadata, find_store, plan_tiling,
    store_path_for,
)
from promptseg.store.sources import ArraySource


@pytest.fixture(scope="module")
def stack():
    return synthetic_nuclei_3d((8, 48, 64), n_nuclei=4, seed=2).image


def _metadata(backend, image, **kw):
    info = describe_image(ArraySource(image), contrast_limits=kw.pop("contrast_limits", None))
    return expected_metadata(backend, info, plan_tiling(image.shape[-2:]), **kw)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip_matches_encoding(tmp_path, tiny_backend, stack, dtype):
    _, store = run(embed_stack(stack[:3], tiny_backend, tmp_path / "s.zarr", dtype=dtype))
    assert store.done().all() and store.n_slices == 3
    reopened = EmbeddingStore.open(tmp_path / "s.zarr", backend=tiny_backend)
    assert reopened.metadata == store.metadata
    assert reopened.metadata.dtype == dtype and str(reopened._arrays["embedding"].dtype) == dtype
    emb = reopened.load(1)
    fresh = tiny_backend.encode(stack[1])
    assert emb.image_shape == fresh.image_shape == stack.shape[1:]
    a, b = emb.features.embedding, fresh.features.embedding
    assert a.dtype == torch.float32 and a.shape == b.shape
    assert torch.allclose(a, b, atol=0 if dtype == "float32" else 1e-2 * float(b.abs().max()))
    pred = tiny_backend.predict(emb, points=[(24, 30)])
    assert pred.mask.shape == stack.shape[1:]


def test_metadata_is_json_and_complete(tmp_path, tiny_backend, stack):
    run(embed_stack(stack[:2], tiny_backend, tmp_path / "s.zarr", contrast_limits=(100, 3000)))
    meta = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())["attributes"]["promptseg"]
    assert meta["backend_name"] == "tiny" and meta["backend_id"] == tiny_backend.backend_id
    assert meta["checkpoint_hash"] == "test" and meta["codec"] == "sam-image-embedding/1"
    assert meta["image"]["shape"] == [2, 48, 64] and meta["image"]["dtype"] == "uint16"
    assert len(meta["image"]["slice_digests"]) == 2 and len(meta["image"]["signature"]) == 32
    assert meta["image"]["contrast_limits"] == [100.0, 3000.0]
    assert meta["preprocessing_version"] >= 1 and meta["tiling"]["origins"] == [[0, 0]]
    assert meta["dtype"] == "float16"


def _predictions_agree(backend, image, prompts_list):
    from promptseg.store.codec import cast_arrays

    emb32 = backend.encode(image)
    arrays = backend.embedding_to_arrays(emb32)
    half = cast_arrays(arrays, backend.embedding_layout(emb32.image_shape), np.dtype("float16"))
    emb16 = backend.embedding_from_arrays(half, emb32.image_shape)
    return [iou(backend.predict(emb16, **p).mask, backend.predict(emb32, **p).mask) for p in prompts_list]


PROMPTS = [
    {"points": [(40, 50)]},
    {"points": [(40, 50), (20, 30)], "labels": [1, 0]},
    {"box": (20, 25, 70, 90)},
    {"points": [(45, 60)], "box": (20, 25, 70, 90)},
]


def test_float16_masks_agree_tiny(tiny_backend):
    image = synthetic_nuclei_2d((96, 128), n_nuclei=5, seed=4).image
    assert min(_predictions_agree(tiny_backend, image, PROMPTS)) >= 0.99


@pytest.mark.parametrize("fixture", ["small_vit", "small_tinyvit"])
def test_float16_masks_agree_golden(shared_dir, fixture):
    from promptseg.backends.sam import SamBackend
    from promptseg.model.build import build_sam
    from promptseg.model.config import SamConfig

    base = shared_dir / "fixtures" / "sam" / fixture
    model = build_sam(SamConfig.from_dict(json.loads((base / "config.json").read_text())))
    model.load_state_dict(torch.load(base / "state_dict.pt", map_location="cpu", weights_only=True), strict=True)
    image = np.load(base / "case.npz")["image"]
    h, w = image.shape[:2]
    prompts = [{"points": [(h * 0.5, w * 0.5)]}, {"box": (h * 0.2, w * 0.2, h * 0.7, w * 0.8)},
               {"points": [(h * 0.4, w * 0.6), (h * 0.1, w * 0.1)], "labels": [1, 0]}]
    assert min(_predictions_agree(SamBackend(model, name=fixture, device="cpu"), image, prompts)) >= 0.99


def test_float16_masks_agree_random_vit_t():
    from promptseg.backends.sam import SamBackend
    from promptseg.model.build import build_sam

    torch.manual_seed(0)
    backend = SamBackend(build_sam("vit_t"), name="random-vit_t", device="cpu")
    image = synthetic_nuclei_2d((96, 128), n_nuclei=5, seed=4).image
    assert min(_predictions_agree(backend, image, PROMPTS)) >= 0.99


def test_other_data_is_refused_then_overwritten(tmp_path, tiny_backend, stack):
    path = tmp_path / "s.zarr"
    run(embed_stack(stack[:3], tiny_backend, path))
    changed = stack[:3].copy()
    changed[1, 5, 5] += 1
    with pytest.raises(StoreMismatchError, match=r"other image data \(1 of 3 slices differ: 1\).*overwrite=True") as err:
        run(embed_stack(changed, tiny_backend, path))
    assert "--overwrite" in err.value.cli and "overwrite=True" not in err.value.cli  # what `promptseg embed` prints
    with pytest.raises(StoreMismatchError, match="shape"):
        EmbeddingStore.open(path, backend=tiny_backend, expected=_metadata(tiny_backend, stack[:4]))
    with pytest.raises(StoreMismatchError, match="contrast limits"):
        EmbeddingStore.open(path, expected=_metadata(tiny_backend, stack[:3], contrast_limits=(0, 100)))
    with pytest.raises(StoreMismatchError, match="float32 embeddings instead of float16|float16 embeddings instead"):
        EmbeddingStore.open(path, expected=_metadata(tiny_backend, stack[:3], dtype="float32"))
    steps, store = run(embed_stack(changed, tiny_backend, path, overwrite=True))
    assert len(steps) == 3 and store.metadata.image.slice_digests == describe_image(ArraySource(changed)).slice_digests


def test_other_model_is_refused(tmp_path, tiny_backend, tiny_model, stack):
    from promptseg.backends.sam import SamBackend

    run(embed_stack(stack[:2], tiny_backend, tmp_path / "s.zarr"))
    other = SamBackend(tiny_model, name="tiny", checkpoint_hash="other-weights")
    with pytest.raises(StoreMismatchError, match="other-weights"):
        run(embed_stack(stack[:2], other, tmp_path / "s.zarr"))
    with pytest.raises(StoreMismatchError, match="backend"):
        StoredBackend.open(tmp_path / "s.zarr", other)


def test_backend_without_codec_is_refused(tmp_path, stack):
    with pytest.raises(StoreError, match="'scripted' cannot write its embeddings to a store.*lacks embedding_codec"):
        run(embed_stack(stack[:2], ScriptedBackend(), tmp_path / "s.zarr"))
    assert not (tmp_path / "s.zarr").exists()


def test_missing_store_and_foreign_folder(tmp_path, tiny_backend, stack):
    with pytest.raises(StoreError, match="no embedding store.*promptseg embed"):
        EmbeddingStore.open(tmp_path / "nothing.zarr", backend=tiny_backend)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError):
        run(embed_stack(stack[:2], tiny_backend, tmp_path / "mine", overwrite=True))
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_resume_after_killed_run(tmp_path, stack):
    backend = ComponentBackend()
    path = tmp_path / "s.zarr"
    job = embed_stack(stack, backend, path)
    for step in job:
        if step.done == 3:
            break
    job.close()  # the run is "killed" after three slices ...
    store = EmbeddingStore.open(path, backend=backend, writable=True)
    store._arrays["image"][3, 0] = np.full(stack.shape[1:], 7, np.float16)  # ... while writing slice 3
    assert store.missing() == [3, 4, 5, 6, 7] and not store.has(3)
    backend.encodes = 0
    steps, store = run(embed_stack(stack, backend, path))
    assert [s.z for s in steps] == [3, 4, 5, 6, 7] and steps[0].skipped == 3 and backend.encodes == 5
    for z in range(len(stack)):
        np.testing.assert_array_equal(store.read_arrays(z)["image"], stack[z].astype(np.float16))
    assert run(embed_stack(stack, backend, path))[0] == []  # complete: nothing to do


def test_load_refuses_missing_slice(tmp_path, stack):
    backend = ComponentBackend()
    meta = _metadata(backend, stack)
    store = EmbeddingStore.create(tmp_path / "s.zarr", meta, backend=backend)
    with pytest.raises(StoreError, match="slice 2 is not in the store"):
        store.load(2)
    with pytest.raises(StoreError, match="outside"):
        store.has(8)


def test_session_never_encodes_what_the_store_holds(tmp_path, stack):
    backend = ComponentBackend()
    run(embed_stack(stack[:4], backend, tmp_path / "s.zarr"))
    backend.encodes = 0
    stored = StoredBackend.open(tmp_path / "s.zarr", backend)
    image = np.concatenate([stack[:4], stack[4:5]])  # the last slice is not in the store
    session = AnnotationSession(ImageStack(image), stored)
    for _ in session.encode_iter([(z,) for z in range(5)]):
        pass
    assert (stored.hits, stored.misses, backend.encodes) == (4, 1, 1)
    z, (r, c) = 2, np.argwhere(stack[2] > 100)[0]
    pred = session.set_prompts((z,), Prompts(points=[(r, c)], labels=[1]))
    assert pred is not None and pred.mask[r, c]
    assert stored.contrast_limits is None
    other_limits = StoredBackend.open(tmp_path / "s.zarr", backend)
    other_limits.encode(stack[1], contrast_limits=(0, 10))  # scaled differently: not the stored embedding
    assert other_limits.misses == 1 and other_limits.hits == 0


def test_store_paths(tmp_path):
    image = tmp_path / "cells.tif"
    assert store_path_for(image).name == "cells.tif.embeddings.zarr"
    assert find_store(image) is None
    store_path_for(image).mkdir()
    (store_path_for(image) / "zarr.json").write_text("{}")
    assert find_store(image) == store_path_for(image)
    assert find_store(tmp_path / "b.tif", tmp_path / "elsewhere") is None


def test_resume_after_sigkill(tmp_path, stack):
    """A separate process is killed (SIGKILL) mid-run; the next run computes only what is missing."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    np.save(tmp_path / "stack.npy", stack)
    script = (
        "import sys, time, numpy as np\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        f"sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
        "from store_fakes import ComponentBackend\n"
        "from promptseg.store import embed_stack\n"
        "class Slow(ComponentBackend):\n"
        "    def encode(self, image, **kw):\n"
        "        time.sleep(0.3)\n"
        "        return super().encode(image, **kw)\n"
        f"for step in embed_stack(np.load({str(tmp_path / 'stack.npy')!r}), Slow(), {str(tmp_path / 's.zarr')!r}):\n"
        "    print(step.z, flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(2):
            assert child.stdout.readline().strip() != ""
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    backend = ComponentBackend()
    store = EmbeddingStore.open(tmp_path / "s.zarr", backend=backend)
    finished = int(store.done().sum())
    assert 2 <= finished < len(stack)
    steps, store = run(embed_stack(stack, backend, tmp_path / "s.zarr"))
    assert len(steps) == backend.encodes == len(stack) - finished and store.done().all()
    for z in range(len(stack)):
        np.testing.assert_array_equal(store.read_arrays(z)["image"], stack[z].astype(np.float16))


def test_arrays_with_their_own_dtype(tmp_path, stack):
    """Label maps and other integer arrays keep their dtype (float16 holds integers only up to 2048 exactly)."""

    class WithLabels(ComponentBackend):
        backend_id = "components+labels:1"
        embedding_dtypes = {"labels": "int32"}

        def embedding_layout(self, image_shape):
            return {**super().embedding_layout(image_shape), "labels": tuple(image_shape)}

        def embedding_to_arrays(self, embedding):
            return {"image": embedding.features, "labels": np.arange(embedding.features.size).reshape(embedding.image_shape) * 7}

    backend = WithLabels()
    _, store = run(embed_stack(stack[:2], backend, tmp_path / "s.zarr"))
    assert store.metadata.array_dtypes == {"labels": "int32"}
    labels = store.read_arrays(1)["labels"]
    assert labels.dtype == np.int32 and labels.max() == (labels.size - 1) * 7
    assert store.read_arrays(1)["image"].dtype == np.float16
    reopened = EmbeddingStore.open(tmp_path / "s.zarr", backend=backend)
    assert reopened.metadata == store.metadata


def test_stored_backend_passes_feedback_preparation_on(tmp_path, tiny_backend, stack):
    _, store = run(embed_stack(stack[:1], tiny_backend, tmp_path / "s.zarr"))
    stored = StoredBackend(tiny_backend, store)
    emb = stored.encode(stack[0])
    assert stored.hits == 1
    first = stored.predict(emb, points=[(24, 30)], labels=[1])
    stored.prepare_feedback(emb, first)
    assert tiny_backend._feedback[1] is first.state  # the wrapped SAM backend did the work
    StoredBackend(ComponentBackend(), store).prepare_feedback(emb, first)  # nothing to do, no error


def test_store_without_a_finished_slice_never_blocks_the_next_run(tmp_path, stack):
    """A run that stopped before its first slice (e.g. refused contrast limits) leaves nothing worth keeping."""
    backend = ComponentBackend()
    path = tmp_path / "s.zarr"
    EmbeddingStore.create(path, _metadata(backend, stack[:3], contrast_limits=(0, 100)), backend=backend)
    steps, store = run(embed_stack(stack[:3], backend, path))  # other limits, no --overwrite needed
    assert len(steps) == 3 and store.metadata.image.contrast_limits is None
    with pytest.raises(StoreMismatchError, match="contrast limits"):  # now it holds slices: kept
        run(embed_stack(stack[:3], backend, path, contrast_limits=(0, 100)))
