"""Fine mode: small, thin and faint objects answered at pixel level around the clicks.

At an object's first positive click the classic backend compares two
answers: the superpixel graph cut and the :func:`~.fine_region.distinct_region`
around the click.  Where the evidence around the click is weak (a pit on a
textured part, a scratch), the cut floods into the part while the distinct
region stays on the structure; the region is then taken when it stands out
(outline ``fine_min_contrast`` times sharper than the texture around it), its
outline is at least as sharp as the cut's, and the cut is ``fine_min_ratio``
times larger.  With ``fine_structures`` (the preset for defect inspection)
any distinct region is taken.

The object then stays in fine mode.  A later click is answered by the
superpixel cut when that stays near the fine answer (see
:mod:`.fine_track`); otherwise it edits the answer locally, at working
resolution (:func:`edit`):

- a click on the wrong side of the answer, ``d`` pixels from it, relabels
  the band of pixels within ``d + 1`` of the answer's outline (inside for a
  negative click, outside for a positive one) in a disk of radius
  ``max(fine_edit_min_radius, fine_edit_radius * d)``, by a small graph cut
  whose unary term compares each pixel's level (position between the
  background and object colour) with the clicked pixel's level, and whose
  pairwise term keeps the outline smooth; the clicked pixel is fixed;
- a positive click farther than ``fine_new_part`` pixels from the answer,
  on a pixel at least as object-like as the object's level, adds the
  component of such pixels around it (another piece of a defect in pieces);
  on any other pixel it ends fine mode for the object: the object is larger
  than the first region, and the superpixel cut answers from then on;
- a negative click whose cut would split the object is retried with a
  thinner band, then reduced to the clicked pixel, so that a thin scratch
  is never cut in two by a click on its rim;
- the answer is always the connected part(s) holding the positive clicks.

An answer is a function of the clicks alone: without the previous answer
the edits are replayed from the first click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .fine_region import DistinctRegion, outline_strength, smoothed_window, window_edge
from .graph import min_cut
from .parts import EIGHT, seeded_parts
from .settings import ClassicSettings

__all__ = ["FineModel", "takes_region", "edit", "distance_to", "EDIT_SIGMA"]

#: Gaussian width of the copy the edits read levels from (pixels).
EDIT_SIGMA = 0.7
#: Largest radius of an edit and of a new part's window (working pixels).
MAX_EDIT_RADIUS = 48


@dataclass(frozen=True)
class FineModel:
    """What fine mode knows of an object: its colour, the background's and its level.

    Attributes
    ----------
    colour, background : np.ndarray, shape (C,), float32
        Object and background colour (working colour space).
    level : float
        Level (0 background .. 1 object colour) the first region was cut at.
    """

    colour: np.ndarray
    background: np.ndarray
    level: float

    @classmethod
    def of(cls, region: DistinctRegion) -> "FineModel":
        return cls(colour=region.colour, background=region.background, level=region.level)

    def levels(self, smooth: np.ndarray) -> np.ndarray:
        """Level of every pixel of an (h, w, C) smoothed crop, shape (h, w), float32."""
        axis = self.colour - self.background
        return ((smooth - self.background) @ axis / np.float32(max(float(axis @ axis), 1e-6))).astype(np.float32)

    def level_noise(self, noise: float) -> float:
        """The image noise (Lab units) in level units."""
        axis = self.colour - self.background
        return float(noise / max(np.sqrt(float(axis @ axis)), 1e-6))


def takes_region(region: DistinctRegion | None, coarse: np.ndarray, gradient: np.ndarray,
                 settings: ClassicSettings) -> bool:
    """Whether the distinct region answers the first click instead of the superpixel cut.

    Parameters
    ----------
    region : DistinctRegion or None
    coarse : np.ndarray, shape (h, w), bool
        The superpixel answer to the same click.
    gradient : np.ndarray, shape (h, w)
        The working copy's colour gradient.
    settings : ClassicSettings
    """
    if region is None or region.score < settings.fine_min_contrast:
        return False
    if settings.fine_structures:
        return True
    area = int(region.mask.sum())
    if coarse.sum() < settings.fine_min_ratio * area:
        return False
    return outline_strength(region.mask, gradient) >= outline_strength(coarse, gradient)


def edit(lab: np.ndarray, noise: float, model: FineModel, mask: np.ndarray, click: tuple[int, int, int],
         positives: np.ndarray, settings: ClassicSettings) -> np.ndarray | None:
    """The answer after one more click (see the module text).

    Parameters
    ----------
    lab : np.ndarray, shape (h, w, C), float32
        Working colour.
    noise : float
        Image noise level (Lab units).
    model : FineModel
    mask : np.ndarray, shape (h, w), bool
        The answer before the click.
    click : (row, col, label)
        The new click, working pixel, label 1 or 0.
    positives : np.ndarray, shape (P, 2), int
        All positive clicks so far (the parts to keep).
    settings : ClassicSettings

    Returns
    -------
    np.ndarray, shape (h, w), bool, or None
        None when a positive click far from the answer finds nothing like
        the object there: the object is larger than fine mode assumed.
    """
    r, c, label = click
    if mask[r, c] == bool(label):
        return mask
    d = distance_to(mask, r, c, bool(label))
    if label == 1 and d > settings.fine_new_part:
        part = _new_part(lab, model, (r, c))
        return None if part is None else seeded_parts(mask | part, positives)
    raw = _band_cut(lab, noise, model, mask, click, d, 1.0, settings)
    out = seeded_parts(raw, positives)
    if label == 0 and (raw & ~out).any():  # the cut split the object: a thinner band, else the clicked pixel alone
        raw = _band_cut(lab, noise, model, mask, click, d, 0.0, settings)
        thin = seeded_parts(raw, positives)
        if not (raw & ~thin).any():
            return thin
        single = mask.copy()
        single[r, c] = False
        return seeded_parts(single, positives)
    return out


def _band_cut(lab: np.ndarray, noise: float, model: FineModel, mask: np.ndarray, click: tuple[int, int, int],
              d: float, extra: float, settings: ClassicSettings) -> np.ndarray:
    """Relabel the band of the answer's outline near a click by a small graph cut, shape (h, w), bool.

    The free pixels lie in a disk around the click and within ``d + extra``
    of the outline on the click's wrong side; the others keep their label
    and pull their free neighbours towards it.
    """
    r, c, label = click
    h, w = mask.shape
    radius = min(max(settings.fine_edit_min_radius, settings.fine_edit_radius * d), MAX_EDIT_RADIUS)
    reach = int(np.ceil(radius)) + 2
    r0, r1, c0, c1 = max(r - reach, 0), min(r + reach + 1, h), max(c - reach, 0), min(c + reach + 1, w)
    before = mask[r0:r1, c0:c1]
    rows, cols = np.ogrid[r0 - r : r1 - r, c0 - c : c1 - c]
    depth = ndi.distance_transform_edt(~before if label == 1 else before)
    free = (rows**2 + cols**2 <= radius**2) & (depth > 0) & (depth <= d + extra)
    after = before.copy()
    ids = np.flatnonzero(free.ravel())
    if ids.size:
        level = model.levels(smoothed_window(lab, r0, r1, c0, c1, EDIT_SIGMA))
        sign = 1.0 if label == 1 else -1.0
        scale = max(model.level_noise(noise), 0.05)
        unary = np.clip((level - level[r - r0, c - c0]) / scale + sign * settings.fine_bias, -1.0, 1.0)
        after.ravel()[ids] = _cut(free, before, unary, settings.fine_smoothness, (r - r0, c - c0), label)
    after[r - r0, c - c0] = bool(label)
    out = mask.copy()
    out[r0:r1, c0:c1] = after
    return out


def _cut(free: np.ndarray, fixed: np.ndarray, unary: np.ndarray, weight: float, clicked: tuple[int, int],
         label: int) -> np.ndarray:
    """Labels of the ``free`` pixels (in ravel order) minimising unary plus a Potts term on 4-neighbours.

    Pixels outside ``free`` keep their label in ``fixed`` and act on their
    free neighbours; the clicked pixel, when free, is fixed to ``label``.
    """
    hh, ww = free.shape
    idx = np.full(hh * ww, -1, np.intp)
    ids = np.flatnonzero(free.ravel())
    idx[ids] = np.arange(ids.size)
    idx = idx.reshape(hh, ww)
    u = unary.ravel()[ids].astype(np.float64)
    pairs = []
    for a, b, la, lb in ((idx[:, :-1], idx[:, 1:], fixed[:, :-1], fixed[:, 1:]),
                         (idx[:-1], idx[1:], fixed[:-1], fixed[1:])):
        pairs.append(np.stack([a[(a >= 0) & (b >= 0)], b[(a >= 0) & (b >= 0)]], axis=1))
        for x, y, ly in ((a, b, lb), (b, a, la)):  # a free pixel next to a fixed one
            one = (x >= 0) & (y < 0)
            np.add.at(u, x[one], np.where(ly[one], weight, -weight))
    edges = np.concatenate(pairs)
    k = idx[clicked]
    hard = np.array([k], np.intp) if k >= 0 else None
    return min_cut(edges, np.full(len(edges), weight), u, hard_fg=hard if label == 1 else None,
                   hard_bg=hard if label == 0 else None)


def distance_to(mask: np.ndarray, r: int, c: int, value: bool) -> float:
    """Distance from (r, c) to the nearest pixel of ``mask == value`` (the frame's size when there is none)."""
    h, w = mask.shape
    for reach in (8, 32, 128, max(h, w)):
        r0, r1, c0, c1 = max(r - reach, 0), min(r + reach + 1, h), max(c - reach, 0), min(c + reach + 1, w)
        rows, cols = np.nonzero(mask[r0:r1, c0:c1] == value)
        if rows.size:
            d = float(np.sqrt(((rows + r0 - r) ** 2 + (cols + c0 - c) ** 2).min()))
            if d <= reach or reach >= max(h, w):
                return d
    return float(max(h, w))


def _new_part(lab: np.ndarray, model: FineModel, seed: tuple[int, int]) -> np.ndarray | None:
    """The component of pixels at least as object-like as the model's level around ``seed``, if it is local."""
    h, w = lab.shape[:2]
    r, c = seed
    r0, r1 = max(r - MAX_EDIT_RADIUS, 0), min(r + MAX_EDIT_RADIUS + 1, h)
    c0, c1 = max(c - MAX_EDIT_RADIUS, 0), min(c + MAX_EDIT_RADIUS + 1, w)
    level = model.levels(smoothed_window(lab, r0, r1, c0, c1, EDIT_SIGMA))
    if level[r - r0, c - c0] < model.level:
        return None
    labels, _ = ndi.label(level >= model.level, structure=EIGHT)
    comp = labels == labels[r - r0, c - c0]
    if (comp & window_edge(comp.shape, r0 > 0, r1 < h, c0 > 0, c1 < w)).any():
        return None
    out = np.zeros((h, w), bool)
    out[r0:r1, c0:c1] = comp
    return out
