"""ObjectPrompts: immutability, predict keywords, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.errors import PromptError
from promptseg.session import ObjectPrompts
from promptseg.session.object_prompts import decode_rle, encode_rle


def _full() -> ObjectPrompts:
    painted = np.zeros((16, 16), bool)
    painted[3:5, 7:9] = True
    return ObjectPrompts(
        points=[(4, 4), (8, 8)], labels=[1, 0], box=(1, 1, 10, 10),
        polygons=[np.array([(2, 2), (2, 6), (6, 6)])], scribbles=[np.array([(12, 1), (12, 9)])], painted=painted,
    )


def test_empty_and_frozen() -> None:
    p = ObjectPrompts()
    assert p.is_empty and p.points.shape == (0, 2)
    q = ObjectPrompts(points=[(1, 2)], labels=[1])
    with pytest.raises(ValueError):
        q.points[0, 0] = 5


def test_label_validation() -> None:
    with pytest.raises(PromptError):
        ObjectPrompts(points=[(1, 2)], labels=[2])
    with pytest.raises(PromptError):
        ObjectPrompts(points=[(1, 2), (3, 4)], labels=[1])


def test_regions_become_one_mask_prompt() -> None:
    kwargs = _full().predict_kwargs((16, 16), backend=None)
    assert set(kwargs) == {"points", "labels", "box", "mask"}
    mask = kwargs["mask"]
    assert mask.shape == (16, 16) and mask[3, 3] and mask[12, 5] and mask[4, 8] and not mask[14, 14]


class _NativeBackend:
    def predict(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None,
                polygons=None, scribbles=None):
        raise NotImplementedError


def test_native_polygons_and_scribbles_are_passed_through() -> None:
    kwargs = _full().predict_kwargs((16, 16), backend=_NativeBackend())
    assert len(kwargs["polygons"]) == 1 and len(kwargs["scribbles"]) == 1
    assert kwargs["mask"].sum() == 4  # only the painted part


def test_json_round_trip() -> None:
    p = _full()
    q = ObjectPrompts.from_json(p.to_json())
    assert q.same_as(p)


def test_extends() -> None:
    a = ObjectPrompts(points=[(1, 1)], labels=[1])
    b = ObjectPrompts(points=[(1, 1), (2, 2)], labels=[1, 0])
    assert b.extends(a) and not a.extends(b) and not b.extends(ObjectPrompts())


def test_rle_round_trip() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((7, 9)) > 0.5
    np.testing.assert_array_equal(decode_rle(encode_rle(mask)), mask)


def test_gives_mask_says_whether_the_keywords_hold_a_mask_prompt() -> None:
    square = np.array([(2.0, 2.0), (2.0, 9.0), (9.0, 9.0), (9.0, 2.0)])
    painted = np.zeros((12, 12), bool)
    painted[3:5, 3:5] = True
    kinds = [
        ObjectPrompts(points=[(4, 4)], labels=[1]),
        ObjectPrompts(points=[(4, 4)], labels=[1], polygons=[square]),
        ObjectPrompts(scribbles=[square[:2]]),
        ObjectPrompts(points=[(4, 4)], labels=[1], painted=painted),
        ObjectPrompts(polygons=[square], painted=painted),
    ]
    for backend in (None, _NativeBackend()):
        for prompts in kinds:
            assert prompts.gives_mask(backend) == ("mask" in prompts.predict_kwargs((12, 12), backend))
    assert kinds[1].gives_mask(None) and not kinds[1].gives_mask(_NativeBackend())
