"""Each object's boundary at its own contrast level, and its score."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["refine_objects"]

#: A redrawn object whose area changes by more than this factor keeps its detected shape.
MAX_AREA_CHANGE = 2.0


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius


def _redraw(xs: np.ndarray, own: np.ndarray, band: np.ndarray, level: float) -> np.ndarray | None:
    """The part of ``band`` above ``level`` connected to the object, holes filled; None when implausible."""
    new = band & (xs > level)
    parts, m = ndi.label(new)
    if m == 0:
        return None
    touching = np.unique(parts[own & new])
    new = ndi.binary_fill_holes(np.isin(parts, touching[touching > 0]))
    area, old = int(new.sum()), int(own.sum())
    if area == 0 or not (old / MAX_AREA_CHANGE <= area <= old * MAX_AREA_CHANGE):
        return None
    return new


def noise_level(x: np.ndarray) -> float:
    """Robust standard deviation of pixel noise: the MAD of differences between horizontal neighbours, / sqrt(2)."""
    d = np.diff(x, axis=1).ravel()
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)) if d.size else 0.0


def refine_objects(x: np.ndarray, labels: np.ndarray, radius: float, settings,
                   noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Redraw every object at ``ring + level * (inside - ring)``, drop small ones, score the rest.

    Parameters
    ----------
    x : np.ndarray, shape (H, W), float
        Object channel (objects bright).
    labels : np.ndarray, shape (H, W), int
        Detected objects, 0 background.
    radius : float
        Typical object radius (pixels).
    settings : ClassicAutoSettings
    noise : float
        Pixel noise (standard deviation); objects whose contrast is below
        ``settings.min_contrast`` times it are dropped.

    Returns
    -------
    labels : np.ndarray, shape (H, W), uint32
        Objects 1..n by decreasing score.
    scores : np.ndarray, shape (n,), float32
        Mean inside minus mean in the ring, clipped to [0, 1].
    """
    labels = np.asarray(labels, np.int64)
    out = labels.copy()
    n = int(labels.max())
    reach = int(settings.boundary_reach)
    pad = reach + settings.ring_width + 1
    grow, ring_fp = _disk(max(reach, 1)), _disk(settings.ring_width)
    contrast = np.zeros(n + 1)
    boxes = ndi.find_objects(labels)
    grad = np.hypot(ndi.sobel(x, 0), ndi.sobel(x, 1))
    h, w = labels.shape
    for k, box in enumerate(boxes, start=1):
        if box is None:
            continue
        rs = slice(max(box[0].start - pad, 0), min(box[0].stop + pad, h))
        cs = slice(max(box[1].start - pad, 0), min(box[1].stop + pad, w))
        own = labels[rs, cs] == k
        others = (out[rs, cs] > 0) & (out[rs, cs] != k)
        ring = ndi.binary_dilation(own, ring_fp) & ~own & ~others
        xs = x[rs, cs]
        inside = float(xs[own].mean())
        q = settings.ring_percentile
        around = (float(xs[ring].mean()) if q is None else float(np.percentile(xs[ring], q))) if ring.any() \
            else float(np.median(x))
        contrast[k] = np.clip(inside - around, 0.0, 1.0)
        if contrast[k] < settings.min_contrast * noise:
            out[rs, cs][own] = 0
            continue
        if settings.boundary_level is None or inside <= around:
            continue
        band = (ndi.binary_dilation(own, grow) if reach > 0 else own) & ~others
        levels = settings.boundary_level
        levels = levels if isinstance(levels, (tuple, list)) else (levels,)
        best, best_edge = None, -np.inf
        for fraction in levels:
            new = _redraw(xs, own, band, around + fraction * (inside - around))
            if new is None:
                continue
            edge = float(grad[rs, cs][new & ~ndi.binary_erosion(new)].mean()) if len(levels) > 1 else 0.0
            if edge > best_edge:
                best, best_edge = new, edge
        if best is None:
            continue
        new = best
        region = out[rs, cs]
        region[own & ~new] = 0
        region[new] = k
    areas = np.bincount(out.ravel(), minlength=n + 1)
    alive = areas > 0
    alive[0] = False
    typical = float(np.median(areas[alive])) if alive.any() else 0.0
    alive &= areas >= max(settings.min_area, settings.min_area_fraction * typical)
    ids = np.flatnonzero(alive)
    order = ids[np.argsort(-contrast[ids], kind="stable")]
    new_id = np.zeros(n + 1, np.uint32)
    new_id[order] = np.arange(1, len(order) + 1, dtype=np.uint32)
    return new_id[out], contrast[order].astype(np.float32)
