"""The SAM 2.1 backend through the backend interface: golden image cases, prompts, feedback, contrast, loading.

Golden values: ../shared/fixtures/sam2/small_hiera (the official
SAM2ImagePredictor's answers, (x, y) prompts; here given as napari (row, col)).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from sam2_fixture import fixture_model, golden_case, hiera_t_file, tiny_sam2_model  # noqa: F401 - a fixture

from promptseg import EmbeddingError, PromptError
from promptseg.backends import load_backend
from promptseg.backends.sam2 import FEATURE_NAMES, Sam2Backend
from promptseg.errors import CheckpointError
from promptseg.model.checkpoint import load_sam
from promptseg.model.sam2.predictor import Sam2Predictor
from promptseg.prompts import Prompts, polygon_mask, scribble_mask

ATOL = 1e-4


@pytest.fixture(scope="module")
def golden(shared_dir):
    return golden_case(shared_dir, "image")


@pytest.fixture(scope="module")
def fixture_backend(shared_dir):
    return Sam2Backend(fixture_model(shared_dir), name="small_hiera", checkpoint_hash="fixture")


@pytest.fixture(scope="module")
def official_embedding(golden, fixture_backend):
    """The official predictor's three feature maps as an embedding of the 300 x 420 image."""
    arrays, _ = golden
    return fixture_backend.embedding_from_arrays({k: arrays[k][0] for k in FEATURE_NAMES}, arrays["image"].shape[:2])


@pytest.fixture(scope="module")
def tiny2():
    return Sam2Backend(tiny_sam2_model(), name="tiny2", checkpoint_hash="test")


def _rc(spec) -> dict:
    """An official (x, y) / XYXY prompt spec as the backend's (row, col) keywords."""
    out = {}
    if "point_coords" in spec:
        out["points"] = np.asarray(spec["point_coords"])[:, ::-1]
        out["labels"] = spec["point_labels"]
    if "box" in spec:
        x0, y0, x1, y1 = spec["box"]
        out["box"] = (y0, x0, y1, x1)
    return out


def _expect(prediction, arrays, name: str, row: int) -> None:
    np.testing.assert_allclose(prediction.logits, arrays[f"{name}__masks"][row], atol=ATOL, rtol=0)
    np.testing.assert_allclose(prediction.state.numpy()[0], arrays[f"{name}__low_res"][row], atol=ATOL, rtol=0)
    assert prediction.score == pytest.approx(float(arrays[f"{name}__iou"][row]), abs=ATOL)
    np.testing.assert_array_equal(prediction.mask, prediction.logits > 0)


@pytest.mark.parametrize("name", ["one_point", "two_points", "box"])
def test_golden_cases_through_the_backend(golden, fixture_backend, official_embedding, name):
    """One click: the best of three candidates (official multimask); otherwise the single mask (with the fallback)."""
    arrays, specs = golden
    pred = fixture_backend.predict(official_embedding, **_rc(specs[name]))
    row = int(np.argmax(arrays[f"{name}__iou"])) if specs[name]["multimask_output"] else 0
    _expect(pred, arrays, name, row)


def test_previous_answer_is_the_official_mask_input(golden, fixture_backend, official_embedding):
    """``previous=`` feeds the clamped low-resolution logits back as the official predictor's ``mask_input``."""
    arrays, specs = golden
    first = fixture_backend.predict(official_embedding, **_rc(specs["two_points"]))
    second = fixture_backend.predict(official_embedding, **_rc(specs["with_mask_input"]), previous=first)
    _expect(second, arrays, "with_mask_input", 0)
    fixture_backend.prepare_feedback(official_embedding, first)  # the work of the next click done while idle
    ahead = fixture_backend.predict(official_embedding, **_rc(specs["with_mask_input"]), previous=first)
    np.testing.assert_allclose(ahead.logits, second.logits, atol=1e-5, rtol=0)


def test_encode_gives_the_official_features_and_masks(golden, fixture_backend):
    arrays, specs = golden
    emb = fixture_backend.encode(arrays["image"])
    assert emb.image_shape == (300, 420) and emb.backend_id.startswith("sam2.1:small_hiera:")
    for key in FEATURE_NAMES:
        np.testing.assert_allclose(getattr(emb.features, key).numpy(), arrays[key], atol=ATOL, rtol=0, err_msg=key)
    pred = fixture_backend.predict(emb, **_rc(specs["two_points"]))
    assert ((pred.logits > 0) == (arrays["two_points__masks"][0] > 0)).mean() >= 0.999


