"""The locally distinct region around a click, at full working resolution.

A click on a pit, a scratch or a faint stain of a textured part lies in a
small structure that differs from its surroundings; the superpixel graph,
whose superpixels are as large as the structure and whose edges in texture
are all weak, often floods into the whole part instead.  This module finds
that structure directly, in a window around the click:

- the background colour is the median of a window around the click, the
  clicked colour the mean of the 3 x 3 pixels under the click (both on a
  lightly smoothed copy); every pixel gets a *level*, its position on the line from the
  background colour (0) to the clicked colour (1);
- candidate regions are the connected components, holding the click, of
  ``level >= t`` for levels t from 0.9 down to 0.1, and the same on a ridge
  map (Hessian valley or ridge strength at scales of 1 and 1.5 pixels,
  relative to its value at the click), which follows scratches one to three
  pixels wide that the colour levels lose in texture;
- a candidate is scored by the mean gradient of its map along its outline,
  relative to the median gradient around it (its bounding box grown by half
  its size): how sharply it stands out of the texture nearby; a candidate
  that reaches the window's edge is not local and stops the search at that
  level (the window doubles, up to ``max_radius``, before it gives up);
- the colours (clicked and background) are read in the first window; a
  click whose colour is within ``min_contrast`` noise levels of its
  surroundings is not on a distinct structure.

The best-scoring candidate is the region.  Whether it replaces the
superpixel answer is decided by the caller (:mod:`.fine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .parts import EIGHT

__all__ = ["DistinctRegion", "distinct_region", "smoothed_window", "valley_strength", "outline_strength", "window_edge"]

#: Levels tried, from tight (close to the clicked colour) to loose.
LEVELS = np.round(np.linspace(0.9, 0.1, 17), 3)
#: Gaussian width of the copy the levels are read from (pixels).
REGION_SIGMA = 1.0
#: Scales of the ridge filter (pixels).
RIDGE_SIGMAS = (1.0, 1.5)
#: A thin candidate (mean width at most THIN_WIDTH pixels) at least 1.5 times longer than the best one wins
#: when its score is within THIN_SLACK of the best's.
THIN_WIDTH = 4.0
THIN_SLACK = 0.85


@dataclass(frozen=True)
class DistinctRegion:
    """A region that stands out around a click.

    Attributes
    ----------
    mask : np.ndarray, shape (h, w), bool
        The region in the working frame.
    score : float
        Mean gradient along its outline over the median gradient around it.
    colour : np.ndarray, shape (C,), float32
        The clicked (object) colour, smoothed.
    background : np.ndarray, shape (C,), float32
        The window's median colour.
    level : float
        The level the region was cut at (0 background .. 1 clicked colour).
    """

    mask: np.ndarray
    score: float
    colour: np.ndarray
    background: np.ndarray
    level: float


def smoothed_window(colour: np.ndarray, r0: int, r1: int, c0: int, c1: int, sigma: float) -> np.ndarray:
    """Gaussian-smoothed (per channel) crop [r0:r1, c0:c1] of an (h, w, C) image, shape (r1-r0, c1-c0, C).

    The crop is smoothed with a margin of the filter's reach, so its values
    equal those of smoothing the whole image (up to the image's own edge).
    """
    h, w = colour.shape[:2]
    pad = int(4.0 * sigma + 0.5) + 1
    a0, a1, b0, b1 = max(r0 - pad, 0), min(r1 + pad, h), max(c0 - pad, 0), min(c1 + pad, w)
    crop = colour[a0:a1, b0:b1].astype(np.float32)
    out = np.stack([ndi.gaussian_filter(crop[..., k], sigma) for k in range(crop.shape[-1])], axis=-1)
    return out[r0 - a0 : r1 - a0, c0 - b0 : c1 - b0]


def valley_strength(lightness: np.ndarray, *, dark: bool, sigmas=RIDGE_SIGMAS) -> tuple[np.ndarray, np.ndarray]:
    """Scale-normalised strength and direction of dark valleys (or bright ridges) of an (h, w) image.

    The strength is the largest (valley) or minus the smallest (ridge)
    eigenvalue of the Gaussian Hessian times sigma squared, clipped at 0,
    maximised over ``sigmas``: high on lines and pits of that polarity,
    whatever their direction (the measure Sato's and Frangi's filters build
    on).  The direction is that of its eigenvector (across the line).

    Returns
    -------
    strength : np.ndarray, shape (h, w), float32
    angle : np.ndarray, shape (h, w), float32
        Radians, of the eigenvector at the strongest scale.

    Examples
    --------
    >>> img = np.full((9, 9), 100.0); img[:, 4] = 60.0
    >>> v, _ = valley_strength(img, dark=True)
    >>> int(v[4].argmax())
    4
    """
    img = np.asarray(lightness, dtype=np.float32)
    out = np.zeros(img.shape, np.float32)
    angle = np.zeros(img.shape, np.float32)
    for s in sigmas:
        drr = ndi.gaussian_filter(img, s, order=(2, 0))
        dcc = ndi.gaussian_filter(img, s, order=(0, 2))
        drc = ndi.gaussian_filter(img, s, order=(1, 1))
        half = 0.5 * (drr + dcc)
        spread = np.sqrt((0.5 * (drr - dcc)) ** 2 + drc**2)
        eig = np.float32(s * s) * np.maximum(half + spread if dark else spread - half, 0)
        theta = 0.5 * np.arctan2(2 * drc, drr - dcc) if dark else 0.5 * np.arctan2(-2 * drc, dcc - drr)
        stronger = eig > out
        out = np.where(stronger, eig, out)
        angle = np.where(stronger, theta, angle).astype(np.float32)
    return out, angle


def outline_strength(mask: np.ndarray, gradient: np.ndarray) -> float:
    """Mean of ``gradient`` over the inner outline of ``mask`` (pixels on the frame's edge left out)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0.0
    r0, r1, c0, c1 = max(rows[0] - 1, 0), rows[-1] + 2, max(cols[0] - 1, 0), cols[-1] + 2
    sub = mask[r0:r1, c0:c1]
    outline = sub & ~ndi.binary_erosion(sub, EIGHT, border_value=1)
    h, w = mask.shape
    if r0 == 0:
        outline[0] = False
    if r1 >= h:
        outline[-1] = False
    if c0 == 0:
        outline[:, 0] = False
    if c1 >= w:
        outline[:, -1] = False
    values = gradient[r0:r1, c0:c1][outline]
    return float(values.mean()) if values.size else 0.0


def distinct_region(lab: np.ndarray, seed: tuple[int, int], *, noise: float = 0.0, min_contrast: float = 2.0,
                    radius: int = 24, max_radius: int = 128, ridges: bool = True, lines: bool = False,
                    max_area: float = np.inf) -> DistinctRegion | None:
    """The best-outlined local region holding ``seed`` (see the module text), or None.

    Parameters
    ----------
    lab : np.ndarray, shape (h, w, C), float32
        Working colour (C = 1 for gray images, 3 Lab channels otherwise).
    seed : (int, int)
        Clicked (row, col) working pixel.
    noise : float
        The image's noise level (colour units).
    min_contrast : float
        The clicked colour must differ from the median of the first window
        by this many noise levels (else the click is not on a small
        structure).
    radius, max_radius : int
        First and largest half-width of the square window; the colours are
        read in the first, the window doubles while a candidate reaches its
        edge.
    ridges : bool
        Also try the ridge map's components.
    lines : bool
        Favour lines (the ``fine_structures`` preset): the ridge map keeps
        only ridges running the way the clicked one runs (weight
        ``cos(angle difference) ** 8``, so that brushing marks crossing a
        scratch do not join it), and a thin candidate at least 1.5 times
        longer than the best-scoring one wins when its score is within
        ``THIN_SLACK`` of it (a scratch is followed along its length).
    max_area : float
        Larger candidates are not wanted (the search stops at them).
    """
    h, w = lab.shape[:2]
    r, c = int(seed[0]), int(seed[1])
    size = radius
    colour = background = None
    while True:
        r0, r1, c0, c1 = max(r - size, 0), min(r + size + 1, h), max(c - size, 0), min(c + size + 1, w)
        win = smoothed_window(lab, r0, r1, c0, c1, REGION_SIGMA)
        C = win.shape[-1]
        if colour is None:  # the clicked colour and its surroundings, from the first window
            colour = win[max(r - r0 - 1, 0) : r - r0 + 2, max(c - c0 - 1, 0) : c - c0 + 2].reshape(-1, C).mean(axis=0)
            background = np.median(win.reshape(-1, C), axis=0)
            axis = colour - background
            norm = float(axis @ axis)
            if norm <= (min_contrast * noise) ** 2:
                return None
        edge = window_edge((r1 - r0, c1 - c0), r0 > 0, r1 < h, c0 > 0, c1 < w)
        maps = [(win - background) @ axis / np.float32(norm)]
        if ridges:
            strength, angle = valley_strength(lab[r0:r1, c0:c1, 0], dark=bool(colour[0] < background[0]))
            near = (slice(max(r - r0 - 1, 0), r - r0 + 2), slice(max(c - c0 - 1, 0), c - c0 + 2))
            k = np.unravel_index(np.argmax(strength[near]), strength[near].shape)
            at_seed = float(strength[near][k])
            if at_seed > 1e-6:
                if lines:  # ridges running the way the clicked one runs
                    strength = strength * np.cos(angle - angle[near][k]) ** 8
                maps.append(strength / np.float32(at_seed))
        found, reached = [], False
        for level_map in maps:
            cands, hit = _components(level_map, (r - r0, c - c0), edge, max_area)
            found += cands
            reached |= hit
        if reached and size < max_radius:
            size = min(2 * size, max_radius)
            continue
        if not found:
            return None
        score, level, sub = _best(found) if lines else max(found, key=lambda x: x[0])
        mask = np.zeros((h, w), bool)
        mask[r0:r1, c0:c1] = sub
        return DistinctRegion(mask=mask, score=score, colour=colour.astype(np.float32),
                              background=background.astype(np.float32), level=level)


def _best(found: list) -> tuple[float, float, np.ndarray]:
    """The best-scoring candidate; a longer thin one (a scratch followed further) within ``THIN_SLACK`` of it wins."""
    best = max(found, key=lambda x: x[0])
    thin = [x for x in found if x[0] >= THIN_SLACK * best[0] and _length(x[2]) >= max(_length(best[2]), 1.0) * 1.5
            and x[2].sum() <= THIN_WIDTH * _length(x[2])]
    return max(thin, key=lambda x: _length(x[2])) if thin else best


def _length(mask: np.ndarray) -> float:
    """Diagonal of the bounding box of a (h, w) mask (pixels)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return float(np.hypot(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))


def window_edge(shape, top: bool, bottom: bool, left: bool, right: bool) -> np.ndarray:
    """Pixels on the sides of a window that are inside the image (not its own edge), shape ``shape``, bool."""
    edge = np.zeros(shape, bool)
    edge[0] |= top
    edge[-1] |= bottom
    edge[:, 0] |= left
    edge[:, -1] |= right
    return edge


def _components(level_map: np.ndarray, seed: tuple[int, int], edge: np.ndarray, max_area: float):
    """(score, level, mask) of the components holding ``seed`` for every level; whether one reached ``edge``.

    The levels stop at a component larger than ``max_area`` (looser ones are larger still).
    """
    gradient = np.hypot(ndi.sobel(level_map, 0), ndi.sobel(level_map, 1))
    out = []
    for t in LEVELS:
        labels, _ = ndi.label(level_map >= t, structure=EIGHT)
        k = labels[seed]
        if k == 0:
            continue
        comp = labels == k
        if comp.sum() > max_area:
            return out, False
        if (comp & edge).any():
            return out, True
        out.append((outline_strength(comp, gradient) / _texture(comp, gradient), float(t), comp))
    return out, False


def _texture(comp: np.ndarray, gradient: np.ndarray) -> float:
    """Median gradient around a component: in its bounding box grown by half its size (at least 8 pixels)."""
    rows, cols = np.flatnonzero(comp.any(axis=1)), np.flatnonzero(comp.any(axis=0))
    grow = max(8, (rows[-1] - rows[0] + cols[-1] - cols[0]) // 4)
    near = gradient[max(rows[0] - grow, 0) : rows[-1] + grow + 1, max(cols[0] - grow, 0) : cols[-1] + grow + 1]
    return max(float(np.median(near)), 1e-6)
