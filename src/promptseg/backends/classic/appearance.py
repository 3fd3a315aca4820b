"""Colour models learned from the prompts, on a per-image colour palette.

``encode`` clusters the superpixel colours into a small palette and stores
each superpixel's soft membership; a colour model is then just a weighted
histogram over the palette, and the likelihood of every superpixel under it
one small matrix product, fast enough to relearn both models at every click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2

__all__ = ["Palette", "build_palette"]


@dataclass(frozen=True)
class Palette:
    """Soft assignment of superpixels to a colour palette.

    Attributes
    ----------
    centres : np.ndarray, shape (K, D), float32
        Palette entries in feature space (Lab, plus texture).
    membership : np.ndarray, shape (n, K), float32
        Rows sum to 1: how much each superpixel belongs to each entry.
    """

    centres: np.ndarray
    membership: np.ndarray

    def histogram(self, weights: np.ndarray) -> np.ndarray:
        """Normalised palette histogram of superpixels weighted by ``weights`` (n,), shape (K,)."""
        hist = weights.astype(np.float32) @ self.membership
        total = hist.sum()
        return hist / total if total > 0 else np.full_like(hist, 1.0 / hist.size)

    def likelihood(self, hist: np.ndarray, floor: float) -> np.ndarray:
        """Likelihood of every superpixel under a palette histogram, shape (n,), float32.

        ``floor`` is mixed in as a uniform component so that unseen colours
        keep a small non-zero likelihood.
        """
        k = hist.size
        return self.membership @ ((1.0 - floor) * hist + floor / k).astype(np.float32)


def build_palette(features: np.ndarray, weights: np.ndarray, *, entries: int, softness: float, seed: int = 0) -> Palette:
    """Cluster superpixel features into a palette and assign them softly.

    Parameters
    ----------
    features : np.ndarray, shape (n, D), float
        Superpixel feature vectors (mean Lab, texture).
    weights : np.ndarray, shape (n,), float
        Superpixel sizes (larger ones count more in the clustering sample).
    entries : int
        Palette size K (fewer if there are fewer distinct superpixels).
    softness : float
        Gaussian width of the soft assignment, as a multiple of the median
        distance of a feature vector to its nearest palette entry.
    seed : int
        Seed of the k-means initialisation (encoding is deterministic).
    """
    feats = np.asarray(features, dtype=np.float64)
    n = feats.shape[0]
    k = int(min(entries, max(1, n)))
    rng = np.random.default_rng(seed)
    prob = np.asarray(weights, dtype=np.float64)
    sample = rng.choice(n, size=min(n, 4000), replace=False, p=prob / prob.sum()) if n > 4000 else np.arange(n)
    init = feats[rng.choice(sample, size=k, replace=False)]
    centres, _ = kmeans2(feats[sample], init, iter=8, minit="matrix", missing="warn", seed=seed)
    d2 = ((feats[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    near = np.sqrt(d2.min(axis=1))
    sigma = softness * max(float(np.median(near)), 1e-3)
    logits = -(d2 - d2.min(axis=1, keepdims=True)) / (2.0 * sigma**2)
    member = np.exp(logits)
    member /= member.sum(axis=1, keepdims=True)
    return Palette(centres=centres.astype(np.float32), membership=member.astype(np.float32))
