"""Candidate locations for the classic backend: superpixel appearance plus a size prior.

The exemplars are described by the colour and texture of the superpixels
they cover (a set of samples, so the description carries over to other
slices of a stack).  On a slice, every superpixel gets the log ratio of a
kernel density of those samples against one of the background (and of the
negative examples); object-like pixels form a foreground map whose distance
transform peaks, spaced by the exemplar radius, are the candidates: one per
object even where objects touch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.base import ImageEmbedding
from ..errors import PromptsegError
from .candidates import MIN_RADIUS, Candidates, depth_peaks, embedding_features, inner_depth, ranked_candidates

__all__ = ["ClassicAppearance", "Candidates", "classic_candidates", "lightness_image"]

#: Kernel width of the appearance densities, in robust standard deviations of the slice's superpixels.
BANDWIDTH = 2.0
#: Most samples kept per density (keeps the kernel sums to a few million terms).
MAX_SAMPLES = 400


def _descriptors(features) -> np.ndarray:
    """Per-superpixel (n, D) appearance: mean Lab (L only for gray images) and colour spread."""
    g = features.graph
    colour = g.colour[:, :1] if features.work.is_gray else g.colour
    return np.concatenate([colour, g.spread[:, None]], axis=1).astype(np.float64)


def _classic_features(embedding: ImageEmbedding):
    return embedding_features(embedding, ("graph", "work"), "classic superpixel features",
                              "use the classic backend (untiled) for appearance search.")


def _sample(values: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if len(values) > MAX_SAMPLES:
        pick = rng.choice(len(values), MAX_SAMPLES, replace=False, p=weights / weights.sum())
        values, weights = values[pick], np.ones(MAX_SAMPLES)
    return values, weights


@dataclass(frozen=True)
class ClassicAppearance:
    """Appearance samples of the exemplars (and of the negative examples).

    Attributes
    ----------
    positive, positive_weight : np.ndarray, shapes (k, D) and (k,)
        Descriptors of the superpixels the exemplars cover, weighted by the
        pixels covered.
    negative, negative_weight : np.ndarray, shapes (m, D) and (m,)
        The same for the negative examples (m may be 0).
    """

    positive: np.ndarray
    positive_weight: np.ndarray
    negative: np.ndarray
    negative_weight: np.ndarray

    @classmethod
    def from_masks(cls, embedding: ImageEmbedding, exemplars, negatives) -> "ClassicAppearance":
        """Describe (H, W) exemplar and negative masks on the slice ``embedding`` was made from."""
        features = _classic_features(embedding)
        desc = _descriptors(features)
        rng = np.random.default_rng(0)

        def covered(masks):
            if not masks:
                return np.zeros((0, desc.shape[1])), np.zeros(0)
            union = np.logical_or.reduce(masks)
            pixels = np.bincount(features.graph.labels.ravel(), features.work.mask_to_work(union).ravel(),
                                 features.graph.n)
            return _sample(desc, pixels, rng)

        pos, pos_w = covered(exemplars)
        neg, neg_w = covered(negatives)
        return cls(pos, pos_w, neg, neg_w)

    def log_ratio(self, embedding: ImageEmbedding, excluded: np.ndarray | None) -> np.ndarray:
        """Per-superpixel log likelihood ratio object : background on this slice, shape (n,), clipped to +-4.

        The background model is learnt from the slice itself (superpixels
        outside ``excluded``, an (H, W) bool mask of known objects), refit
        once on the superpixels the first pass calls background, so that
        images crowded with objects still get a clean background model.
        """
        features = _classic_features(embedding)
        g = features.graph
        desc = _descriptors(features)
        if desc.shape[1] != self.positive.shape[1]:
            raise PromptsegError("the exemplar comes from a colour image and this slice is gray (or the reverse).")
        scale = np.median(np.abs(desc - np.median(desc, axis=0)), axis=0) * 1.4826
        scale = np.maximum(scale, 1.0) * BANDWIDTH
        rng = np.random.default_rng(1)
        free = g.size.astype(np.float64)
        if excluded is not None and excluded.any():
            cov = np.bincount(g.labels.ravel(), features.work.mask_to_work(excluded).ravel(), g.n) / g.size
            free = free * (cov < 0.5)
        d_obj = _density(desc, self.positive, self.positive_weight, scale)
        bg, bg_w = _sample(desc, free, rng)
        d_bg = _density(desc, bg, bg_w, scale)
        llr = np.log(d_obj + 1e-6) - np.log(d_bg + 1e-6)
        refit = free * (llr < 0)
        if refit.sum() > 0.05 * free.sum():
            bg, bg_w = _sample(desc, refit, rng)
            d_bg = _density(desc, bg, bg_w, scale)
        if len(self.negative):
            d_bg = np.maximum(d_bg, _density(desc, self.negative, self.negative_weight, scale))
        return np.clip(np.log(d_obj + 1e-6) - np.log(d_bg + 1e-6), -4.0, 4.0)


def _density(x: np.ndarray, samples: np.ndarray, weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``samples`` at every row of ``x``, (n,)."""
    if len(samples) == 0:
        return np.zeros(len(x))
    xs, ss = x / scale, samples / scale
    d2 = (xs * xs).sum(1)[:, None] - 2.0 * xs @ ss.T + (ss * ss).sum(1)[None, :]
    k = np.exp(-0.5 * np.maximum(d2, 0.0))
    return k @ (weights / weights.sum())


