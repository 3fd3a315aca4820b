"""The SAM backend's public behaviour on a tiny random-weight model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptseg import EmbeddingError, ImageError, PromptError
from promptseg.backends.sam import SamBackend
from promptseg.model.fast_decoder import FastMaskDecoder
from promptseg.model.transforms import ImageGeometry


def _image(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        return rng.normal(100, 30, shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize(
    "shape,dtype",
    [((40, 60), np.uint8), ((40, 60, 3), np.uint8), ((33, 71, 4), np.uint8), ((50, 20), np.uint16),
     ((64, 64), np.float32), ((17, 90, 1), np.float64)],
)
def test_mask_has_image_shape(tiny_backend, shape, dtype):
    image = _image(shape, dtype)
    emb = tiny_backend.encode(image)
    assert emb.image_shape == shape[:2]
    pred = tiny_backend.predict(emb, points=[(shape[0] // 2, shape[1] // 2)], labels=[1])
    assert pred.mask.shape == shape[:2] and pred.mask.dtype == bool
    assert pred.logits.shape == shape[:2] and pred.logits.dtype == np.float32
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    assert np.isfinite(pred.score)


def test_contrast_limits_change_the_embedding(tiny_backend):
    image = _image((40, 40), np.uint16)
    a = tiny_backend.encode(image).features.embedding
    b = tiny_backend.encode(image, contrast_limits=(0, 1000)).features.embedding
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "image,match",
    [
        (np.zeros((4, 5, 6, 3)), "dimensions"),
        (np.zeros((0, 5)), "empty"),
        (np.full((20, 20), 7, np.uint8), "constant"),
        (np.full((20, 20), np.nan), "NaN"),
        (np.zeros((20, 20, 5)), "channels"),
    ],
)
def test_bad_images_raise(tiny_backend, image, match):
    with pytest.raises(ImageError, match=match):
        tiny_backend.encode(image)


def test_prompt_errors(tiny_backend):
    emb = tiny_backend.encode(_image((30, 40)))
    with pytest.raises(PromptError, match="outside"):
        tiny_backend.predict(emb, points=[(30, 5)], labels=[1])
    with pytest.raises(PromptError, match="labels"):
        tiny_backend.predict(emb, points=[(3, 5), (4, 4)], labels=[1])
    with pytest.raises(PromptError, match="1 \\(object\\) or 0"):
        tiny_backend.predict(emb, points=[(3, 5)], labels=[2])
    with pytest.raises(PromptError, match="no prompt"):
        tiny_backend.predict(emb)


def test_embedding_errors(tiny_backend, tiny_model):
    with pytest.raises(EmbeddingError, match="encode"):
        tiny_backend.predict(None, points=[(1, 1)])
    other = SamBackend(tiny_model, name="other", checkpoint_hash="another")
    emb = other.encode(_image((30, 40)))
    with pytest.raises(EmbeddingError, match="encode the image again"):
        tiny_backend.predict(emb, points=[(1, 1)])


def test_previous_prediction_is_fed_back(tiny_backend):
    emb = tiny_backend.encode(_image((48, 48, 3)))
    first = tiny_backend.predict(emb, points=[(20, 20)], labels=[1])
    pts, labels = [(20, 20), (5, 40)], [1, 0]
    without = tiny_backend.predict(emb, points=pts, labels=labels)
    with_prev = tiny_backend.predict(emb, points=pts, labels=labels, previous=first)
    assert not np.allclose(without.logits, with_prev.logits)
    assert isinstance(with_prev.state, torch.Tensor) and with_prev.state.shape == (1, 64, 64)


def test_box_and_mask_prompts(tiny_backend):
    emb = tiny_backend.encode(_image((48, 64, 3)))
    pred = tiny_backend.predict(emb, box=(10, 10, 30, 40))
    assert pred.mask.shape == (48, 64)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 10:40] = True
    pred2 = tiny_backend.predict(emb, mask=mask)
    assert pred2.mask.shape == (48, 64)
    # a box given in any corner order means the same box (float rounding may differ with the thread count)
    swapped = tiny_backend.predict(emb, box=(30, 40, 10, 10))
    np.testing.assert_allclose(pred.logits, swapped.logits, rtol=1e-5, atol=1e-5)


def _reference(model, emb, xy, labels, box, mask_low, multimask):
    pe = model.prompt_encoder
    points = (torch.as_tensor(xy, dtype=torch.float32)[None], torch.as_tensor(labels)[None]) if xy is not None else None
    boxes = torch.as_tensor(box, dtype=torch.float32)[None] if box is not None else None
    with torch.inference_mode():
        sparse, dense = pe(points, boxes, mask_low)
        low, iou = model.mask_decoder(emb, pe.get_dense_pe(), sparse, dense, multimask)
    return low[0], iou[0]


@pytest.mark.parametrize("n_points", [1, 2, 5, 9, 16, 25])
@pytest.mark.parametrize("with_box", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_fast_decoder_equals_reference(tiny_model, n_points, with_box, with_mask):
    """Both association orders (few and many tokens) compute the reference function."""
    rng = np.random.default_rng(n_points)
    size = tiny_model.img_size
    emb = torch.randn(1, 256, size // 16, size // 16)
    xy = rng.uniform(0, size, (n_points, 2))
    labels = rng.integers(0, 2, n_points)
    box = np.array([20.0, 30.0, 150.0, 200.0]) if with_box else None
    mask_low = torch.randn(1, 1, size // 4, size // 4) * 5 if with_mask else None
    multimask = n_points == 1 and not with_box and not with_mask
    ref_low, ref_iou = _reference(tiny_model, emb, xy, labels, box, mask_low, multimask)
    fast = FastMaskDecoder(tiny_model)
    pe = tiny_model.prompt_encoder
    with torch.inference_mode():
        sparse, _ = pe((torch.as_tensor(xy, dtype=torch.float32)[None], torch.as_tensor(labels)[None]),
                       None if box is None else torch.as_tensor(box, dtype=torch.float32)[None], None)
    hidden = None if mask_low is None else fast.mask_hidden(mask_low[0])
    low, iou, index = fast(fast.prepare(emb), sparse[0], hidden, multimask)
    torch.testing.assert_close(iou, ref_iou, atol=1e-4, rtol=0)
    best = int(torch.argmax(ref_iou))
    assert index == (best + 1 if multimask else 0)
    torch.testing.assert_close(low, ref_low[best : best + 1], atol=1e-4, rtol=0)


def test_geometry_round_trip():
    geo = ImageGeometry.for_image((300, 420))
    assert geo.input_size == (731, 1024)
    xy = geo.coords_to_input(np.array([[420.0, 300.0]]))
    np.testing.assert_allclose(xy, [[1024.0, 731.0]])


def test_warm_up_answers_a_blank_click_and_keeps_no_state(tiny_backend):
    image = _image((48, 40))
    emb = tiny_backend.encode(image)
    before = tiny_backend.predict(emb, points=[(20, 20)], labels=[1])
    seconds = tiny_backend.warm_up()
    assert seconds > 0
    after = tiny_backend.predict(emb, points=[(20, 20)], labels=[1])
    np.testing.assert_array_equal(after.logits, before.logits)
    assert emb.cache.keys() == {"sam_decoder"}  # the user's embedding was not touched


def test_prepared_feedback_gives_the_same_answer_and_skips_the_mask_path(tiny_backend, monkeypatch):
    image = _image((48, 40))
    emb = tiny_backend.encode(image)
    first = tiny_backend.predict(emb, points=[(20, 20)], labels=[1])
    plain = tiny_backend.predict(emb, points=[(20, 20), (30, 12)], labels=[1, 0], previous=first)
    tiny_backend.prepare_feedback(emb, first)
    calls = []
    real = tiny_backend._decoder.mask_hidden
    monkeypatch.setattr(tiny_backend._decoder, "mask_hidden", lambda low: calls.append(1) or real(low))
    ready = tiny_backend.predict(emb, points=[(20, 20), (30, 12)], labels=[1, 0], previous=first)
    assert calls == []  # the mask prompt's work was done beforehand
    np.testing.assert_allclose(ready.logits, plain.logits, atol=1e-4)
    np.testing.assert_array_equal(ready.mask, plain.logits > 0)
    # not for another previous answer, nor when an explicit mask prompt overrides the previous one
    other = tiny_backend.predict(emb, points=[(10, 30)], labels=[1])
    tiny_backend.predict(emb, points=[(10, 30), (12, 5)], labels=[1, 1], previous=other)
    tiny_backend.predict(emb, points=[(20, 20), (30, 12)], labels=[1, 0], previous=first,
                         mask=np.ones((48, 40), bool))
    assert len(calls) == 2


def test_prepare_feedback_refuses_foreign_answers(tiny_backend):
    from promptseg.backends.base import Prediction

    emb = tiny_backend.encode(_image((48, 40)))
    foreign = Prediction(mask=np.zeros((48, 40), bool), logits=np.zeros((48, 40), np.float32), score=0.0)
    with pytest.raises(ValueError, match="mask="):
        tiny_backend.prepare_feedback(emb, foreign)


def test_polygons_and_scribbles_reach_sam_as_its_mask_prompt(tiny_backend):
    """SAM reads no paths natively: they are drawn into the mask prompt (a TypeError before one protocol)."""
    from promptseg.prompts import Prompts, polygon_mask, scribble_mask

    emb = tiny_backend.encode(_image((40, 60)))
    square = np.array([(10.0, 10.0), (10.0, 30.0), (30.0, 30.0), (30.0, 10.0)])
    drawn = tiny_backend.predict(emb, points=[(20, 20)], labels=[1], polygons=[square])
    painted = tiny_backend.predict(emb, points=[(20, 20)], labels=[1], mask=polygon_mask(square, (40, 60)))
    np.testing.assert_array_equal(drawn.logits, painted.logits)
    path = np.array([(5.0, 5.0), (5.0, 50.0)])
    value = tiny_backend.predict(emb, Prompts(scribbles=[path]))
    np.testing.assert_array_equal(value.logits, tiny_backend.predict(emb, mask=scribble_mask(path, (40, 60))).logits)
    with pytest.raises(PromptError, match="negative polygons"):
        tiny_backend.predict(emb, polygons=[square], polygon_labels=[0])
    with pytest.raises(TypeError, match="not both"):
        tiny_backend.predict(emb, Prompts(points=[(3, 3)]), points=[(3, 3)])
