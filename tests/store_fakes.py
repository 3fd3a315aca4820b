"""Deterministic backends for the store, tiling and propagation tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from keyword_backend import KeywordBackend
from promptseg.backends.base import ImageEmbedding, Prediction


class ComponentBackend(KeywordBackend):
    """Storable and translation-equivariant: the object is the bright connected component under the prompts.

    ``encode`` keeps the image as float32 features (stored as one array);
    ``predict`` returns every component of ``image > 100`` that holds a
    positive click or overlaps the mask prompt, inside the box if one is given.
    Counts encodes.
    """

    name = "components"
    backend_id = "components:1"
    checkpoint_hash = "none"
    embedding_codec = "components/1"

    def __init__(self) -> None:
        self.encodes = 0

    def encode(self, image, *, contrast_limits=None):
        self.encodes += 1
        return ImageEmbedding(self.backend_id, tuple(np.shape(image)[:2]), np.asarray(image, np.float32))

    def embedding_layout(self, image_shape):
        return {"image": tuple(int(s) for s in image_shape)}

    def embedding_to_arrays(self, embedding):
        return {"image": embedding.features}

    def embedding_from_arrays(self, arrays, image_shape):
        return ImageEmbedding(self.backend_id, tuple(image_shape), np.asarray(arrays["image"], np.float32))

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        fg = embedding.features > 100
        comp, _ = ndimage.label(fg)
        keep = set()
        labels = np.ones(len(points)) if points is not None and labels is None else labels
        for (r, c), lab in zip(points if points is not None else [], labels if labels is not None else []):
            if lab and comp[int(round(r)), int(round(c))]:
                keep.add(int(comp[int(round(r)), int(round(c))]))
        if mask is not None:
            keep |= set(int(v) for v in np.unique(comp[np.asarray(mask, bool)]) if v)
        out = np.isin(comp, sorted(keep)) if keep else np.zeros(fg.shape, bool)
        if box is not None:
            r0, c0, r1, c1 = (int(round(v)) for v in box)
            inside = np.zeros_like(out)
            inside[r0 : r1 + 1, c0 : c1 + 1] = True
            out &= inside
        return Prediction(out, np.where(out, 5.0, -5.0).astype(np.float32), 1.0)


class ScriptedBackend(KeywordBackend):
    """For propagation: each slice's embedding holds the mask and score to answer, whatever the prompts."""

    name = "scripted"
    backend_id = "scripted:1"

    def __init__(self) -> None:
        self.prompts = []

    def embedding(self, mask, score=1.0):
        return ImageEmbedding(self.backend_id, mask.shape, (np.asarray(mask, bool), float(score)))

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        self.prompts.append({"points": points, "box": box, "mask": mask})
        out, score = embedding.features
        return Prediction(out.copy(), np.where(out, 1.0, -1.0).astype(np.float32), score)


def disk(shape, center, radius):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return (rr - center[0]) ** 2 + (cc - center[1]) ** 2 <= radius**2


def run(gen):
    """Run a progress generator to the end: (yielded steps, returned value)."""
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            return steps, stop.value


def iou(a, b):
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0
