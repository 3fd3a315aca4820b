import numpy as np
import pytest

from promptseg.errors import PromptError
from promptseg.eval import ClickSimulator, iou


def test_first_click_lands_on_deepest_object_pixel():
    gt = np.zeros((20, 30), bool)
    gt[2:15, 3:10] = True  # a 13 x 7 bar: deepest pixels are on its middle column
    gt[5:18, 15:28] = True  # a 13 x 13 square: deeper, centre (11, 21)
    click = ClickSimulator(gt).next_click(np.zeros_like(gt))
    assert (click.row, click.col, click.is_positive) == (11, 21, True)
    assert click.distance == pytest.approx(7.0)


def test_image_edge_counts_as_boundary():
    gt = np.zeros((10, 10), bool)
    gt[:, :6] = True  # touches three edges; without the border the deepest pixel would be at col 0
    click = ClickSimulator(gt).next_click(np.zeros_like(gt))
    assert click.col == 2 and click.distance == pytest.approx(3.0)


def test_ties_go_to_first_pixel_in_row_major_order():
    gt = np.zeros((6, 8), bool)
    gt[1:3, 1:7] = True  # every pixel at distance 1
    click = ClickSimulator(gt).next_click(np.zeros_like(gt))
    assert (click.row, click.col) == (1, 1)


def test_tie_between_errors_gives_negative_click():
    gt = np.zeros((9, 20), bool)
    gt[2:5, 2:5] = True
    pred = np.zeros_like(gt)
    pred[2:5, 10:13] = True  # false positive as deep as the false negative
    click = ClickSimulator(gt).next_click(pred)
    assert (click.row, click.col, click.is_positive) == (3, 11, False)
    pred[2:5, 10:12] = False  # now shallower: positive
    assert ClickSimulator(gt).next_click(pred).is_positive


def test_ignore_pixels_never_receive_clicks_and_do_not_count_in_iou():
    gt = np.zeros((15, 15), bool)
    gt[2:13, 2:13] = True
    ignore = np.zeros_like(gt)
    ignore[5:10, 5:10] = True  # the deepest part of the object
    ignore[0, :] = True  # and some background
    sim = ClickSimulator(gt, ignore=ignore)
    pred = np.zeros_like(gt)
    for _ in range(30):
        click = sim.next_click(pred)
        if click is None:
            break
        assert not ignore[click.row, click.col]
    with_ignored = gt | ignore
    assert iou(with_ignored, gt, ignore=ignore) == 1.0
    assert sim.iou(with_ignored) == 1.0
    assert sim.iou(gt & ~ignore) == 1.0


def test_clicked_pixels_are_not_clicked_again():
    gt = np.zeros((7, 7), bool)
    gt[2:5, 2:5] = True
    sim = ClickSimulator(gt)
    pred = np.zeros_like(gt)  # a backend that ignores every click
    clicks = [sim.next_click(pred) for _ in range(9)]
    assert (clicks[0].row, clicks[0].col) == (3, 3)
    assert len({(c.row, c.col) for c in clicks}) == 9
    assert all(c.is_positive for c in clicks)
    assert [(c.row, c.col) for c in clicks[1:4]] == [(2, 2), (2, 3), (2, 4)]
    assert sim.next_click(pred) is None  # nothing left to click


def test_perfect_prediction_gets_no_click():
    gt = np.zeros((8, 8), bool)
    gt[2:6, 2:6] = True
    assert ClickSimulator(gt).next_click(gt.copy()) is None


@pytest.mark.parametrize("seed", range(25))
def test_cropped_transforms_match_full_frame(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(8, 60, 2)
    gt = np.zeros((h, w), bool)
    r0, c0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    gt[r0 : r0 + rng.integers(1, h), c0 : c0 + rng.integers(1, w)] = True
    ignore = rng.random((h, w)) < 0.05 if seed % 2 else None
    if ignore is not None and not (gt & ~ignore).any():
        return
    fast, full = ClickSimulator(gt, ignore=ignore), ClickSimulator(gt, ignore=ignore, crop=False)
    pred = np.zeros((h, w), bool)
    for _ in range(8):
        a, b = fast.next_click(pred), full.next_click(pred)
        assert a == b
        assert fast.iou(pred) == pytest.approx(iou(pred, gt, ignore=ignore))
        if a is None:
            break
        pred = pred ^ (rng.random((h, w)) < 0.3)


def test_bad_input_raises_with_message():
    with pytest.raises(PromptError, match="2D"):
        ClickSimulator(np.zeros((3, 3, 3), bool))
    with pytest.raises(PromptError, match="nothing to click"):
        ClickSimulator(np.zeros((3, 3), bool))
    sim = ClickSimulator(np.ones((3, 3), bool))
    with pytest.raises(PromptError, match="shape"):
        sim.next_click(np.zeros((4, 4), bool))


def test_distances_are_exact_so_ties_are_ties_whichever_transform_runs():
    """OpenCV's float32 values of one distance differed in their last bit (the next click moved between runs)."""
    from scipy import ndimage as ndi

    from promptseg.eval.clicker import _edt

    rng = np.random.default_rng(0)
    for _ in range(10):
        region = np.pad(ndi.binary_dilation(rng.random((80, 90)) > 0.995, iterations=8), 1)
        exact = np.sqrt(np.rint(ndi.distance_transform_edt(region) ** 2)).astype(np.float32)
        np.testing.assert_array_equal(_edt(region), exact)
