"""Our networks reproduce the official SAM / MobileSAM outputs (golden fixtures).

Tolerances are those of ``fixtures/sam/README.md``.  Both the reference
decoder (module forward) and the per-click fast path are checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from promptseg.backends.sam import SamBackend
from promptseg.model.build import build_sam
from promptseg.model.config import SamConfig
from promptseg.model.fast_decoder import FastMaskDecoder
from promptseg.model.transforms import ImageGeometry

FIXTURES = ["small_vit", "small_tinyvit"]


@pytest.fixture(scope="module", params=FIXTURES)
def golden(request, shared_dir):
    base = shared_dir / "fixtures" / "sam" / request.param
    config = SamConfig.from_dict(json.loads((base / "config.json").read_text()))
    model = build_sam(config)
    state = torch.load(base / "state_dict.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    case = dict(np.load(base / "case.npz"))
    prompts = json.loads((base / "prompts.json").read_text())
    return request.param, model, case, prompts


def _model_prompts(model, case, prompt, name):
    geometry = ImageGeometry.for_image(case["image"].shape[:2])
    points = box = mask = None
    if "point_coords" in prompt:
        xy = torch.tensor(geometry.coords_to_input(np.array(prompt["point_coords"])), dtype=torch.float32)
        points = (xy[None], torch.tensor(prompt["point_labels"])[None])
    if "box" in prompt:
        corners = geometry.coords_to_input(np.array(prompt["box"], dtype=float).reshape(2, 2)).reshape(1, 4)
        box = torch.tensor(corners, dtype=torch.float32)
    if name == "with_mask_input":
        mask = torch.from_numpy(case["two_points__low_res"])[None]
    return geometry, points, box, mask


def test_preprocessing_matches(golden):
    _, model, case, _ = golden
    geometry = ImageGeometry.for_image(case["image"].shape[:2])
    assert tuple(geometry.input_size) == tuple(case["input_size"])
    x = geometry.preprocess(case["image"])
    assert np.abs(x.numpy() - case["input_tensor"]).max() <= 0.05


def test_image_encoder_matches(golden):
    _, model, case, _ = golden
    with torch.inference_mode():
        emb = model.image_encoder(torch.from_numpy(case["input_tensor"]))
    assert np.abs(emb.numpy() - case["image_embedding"]).max() <= 1e-4


def test_reference_decoder_matches(golden):
    _, model, case, prompts = golden
    emb = torch.from_numpy(case["image_embedding"])
    for name, prompt in prompts.items():
        geometry, points, box, mask = _model_prompts(model, case, prompt, name)
        with torch.inference_mode():
            sparse, dense = model.prompt_encoder(points, box, mask)
            low, iou = model.mask_decoder(emb, model.prompt_encoder.get_dense_pe(), sparse, dense, prompt["multimask_output"])
            full = geometry.upsample_logits(low)
        assert np.abs(low[0].numpy() - case[f"{name}__low_res"]).max() <= 1e-4, name
        assert np.abs(iou[0].numpy() - case[f"{name}__iou"]).max() <= 1e-4, name
        gm = case[f"{name}__masks"]
        assert np.abs(full[0].numpy() - gm).max() <= 1e-3, name
        assert ((full[0].numpy() > 0) == (gm > 0)).mean() >= 0.999, name


def test_fast_decoder_matches(golden):
    """The per-click path returns the best candidate with the golden logits."""
    _, model, case, prompts = golden
    fast = FastMaskDecoder(model)
    prep = fast.prepare(torch.from_numpy(case["image_embedding"]))
    for name, prompt in prompts.items():
        geometry, points, box, mask = _model_prompts(model, case, prompt, name)
        with torch.inference_mode():
            sparse, _ = model.prompt_encoder(points, box, None)
        hidden = None if mask is None else fast.mask_hidden(mask[0])
        # a mask prompt also as block-0 inputs formed beforehand (what the annotator does while idle)
        for given in [hidden] if hidden is None else [hidden, fast.prepare_mask(prep, hidden)]:
            low, iou, index = fast(prep, sparse[0], given, prompt["multimask_output"])
            giou = case[f"{name}__iou"]
            assert np.abs(iou.numpy() - giou).max() <= 1e-4, name
            best = int(np.argmax(giou)) if prompt["multimask_output"] else 0
            assert index == (best + 1 if prompt["multimask_output"] else 0), name
            assert np.abs(low.numpy() - case[f"{name}__low_res"][best]).max() <= 1e-4, name
            full = geometry.upsample_logits(low[None])[0, 0].numpy()
            gm = case[f"{name}__masks"][best]
            assert np.abs(full - gm).max() <= 1e-3, name
            assert ((full > 0) == (gm > 0)).mean() >= 0.999, name


def test_backend_api_matches_golden(golden):
    """load -> encode -> predict in napari's (row, col) frame gives the official mask."""
    _, model, case, prompts = golden
    backend = SamBackend(model, name="golden")
    emb = backend.encode(case["image"])
    assert emb.image_shape == case["image"].shape[:2]
    # own preprocessing of the uint8 image is exact here, so the embedding matches too
    assert np.abs(emb.features.embedding.numpy() - case["image_embedding"]).max() <= 1e-4
    p = prompts["one_point"]
    rc = np.array(p["point_coords"])[:, ::-1]
    pred = backend.predict(emb, points=rc, labels=p["point_labels"])
    best = int(np.argmax(case["one_point__iou"]))
    assert pred.mask.shape == case["image"].shape[:2] and pred.mask.dtype == bool
    assert pred.logits.dtype == np.float32
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    assert abs(pred.score - case["one_point__iou"][best]) <= 1e-4
    assert np.abs(pred.logits - case["one_point__masks"][best]).max() <= 1e-3
    # follow-up click with the previous mask fed back = the with_mask_input case
    p2 = prompts["two_points"]
    pred2 = backend.predict(emb, points=np.array(p2["point_coords"])[:, ::-1], labels=p2["point_labels"])
    assert np.abs(pred2.logits - case["two_points__masks"][0]).max() <= 1e-3
    p3 = prompts["with_mask_input"]
    pred3 = backend.predict(
        emb, points=np.array(p3["point_coords"])[:, ::-1], labels=p3["point_labels"], previous=pred2
    )
    assert np.abs(pred3.logits - case["with_mask_input__masks"][0]).max() <= 1e-3
    backend.prepare_feedback(emb, pred2)  # the same click with the feedback's work done beforehand
    pred3 = backend.predict(
        emb, points=np.array(p3["point_coords"])[:, ::-1], labels=p3["point_labels"], previous=pred2
    )
    assert np.abs(pred3.logits - case["with_mask_input__masks"][0]).max() <= 1e-3
    box = prompts["box"]["box"]
    pred4 = backend.predict(emb, box=(box[1], box[0], box[3], box[2]))
    assert np.abs(pred4.logits - case["box__masks"][0]).max() <= 1e-3
