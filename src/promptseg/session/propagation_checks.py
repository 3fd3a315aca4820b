"""What :func:`~promptseg.session.propagate.propagate` measures on each slice: calibration and stop criteria.

* :func:`calibrate_threshold` -- the committed start mask is the user's own
  answer for its slice, so the backend is asked to re-find it from the
  same kind of prompts every other slice gets; the logit threshold at
  which that answer best matches the start mask is then used on every
  slice.  A backend whose masks run systematically wider or narrower than
  the user's boundary (the classic backend on blurred nuclei draws its
  boundary a pixel or two outside) is corrected by the user's own example.
* :class:`AreaTrend` -- the object's area along one direction: for convex
  objects (nuclei) it rises to one maximum and falls towards the end.  It
  flags a mask that grows again after shrinking, and a mask that stays
  large where the falling trend says the object has ended (past an
  object's end a blurred image still shows a dim disc that a backend
  keeps finding).
"""

from __future__ import annotations

import numpy as np

__all__ = ["AreaTrend", "calibrate_threshold", "iou"]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def calibrate_threshold(logits: np.ndarray, mask: np.ndarray, *, candidates: int = 121) -> tuple[float, float, float]:
    """The logit threshold at which ``logits > threshold`` best matches ``mask``.

    Parameters
    ----------
    logits : np.ndarray, shape (H, W), float
        The backend's answer on the start slice.
    mask : np.ndarray, shape (H, W), bool
        The committed start mask (non-empty).
    candidates : int
        Thresholds tried, spread evenly between the 1st and 99th
        percentile of the logits under the mask and its surroundings
        (0, the backend's own threshold, is always tried).

    Returns
    -------
    (threshold, iou_at_threshold, iou_at_zero)
        Among equally good thresholds, the one closest to 0.

    Examples
    --------
    >>> logits = np.linspace(-2, 2, 10)[None, :].repeat(3, 0)
    >>> t, best, at_zero = calibrate_threshold(logits, logits > 1.0)
    >>> 0.5 < t < 1.1, best, round(at_zero, 2)
    (True, 1.0, 0.6)
    """
    logits = np.asarray(logits, np.float64)
    mask = np.asarray(mask, bool)
    inside = np.sort(logits[mask])
    everything = np.sort(logits.ravel())
    lo, hi = np.percentile(logits[_near(mask)], [1, 99])
    grid = np.unique(np.r_[0.0, np.linspace(lo, hi, max(int(candidates), 2))])
    hit = inside.size - np.searchsorted(inside, grid, side="right")  # |mask & logits > t|
    chosen = everything.size - np.searchsorted(everything, grid, side="right")  # |logits > t|
    union = inside.size + chosen - hit
    scores = np.where(union > 0, hit / np.maximum(union, 1), 0.0)
    best = float(scores.max())
    ties = np.flatnonzero(scores >= best - 1e-12)
    pick = ties[np.argmin(np.abs(grid[ties]))]
    return float(grid[pick]), best, float(scores[grid == 0.0][0])


def _near(mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box grown by half its size on each side (where the boundary's logits are)."""
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    dr, dc = (rows.max() - rows.min() + 1) // 2 + 1, (cols.max() - cols.min() + 1) // 2 + 1
    near = np.zeros_like(mask)
    near[max(rows.min() - dr, 0) : rows.max() + dr + 1, max(cols.min() - dc, 0) : cols.max() + dc + 1] = True
    return near


class AreaTrend:
    """The mask areas met so far along one direction of propagation.

    Parameters
    ----------
    area : int
        Area on the start slice.
    regrow_tolerance : float or None
        Once the area fell below ``1 - regrow_tolerance`` of its largest
        value, a mask larger than ``1 + regrow_tolerance`` times the
        smallest area since is a regrowth (None: never).
    end_fraction : float or None
        While the area falls, the next area is extrapolated from the last
        three (a parabola, as the cross-sections of an ellipsoid); where it
        is below ``end_fraction`` of the last area the object is expected to
        end, and a mask still larger than ``1 - end_fraction`` of the last
        area is taken for the dim continuation past the end (None: never).
    """

    def __init__(self, area: int, regrow_tolerance: float | None, end_fraction: float | None = None) -> None:
        self.peak = self.low = area
        self.shrinking = False
        self.tolerance = regrow_tolerance
        self.end_fraction = end_fraction
        self.history = [int(area)]

    def expected(self) -> float | None:
        """The area the falling trend predicts for the next slice (None before three shrinking slices)."""
        if len(self.history) < 3:
            return None
        a, b, c = self.history[-3:]
        if not a > b > c:
            return None
        return float(3 * c - 3 * b + a)  # the parabola through the last three, one step on

    def check(self, area: int) -> str | None:
        """``"regrew"`` or ``"ended"`` when ``area`` breaks the trend, else None (and ``area`` is recorded)."""
        if self.tolerance is not None and self.shrinking and area > (1 + self.tolerance) * self.low:
            return "regrew"
        expected = self.expected()
        if (self.end_fraction is not None and expected is not None
                and expected < self.end_fraction * self.history[-1] and area > (1 - self.end_fraction) * self.history[-1]):
            return "ended"
        self.history.append(int(area))
        if self.tolerance is not None:
            self.peak = max(self.peak, area)
            self.shrinking = self.shrinking or area < (1 - self.tolerance) * self.peak
            self.low = min(self.low, area) if self.shrinking else area
        return None
