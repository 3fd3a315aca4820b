"""The SAM 2.1 backend wherever SAM 1 works: embedding store, tiling, automatic pass, find-similar, command line."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from sam2_fixture import hiera_t_file, tiny_sam2_model  # noqa: F401 - a fixture

from promptseg.auto.prompter import point_prompter
from promptseg.auto.segment_all import segment_all
from promptseg.backends.sam2 import FEATURE_NAMES, Sam2Backend
from promptseg.data import synthetic_nuclei_3d
from promptseg.errors import StoreMismatchError
from promptseg.model.sam2.predictor import Sam2Predictor
from promptseg.store import EmbeddingStore, StoredBackend, embed_stack
from promptseg.store.tiled_backend import TiledBackend, TiledFeatures


def _run(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@pytest.fixture(scope="module")
def tiny2():
    return Sam2Backend(tiny_sam2_model(), name="tiny2", checkpoint_hash="test")


@pytest.fixture(scope="module")
def stack():
    return synthetic_nuclei_3d((8, 48, 64), n_nuclei=4, seed=2).image[:3]


def test_store_holds_the_three_maps_in_float16(tmp_path, tiny2, stack):
    _run(embed_stack(stack, tiny2, tmp_path / "s.zarr"))
    store = EmbeddingStore.open(tmp_path / "s.zarr", backend=tiny2)
    assert store.metadata.codec == "sam2.1-image-embedding/1" and store.metadata.dtype == "float16"
    assert {k: tuple(store._arrays[k].shape) for k in FEATURE_NAMES} == {
        "image_embed": (3, 1, 32, 16, 16), "high_res_feat_0": (3, 1, 4, 64, 64), "high_res_feat_1": (3, 1, 8, 32, 32)}
    assert all(str(store._arrays[k].dtype) == "float16" for k in FEATURE_NAMES)
    loaded, fresh = store.load(1), tiny2.encode(stack[1])
    for key in FEATURE_NAMES:
        a, b = getattr(loaded.features, key), getattr(fresh.features, key)
        assert a.dtype == torch.float32 and torch.allclose(a, b, atol=1e-2 * float(b.abs().max())), key
    stored = StoredBackend(tiny2, store)
    pred = stored.predict(stored.encode(stack[1], contrast_limits=None), points=[(24, 30)])
    truth = tiny2.predict(fresh, points=[(24, 30)])
    assert stored.hits == 1 and ((pred.logits > 0) == (truth.logits > 0)).mean() > 0.98


def test_store_of_another_model_is_refused(tmp_path, tiny2, tiny_backend, stack):
    _run(embed_stack(stack[:1], tiny2, tmp_path / "s.zarr"))
    other = Sam2Backend(tiny2.model, name="tiny2", checkpoint_hash="other weights")
    with pytest.raises(StoreMismatchError, match="written for backend 'sam2.1:tiny2:test' instead of 'sam2.1:tiny2:other"):
        EmbeddingStore.open(tmp_path / "s.zarr", backend=other)
    with pytest.raises(StoreMismatchError, match="instead of 'sam:tiny:test'"):
        EmbeddingStore.open(tmp_path / "s.zarr", backend=tiny_backend)


def test_tiled_large_image(tiny2):
    image = np.random.default_rng(1).integers(0, 255, (300, 560), dtype=np.uint8)
    tiled = TiledBackend(tiny2, halo=32, threshold=256)  # the tiny model's input is 256 px
    assert tiled.tile == 256
    emb = tiled.encode(image)
    assert isinstance(emb.features, TiledFeatures) and emb.features.tiling.n_tiles > 1
    pred = tiled.predict(emb, points=[(150, 280)], labels=[1])
    assert pred.mask.shape == pred.logits.shape == image.shape
    again = tiled.predict(emb, points=[(150, 280), (140, 300)], labels=[1, 0], previous=pred)
    assert again.mask.shape == image.shape


def test_point_prompter_answers_the_reference_decoder(tiny2):
    """Batched single points (automatic pass): every candidate as the reference SAM 2 decoder gives it."""
    emb = tiny2.encode(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    xy = np.array([[10.5, 20.5], [60.0, 5.0], [33.0, 44.0]])
    answers = point_prompter(tiny2, emb, chunk=2).decode(xy)
    assert answers.iou.shape == (3, 3)
    reference = Sam2Predictor(tiny2.model)
    for i in range(3):
        masks, iou, _ = reference.predict(emb.features, point_coords=xy[i:i + 1], point_labels=[1], fast=False)
        np.testing.assert_allclose(answers.iou[i].numpy(), iou.numpy(), atol=1e-5)
        got = answers.logits(torch.tensor([i, i, i]), torch.tensor([0, 1, 2]))
        np.testing.assert_allclose(got.numpy(), masks.numpy(), atol=1e-4)


def test_segment_all_runs_on_sam2(tiny2, stack):
    result = _run(segment_all(tiny2, stack[0], points_per_side=4))
    assert result.labels.shape == stack.shape[1:]


def test_cli_segment_and_embed_with_a_sam2_file(tmp_path, hiera_t_file, capsys):
    from promptseg.cli import main

    image = synthetic_nuclei_3d((8, 40, 50), n_nuclei=3, seed=1).image[:2]
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, image, photometric="minisblack")
    out, logits = tmp_path / "mask.tif", tmp_path / "logits.npy"
    assert main(["segment", str(path), "--slice", "1", "--backend", str(hiera_t_file), "--point", "20,25",
                 "--box", "2,3,35,45", "--out", str(out), "--logits", str(logits)]) == 0
    np.testing.assert_array_equal(tifffile.imread(out) == 255, np.load(logits) > 0)
    assert main(["embed", str(path), "--backend", str(hiera_t_file), "--store", str(tmp_path / "stores"),
                 "--no-progress"]) == 0
    capsys.readouterr()
    (written,) = (tmp_path / "stores").glob("*.zarr")
    store = EmbeddingStore.open(written)
    assert store.done().all() and store.metadata.codec == "sam2.1-image-embedding/1"
    assert store.metadata.arrays == {"image_embed": (256, 64, 64), "high_res_feat_0": (32, 256, 256),
                                     "high_res_feat_1": (64, 128, 128)}


def test_find_similar_compares_the_image_embedding(tiny2):
    from promptseg.data import synthetic_nuclei_2d
    from promptseg.exemplar import find_similar

    sample = synthetic_nuclei_2d((96, 128), n_nuclei=6, seed=3)
    emb = tiny2.encode(sample.image)
    proposals = _run(find_similar(tiny2, emb, [sample.labels == 1], rounds=1, refine_boundary=False,
                                  pixel_search=False))
    assert isinstance(proposals, list)
    assert all(p.mask.shape == sample.image.shape and not (p.mask & (sample.labels == 1)).all() for p in proposals)
