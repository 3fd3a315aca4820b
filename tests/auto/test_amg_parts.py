"""The automatic mask generator's pieces against SAM's published formulas, on hand-made arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from promptseg.auto.grid import crop_boxes, layer_point_grids, point_grid
from promptseg.auto.labels import paint_labels
from promptseg.auto.masks import mask_boxes, near_crop_edge, remove_small_regions, stability_score
from promptseg.auto.nms import box_iou, box_nms


@pytest.mark.parametrize("n", [1, 2, 5, 32])
def test_point_grid_is_the_cell_centres_x_fastest(n):
    grid = point_grid(n)
    assert grid.shape == (n * n, 2)
    for k, (x, y) in enumerate(grid):
        row, col = divmod(k, n)
        assert x == pytest.approx((col + 0.5) / n)
        assert y == pytest.approx((row + 0.5) / n)


def test_point_grid_refuses_no_points():
    with pytest.raises(ValueError):
        point_grid(0)


def test_layer_grids_shrink_by_the_downscale_factor():
    grids = layer_point_grids(32, 2, 2)
    assert [len(g) for g in grids] == [32 * 32, 16 * 16, 8 * 8]
    assert [len(g) for g in layer_point_grids(10, 1, 3)] == [100, 9]  # int(10 / 3) = 3


@pytest.mark.parametrize("shape,layers,ratio", [((768, 1024), 1, 512 / 1500), ((600, 450), 2, 0.3), ((97, 203), 2, 0.2)])
def test_crop_boxes_follow_the_published_layout(shape, layers, ratio):
    h, w = shape
    boxes, layer_of = crop_boxes(shape, layers, ratio)
    assert boxes[0] == (0, 0, w, h) and layer_of[0] == 0
    k = 1
    for layer in range(1, layers + 1):
        n = 2**layer
        overlap = int(ratio * min(h, w) * (2 / n))
        cw, ch = math.ceil((overlap * (n - 1) + w) / n), math.ceil((overlap * (n - 1) + h) / n)
        for i in range(n):
            for j in range(n):
                x0, y0 = int((cw - overlap) * i), int((ch - overlap) * j)
                assert boxes[k] == (x0, y0, min(x0 + cw, w), min(y0 + ch, h))
                assert layer_of[k] == layer
                k += 1
    assert k == len(boxes)
    # invariant: every layer covers the whole image
    for layer in range(1, layers + 1):
        cover = np.zeros(shape, int)
        for (x0, y0, x1, y1), lay in zip(boxes, layer_of):
            if lay == layer:
                cover[y0:y1, x0:x1] += 1
        assert cover.min() >= 1


def test_stability_score_is_the_iou_of_the_two_cuts():
    logits = torch.tensor([[[2.0, 1.5, 0.9, -0.2], [-0.99, -1.0, -3.0, 1.0]]])
    # above +1: 2.0, 1.5 -> 2; above -1: 2.0, 1.5, 0.9, -0.2, -0.99, 1.0 -> 6
    assert stability_score(logits, 0.0, 1.0).tolist() == [pytest.approx(2 / 6)]
    # threshold 0.5, offset 0.5: above 1.0 (strictly): 2.0, 1.5; above 0.0: 2.0, 1.5, 0.9, 1.0
    assert stability_score(logits, 0.5, 0.5).tolist() == [pytest.approx(2 / 4)]


def test_stability_score_of_random_logits_matches_the_formula():
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(0, 2, (5, 17, 23)).astype(np.float32))
    want = [(m > 1.0).sum() / (m > -1.0).sum() for m in logits.numpy()]
    np.testing.assert_allclose(stability_score(logits).numpy(), want, rtol=1e-6)
    assert torch.isnan(stability_score(torch.full((1, 3, 3), -5.0)))[0]


def test_mask_boxes_are_inclusive_and_zero_when_empty():
    m = torch.zeros(3, 6, 7, dtype=torch.bool)
    m[0, 2, 3] = True
    m[1, 1:5, 0:7] = True
    assert mask_boxes(m).tolist() == [[3, 2, 3, 2], [0, 1, 6, 4], [0, 0, 0, 0]]
    assert mask_boxes(torch.zeros(0, 4, 4, dtype=torch.bool)).shape == (0, 4)


def test_near_crop_edge_only_counts_inner_edges():
    crop, image = (100, 0, 300, 200), (0, 0, 400, 200)
    boxes = torch.tensor([
        [50, 50, 100, 100],   # inside the crop, 50 px from every crop edge  -> kept
        [5, 50, 60, 100],     # x0 at 105 in the image: 5 px from the crop's left edge (inner) -> dropped
        [50, 0, 100, 60],     # touches the crop's top, which is the image's top -> kept
        [150, 50, 195, 100],  # x1 at 295: 5 px from the crop's right edge (inner) -> dropped
        [50, 150, 100, 199],  # y1 at 199: near the bottom, an image edge -> kept
        [20, 50, 60, 100],    # x0 at 120: exactly 20 px (atol) -> dropped
        [21, 50, 60, 100],    # 21 px -> kept
    ])
    assert near_crop_edge(boxes, crop, image).tolist() == [False, True, False, True, False, True, False]


def test_remove_small_regions_fills_holes_and_drops_islands():
    mask = np.zeros((12, 12), bool)
    mask[1:9, 1:9] = True
    mask[4, 4] = False               # a 1-px hole
    mask[10, 10] = True              # a 1-px island
    filled, changed = remove_small_regions(mask, 3, "holes")
    assert changed and filled[4, 4] and filled[10, 10]
    cleaned, changed = remove_small_regions(filled, 3, "islands")
    assert changed and not cleaned[10, 10] and cleaned[1:9, 1:9].all()
    same, changed = remove_small_regions(cleaned, 3, "islands")
    assert not changed and (same == cleaned).all()
    tiny = np.zeros((5, 5), bool); tiny[0, 0] = tiny[3, 3] = tiny[3, 4] = True
    kept, _ = remove_small_regions(tiny, 10, "islands")  # every island small: the largest stays
    assert kept.sum() == 2 and kept[3, 3] and kept[3, 4]
    with pytest.raises(ValueError):
        remove_small_regions(mask, 3, "both")


def test_box_iou_uses_corner_differences_as_sides():
    a = np.array([[0, 0, 4, 4]])
    b = np.array([[2, 2, 6, 6], [0, 0, 4, 4], [5, 5, 6, 6], [1, 1, 1, 1]])
    np.testing.assert_allclose(box_iou(a, b)[0], [4 / 28, 1.0, 0.0, 0.0])


def _greedy_reference(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(box_iou(boxes[i:i + 1], boxes[k:k + 1])[0, 0] <= thr for k in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", range(4))
def test_box_nms_is_greedy_by_score(seed):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 50, (40, 2))
    boxes = np.concatenate([xy, xy + rng.integers(1, 30, (40, 2))], axis=1)
    scores = rng.random(40)
    assert box_nms(boxes, scores, 0.5).tolist() == _greedy_reference(boxes, scores, 0.5)


def test_box_nms_groups_do_not_suppress_each_other():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    assert box_nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0]
    assert box_nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5, groups=np.array([0, 1, 0])).tolist() == [0, 1]
    assert box_nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_paint_labels_lets_the_higher_score_win_and_drops_hidden_objects():
    big, small = np.ones((4, 4), bool), np.ones((2, 2), bool)
    boxes = np.array([[0, 0, 3, 3], [1, 1, 2, 2], [1, 1, 2, 2]])
    labels, scores = paint_labels((5, 5), boxes, [big, small, small], np.array([0.5, 0.9, 0.7]))
    assert labels.dtype == np.uint32
    assert scores.tolist() == pytest.approx([0.9, 0.5])  # the 0.7 object is entirely under the 0.9 one
    assert (labels[1:3, 1:3] == 1).all() and labels[0, 0] == 2 and labels[4, 4] == 0
