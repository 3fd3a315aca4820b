"""Size statistics of the exemplars: what "an object of this kind" measures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PromptError
from ..prompts import deepest_point

__all__ = ["ExemplarShape", "check_masks", "place_template"]


def check_masks(masks, shape: tuple[int, int], what: str) -> list[np.ndarray]:
    """Validate a list of (H, W) masks (or one (H, W) array) in a slice's (row, col) frame.

    A label image (integers) is split into one mask per label.

    Raises
    ------
    PromptError
        Wrong shapes, or (for exemplars) no object pixel at all.
    """
    if masks is None:
        return []
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        arr = np.asarray(masks)
        if arr.dtype != bool and arr.max(initial=0) > 1:
            masks = [arr == v for v in np.unique(arr) if v != 0]
        else:
            masks = [arr]
    out = []
    for m in masks:
        m = np.asarray(m)
        if m.shape != tuple(shape):
            raise PromptError(f"{what} mask has shape {m.shape}; it must match the slice, {tuple(shape)} (rows, cols).")
        m = m.astype(bool)
        if m.any():
            out.append(m)
    return out


def place_template(template: np.ndarray, seed: tuple[float, float], image_shape: tuple[int, int]) -> np.ndarray:
    """(row, col) ``template`` offsets, shape (N, 2) int, drawn around ``seed`` as an (H, W) bool mask (clipped)."""
    h, w = image_shape
    r = template[:, 0] + int(round(seed[0]))
    c = template[:, 1] + int(round(seed[1]))
    keep = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    out = np.zeros((h, w), bool)
    out[r[keep], c[keep]] = True
    return out


@dataclass(frozen=True)
class ExemplarShape:
    """Areas and extents of the exemplars, in image pixels.

    Attributes
    ----------
    areas : np.ndarray, shape (K,)
        Pixel count of each exemplar.
    extents : np.ndarray, shape (K, 2)
        Bounding-box height and width of each exemplar.
    template : np.ndarray, shape (N, 2), int32
        (row, col) offsets of the pixels of the exemplar of median area from
        its deepest pixel (the pixel farthest from its boundary): a shape
        prior, given to the backend as a mask prompt at each candidate.
    """

    areas: np.ndarray
    extents: np.ndarray
    template: np.ndarray

    @classmethod
    def from_masks(cls, masks: Sequence[np.ndarray]) -> "ExemplarShape":
        if not masks:
            raise PromptError("find-similar needs at least one exemplar with object pixels; commit or draw one first.")
        areas, extents = [], []
        for m in masks:
            rows = np.flatnonzero(m.any(axis=1))
            cols = np.flatnonzero(m.any(axis=0))
            areas.append(int(m.sum()))
            extents.append((rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))
        typical = masks[int(np.argsort(areas, kind="stable")[(len(areas) - 1) // 2])]
        centre = np.array(deepest_point(typical), dtype=np.intp)
        template = (np.argwhere(typical) - centre).astype(np.int32)
        template.setflags(write=False)
        return cls(np.asarray(areas, np.float64), np.asarray(extents, np.float64), template)

    def template_mask(self, seed: tuple[float, float], image_shape: tuple[int, int]) -> np.ndarray:
        """The exemplar of median area moved so that its deepest pixel lies on ``seed``, (H, W) bool."""
        return place_template(self.template, seed, image_shape)

    @property
    def median_area(self) -> float:
        return float(np.median(self.areas))

    @property
    def radius(self) -> float:
        """Radius of a disk with the median exemplar area, pixels."""
        return float(np.sqrt(self.median_area / np.pi))

    @property
    def log_spread(self) -> float:
        """Tolerated spread of log(area): 0.7, or wider when the exemplars themselves differ more."""
        spread = float(np.std(np.log(self.areas))) if len(self.areas) > 1 else 0.0
        return max(0.7, 1.5 * spread)

    def size_score(self, area: float) -> float:
        """How plausible an object of ``area`` pixels is next to the exemplars, in (0, 1]."""
        if area <= 0:
            return 0.0
        z = (np.log(area) - np.log(self.median_area)) / self.log_spread
        return float(np.exp(-0.5 * z * z))

    def area_range(self) -> tuple[float, float]:
        """Areas outside this range are not of the exemplars' kind (a fifth of the smallest, five times the largest)."""
        return 0.2 * float(self.areas.min()), 5.0 * float(self.areas.max())

    def prompt_box(self, seed: tuple[float, float], image_shape: tuple[int, int], scale: float) -> tuple[float, float, float, float]:
        """A (row0, col0, row1, col1) box around ``seed``, ``scale`` times the largest exemplar extent, clipped to the image."""
        half = 0.5 * scale * float(self.extents.max())
        h, w = image_shape
        r, c = seed
        return (max(0.0, r - half), max(0.0, c - half), min(h - 1.0, r + half), min(w - 1.0, c + half))
