"""The automatic mask generator end to end with a hand-made model whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptseg.auto.amg import AmgSettings, generate_masks
from promptseg.eval import run_to_end

SHAPE = (60, 80)
#: (row, col, radius) of three discs; the model "knows" them.
DISCS = [(15, 20, 8), (40, 30, 10), (30, 62, 9)]


def _disc_mask(shape, r, c, rad, offset=(0, 0)):
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]]
    return (rr + offset[0] - r) ** 2 + (cc + offset[1] - c) ** 2 <= rad**2


class _Answers:
    def __init__(self, owner, points):
        self.owner, self.points = owner, points
        n = len(points)
        self.iou = torch.zeros(n, 3)
        self.which = []
        for k, (x, y) in enumerate(points):
            disc = owner.disc_at(x, y)
            self.which.append(disc)
            # column 0: the disc, confident; column 1: the disc again, unstable; column 2: a poor guess
            self.iou[k] = torch.tensor([0.95, 0.93, 0.5]) if disc is not None else torch.tensor([0.3, 0.2, 0.1])

    def logits(self, prompts, columns):
        h, w = self.owner.shape
        out = torch.full((len(prompts), h, w), -8.0)
        for k, (p, c) in enumerate(zip(prompts.tolist(), columns.tolist())):
            self.owner.formed += 1
            disc = self.which[p]
            if disc is None:
                continue
            m = torch.from_numpy(_disc_mask((h, w), *self.owner.discs[disc], offset=self.owner.offset))
            out[k][m] = 8.0 if c == 0 else 0.5  # column 1 sits between the stability cuts
        return out


class DiscModel:
    """Answers a point inside a disc with that disc (cut to the crop), anything else with nothing."""

    def __init__(self, crop=(0, 0, SHAPE[1], SHAPE[0]), discs=DISCS):
        x0, y0, x1, y1 = crop
        self.discs = discs
        self.offset = (y0, x0)
        self.shape = (y1 - y0, x1 - x0)
        self.formed = 0

    def disc_at(self, x, y):
        for i, (r, c, rad) in enumerate(self.discs):
            if (y + self.offset[0] - r) ** 2 + (x + self.offset[1] - c) ** 2 <= rad**2:
                return i
        return None

    def decode(self, points_xy):
        return _Answers(self, np.asarray(points_xy))


def _run(settings, shape=SHAPE, discs=DISCS):
    models = []

    def prompter_for(crop):
        models.append(DiscModel(crop, discs))
        return models[-1]

    return run_to_end(generate_masks(prompter_for, shape, settings)), models


def test_every_disc_once_with_its_points_and_scores():
    found, models = _run(AmgSettings(points_per_side=16, points_per_batch=10))
    assert len(found) == 3
    truth = [_disc_mask(SHAPE, *d) for d in DISCS]
    for k in range(len(found)):
        mask = found.full(k, SHAPE)
        assert max(np.logical_and(mask, t).sum() / np.logical_or(mask, t).sum() for t in truth) == 1.0
        x, y = found.points[k]
        assert mask[int(y), int(x)]  # the point that made it lies inside
    assert np.allclose(found.iou, 0.95) and np.allclose(found.stability, 1.0)
    # only candidates with predicted IoU > 0.88 were turned into masks: two per point on a disc
    on_disc = sum(DiscModel().disc_at(x, y) is not None for x, y in
                  __import__("promptseg.auto.grid", fromlist=["point_grid"]).point_grid(16) * [SHAPE[1], SHAPE[0]])
    assert models[0].formed == 2 * on_disc


def test_filters_can_be_turned_off():
    found, _ = _run(AmgSettings(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0))
    # without filters and without NMS every non-empty candidate stays (empty masks have no box and IoU 0)
    assert len(found) > 3


def test_progress_counts_batches():
    gen = generate_masks(lambda crop: DiscModel(crop), SHAPE, AmgSettings(points_per_side=4, points_per_batch=5))
    seen = []
    try:
        while True:
            seen.append(next(gen))
    except StopIteration:
        pass
    assert [p.done for p in seen] == [1, 2, 3, 4] and all(p.total == 4 for p in seen)


def test_crop_layers_drop_cut_masks_and_keep_one_copy():
    found, models = _run(AmgSettings(points_per_side=16, crop_n_layers=1, crop_overlap_ratio=0.25))
    assert len(models) == 5  # the image and four crops
    assert len(found) == 3  # duplicates across crops removed, cut copies dropped at inner crop edges
    truth = [_disc_mask(SHAPE, *d) for d in DISCS]
    for k in range(3):
        mask = found.full(k, SHAPE)
        assert max((mask & t).sum() / (mask | t).sum() for t in truth) == 1.0


def test_across_crops_the_smaller_crop_wins():
    shape, discs = (200, 240), [(50, 60, 12), (150, 180, 12)]
    found, _ = _run(AmgSettings(points_per_side=24, crop_n_layers=1, crop_overlap_ratio=0.25), shape, discs)
    assert len(found) == 2
    areas = (found.crops[:, 2] - found.crops[:, 0]) * (found.crops[:, 3] - found.crops[:, 1])
    assert (areas < shape[0] * shape[1]).all()  # both discs lie whole inside a layer-1 crop


def test_small_regions_are_cleaned():
    found, _ = _run(AmgSettings(points_per_side=16, min_mask_region_area=400))
    # the discs (areas ~200-320 px) are islands below 400 px: each is the largest of its mask, so it stays
    assert len(found) == 3


@pytest.mark.parametrize("n", [0])
def test_an_image_without_objects_gives_nothing(n):
    class Nothing(DiscModel):
        def disc_at(self, x, y):
            return None

    found = run_to_end(generate_masks(lambda crop: Nothing(crop), SHAPE, AmgSettings(points_per_side=4)))
    assert len(found) == n and found.boxes.shape == (0, 4)
