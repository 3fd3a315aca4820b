"""Pixel-level candidates: a lightness threshold learnt from the exemplars, split by a watershed.

Small, plainly contrasted objects (nuclei) are drawn more completely by a
threshold at full resolution than by superpixels: every object-like
component becomes a candidate, not only the ones whose superpixels look
like the exemplar's.  The threshold lies at ``ring + alpha * (inside -
ring)`` of the exemplars' mean lightness inside and in a 3-pixel ring
around them, with ``alpha`` chosen so that the thresholded component at
each exemplar's deepest point is the exemplar.  Touching objects are
split by a watershed on the smoothed distance transform, with seeds at
least half an exemplar radius apart.  Objects dimmer than the exemplars
(nuclei out of focus or less stained) fall below that level: a second,
lower level halfway from the background finds them away from the first
level's components.  Where the exemplars' boundary lies
elsewhere than the global threshold puts it, the local boundary rule of
:mod:`.boundary` is learnt on the thresholded components at the exemplars
and moves every component's boundary relative to its own contrast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from ..eval.metrics import iou
from ..prompts import deepest_point
from .boundary import BoundaryRule, learn_boundary
from .candidates import depth_peaks, inner_depth

__all__ = ["PixelRule", "learn_pixel_rule", "pixel_objects"]

#: Candidate values of alpha (fraction of the exemplars' ring-to-inside contrast).
ALPHAS = np.linspace(0.1, 0.9, 17)
#: Least mean IoU with the exemplars for the threshold to be used at all (else the objects are not
#: separable by lightness, e.g. defects on textured tiles, and its components would be false positives).
MIN_FIT = 0.6
#: Objects dimmer than the exemplars are looked for at this fraction of the way from the background
#: lightness to the exemplars' level, away from the objects found at that level (0: not at all).
DIM_FRACTION = 0.5


@dataclass(frozen=True)
class PixelRule:
    """Object pixels are those with ``sign * (lightness - level) > 0``.

    Attributes
    ----------
    level : float
        Lightness threshold (same units as the lightness image, e.g. CIE L).
    sign : float
        +1 when objects are brighter than their surroundings, -1 when darker.
    fit : float
        Mean IoU of the thresholded component at each exemplar's deepest
        point with the exemplar (how well the rule reproduces the exemplars).
    boundary : BoundaryRule or None
        The local boundary rule (:mod:`.boundary`) learnt on the thresholded
        components at the exemplars, applied to every component; None when
        it does not improve them.
    preferred : bool
        Whether its components win overlaps with the backend's proposals
        (set by :func:`promptseg.exemplar.search.learn_rules` when ``fit``
        beats the backend's answers at the exemplars).
    floor : float or None
        The search for dimmer objects stops at this lightness: the highest
        99th percentile (on the objects' side) of the negative examples, so
        that nothing as dim as a rejected thing is proposed by it (None
        without negatives; a negative as bright as the objects stops it).
    """

    level: float
    sign: float
    fit: float
    boundary: BoundaryRule | None = None
    preferred: bool = False
    floor: float | None = None

    def foreground(self, lightness: np.ndarray) -> np.ndarray:
        """Object-like pixels of an (H, W) lightness image, opened and hole-filled, (H, W) bool."""
        fg = self.sign * (np.asarray(lightness, np.float64) - self.level) > 0
        return ndi.binary_fill_holes(ndi.binary_opening(fg))


def _component_at(fg: np.ndarray, point: tuple[float, float]) -> np.ndarray:
    labels, _ = ndi.label(fg)
    k = labels[int(round(point[0])), int(round(point[1]))]
    return labels == k if k else np.zeros(fg.shape, bool)


def learn_pixel_rule(lightness: np.ndarray, exemplars: Sequence[np.ndarray],
                     negatives: Sequence[np.ndarray] = ()) -> PixelRule | None:
    """The threshold that best reproduces the exemplars; None without exemplars or contrast, or below MIN_FIT.

    Parameters
    ----------
    lightness : np.ndarray, shape (H, W), float
        Image lightness in the (row, col) frame of the exemplars.
    exemplars : list of np.ndarray, each (H, W) bool
    negatives : list of np.ndarray, each (H, W) bool
        Things that must not be found: each alpha's fit loses the mean share
        of their pixels it calls object.
    """
    negatives = [np.asarray(n, bool) for n in negatives if np.any(n)]
    exemplars = [np.asarray(e, bool) for e in exemplars if np.any(e)]
    if not exemplars:
        return None
    inside = float(np.mean([lightness[e].mean() for e in exemplars]))
    rings = [ndi.binary_dilation(e, iterations=3) & ~e for e in exemplars]
    ring = float(np.mean([lightness[r].mean() for r in rings if r.any()] or [lightness.mean()]))
    if abs(inside - ring) < 1e-6:
        return None
    sign = 1.0 if inside > ring else -1.0
    points = [deepest_point(e) for e in exemplars]
    best = None
    for alpha in ALPHAS:
        rule = PixelRule(ring + alpha * (inside - ring), sign, 0.0)
        fg = rule.foreground(lightness)
        fit = float(np.mean([iou(_component_at(fg, p), e) for p, e in zip(points, exemplars)]))
        if negatives:
            fit -= float(np.mean([fg[n].mean() for n in negatives]))
        if best is None or fit > best.fit:
            best = PixelRule(rule.level, sign, fit)
    fg = best.foreground(lightness)
    answers = [_component_at(fg, p) for p in points]
    local = learn_boundary(lightness, answers, exemplars, points)
    if local is not None:  # objects of other brightness get a boundary relative to their own contrast
        refined = [local.apply(lightness, a, p) for a, p in zip(answers, points)]
        gain = np.mean([iou(r, e) - iou(a, e) for r, a, e in zip(refined, answers, exemplars)])
        best = PixelRule(best.level, sign, best.fit + float(gain), local)
    if negatives:
        floor = sign * max(float(np.percentile(sign * lightness[n], 99)) for n in negatives)
        best = replace(best, floor=floor)
    return best if best.fit >= MIN_FIT else None


def pixel_objects(
    lightness: np.ndarray,
    rule: PixelRule,
    *,
    radius: float,
    area_range: tuple[float, float],
    excluded: np.ndarray | None = None,
) -> list[tuple[np.ndarray, tuple[float, float]]]:
    """Every object-like component of plausible size, touching ones split apart.

    Parameters
    ----------
    lightness : np.ndarray, shape (H, W), float
    rule : PixelRule
    radius : float
        Radius of a disk of the exemplars' median area, image pixels.
    area_range : (float, float)
        Smallest and largest area kept, pixels.
    excluded : np.ndarray, shape (H, W), bool, optional
        Known objects: their pixels are never object-like.

    Returns
    -------
    list of ((H, W) bool mask, (row, col) seed)
        The seed is the component's deepest pixel; largest depth first.
        Components of a second, lower level (:data:`DIM_FRACTION`) away
        from the first level's are included.
    """
    excluded = None if excluded is None else np.asarray(excluded, bool)
    fg = rule.foreground(lightness)
    if excluded is not None:
        fg &= ~excluded
    out = _split(lightness, fg, rule, radius, area_range, excluded)
    dim = _dim_foreground(lightness, rule, fg, excluded)
    if dim is not None:
        out += _split(lightness, dim, rule, radius, area_range, excluded)
    out.sort(key=lambda t: -t[2])
    return [(m, s) for m, s, _ in out]


def _dim_foreground(lightness: np.ndarray, rule: PixelRule, fg: np.ndarray,
                    excluded: np.ndarray | None) -> np.ndarray | None:
    """(H, W) bool: objects dimmer than the exemplars' level, away from ``fg``; None when there is no background.

    The level is :data:`DIM_FRACTION` of the way from the background (the
    median lightness more than 3 pixels from ``fg``) to the rule's level,
    and never on the background's side of ``rule.floor`` (negative examples).
    """
    background = ~ndi.binary_dilation(fg, iterations=3)
    if DIM_FRACTION <= 0 or not background.any():
        return None
    bg = float(np.median(lightness[background]))
    level = bg + DIM_FRACTION * (rule.level - bg)
    if rule.floor is not None:
        level = rule.sign * max(rule.sign * level, rule.sign * rule.floor)
    low = PixelRule(level, rule.sign, rule.fit)
    dim = low.foreground(lightness) & ~ndi.binary_dilation(fg, iterations=2)
    if excluded is not None:
        dim &= ~excluded
    return ndi.binary_opening(dim)


def _split(lightness: np.ndarray, fg: np.ndarray, rule: PixelRule, radius: float, area_range: tuple[float, float],
           excluded: np.ndarray | None) -> list[tuple[np.ndarray, tuple[float, float], float]]:
    """Watershed parts of ``fg`` of plausible size as (mask, seed, depth), boundaries moved by ``rule.boundary``."""
    r = max(float(radius), 1.0)
    depth = inner_depth(fg, r, cap=False)
    regions, _ = ndi.label(fg)
    peaks = depth_peaks(depth, r, regions)  # the watershed's seeds
    if not len(peaks):
        return []
    markers = np.zeros(fg.shape, np.int32)
    markers[peaks[:, 0], peaks[:, 1]] = np.arange(1, len(peaks) + 1)
    split = watershed(-depth, markers, mask=fg)
    out = []
    for i, sl in enumerate(ndi.find_objects(split), start=1):
        if sl is None:
            continue
        crop = split[sl] == i
        area = int(crop.sum())
        if not area_range[0] <= area <= area_range[1]:
            continue
        mask = np.zeros(fg.shape, bool)
        mask[sl] = crop
        r0, c0 = deepest_point(crop)
        seed = (r0 + sl[0].start, c0 + sl[1].start)
        if rule.boundary is not None:
            mask = rule.boundary.apply(lightness, mask, seed)
            if excluded is not None:
                mask &= ~excluded
        out.append((mask, seed, float(depth[peaks[i - 1, 0], peaks[i - 1, 1]])))
    return out
