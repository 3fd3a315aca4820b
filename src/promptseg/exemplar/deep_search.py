"""Candidate locations for SAM-family backends: cosine similarity of encoder features.

The exemplars' features are averaged over the embedding cells they cover
(mask pooling); every cell of a slice's (C, 64, 64) embedding is compared
with that vector, and the peaks of the similarity map, spaced by the
exemplar radius, are the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.feature import peak_local_max

from ..backends.base import ImageEmbedding
from ..errors import PromptsegError
from .candidates import MIN_RADIUS, Candidates, embedding_features, ranked_candidates

__all__ = ["DeepAppearance", "deep_candidates"]


def _sam_features(embedding: ImageEmbedding):
    return embedding_features(embedding, ("embedding", "geometry"), "SAM encoder features",
                              "use a SAM-family backend (untiled) or the classic backend.")


def _cell_weights(features, mask: np.ndarray) -> torch.Tensor:
    """Fraction of each embedding cell an (H, W) image-frame mask covers, shape (G, G)."""
    geo = features.geometry
    grid = features.embedding.shape[-1]
    m = torch.from_numpy(np.asarray(mask, np.float32))[None, None]
    m = F.interpolate(m, tuple(geo.input_size), mode="bilinear", align_corners=False)
    size = geo.target_length
    m = F.pad(m, (0, size - geo.input_size[1], 0, size - geo.input_size[0]))
    return F.adaptive_avg_pool2d(m, grid)[0, 0]


def _normalised(features) -> torch.Tensor:
    """The (C, G, G) embedding with unit-length feature vectors, float32 on the CPU."""
    emb = features.embedding[0].detach().to("cpu", torch.float32)
    return emb / emb.norm(dim=0, keepdim=True).clamp_min(1e-6)


@dataclass(frozen=True)
class DeepAppearance:
    """Mask-pooled, unit-length feature vectors of the exemplars and negatives (each (C,), or None)."""

    positive: torch.Tensor
    negative: torch.Tensor | None

    @classmethod
    def from_masks(cls, embedding: ImageEmbedding, exemplars, negatives) -> "DeepAppearance":
        features = _sam_features(embedding)
        emb = _normalised(features)

        def pooled(masks):
            if not masks:
                return None
            w = _cell_weights(features, np.logical_or.reduce(masks))
            if float(w.sum()) <= 0:
                return None
            v = (emb * w).sum(dim=(1, 2))
            return v / v.norm().clamp_min(1e-6)

        pos = pooled(exemplars)
        if pos is None:
            raise PromptsegError("the exemplar covers no embedding cell; draw a larger exemplar.")
        return cls(pos, pooled(negatives))

    def similarity(self, embedding: ImageEmbedding) -> np.ndarray:
        """Cosine similarity of every embedding cell with the exemplars, minus that with the negatives, (G, G)."""
        emb = _normalised(_sam_features(embedding))
        sim = torch.einsum("c,cij->ij", self.positive, emb)
        if self.negative is not None:
            sim = torch.where(torch.einsum("c,cij->ij", self.negative, emb) > sim, torch.full_like(sim, -1.0), sim)
        return sim.numpy()

    def similarity_image(self, embedding: ImageEmbedding) -> np.ndarray:
        """The similarity map at image size, (H, W) float32 in [0, 1]."""
        features = _sam_features(embedding)
        geo = features.geometry
        sim = torch.from_numpy(self.similarity(embedding))[None, None]
        sim = F.interpolate(sim, (geo.target_length, geo.target_length), mode="bilinear", align_corners=False)
        sim = sim[..., : geo.input_size[0], : geo.input_size[1]]
        sim = F.interpolate(sim, tuple(geo.original_size), mode="bilinear", align_corners=False)
        return ((sim[0, 0].numpy() + 1.0) / 2.0).astype(np.float32)


def deep_candidates(
    embedding: ImageEmbedding,
    appearance: DeepAppearance,
    *,
    radius: float,
    excluded: np.ndarray | None = None,
) -> Candidates:
    """Seeds at the peaks of the cosine-similarity map, spaced by the exemplar radius (image pixels).

    A cell qualifies when its similarity lies closer to the slice's best
    match than to the slice's median.
    """
    features = _sam_features(embedding)
    geo = features.geometry
    sim = appearance.similarity(embedding)
    grid = sim.shape[0]
    cell = geo.target_length / grid  # input pixels per cell
    to_image = np.array(geo.original_size, np.float64) / np.array(geo.input_size, np.float64)
    valid_rows = int(np.ceil(geo.input_size[0] / cell))
    valid_cols = int(np.ceil(geo.input_size[1] / cell))
    sim = sim[:valid_rows, :valid_cols].copy()
    if excluded is not None and excluded.any():
        cover = _cell_weights(features, excluded).numpy()[:valid_rows, :valid_cols]
        sim[cover > 0.5] = -1.0
    median = float(np.median(sim))
    floor = median + 0.5 * (float(sim.max()) - median)
    r_cells = max(radius, MIN_RADIUS) / float(to_image.mean()) / cell
    peaks = peak_local_max(sim, min_distance=max(1, int(round(0.6 * r_cells))), threshold_abs=floor,
                           exclude_border=False)
    seeds = (peaks + 0.5) * cell * to_image[None, :] - 0.5
    strength = sim[peaks[:, 0], peaks[:, 1]]
    return ranked_candidates(seeds, strength, embedding.image_shape, appearance.similarity_image(embedding))
