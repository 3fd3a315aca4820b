"""The SAM path of find similar, with a tiny random-weight model: it runs and keeps its invariants."""

from __future__ import annotations

import numpy as np

from promptseg.eval import run_to_end
from promptseg.exemplar import describe_exemplars, find_similar
from promptseg.exemplar.deep_search import deep_candidates


def _scene():
    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[:96, :128]
    img = rng.normal(50, 6, (96, 128))
    masks = []
    for r, c in [(20, 20), (20, 100), (70, 30), (70, 100)]:
        m = (rr - r) ** 2 + (cc - c) ** 2 <= 100
        img[m] += 120
        masks.append(m)
    return np.clip(img, 0, 255).astype(np.uint8), masks


def test_deep_model_and_candidates(tiny_backend):
    img, masks = _scene()
    emb = tiny_backend.encode(img)
    model = describe_exemplars(emb, [masks[0]])
    assert model.kind == "deep" and model.appearance.positive.shape == emb.features.embedding.shape[1:2]
    assert abs(float(model.appearance.positive.norm()) - 1.0) < 1e-5
    found = deep_candidates(emb, model.appearance, radius=model.shape.radius, excluded=masks[0])
    assert found.similarity.shape == img.shape
    assert (found.seeds[:, 0] <= img.shape[0] - 1).all() and (found.seeds[:, 1] <= img.shape[1] - 1).all()
    assert list(found.strength) == sorted(found.strength, reverse=True)
    objects = np.zeros(img.shape, np.int32)
    objects[masks[1]] = 2
    proposals = run_to_end(find_similar(tiny_backend, emb, [masks[0]], objects=objects))
    for p in proposals:
        m = p.mask(img.shape)
        assert not (m & masks[0]).any() and not (m & (objects > 0)).any()
        assert 0.0 <= p.score <= 1.0
