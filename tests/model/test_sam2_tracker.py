"""Pieces of the SAM 2.1 tracker: small-hole filling and the video frame loader's resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from promptseg.model.sam2.frame_input import resize_bicubic_u8, video_frame_input
from promptseg.model.sam2.hole_filling import HOLE_LOGIT, fill_small_holes


def _with_holes() -> torch.Tensor:
    """A 12 x 12 object with holes of 4 px, 9 px, a diagonal pair and a corner pixel."""
    logits = torch.full((1, 1, 12, 12), 3.0)
    logits[0, 0, 2:4, 2:4] = -1.0  # 4 px: filled
    logits[0, 0, 6:9, 6:9] = -1.0  # 9 px: kept
    logits[0, 0, 9, 0] = -2.0  # two pixels touching by a corner: one 8-connected region of 2 px
    logits[0, 0, 10, 1] = -2.0
    logits[0, 0, 0, 11] = 0.0  # logit 0 counts as background; border regions are filled too
    return logits


def test_small_holes_are_filled_with_8_connectivity():
    filled = fill_small_holes(_with_holes(), 8)
    background = (filled[0, 0] <= 0).numpy()
    expected = np.zeros((12, 12), bool)
    expected[6:9, 6:9] = True
    np.testing.assert_array_equal(background, expected)
    assert filled[0, 0, 2, 2].item() == pytest.approx(HOLE_LOGIT)
    assert filled[0, 0, 7, 7].item() == -1.0  # untouched values stay


def test_hole_area_limit_and_off_switch():
    holes = _with_holes()
    assert fill_small_holes(holes, 0) is holes
    assert int((fill_small_holes(holes, 9)[0, 0] <= 0).sum()) == 0
    assert int((fill_small_holes(holes, 3)[0, 0] <= 0).sum()) == 4 + 9  # only the 1- and 2-px regions
    batch = torch.cat([holes, -holes.abs()])  # the second mask is all background: one big region
    out = fill_small_holes(batch, 8)
    assert torch.equal(out[1], batch[1])


@pytest.mark.parametrize("shape, size", [((240, 320, 3), (1024, 1024)), ((37, 53), (100, 61)), ((512, 300, 3), (1024, 1024))])
def test_resize_matches_pil_when_enlarging(shape, size):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    ours = resize_bicubic_u8(image, size)
    assert ours.dtype == np.uint8 and ours.shape == size + shape[2:]
    np.testing.assert_array_equal(ours, np.asarray(Image.fromarray(image).resize(size[::-1])))


def test_resize_shrinks_like_pil_within_rounding():
    image = np.random.default_rng(2).integers(0, 256, (300, 200), dtype=np.uint8)
    diff = resize_bicubic_u8(image, (64, 90)).astype(int) - np.asarray(Image.fromarray(image).resize((90, 64)))
    assert np.abs(diff).max() <= 3


def test_video_frame_input():
    rgb = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    x = video_frame_input(rgb, 64)
    assert x.shape == (1, 3, 64, 64) and x.dtype == torch.float32
    resized = resize_bicubic_u8(rgb, (64, 64)).astype(np.float64) / 255.0
    expected = (resized[..., 1] - 0.456) / 0.224
    np.testing.assert_allclose(x[0, 1].numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        video_frame_input(rgb.astype(np.float32))
    with pytest.raises(TypeError):
        resize_bicubic_u8(rgb.astype(np.uint16), (8, 8))
