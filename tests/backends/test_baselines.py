import sys

import numpy as np
import pytest

from promptseg.backends import ImageEmbedding, load_backend
from promptseg.errors import EmbeddingError, ImageError, PromptError


def _square(colour: bool, shape=(48, 64)):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 50, shape, dtype=np.uint8)
    img[12:36, 20:50] = 210
    return np.dstack([img, img // 2, img]) if colour else img


@pytest.fixture(params=["random_walker", "grabcut"])
def backend(request):
    if request.param == "grabcut":
        pytest.importorskip("cv2", reason="grabcut needs the baselines extra (opencv-python-headless)")
    return load_backend(request.param)


@pytest.mark.parametrize("colour", [False, True])
def test_baseline_segments_a_square_at_full_size(backend, colour):
    img = _square(colour)
    emb = backend.encode(img)
    pred = backend.predict(emb, points=[(24, 35)], labels=[1])
    assert pred.mask.shape == pred.logits.shape == (48, 64)
    assert pred.mask.dtype == bool and pred.logits.dtype == np.float32
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    gt = np.zeros((48, 64), bool)
    gt[12:36, 20:50] = True
    assert (pred.mask & gt).sum() / (pred.mask | gt).sum() > 0.8
    again = backend.predict(emb, points=[(24, 35), (5, 5)], labels=[1, 0], previous=pred)
    assert again.mask[24, 35] and not again.mask[5, 5]


def test_baseline_downscales_large_images_and_answers_full_size(backend):
    backend.max_pixels = 1000
    img = _square(True, shape=(96, 128))
    emb = backend.encode(img)
    assert emb.image_shape == (96, 128)
    pred = backend.predict(emb, points=[(30, 40)], labels=[1])
    assert pred.mask.shape == (96, 128)


def test_baseline_rejects_bad_use(backend):
    emb = backend.encode(_square(False))
    with pytest.raises(PromptError):
        backend.predict(emb, points=[(100, 5)], labels=[1])
    with pytest.raises(PromptError):
        backend.predict(emb)
    with pytest.raises(EmbeddingError):
        backend.predict(ImageEmbedding("other", (48, 64), None), points=[(5, 5)], labels=[1])
    with pytest.raises(ImageError):
        backend.encode(np.zeros((10, 10), np.uint8))
    assert not backend.predict(emb, points=[(5, 5)], labels=[0]).mask.any()


def test_grabcut_without_opencv_says_how_to_install(monkeypatch):
    import importlib

    monkeypatch.setitem(sys.modules, "cv2", None)
    module = importlib.import_module("promptseg.backends.grabcut")
    with pytest.raises(ImportError, match=r"napari-promptseg\[baselines\]"):
        module.GrabCutBackend()


def test_baseline_accepts_a_box(backend):
    emb = backend.encode(_square(True))
    pred = backend.predict(emb, box=(8, 16, 40, 54))
    assert pred.mask[24, 35] and not pred.mask[2, 2] and not pred.mask[45, 60]
