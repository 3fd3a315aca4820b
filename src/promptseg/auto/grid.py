"""Where the automatic mask generator prompts: point grids and crop boxes.

The layout follows SAM's automatic mask generator (Kirillov et al. 2023,
segment-anything ``automatic_mask_generator.py``): a regular grid of
``n x n`` points at the centres of equal cells of the unit square, scaled to
each crop; crop layer 0 is the whole image, layer ``i`` cuts it into
``2**i x 2**i`` overlapping crops, prompted with a grid of
``n // downscale**i`` points per side.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["point_grid", "layer_point_grids", "crop_boxes"]


def point_grid(n_per_side: int) -> np.ndarray:
    """Centres of an ``n x n`` grid of equal cells in the unit square.

    Parameters
    ----------
    n_per_side : int
        Points along each side (at least 1).

    Returns
    -------
    np.ndarray, shape (n*n, 2), float64
        Normalised (x, y) in (0, 1), x varying fastest (rows of the grid one
        after another).

    Examples
    --------
    >>> point_grid(2)
    array([[0.25, 0.25],
           [0.75, 0.25],
           [0.25, 0.75],
           [0.75, 0.75]])
    """
    n = int(n_per_side)
    if n < 1:
        raise ValueError(f"points per side must be at least 1, got {n_per_side}.")
    centres = (np.arange(n) + 0.5) / n
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def layer_point_grids(n_per_side: int, n_layers: int, downscale: int) -> list[np.ndarray]:
    """One grid per crop layer: layer ``i`` has ``int(n_per_side / downscale**i)`` points per side."""
    return [point_grid(int(n_per_side / downscale**i)) for i in range(int(n_layers) + 1)]


def crop_boxes(image_shape: tuple[int, int], n_layers: int, overlap_ratio: float) -> tuple[list[tuple[int, int, int, int]], list[int]]:
    """Crops of every layer, the whole image first.

    Parameters
    ----------
    image_shape : (int, int)
        (H, W) of the image.
    n_layers : int
        Crop layers besides the whole image; layer ``i`` (1-based) has
        ``(2**i)**2`` crops.
    overlap_ratio : float
        In layer 1 neighbouring crops overlap by this fraction of the image's
        shorter side; layer ``i`` by ``2 / 2**i`` of that.

    Returns
    -------
    boxes : list of (x0, y0, x1, y1)
        Pixel boxes, x1 / y1 exclusive; within a layer the crops are ordered
        column of crops by column of crops (x outer, y inner).
    layers : list of int
        Each box's layer.

    Examples
    --------
    >>> crop_boxes((100, 200), 1, 0.2)
    ([(0, 0, 200, 100), (0, 0, 110, 60), (0, 40, 110, 100), (90, 0, 200, 60), (90, 40, 200, 100)], [0, 1, 1, 1, 1])
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    boxes, layers = [(0, 0, w, h)], [0]
    for layer in range(1, int(n_layers) + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * min(h, w) * 2 / per_side)
        crop_w = math.ceil((overlap * (per_side - 1) + w) / per_side)
        crop_h = math.ceil((overlap * (per_side - 1) + h) / per_side)
        for i in range(per_side):
            x0 = int((crop_w - overlap) * i)
            for j in range(per_side):
                y0 = int((crop_h - overlap) * j)
                boxes.append((x0, y0, min(x0 + crop_w, w), min(y0 + crop_h, h)))
                layers.append(layer)
    return boxes, layers
