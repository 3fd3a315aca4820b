"""``encode`` of the classic backend: every image-dependent quantity, computed once."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from .appearance import Palette, build_palette
from .features import WorkingImage, prepare_image
from .graph import symmetric
from .refine import pixel_affinities
from .settings import ClassicSettings
from .superpixels import SuperpixelGraph, build_graph

__all__ = ["ClassicFeatures", "encode_image"]


@dataclass(frozen=True)
class ClassicFeatures:
    """The payload of a classic :class:`~promptseg.backends.base.ImageEmbedding`.

    Attributes
    ----------
    work : WorkingImage
        Colour and gradient of the working copy and its relation to the image.
    graph : SuperpixelGraph
        Superpixels of the working copy and their adjacency.
    palette : Palette
        Soft colour-palette membership of every superpixel.
    affinity : np.ndarray, shape (E,), float32
        Cost of cutting each graph edge: boundary length times
        ``exp(-beta * contrast)`` (beta adapted to the image's contrast).
    lengths : scipy.sparse.csr_matrix, shape (n, n)
        Geodesic edge lengths (colour difference plus a constant step), in
        units of the image's median colour step.
    adjacency : scipy.sparse.csr_matrix, shape (n, n)
        1 for every pair of touching superpixels.
    colour_noise : float
        Typical Lab difference of neighbouring pixels (median), the image's
        noise level.
    right, down : np.ndarray, shape (h, w - 1) / (h - 1, w), float32
        Contrast weights of horizontal / vertical pixel pairs of the working
        image (for the boundary refinement).
    """

    work: WorkingImage
    graph: SuperpixelGraph
    palette: Palette
    affinity: np.ndarray
    lengths: sp.csr_matrix
    adjacency: sp.csr_matrix
    colour_noise: float
    right: np.ndarray
    down: np.ndarray


def encode_image(
    image: np.ndarray, *, contrast_limits: Sequence[float] | None, settings: ClassicSettings
) -> ClassicFeatures:
    """Working copy, superpixels, graph weights and palette of one image.

    Parameters
    ----------
    image, contrast_limits
        The (H, W) or (H, W, C) image and the display range of non-uint8
        data, as :func:`.features.prepare_image` takes them for the working copy.
    settings : ClassicSettings
        ``max_pixels`` goes to the working copy; the others to the superpixels,
        palette and graph weights.

    Raises
    ------
    ImageError
        What :func:`.features.prepare_image` refuses: wrong dimensions, NaNs,
        constant images, images too large for one piece.
    """
    work = prepare_image(image, contrast_limits=contrast_limits, max_pixels=settings.max_pixels)
    h, w = work.shape
    graph = build_graph(work, area=max(settings.superpixel_area, h * w / settings.max_superpixels))
    n = graph.n
    feats = np.concatenate([graph.colour, settings.texture_weight * graph.spread[:, None]], axis=1)
    if work.is_gray:
        feats = feats[:, [0, 3]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k-means: "one of the clusters is empty"
        palette = build_palette(feats, graph.size, entries=settings.palette_entries, softness=settings.palette_softness)

    i, j = graph.edges[:, 0], graph.edges[:, 1]
    contrast = graph.contrast.astype(np.float64)
    beta = 1.0 / (2.0 * max(np.average(contrast, weights=graph.length) if len(contrast) else 1.0, 1e-6))
    affinity = graph.length * np.exp(-beta * contrast)

    step = np.sqrt(((feats[i] - feats[j]) ** 2).sum(axis=1)) if len(i) else np.zeros(0)
    unit = max(float(np.median(step)) if step.size else 1.0, 1e-3)
    lengths = symmetric(n, graph.edges, step / unit + settings.geodesic_step)
    adjacency = symmetric(n, graph.edges, np.ones(len(graph.edges), np.float64)).tocsr()
    right, down, _ = pixel_affinities(work.lab if not work.is_gray else work.lab[..., :1])
    return ClassicFeatures(
        work=work, graph=graph, palette=palette, affinity=affinity.astype(np.float32), lengths=lengths.tocsr(),
        adjacency=adjacency, right=right, down=down, colour_noise=_noise(work.lab),
    )


def _noise(lab: np.ndarray) -> float:
    """Median Lab distance of horizontally neighbouring pixels (a robust noise level), at least 0.5."""
    step = np.sqrt(((lab[:, 1:] - lab[:, :-1]) ** 2).sum(axis=-1))
    return max(float(np.median(step)), 0.5)
