"""Shape, size and intensity descriptors of objects, and how alike two objects are by them.

Ranks whole candidate objects (e.g. those of the automatic pass) against
the exemplars: every object is described by its log area, elongation
(log of major over minor axis), solidity (area over convex-hull area) and,
when an intensity image is given, its mean intensity; two objects are alike
when every descriptor differs by little compared with a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from skimage.measure import regionprops_table

__all__ = ["ObjectDescriptors", "likeness", "tolerances"]

#: Tolerated difference of log(major axis / minor axis) ...
ELONGATION_TOLERANCE = 0.7
#: ... of solidity ...
SOLIDITY_TOLERANCE = 0.15
#: ... and of mean intensity, as a share of the slice's robust intensity range (1st to 99th percentile).
INTENSITY_TOLERANCE = 0.3


@dataclass(frozen=True)
class ObjectDescriptors:
    """Descriptors of N objects of one slice.

    Attributes
    ----------
    values : np.ndarray, shape (N, D), float64
        Per object: log area, log elongation, solidity and (D = 4) mean intensity.
    """

    values: np.ndarray

    @classmethod
    def from_labels(cls, labels: np.ndarray, intensity: np.ndarray | None = None) -> tuple[np.ndarray, "ObjectDescriptors"]:
        """(label ids (N,), descriptors) of every object of an (H, W) int label image; ``intensity`` (H, W) float or None."""
        props = ["label", "area", "solidity", "axis_major_length", "axis_minor_length"]
        if intensity is not None:
            props.append("intensity_mean")
        table = regionprops_table(np.asarray(labels), intensity_image=intensity, properties=props)
        major = np.asarray(table["axis_major_length"], np.float64)
        minor = np.asarray(table["axis_minor_length"], np.float64)
        columns = [np.log(np.maximum(table["area"], 1.0)), np.log((major + 1.0) / (minor + 1.0)), table["solidity"]]
        if intensity is not None:
            columns.append(table["intensity_mean"])
        return np.asarray(table["label"], np.int64), cls(np.stack(columns, axis=1).astype(np.float64))

    @classmethod
    def from_masks(cls, masks: Sequence[np.ndarray], intensity: np.ndarray | None = None) -> "ObjectDescriptors":
        """Descriptors of (H, W) bool masks, one row each (masks may overlap)."""
        rows = [cls.from_labels(np.asarray(m, np.uint8), intensity)[1].values for m in masks if np.any(m)]
        width = 3 if intensity is None else 4
        return cls(np.concatenate(rows) if rows else np.zeros((0, width)))

    def __len__(self) -> int:
        return int(self.values.shape[0])


def tolerances(log_area_spread: float, intensity: np.ndarray | None) -> np.ndarray:
    """(D,) tolerance of each descriptor: the exemplars' log-area spread, then the constants above."""
    tol = [log_area_spread, ELONGATION_TOLERANCE, SOLIDITY_TOLERANCE]
    if intensity is not None:
        low, high = np.percentile(intensity, [1, 99])
        tol.append(max(INTENSITY_TOLERANCE * float(high - low), 1e-6))
    return np.asarray(tol, np.float64)


def likeness(objects: ObjectDescriptors, references: ObjectDescriptors, tolerance: np.ndarray) -> np.ndarray:
    """How much each object resembles its closest reference, (N,) in [0, 1] (0 when there is no reference).

    ``exp(-d² / 2)`` of the descriptor distance ``d`` in units of ``tolerance`` (D,).
    """
    if not len(references) or not len(objects):
        return np.zeros(len(objects))
    diff = (objects.values[:, None, :] - references.values[None, :, :]) / tolerance[None, None, :]
    return np.exp(-0.5 * (diff ** 2).sum(axis=2)).max(axis=1)
