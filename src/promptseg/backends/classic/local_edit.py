"""Correction clicks on an answer the superpixel cut made with a weak outline: local, at pixel level.

Where the first answer's outline is weak (uneven texture, stains and
breaks on dark parts: no edge says where the object ends), each later click
used to redo the whole superpixel cut, and the answer swung: a click added
or removed large areas far from it and the next click undid part of that
(on the magnetic tiles the IoU of such objects went up and down by 0.1-0.3
from click to click).  Here a correction click changes the answer only
near itself:

- inside a disk of radius ``cut_window * d + cut_margin`` around the click
  (``d``: the click's distance to the answer's outline) the new cut's labels
  are taken, outside it the previous answer stays;
- the band of pixels on the click's wrong side within ``cut_band * d`` of
  the outline and ``cut_band_radius * d`` of the click takes the click's
  label whatever the cut says (a click that deep in a wrong area says the
  area around it is about that wide), except pixels nearer to an earlier
  click of the other label;
- clicked pixels keep their labels, and the answer is the connected
  part(s) holding the positive clicks.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .fine import distance_to
from .parts import seeded_parts
from .settings import ClassicSettings

__all__ = ["merge_cut"]


def merge_cut(mask: np.ndarray, cut: np.ndarray, click: tuple[int, int, int], positives: np.ndarray,
              opposite: np.ndarray, settings: ClassicSettings) -> np.ndarray:
    """The answer after a correction click, shape (h, w), bool (see the module text).

    Parameters
    ----------
    mask : np.ndarray, shape (h, w), bool
        The answer before the click (working frame).
    cut : np.ndarray, shape (h, w), bool
        The superpixel cut's answer to all clicks, fed ``mask`` as its
        previous answer.
    click : (row, col, label)
        The new click (working pixel, label 1 or 0).
    positives : np.ndarray, shape (P, 2), int
        All positive clicks so far (the parts to keep).
    opposite : np.ndarray, shape (Q, 2), int
        The earlier clicks whose label is not the new click's.
    settings : ClassicSettings

    Returns
    -------
    np.ndarray, shape (h, w), bool
    """
    r, c, label = click
    value = bool(label)
    if mask[r, c] == value:  # nothing to correct here: the cut, if it keeps the positive clicks
        return seeded_parts(cut, positives) if cut[positives[:, 0], positives[:, 1]].all() else mask
    h, w = mask.shape
    d = distance_to(mask, r, c, value)
    window = settings.cut_window * d + settings.cut_margin
    band_radius = settings.cut_band_radius * d
    reach = int(np.ceil(max(window, band_radius + settings.cut_band * d))) + 2
    r0, r1, c0, c1 = max(r - reach, 0), min(r + reach + 1, h), max(c - reach, 0), min(c + reach + 1, w)
    wrong = mask[r0:r1, c0:c1] != value  # the click's wrong side: outside for a positive click
    depth = ndi.distance_transform_edt(np.pad(wrong, 1, constant_values=True))[1:-1, 1:-1]
    rows, cols = np.ogrid[r0:r1, c0:c1]
    near = (rows - r) ** 2 + (cols - c) ** 2
    after = mask[r0:r1, c0:c1].copy()
    inside = near <= window**2
    after[inside] = cut[r0:r1, c0:c1][inside]
    band = wrong & (depth <= settings.cut_band * d) & (near <= band_radius**2)
    for orow, ocol in opposite:  # pixels nearer to a click of the other label are not the new click's
        band &= near < (rows - orow) ** 2 + (cols - ocol) ** 2
    after[band] = value
    out = mask.copy()
    out[r0:r1, c0:c1] = after
    out[r, c] = value
    out[positives[:, 0], positives[:, 1]] = True
    return seeded_parts(out, positives)