def classic_candidates(
    embedding: ImageEmbedding,
    appearance: ClassicAppearance,
    *,
    radius: float,
    excluded: np.ndarray | None = None,
) -> Candidates:
    """Seeds at object-like places of one slice, about one per object.

    Parameters
    ----------
    embedding : ImageEmbedding
        A classic embedding of the slice.
    appearance : ClassicAppearance
        What the exemplars look like.
    radius : float
        Radius of a disk of the exemplars' median area, image pixels; sets
        the spacing of the seeds and the least depth of a peak.
    excluded : np.ndarray, shape (H, W), bool, optional
        Known objects (exemplars, committed objects): no seed inside.
    """
    features = _classic_features(embedding)
    g, work = features.graph, features.work
    llr = appearance.log_ratio(embedding, excluded)
    prob_sp = 1.0 / (1.0 + np.exp(-llr))
    prob = prob_sp[g.labels].astype(np.float32)
    fg = prob > 0.5
    if excluded is not None and excluded.any():
        fg &= work.mask_to_work(excluded) < 0.5
    r = max(radius, MIN_RADIUS) / work.factor
    depth = inner_depth(fg, r, cap=True)
    depth[~fg] = 0.0
    peaks = depth_peaks(depth, r)
    seeds = (peaks.astype(np.float64) + 0.5) * work.factor - 0.5
    strength = depth[peaks[:, 0], peaks[:, 1]] / r
    return ranked_candidates(seeds, strength, embedding.image_shape, work_to_image(prob, work))


def work_to_image(work_map: np.ndarray, work) -> np.ndarray:
    """A working-frame (h, w) map at image size (H, W), nearest neighbour."""
    if work.factor == 1:
        return work_map
    hh, ww = work.image_shape
    rows = np.minimum(np.arange(hh) // work.factor, work_map.shape[0] - 1)
    cols = np.minimum(np.arange(ww) // work.factor, work_map.shape[1] - 1)
    return work_map[rows][:, cols]


def lightness_image(embedding: ImageEmbedding) -> np.ndarray | None:
    """CIE lightness of a classic embedding's slice at image size, (H, W) float32; None for other backends."""
    work = getattr(embedding.features, "work", None)
    if work is None or not hasattr(work, "lab"):
        return None
    return work_to_image(work.lab[..., 0], work)
