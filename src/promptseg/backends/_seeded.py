"""Shared parts of the two seeded classical baselines (random walker, GrabCut).

Both work on a downscaled copy of the image (capped at a number of pixels,
because they are slow), turn (row, col) clicks into seed pixels of that copy,
keep only the connected parts of their answer that contain a positive click,
and bring the answer back to the image's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..imaging import to_uint8_rgb
from .base import FeatureBackend, Prediction

#: Radius, in working-copy pixels, of the seed disk painted at every click.
SEED_RADIUS = 2


@dataclass(frozen=True)
class WorkingCopy:
    """An RGB copy of the image at the resolution a baseline works at.

    Attributes
    ----------
    rgb : np.ndarray, shape (h, w, 3), uint8
        The downscaled image, (row, col, channel).
    image_shape : (int, int)
        (H, W) of the original image.
    """

    rgb: np.ndarray
    image_shape: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])

    @property
    def is_scaled(self) -> bool:
        return self.shape != tuple(self.image_shape)

    def to_work(self, points_rc: np.ndarray) -> np.ndarray:
        """Map (N, 2) (row, col) image pixels to integer pixels of the copy."""
        h, w = self.shape
        hh, ww = self.image_shape
        pts = np.asarray(points_rc, dtype=np.float64).reshape(-1, 2)
        rows = np.clip(np.floor((pts[:, 0] + 0.5) * h / hh), 0, h - 1)
        cols = np.clip(np.floor((pts[:, 1] + 0.5) * w / ww), 0, w - 1)
        return np.stack([rows, cols], axis=1).astype(np.intp)

    def box_to_work(self, box_rc: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray]:
        """A (row0, col0, row1, col1) image box as slices of the copy, and its centre pixel (1, 2)."""
        corners = self.to_work(np.asarray(box_rc).reshape(2, 2))
        inside = (slice(corners[0, 0], corners[1, 0] + 1), slice(corners[0, 1], corners[1, 1] + 1))
        return inside, np.round(corners.mean(axis=0, keepdims=True)).astype(np.intp)

    def mask_to_work(self, mask: np.ndarray) -> np.ndarray:
        """Nearest-neighbour resample of an (H, W) mask to the copy's (h, w)."""
        if not self.is_scaled:
            return np.asarray(mask, dtype=bool)
        h, w = self.shape
        hh, ww = self.image_shape
        rows = np.minimum(((np.arange(h) + 0.5) * hh / h).astype(np.intp), hh - 1)
        cols = np.minimum(((np.arange(w) + 0.5) * ww / w).astype(np.intp), ww - 1)
        return np.asarray(mask, dtype=bool)[np.ix_(rows, cols)]

    def logits_to_image(self, logits: np.ndarray) -> np.ndarray:
        """Bilinear resample of (h, w) logits to the image's (H, W), float32."""
        if not self.is_scaled:
            return logits.astype(np.float32, copy=False)
        from skimage.transform import resize

        out = resize(logits, self.image_shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
        return out.astype(np.float32)


def working_copy(image: np.ndarray, *, contrast_limits: Sequence[float] | None, max_pixels: int) -> WorkingCopy:
    """Scale an image to uint8 RGB and shrink it to at most ``max_pixels`` pixels.

    Parameters
    ----------
    image : np.ndarray, shape (H, W) or (H, W, C)
        Any image :func:`promptseg.imaging.to_uint8_rgb` accepts.
    contrast_limits : (low, high), optional
        Passed to :func:`~promptseg.imaging.to_uint8_rgb`.
    max_pixels : int
        Upper bound on h * w of the copy; the aspect ratio is kept.

    Raises
    ------
    ImageError
        For images :func:`~promptseg.imaging.to_uint8_rgb` refuses.
    """
    rgb = to_uint8_rgb(image, contrast_limits=contrast_limits)
    hh, ww = rgb.shape[:2]
    scale = min(1.0, math.sqrt(max_pixels / float(hh * ww)))
    if scale < 1.0:
        from skimage.transform import resize

        size = (max(2, int(round(hh * scale))), max(2, int(round(ww * scale))))
        small = resize(rgb, size, order=1, anti_aliasing=True, preserve_range=True)
        rgb = np.clip(small + 0.5, 0, 255).astype(np.uint8)
    return WorkingCopy(rgb=np.ascontiguousarray(rgb), image_shape=(int(hh), int(ww)))


def paint_disks(target: np.ndarray, centres: np.ndarray, value: int, radius: int) -> None:
    """Set ``target`` to ``value`` in a disk of ``radius`` around each (row, col) centre."""
    h, w = target.shape
    offs = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(offs, offs, indexing="ij")
    inside = dr**2 + dc**2 <= radius**2
    dr, dc = dr[inside], dc[inside]
    for r, c in np.asarray(centres).reshape(-1, 2):
        rr, cc = r + dr, c + dc
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        target[rr[ok], cc[ok]] = value


def keep_clicked_parts(mask: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """The 8-connected parts of an (h, w) bool mask that contain a positive (row, col) click."""
    if not mask.any() or len(positives) == 0:
        return np.zeros_like(mask)
    parts, _ = ndi.label(mask, structure=np.ones((3, 3), dtype=bool))
    ids = np.unique(parts[positives[:, 0], positives[:, 1]])
    ids = ids[ids != 0]
    return np.isin(parts, ids)


def empty_prediction(shape: tuple[int, int]) -> Prediction:
    """An all-background (H, W) answer (no positive evidence in the prompts)."""
    return Prediction(mask=np.zeros(shape, dtype=bool), logits=np.full(shape, -1.0, dtype=np.float32), score=0.0)


class SeededBackend(FeatureBackend):
    """A baseline's ``encode``: the working copy (at most ``self.max_pixels`` pixels), and what :meth:`prepare` adds."""

    max_pixels: int
    name: str

    def identity(self) -> dict[str, float | int]:
        """The settings that change answers, by the names :attr:`backend_id` shows them under."""
        raise NotImplementedError

    def method_note(self) -> str:
        """What the baseline runs per click, the first part of :attr:`evaluation_note`."""
        raise NotImplementedError

    @property
    def backend_id(self) -> str:
        items = (f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.identity().items())
        return f"{self.name}({','.join(items)})"

    @property
    def evaluation_note(self) -> str:
        """Shown under evaluation tables."""
        return f"{self.method_note()} on a copy capped at {self.max_pixels / 1e6:.2f} MP"

    def image_features(
        self, image: np.ndarray, *, contrast_limits: Sequence[float] | None
    ) -> tuple[tuple[int, int], Any]:
        copy = working_copy(image, contrast_limits=contrast_limits, max_pixels=self.max_pixels)
        return copy.image_shape, self.prepare(copy)

    def prepare(self, copy: WorkingCopy) -> Any:
        """The embedding's ``features`` for a working copy (default: the copy itself)."""
        return copy
