"""Propagation's calibration on the start slice and its end-of-object criterion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from store_fakes import ScriptedBackend, disk, iou, run

from keyword_backend import KeywordBackend
from promptseg.backends.base import ImageEmbedding, Prediction
from promptseg.session.propagate import propagate
from promptseg.session.propagation_checks import AreaTrend, calibrate_threshold

SHAPE = (48, 48)


class WideBackend(KeywordBackend):
    """Answers the object stored in the embedding, ``grow`` pixels too wide (logits: signed distance + grow)."""

    name = "wide"
    backend_id = "wide:1"

    def __init__(self, grow: float) -> None:
        self.grow = grow

    def embedding(self, mask):
        return ImageEmbedding(self.backend_id, mask.shape, np.asarray(mask, bool))

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        truth = embedding.features
        signed = ndimage.distance_transform_edt(truth) - ndimage.distance_transform_edt(~truth)
        logits = (signed + self.grow).astype(np.float32)
        return Prediction(logits > 0, logits, 1.0)


@pytest.mark.parametrize("grow", [-1.5, 2.5])
def test_calibration_corrects_a_backend_that_draws_too_wide_or_narrow(grow):
    backend = WideBackend(grow)
    truth = [disk(SHAPE, (24, 24), r) for r in (9, 11, 12, 11, 9)]
    embs = [backend.embedding(m) for m in truth]
    _, plain = run(propagate(backend, embs, truth[2], 2, calibrate=False))
    _, calibrated = run(propagate(backend, embs, truth[2], 2))
    assert calibrated.calibration_iou == 1.0 and (calibrated.threshold > 0) == (grow > 0)
    for z in (0, 1, 3, 4):
        assert iou(calibrated.masks[z], truth[z]) == 1.0
        assert iou(plain.masks[z], truth[z]) < 0.9
    assert plain.threshold == 0.0 and plain.calibration_iou is None


def test_calibrate_threshold_prefers_the_backends_own_threshold_on_ties():
    logits = np.where(disk(SHAPE, (24, 24), 8), 3.0, -3.0)
    t, best, at_zero = calibrate_threshold(logits, logits > 0)
    assert t == 0.0 and best == at_zero == 1.0
    t, best, _ = calibrate_threshold(logits, disk(SHAPE, (10, 10), 4))  # nothing matches well: still an answer
    assert 0.0 <= best < 0.5 and np.isfinite(t)


def test_stops_where_the_shrinking_object_should_have_ended():
    backend = ScriptedBackend()
    # a nucleus shrinking towards its end (radii 12, 11, 9, 6), then the dim blur past it answered almost as large
    radii = [12, 11, 9, 6, 5.5, 4]
    embs = [backend.embedding(disk(SHAPE, (24, 24), r)) for r in radii]
    steps, result = run(propagate(backend, embs, disk(SHAPE, (24, 24), 12), 0, directions=(1,)))
    assert sorted(result.masks) == [0, 1, 2, 3] and result.stopped == {1: "ended"}
    assert steps[-1].z == 4 and steps[-1].reason == "ended"
    _, free = run(propagate(backend, embs, disk(SHAPE, (24, 24), 12), 0, directions=(1,), end_fraction=None))
    assert sorted(free.masks) == [0, 1, 2, 3, 4, 5]


def test_area_trend_keeps_a_slowly_shrinking_object():
    trend = AreaTrend(1000, 0.25, 0.3)
    assert [trend.check(a) for a in (990, 960, 900, 820, 700, 560, 380)] == [None] * 7
    assert trend.expected() is not None and trend.check(int(0.75 * 380)) is None  # falls as predicted
    assert AreaTrend(100, None, None).check(10_000) is None