def test_mask_prompt_alone_has_no_sparse_token(fixture_backend, official_embedding):
    """As the official predictor: a mask without points or box reaches the decoder with no prompt token."""
    mask = np.zeros((300, 420), bool)
    mask[80:200, 150:300] = True
    pred = fixture_backend.predict(official_embedding, mask=mask)
    low = fixture_backend.mask_to_low_res(mask, official_embedding.features.geometry)
    assert low.shape == (1, 256, 256) and (low > 0).any() and (low < 0).any()
    np.testing.assert_allclose(low.abs().numpy(), np.log(999.0), rtol=1e-6)
    sparse = torch.zeros(1, 0, 256)
    predictor = Sam2Predictor(fixture_backend.model)
    with torch.inference_mode():
        ref_low, ref_iou = predictor._reference(official_embedding.features, sparse, low, False)
        ref = official_embedding.features.geometry.upsample_logits(ref_low[None])[0]
    best = 0 if ref_low.shape[0] == 1 else int(torch.argmax(ref_iou))
    np.testing.assert_allclose(pred.logits, ref[best].numpy(), atol=ATOL, rtol=0)


def test_polygons_and_scribbles_reach_it_as_the_mask_prompt(fixture_backend, official_embedding):
    polygon = np.array([[60.0, 100.0], [60.0, 260.0], [220.0, 180.0]])
    scribble = np.array([[150.0, 40.0], [160.0, 90.0], [170.0, 120.0]])
    shape = (300, 420)
    for kind, path, drawn in (("polygons", polygon, polygon_mask(polygon, shape)),
                              ("scribbles", scribble, scribble_mask(scribble, shape))):
        pred = fixture_backend.predict(official_embedding, Prompts(**{kind: [path]}, points=[(120, 150)]))
        same = fixture_backend.predict(official_embedding, points=[(120, 150)], mask=drawn)
        np.testing.assert_array_equal(pred.logits, same.logits, err_msg=kind)


def test_tiny_model_on_any_image_type(tiny2):
    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 255, (40, 60), dtype=np.uint8), rng.integers(0, 255, (33, 71, 4), dtype=np.uint8),
                  rng.integers(0, 65535, (50, 20), dtype=np.uint16), rng.normal(100, 30, (64, 64)).astype(np.float32)):
        emb = tiny2.encode(image)
        pred = tiny2.predict(emb, points=[(image.shape[0] // 2, image.shape[1] // 2)], labels=[1])
        assert pred.mask.shape == pred.logits.shape == image.shape[:2] and pred.logits.dtype == np.float32
        box = tiny2.predict(emb, box=(2, 3, image.shape[0] - 3, image.shape[1] - 2), previous=pred)
        assert box.mask.shape == image.shape[:2] and np.isfinite(box.score)


def test_contrast_limits_change_the_embedding(tiny2):
    image = np.random.default_rng(1).integers(0, 4000, (40, 40), dtype=np.uint16)
    a = tiny2.encode(image).features.image_embed
    b = tiny2.encode(image, contrast_limits=(0, 1000)).features.image_embed
    assert not torch.allclose(a, b)


def test_errors_name_what_to_do(tiny2, tiny_backend, fixture_backend, official_embedding):
    image = np.random.default_rng(2).integers(0, 255, (30, 40), dtype=np.uint8)
    emb = tiny2.encode(image)
    with pytest.raises(PromptError, match="outside"):
        tiny2.predict(emb, points=[(30, 5)])
    with pytest.raises(PromptError, match="no prompt"):
        tiny2.predict(emb)
    with pytest.raises(EmbeddingError, match="encode the image again"):
        tiny2.predict(tiny_backend.encode(image), points=[(3, 3)])
    sam1_answer = tiny_backend.predict(tiny_backend.encode(image), points=[(3, 3)])  # 64 x 64 state, not 256 x 256
    with pytest.raises(ValueError, match="mask= instead"):
        fixture_backend.predict(official_embedding, points=[(3, 3)], previous=sam1_answer)


def test_warm_up_and_layout(tiny2):
    assert tiny2.warm_up() > 0
    assert tiny2.embedding_layout((10, 10)) == {"image_embed": (32, 16, 16), "high_res_feat_0": (4, 64, 64),
                                                "high_res_feat_1": (8, 32, 32)}


def test_load_backend_tells_the_sam2_model(hiera_t_file):
    backend = load_backend(hiera_t_file, device="cpu")
    assert isinstance(backend, Sam2Backend) and backend.architecture == "hiera_t" and backend.name == "my_hiera.pt"
    assert backend.family == "sam2.1" and backend.backend_id.startswith("sam2.1:my_hiera.pt:")
    with pytest.raises(CheckpointError, match="SAM 2.1 model \\(hiera_t\\).*load_backend"):
        load_sam(hiera_t_file)
