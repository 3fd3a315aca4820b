"""Pure-numpy rasterisation of polygon and scribble prompts."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.errors import PromptError
from promptseg.prompts import polygon_mask, scribble_mask


def test_square_polygon_covers_its_pixels() -> None:
    mask = polygon_mask([(2, 2), (2, 6), (6, 6), (6, 2)], (10, 10))
    expected = np.zeros((10, 10), bool)
    expected[2:7, 2:7] = True
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("order", [1, -1])
def test_polygon_orientation_does_not_matter(order: int) -> None:
    tri = np.array([(0, 0), (0, 19), (19, 0)], float)[::order]
    mask = polygon_mask(tri, (20, 20))
    assert mask[1, 1] and not mask[18, 18]
    assert abs(mask.sum() - 20 * 21 / 2) <= 20


def test_polygon_clipped_to_image() -> None:
    mask = polygon_mask([(-5, -5), (-5, 4), (4, 4), (4, -5)], (8, 8))
    assert mask.shape == (8, 8) and mask[:5, :5].all() and mask.sum() == 25


def test_scribble_width_and_dot() -> None:
    line = scribble_mask([(5, 1), (5, 8)], (11, 11), width=3)
    assert line[4:7, 1:9].all() and line.sum() < 40
    assert scribble_mask([(3, 3)], (7, 7), width=1).sum() == 1


@pytest.mark.parametrize("bad", [[(1, 1)], [(0, 0), (1, np.nan), (2, 2)], np.zeros((3, 3))])
def test_bad_polygons_raise(bad) -> None:
    with pytest.raises(PromptError):
        polygon_mask(bad, (5, 5))


@pytest.mark.parametrize("box, flat", [((10, 10, 10, 10), "height and width"), ((5, 3, 5, 20), "height"),
                                       ((3, 7, 20, 7), "width"), ((-4, 3, 0, 20), "height")])
def test_zero_size_box_is_refused(box, flat) -> None:
    from promptseg.prompts import Prompts

    with pytest.raises(PromptError, match=rf"has zero {flat} inside the image.*or click a point instead"):
        Prompts(box=box, image_shape=(40, 50))
    assert Prompts(box=(5, 3, 6, 4), image_shape=(40, 50)).box.tolist() == [5, 3, 6, 4]  # one pixel is a box


def test_two_vertex_polygon_is_refused_by_every_route(tiny_backend) -> None:
    """Classic took it natively and answered 0 px; rasterised for SAM it was dropped silently."""
    from promptseg.backends.classic import ClassicBackend
    from promptseg.prompts import Prompts, path_masks
    from promptseg.session import AnnotationSession, ImageStack

    image = np.zeros((64, 64), np.uint8)
    image[20:40, 20:40] = 200
    line = np.array([[25.0, 25.0], [35.0, 35.0]])
    message = r"a polygon needs at least 3 \(row, col\) vertices.*encloses nothing"
    classic = ClassicBackend()
    with pytest.raises(PromptError, match=message):
        classic.predict(classic.encode(image), polygons=[line])
    with pytest.raises(PromptError, match=message):
        path_masks([line], [], (64, 64))
    for backend in (classic, tiny_backend):
        session = AnnotationSession(ImageStack(image), backend)
        for _ in session.encode_iter([()]):
            pass
        with pytest.raises(PromptError, match=message):
            session.set_prompts((), Prompts(points=[(30, 30)], labels=[1], polygons=[line]))
