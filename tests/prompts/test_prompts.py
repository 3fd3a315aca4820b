"""Prompts: immutability, validation on construction, rasterisation for mask backends, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.errors import PromptError
from promptseg.prompts import Prompts, decode_rle, encode_rle

NATIVE = frozenset({"polygons", "scribbles"})


def _full() -> Prompts:
    painted = np.zeros((16, 16), bool)
    painted[3:5, 7:9] = True
    return Prompts(
        points=[(4, 4), (8, 8)], labels=[1, 0], box=(1, 1, 10, 10),
        polygons=[np.array([(2, 2), (2, 6), (6, 6)])], scribbles=[np.array([(12, 1), (12, 9)])], mask=painted,
        image_shape=(16, 16),
    )


def test_empty_and_frozen() -> None:
    p = Prompts()
    assert p.is_empty and p.points.shape == (0, 2)
    q = Prompts(points=[(1, 2)], labels=[1])
    with pytest.raises(ValueError):
        q.points[0, 0] = 5


def test_label_validation() -> None:
    with pytest.raises(PromptError):
        Prompts(points=[(1, 2)], labels=[2])
    with pytest.raises(PromptError):
        Prompts(points=[(1, 2), (3, 4)], labels=[1])


def test_regions_become_one_mask_prompt() -> None:
    drawn = _full().rasterised()
    assert not drawn.polygons and not drawn.scribbles and drawn.box is not None and len(drawn.points) == 2
    mask = drawn.mask
    assert mask.shape == (16, 16) and mask[3, 3] and mask[12, 5] and mask[4, 8] and not mask[14, 14]


def test_native_polygons_and_scribbles_are_passed_through() -> None:
    kept = _full().rasterised(NATIVE)
    assert len(kept.polygons) == 1 and len(kept.scribbles) == 1
    assert kept.mask.sum() == 4  # only the painted part


def test_json_round_trip() -> None:
    p = _full()
    q = Prompts.from_json(p.to_json())
    assert q.same_as(p)
    negative = Prompts(scribbles=[np.array([(1.0, 1.0), (3.0, 3.0)])], scribble_labels=[0])
    assert Prompts.from_json(negative.to_json()).same_as(negative)


def test_rle_round_trip() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((7, 9)) > 0.5
    np.testing.assert_array_equal(decode_rle(encode_rle(mask)), mask)


def test_gives_mask_says_whether_the_rasterised_prompts_hold_a_mask() -> None:
    square = np.array([(2.0, 2.0), (2.0, 9.0), (9.0, 9.0), (9.0, 2.0)])
    painted = np.zeros((12, 12), bool)
    painted[3:5, 3:5] = True
    kinds = [
        Prompts(points=[(4, 4)], labels=[1]),
        Prompts(points=[(4, 4)], labels=[1], polygons=[square]),
        Prompts(scribbles=[square[:2]]),
        Prompts(points=[(4, 4)], labels=[1], mask=painted),
        Prompts(polygons=[square], mask=painted),
    ]
    for native in (frozenset(), NATIVE):
        for prompts in kinds:
            assert prompts.gives_mask(native) == (prompts.on_image((12, 12)).rasterised(native).mask is not None)
    assert kinds[1].gives_mask() and not kinds[1].gives_mask(NATIVE)


def test_checked_once_against_the_image() -> None:
    p = Prompts(points=[(3, 4)], labels=[1], box=(9, 9, -5, 2))
    assert p.image_shape is None and p.box.tolist() == [-5, 2, 9, 9]  # corners sorted, not clipped yet
    on = p.on_image((8, 8))
    assert on.image_shape == (8, 8) and on.box.tolist() == [0, 2, 7, 7] and on.on_image((8, 8)) is on
    with pytest.raises(PromptError, match="outside the image of 3 x 8"):
        p.on_image((3, 8))
    with pytest.raises(PromptError, match="given for an image of 8 x 8"):
        on.on_image((9, 9))
    with pytest.raises(PromptError, match="must match the image"):
        Prompts(mask=np.ones((4, 4), bool), image_shape=(5, 5))
    with pytest.raises(PromptError, match="entirely outside"):
        Prompts(scribbles=[[(20, 20), (30, 30)]], image_shape=(10, 10))
    with pytest.raises(PromptError, match="one label"):
        Prompts(polygons=[[(1, 1), (1, 5), (5, 5)]], polygon_labels=[1, 0])


def test_negative_paths_cannot_become_a_mask() -> None:
    p = Prompts(points=[(4, 4)], polygons=[[(1, 1), (1, 5), (5, 5)]], polygon_labels=[0], image_shape=(8, 8))
    assert p.rasterised(NATIVE) is p
    with pytest.raises(PromptError, match="negative polygons cannot be given to the sam backend"):
        p.rasterised(where="the sam backend")


def test_clicks_added_and_removed() -> None:
    base = Prompts(box=(1, 1, 6, 6))
    one = base.with_click((2, 3), 1).with_click((4, 4), 0)
    assert one.labels.tolist() == [1, 0] and one.box.tolist() == [1, 1, 6, 6]
    assert one.without_clicks().same_as(base) and not one.same_as(base)
