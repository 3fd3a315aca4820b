"""SAM 2.1 image path against the official SAM2ImagePredictor's outputs (../shared/fixtures/sam2/small_hiera).

Tolerances from the fixture README: features and logits within 1e-4,
upsampled logits >= 99.9 % sign agreement.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from promptseg.errors import ImageError, PromptError
from promptseg.model.sam2.fast_decoder import Sam2FastDecoder
from promptseg.model.sam2.predictor import Sam2Features, Sam2Predictor
from promptseg.model.sam2.transforms import Sam2Geometry

from sam2_fixture import fixture_model, golden_case

ATOL = 1e-4
CASES = ["one_point", "one_point_single", "two_points", "box", "box_and_point", "with_mask_input"]
FEATURES = ("image_embed", "high_res_feat_0", "high_res_feat_1")


@pytest.fixture(scope="module")
def golden(shared_dir):
    return golden_case(shared_dir, "image")


@pytest.fixture(scope="module")
def predictor(shared_dir):
    return Sam2Predictor(fixture_model(shared_dir))


@pytest.fixture(scope="module")
def official_features(golden) -> Sam2Features:
    arrays, _ = golden
    maps = [torch.from_numpy(arrays[key]) for key in FEATURES]
    return Sam2Features(*maps, Sam2Geometry.for_image(arrays["image"].shape[:2]))


def test_encoder_input_is_the_official_resize_and_normalisation(golden):
    arrays, _ = golden
    x = Sam2Geometry.for_image(arrays["image"].shape[:2]).preprocess(arrays["image"])
    assert x.shape == (1, 3, 1024, 1024) and x.dtype == torch.float32
    np.testing.assert_allclose(x.numpy(), arrays["input_tensor"], atol=1e-5, rtol=0)


def test_three_feature_maps(golden, predictor):
    arrays, _ = golden
    with torch.inference_mode():
        features = predictor.model.encode_image(torch.from_numpy(arrays["input_tensor"]))
    for key in FEATURES:
        assert features[key].shape == arrays[key].shape, key
        np.testing.assert_allclose(features[key].numpy(), arrays[key], atol=ATOL, rtol=0, err_msg=key)


def test_encode_from_the_image(golden, predictor):
    arrays, _ = golden
    features = predictor.encode(arrays["image"])
    assert features.geometry.original_size == (300, 420)
    for key in FEATURES:
        np.testing.assert_allclose(getattr(features, key).numpy(), arrays[key], atol=ATOL, rtol=0, err_msg=key)


def _prompts(arrays, spec) -> dict:
    prompts = {key: spec[key] for key in ("point_coords", "point_labels", "box") if key in spec}
    if "mask_input" in spec:
        prompts["mask_input"] = arrays[spec["mask_input"]]
    return prompts


def _sign_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a > 0) == (b > 0)).mean())


@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fast"])
@pytest.mark.parametrize("name", CASES)
def test_every_image_case(golden, predictor, official_features, name, fast):
    """Both decoders; the fast one forms only the candidate with the highest predicted IoU."""
    arrays, specs = golden
    spec = specs[name]
    masks, iou, low_res = predictor.predict(
        official_features, **_prompts(arrays, spec), multimask_output=spec["multimask_output"], fast=fast
    )
    ref_iou = arrays[f"{name}__iou"]
    rows = [int(np.argmax(ref_iou))] if fast else list(range(len(ref_iou)))
    ref_masks, ref_low = arrays[f"{name}__masks"][rows], arrays[f"{name}__low_res"][rows]
    assert masks.shape == ref_masks.shape and low_res.shape == ref_low.shape
    np.testing.assert_allclose(iou.numpy(), ref_iou, atol=ATOL, rtol=0)
    np.testing.assert_allclose(low_res.numpy(), ref_low, atol=ATOL, rtol=0)
    np.testing.assert_allclose(masks.numpy(), ref_masks, atol=ATOL, rtol=0)
    assert _sign_agreement(masks.numpy(), ref_masks) >= 0.999


def test_whole_image_path_from_pixels_to_mask(golden, predictor):
    arrays, specs = golden
    features = predictor.encode(arrays["image"])
    masks, _, low_res = predictor.predict(features, **_prompts(arrays, specs["two_points"]), multimask_output=False)
    assert _sign_agreement(masks.numpy(), arrays["two_points__masks"]) >= 0.999
    np.testing.assert_allclose(low_res.numpy(), arrays["two_points__low_res"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("thresh", [0.0, 1.01], ids=["always-stable", "never-stable"])
@pytest.mark.parametrize("multimask", [False, True])
def test_fast_equals_reference_on_random_prompts(predictor, official_features, thresh, multimask):
    """Both branches of the stability fallback (the fixture's answers all fall back)."""
    decoder = predictor.model.sam_mask_decoder
    saved = decoder.stability_thresh
    decoder.stability_thresh = thresh
    try:
        _compare_fast_and_reference(Sam2Predictor(predictor.model), official_features, multimask)
    finally:
        decoder.stability_thresh = saved


def _compare_fast_and_reference(predictor: Sam2Predictor, official_features: Sam2Features, multimask: bool) -> None:
    rng = np.random.default_rng(7)
    for _ in range(3):
        n = int(rng.integers(1, 4))
        prompts = {"point_coords": rng.uniform(0, [420, 300], size=(n, 2)), "point_labels": rng.integers(0, 2, n)}
        if rng.random() < 0.5:
            prompts["box"] = np.sort(rng.uniform(0, 300, size=(2, 2)), axis=0).ravel()
        _, ref_iou, ref_low = predictor.predict(official_features, **prompts, multimask_output=multimask, fast=False)
        _, iou, low = predictor.predict(official_features, **prompts, multimask_output=multimask, fast=True)
        best = int(torch.argmax(ref_iou))
        np.testing.assert_allclose(iou.numpy(), ref_iou.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(low[0].numpy(), ref_low[best].numpy(), atol=1e-4, rtol=0)


def test_fast_answer_reports_token_and_object_score(predictor, official_features):
    fast: Sam2FastDecoder = predictor.fast
    prep = fast.prepare(official_features.image_embed, official_features.high_res)
    sparse = predictor._tokens(official_features, [[200.0, 140.0]], [1], None)
    answer = fast(prep, sparse[0], None, True)
    out = predictor.model.sam_mask_decoder(
        official_features.image_embed,
        predictor.model.sam_prompt_encoder.get_dense_pe(),
        sparse,
        predictor.model.sam_prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, 64, 64),
        True,
        official_features.high_res,
    )
    np.testing.assert_allclose(answer.object_score_logit.numpy(), out.object_score_logits[0].detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(
        answer.sam_token.numpy(), out.sam_tokens[0, answer.index - 1].detach().numpy(), atol=1e-4
    )


def test_bad_inputs_raise_clear_errors(predictor, official_features):
    with pytest.raises(ImageError, match=r"\(H, W, 3\) uint8"):
        predictor.encode(np.zeros((10, 10), np.uint8))
    with pytest.raises(PromptError, match="at least one point or a box"):
        predictor.predict(official_features)
    with pytest.raises(PromptError, match="one label"):
        predictor.predict(official_features, point_coords=[[1, 2], [3, 4]], point_labels=[1])
    with pytest.raises(PromptError, match=r"\(1, 256, 256\)"):
        predictor.predict(official_features, point_coords=[[1, 2]], point_labels=[1], mask_input=np.zeros((64, 64)))
