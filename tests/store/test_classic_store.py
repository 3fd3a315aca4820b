"""Classic embeddings in stores: exact round trip, every field handled, served back without encoding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import tifffile
from store_fakes import run

from promptseg.backends.base import ImageEmbedding, native_prompts
from promptseg.backends.classic import ClassicBackend
from promptseg.store.classic_codec import ClassicEmbeddingCodec, embedding_from_arrays, embedding_to_arrays
from promptseg.cli import main
from promptseg.data import synthetic_nuclei_3d
from promptseg.errors import StoreError, StoreMismatchError
from promptseg.prompts import Prompts
from promptseg.session import AnnotationSession, ImageStack
from promptseg.store import EmbeddingStore, StoredBackend, check_storable, embed_stack, find_store


@pytest.fixture(scope="module")
def stack():
    return synthetic_nuclei_3d((8, 64, 80), n_nuclei=4, radius_range=(7.0, 11.0), seed=3).image[2:6]


@pytest.fixture(scope="module")
def backend():
    return ClassicBackend()


def _assert_same_tree(a, b, path="features"):
    """Walks the dataclass fields itself (not through the codec), so a field the codec dropped fails here."""
    assert type(a) is type(b), path
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_same_tree(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif sp.issparse(a):
        assert a.shape == b.shape and a.dtype == b.dtype, path
        for part in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part), err_msg=path)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert a.flags.f_contiguous == b.flags.f_contiguous, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, path


def _prompt_sets(shape):
    h, w = shape
    mask = np.zeros(shape, bool)
    mask[h // 4 : h // 2, w // 4 : w // 2] = True
    return [
        {"points": [(h / 2, w / 2)], "labels": [1]},
        {"points": [(h / 2, w / 2), (2, 2)], "labels": [1, 0]},
        {"box": (h / 4, w / 4, 3 * h / 4, 3 * w / 4)},
        {"mask": mask, "points": [(h / 3, w / 3)], "labels": [1]},
    ]


def _assert_same_predictions(backend, stored, fresh):
    for prompts in _prompt_sets(fresh.image_shape):
        a, b = backend.predict(stored, **prompts), backend.predict(fresh, **prompts)
        np.testing.assert_array_equal(a.logits, b.logits)
        assert a.score == b.score
        # and a follow-up click refining the previous answer
        again = dict(points=[(fresh.image_shape[0] / 2 + 3, fresh.image_shape[1] / 2)], labels=[1])
        np.testing.assert_array_equal(backend.predict(stored, **again, previous=a).logits,
                                      backend.predict(fresh, **again, previous=b).logits)


def test_codec_round_trip_is_exact_for_every_field(backend, stack):
    fresh = backend.encode(stack[1])
    arrays = embedding_to_arrays(fresh)
    # through bytes, as the store keeps them
    copied = {k: np.frombuffer(np.ascontiguousarray(v).tobytes(), v.dtype).reshape(v.shape) for k, v in arrays.items()}
    rebuilt = embedding_from_arrays(copied, backend.encode(stack[0]).features, backend_id=backend.backend_id,
                                    image_shape=fresh.image_shape)
    _assert_same_tree(fresh.features, rebuilt.features)
    _assert_same_predictions(backend, rebuilt, fresh)


def test_codec_layout_covers_every_array_and_keeps_dtypes(backend, stack):
    codec = check_storable(backend)
    assert isinstance(codec, ClassicEmbeddingCodec) and codec.backend_id == backend.backend_id
    arrays = codec.embedding_to_arrays(backend.encode(stack[0]))
    layout = codec.embedding_layout(stack.shape[1:])
    assert set(layout) == set(arrays) and "graph.labels" in layout and "lengths.indptr" in layout
    assert all(len(layout[k]) == arrays[k].ndim and set(layout[k]) == {None} for k in arrays if arrays[k].ndim)
    assert codec.embedding_dtypes == {k: v.dtype.name for k, v in arrays.items()}
    assert not any(v.dtype == bool for v in arrays.values())


def test_unstorable_field_names_itself():
    @dataclasses.dataclass(frozen=True)
    class Inner:
        lookup: dict

    @dataclasses.dataclass(frozen=True)
    class Features:
        labels: np.ndarray
        inner: Inner

    emb = ImageEmbedding("x", (2, 2), Features(np.zeros((2, 2), np.int32), Inner({"a": 1})))
    with pytest.raises(StoreError, match="'inner.lookup' holds a dict"):
        embedding_to_arrays(emb)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_stored_backend_serves_exact_classic_embeddings(tmp_path, backend, stack, dtype):
    steps, store = run(embed_stack(stack, backend, tmp_path / "s.zarr", dtype=dtype))
    assert len(steps) == len(stack) and store.done().all()
    assert store.metadata.codec == "classic-features/1" and set(store.metadata.array_dtypes) == set(store.metadata.arrays)
    stored = StoredBackend.open(tmp_path / "s.zarr", ClassicBackend())
    for z in (0, 3):
        emb = stored.encode(stack[z])
        fresh = backend.encode(stack[z])
        _assert_same_tree(fresh.features, emb.features)
        _assert_same_predictions(stored, emb, fresh)
    assert (stored.hits, stored.misses) == (2, 0)


def test_classic_store_refuses_other_settings_and_resumes(tmp_path, backend, stack):
    path = tmp_path / "s.zarr"
    run(embed_stack(stack[:2], backend, path))
    with pytest.raises(StoreMismatchError, match="backend"):
        StoredBackend.open(path, ClassicBackend(smoothness=2.0))
    with pytest.raises(StoreMismatchError):
        run(embed_stack(stack[:2], ClassicBackend(superpixel_area=16.0), path))
    store = EmbeddingStore.open(path, backend=backend, writable=True)
    store._done[1] = 0  # as if killed before slice 1 was marked done
    steps, store = run(embed_stack(stack[:2], backend, path))
    assert [s.z for s in steps] == [1] and store.done().all()
    _assert_same_tree(backend.encode(stack[1]).features, store.load(1).features)


def test_embed_command_and_annotation_without_encoding(tmp_path, backend, stack, capsys):
    tif = tmp_path / "stack.tif"
    tifffile.imwrite(tif, stack, photometric="minisblack")
    assert main(["embed", str(tif), "--backend", "classic", "--store", str(tmp_path / "emb"), "--no-progress"]) == 0
    assert "4 slices" in capsys.readouterr().out
    path = find_store(tif, tmp_path / "emb")
    assert path is not None

    class Counting(ClassicBackend):
        encodes = 0

        def encode(self, image, *, contrast_limits=None):
            Counting.encodes += 1
            return super().encode(image, contrast_limits=contrast_limits)

    counting = Counting()
    stored = StoredBackend.open(path, counting)
    check_storable(counting).embedding_layout((64, 80))  # the codec's one probe encoding, done up front
    Counting.encodes = 0
    session = AnnotationSession(ImageStack(tifffile.imread(tif)), stored)
    run(session.encode_iter([(2,)]))
    session.set_prompts((2,), Prompts(points=[(32, 40)], labels=[1]), record=False)
    fresh = backend.predict(backend.encode(stack[2]), points=[(32, 40)], labels=[1])
    np.testing.assert_array_equal(session.prediction.mask, fresh.mask)
    assert stored.hits == 1 and stored.misses == 0 and Counting.encodes == 0


def test_classic_embeddings_from_dask_workers(tmp_path, backend, stack):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address="127.0.0.1:0") as c:
        with distributed.Client(c) as client:
            _, store = run(embed_stack(stack[:2], backend, tmp_path / "d.zarr", client=client))
    _assert_same_tree(backend.encode(stack[1]).features, store.load(1).features)


def test_stored_classic_takes_scribbles_and_polygons_natively(tmp_path, backend, stack):
    """Through a store, scribbles and polygons reach the classic backend as themselves, not as a mask."""
    run(embed_stack(stack[:1], backend, tmp_path / "s.zarr"))
    stored = StoredBackend.open(tmp_path / "s.zarr", ClassicBackend())
    h, w = stack.shape[1:]
    prompts = Prompts(scribbles=(np.array([[h / 2 - 3, w / 2 - 3], [h / 2 + 3, w / 2 + 3]]),),
                      polygons=(np.array([[5, 5], [5, 15], [15, 15], [15, 5]], float),))
    assert not prompts.gives_mask(native_prompts(stored))  # not rasterised into a mask prompt
    emb = stored.encode(stack[0])
    via_store = stored.predict(emb, prompts)
    direct = backend.predict(backend.encode(stack[0]), prompts)
    np.testing.assert_array_equal(via_store.mask, direct.mask)
    negative = stored.predict(emb, dataclasses.replace(prompts, scribble_labels=[0]))  # labels travel too
    assert not np.array_equal(negative.mask, via_store.mask)
    with pytest.raises(TypeError, match="unexpected keyword"):
        stored.predict(emb, points=[(3, 3)], labels=[1], strokes=[])
