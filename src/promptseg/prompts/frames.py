"""The one conversion between napari's (row, col) frame and the models' (x, y) frame.

napari and numpy index images as (row, col); Segment-Anything models take
(x, y) = (col, row).  :func:`to_xy` is the only place in the package that
swaps the axes.
"""

from __future__ import annotations

import numpy as np


def to_xy(points_rc: np.ndarray) -> np.ndarray:
    """(row, col) -> (x, y): the only axis swap in the package.

    Parameters
    ----------
    points_rc : np.ndarray, shape (..., 2)
        Coordinates in the image's (row, col) frame.

    Returns
    -------
    np.ndarray, shape (..., 2)
        The same points as (x, y) = (col, row).
    """
    return np.asarray(points_rc)[..., ::-1].copy()


def box_to_xyxy(box_rc: np.ndarray) -> np.ndarray:
    """(row0, col0, row1, col1) -> (x0, y0, x1, y1), via :func:`to_xy`."""
    return to_xy(np.asarray(box_rc, dtype=np.float64).reshape(2, 2)).reshape(4)
