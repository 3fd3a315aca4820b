"""The per-prompt head of the classic backend: prompts in, object superpixels out.

For every superpixel ``i`` the head forms an object evidence ``u_i`` (per
pixel, positive for the object) from

- geodesic proximity to the clicks: ``exp(-D+_i / s) - exp(-D-_i / s)`` with
  ``D+`` / ``D-`` the geodesic distance to the nearest positive / negative
  click over the colour graph, so a click claims the homogeneous region
  around it up to the next strong edge;
- colour models relearnt at every click: palette histograms of the object
  (superpixels near positive clicks, the previous mask, the mask prompt, the
  box) and of the background (near negative clicks, the rest of the previous
  answer, the image border), as a clipped log-likelihood ratio;
- the previous answer and the mask prompt as soft priors;
- the image border as weak background unless a box or mask prompt says
  where the object is (a previous answer does not: it may have leaked).

A graph cut then balances ``size_i * u_i`` against the contrast-weighted
boundary length (clicked superpixels are hard constraints), and only the
parts connected to positive prompts are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoder import ClassicFeatures
from .graph import connected_to, geodesic_distance, min_cut
from .settings import ClassicSettings

__all__ = ["RegionPrompts", "segment"]


@dataclass(frozen=True)
class RegionPrompts:
    """Prompts transferred to superpixels (ids index :class:`SuperpixelGraph` nodes).

    Attributes
    ----------
    positive, negative : np.ndarray, shape (P,) / (Q,), int
        Superpixels under positive / negative clicks and scribbles.
    box : np.ndarray, shape (n,), float32, or None
        Fraction of each superpixel inside the box prompt.
    mask : np.ndarray, shape (n,), float32, or None
        Fraction covered by the mask prompt and positive polygons.
    exclude : np.ndarray, shape (n,), float32, or None
        Fraction covered by negative polygons.
    previous : np.ndarray, shape (n,), float32, or None
        Fraction covered by the previous answer.
    """

    positive: np.ndarray
    negative: np.ndarray
    box: np.ndarray | None = None
    mask: np.ndarray | None = None
    exclude: np.ndarray | None = None
    previous: np.ndarray | None = None

    @property
    def has_object_evidence(self) -> bool:
        """Whether anything says where the object is."""
        return bool(
            len(self.positive)
            or (self.box is not None and (self.box > 0).any())
            or (self.mask is not None and (self.mask > 0).any())
            or (self.previous is not None and (self.previous > 0.5).any())
        )

    def anchors(self, n: int) -> np.ndarray:
        """Superpixels the object must hold, shape (A,), int.

        The positive seeds; without any, the superpixels at least half
        covered by the previous answer, the mask prompt or the box.
        """
        if len(self.positive):
            return np.unique(self.positive).astype(np.intp)
        support = np.zeros(n)
        for part in (self.previous, self.mask, self.box):
            if part is not None:
                support = np.maximum(support, part)
        return np.flatnonzero(support >= 0.5)


def segment(features: ClassicFeatures, prompts: RegionPrompts, settings: ClassicSettings) -> tuple[np.ndarray, np.ndarray]:
    """Label superpixels as object or background.

    Parameters
    ----------
    features : ClassicFeatures
        The embedding's payload.
    prompts : RegionPrompts
        The prompts on superpixels.
    settings : ClassicSettings

    Returns
    -------
    object : np.ndarray, shape (n,), bool
        Superpixels of the object.
    evidence : np.ndarray, shape (n,), float32
        Per-pixel object evidence (positive for the object); its sign agrees
        with ``object``.
    """
    g, s = features.graph, settings
    n = g.n
    pos = np.unique(prompts.positive).astype(np.intp)
    neg = np.setdiff1d(np.unique(prompts.negative), pos).astype(np.intp)
    tau = s.geodesic_scale
    near_pos = np.exp(-geodesic_distance(features.lengths, pos, limit=8 * tau) / tau)
    near_neg = np.exp(-geodesic_distance(features.lengths, neg, limit=8 * tau) / tau)

    prior = np.zeros(n)
    fg_w = g.size * near_pos
    bg_w = g.size * near_neg
    known = False
    if prompts.previous is not None:
        prior += s.previous_weight * (2.0 * prompts.previous - 1.0)
        fg_w = fg_w + 0.5 * g.size * prompts.previous
        bg_w = bg_w + 0.5 * g.size * (1.0 - prompts.previous)
        # not "known": a previous answer that leaked still needs the border as background
    if prompts.mask is not None:
        prior += s.mask_weight * (2.0 * prompts.mask - 1.0)
        fg_w = fg_w + g.size * prompts.mask
        bg_w = bg_w + 0.5 * g.size * (1.0 - prompts.mask)
        known = True
    hard_bg = [neg]
    if prompts.box is not None:
        inside = prompts.box
        hard_bg.append(np.flatnonzero(inside < 0.5))
        fg_w = fg_w + 0.5 * g.size * inside
        bg_w = bg_w + g.size * (1.0 - inside)
        known = True
    if prompts.exclude is not None:
        hard_bg.append(np.flatnonzero(prompts.exclude >= 0.5))
        bg_w = bg_w + g.size * prompts.exclude
    if not known:
        near_border = np.exp(-geodesic_distance(features.lengths, np.flatnonzero(g.border), limit=8 * tau) / tau)
        prior -= s.border_weight * near_border
        if prompts.previous is None:  # later, the clicks and the previous answer sample the background
            bg_w = bg_w + g.size * (0.5 * near_border + 0.1)

    palette = features.palette
    fg_like = palette.likelihood(palette.histogram(fg_w), floor=0.05)
    bg_like = palette.likelihood(palette.histogram(bg_w), floor=0.05)
    ratio = np.clip(np.log(fg_like) - np.log(bg_like), -s.appearance_clip, s.appearance_clip) / s.appearance_clip

    evidence = s.appearance_weight * ratio + s.geodesic_weight * (near_pos - near_neg) + prior
    hard_bg_ids = np.setdiff1d(np.concatenate(hard_bg), pos).astype(np.intp)
    obj = min_cut(g.edges, s.smoothness * features.affinity, g.size * evidence, hard_fg=pos, hard_bg=hard_bg_ids)
    obj = connected_to(n, g.edges, obj, prompts.anchors(n))
    eps = np.float32(1e-3)
    ev = evidence.astype(np.float32)
    return obj, np.where(obj, np.maximum(ev, eps), np.minimum(ev, -eps)).astype(np.float32)

