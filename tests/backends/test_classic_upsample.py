"""Working copy -> image: the fast mask equals the sign of the bilinear logits, exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from promptseg.backends import Prediction
from promptseg.backends.classic import ClassicBackend
from promptseg.backends.classic.upsample import LazyLogitsPrediction, sampling_grid, upsample_logits, upsample_mask


@pytest.mark.parametrize("seed", range(40))
def test_mask_is_sign_of_bilinear_logits(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    shape = (int(rng.integers((h - 1) * k + 1, h * k + 1)), int(rng.integers((w - 1) * k + 1, w * k + 1)))
    work = rng.normal(size=(h, w)).astype(np.float32)
    if seed % 2:  # blocky answers with tiny magnitudes, as the backend makes them
        work = np.where(rng.random((h, w)) < 0.4, np.float32(1e-3), np.float32(-1e-3))
    grid = sampling_grid((h, w), shape, k)
    logits = upsample_logits(work, grid)
    assert logits.shape == shape and logits.dtype == np.float32
    np.testing.assert_array_equal(upsample_mask(work, grid), logits > 0)


def test_constant_sign_gives_blocks():
    work = np.full((4, 5), -2.0, np.float32)
    work[1:3, 1:3] = 3.0
    grid = sampling_grid((4, 5), (16, 20), 4)
    mask = upsample_mask(work, grid)
    assert mask[4:12, 4:12].sum() > 0.5 * 64 and not mask[:2].any() and not mask[:, -3:].any()


def test_lazy_logits_are_computed_once_on_first_read():
    calls = []

    def make():
        calls.append(1)
        return np.ones((3, 4), np.float32)

    pred = LazyLogitsPrediction(mask=np.ones((3, 4), bool), logits=make, score=1.0)
    assert isinstance(pred, Prediction) and not calls
    assert pred.logits.shape == (3, 4) and pred.logits.sum() == 12
    assert len(calls) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        pred.score = 0.5  # still a frozen Prediction


def test_reduced_image_prediction_agrees_with_its_logits():
    rng = np.random.default_rng(1)
    rr, cc = np.mgrid[:301, :203]
    gt = (rr - 140) ** 2 / 90**2 + (cc - 100) ** 2 / 50**2 <= 1
    img = (rng.normal(60, 10, gt.shape) + 100 * gt).clip(0, 255).astype(np.uint8)
    backend = ClassicBackend(max_pixels=4096)
    emb = backend.encode(img)
    assert emb.features.work.factor > 1
    pred = backend.predict(emb, points=[(140, 100), (10, 10)], labels=[1, 0])
    assert pred.logits.shape == gt.shape and pred.logits.dtype == np.float32
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    assert (pred.mask & gt).sum() / (pred.mask | gt).sum() > 0.85
