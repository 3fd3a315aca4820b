"""What the candidate searches share: the :class:`Candidates` they return and how they place seeds.

A search turns the exemplars into an object-likeness map of a slice; seeds
are the peaks of that map (or of the depth inside its object-like region),
spaced by the exemplar radius so that touching objects get one seed each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max

from ..backends.base import ImageEmbedding
from ..errors import PromptsegError

__all__ = ["Candidates", "depth_peaks", "embedding_features", "inner_depth", "ranked_candidates"]

#: Exemplars smaller than a disk of this radius (image pixels) are treated as that large when spacing seeds.
MIN_RADIUS = 3.0
#: Seeds lie at least this many exemplar radii apart ...
SPACING = 0.5
#: ... and at least this many exemplar radii (and 0.75 pixel) deep inside the object-like region.
MIN_DEPTH = 0.2


@dataclass(frozen=True)
class Candidates:
    """Where to prompt the backend on one slice.

    Attributes
    ----------
    seeds : np.ndarray, shape (N, 2), float64
        (row, col) image pixels, strongest first.
    strength : np.ndarray, shape (N,)
        Peak height of the search map at each seed (larger is more object-like).
    similarity : np.ndarray, shape (H, W), float32, or None
        Per-pixel object likeness in [0, 1], image frame, when the search
        produces one (scores proposals' appearance).
    """

    seeds: np.ndarray
    strength: np.ndarray
    similarity: np.ndarray | None = None


def ranked_candidates(
    seeds: np.ndarray, strength: np.ndarray, image_shape: tuple[int, int], similarity: np.ndarray | None
) -> Candidates:
    """:class:`Candidates` strongest first from (N, 2) (row, col) image-frame seeds, clipped into the image."""
    h, w = image_shape
    seeds = np.clip(np.asarray(seeds, np.float64).reshape(-1, 2), 0, [h - 1, w - 1])
    order = np.argsort(-strength, kind="stable")
    return Candidates(seeds[order], strength[order], similarity)


def embedding_features(embedding: ImageEmbedding, attributes: tuple[str, ...], what: str, advice: str) -> Any:
    """``embedding.features`` when it has all ``attributes``; else a PromptsegError naming ``what`` it should hold."""
    features = embedding.features
    if not all(hasattr(features, name) for name in attributes):
        raise PromptsegError(f"this embedding holds {type(features).__name__}, not {what}; {advice}")
    return features


def inner_depth(fg: np.ndarray, radius: float, *, cap: bool) -> np.ndarray:
    """Distance of each pixel of an (h, w) bool region to its outside (the image edge counts as
    outside), capped at ``radius`` when ``cap``, smoothed by a Gaussian of a quarter ``radius``: (h, w) float64."""
    depth = ndi.distance_transform_edt(np.pad(fg, 1))[1:-1, 1:-1]
    if cap:
        depth = np.minimum(depth, radius)
    return ndi.gaussian_filter(depth, max(radius / 4.0, 0.5))


def depth_peaks(depth: np.ndarray, radius: float, labels: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) (row, col) peaks of a depth map at least ``SPACING * radius`` apart and
    ``MIN_DEPTH * radius`` (and 0.75) deep, within each region of ``labels`` when given."""
    return peak_local_max(depth, min_distance=max(1, int(round(SPACING * radius))),
                          threshold_abs=max(0.75, MIN_DEPTH * radius), labels=labels, exclude_border=False)
