"""Blending per-tile logits over the tiles asked so far, never over the whole slice.

A tiled answer asks one tile, then the neighbours its mask reaches.  The
feathered sum of their logits is kept in a *window*: the bounding box of the
tiles asked so far, grown when a new tile lies outside it.  Memory follows
the object, not the slice: a click on a 20000 x 20000 image touches a few
1024 x 1024 tiles.
"""

from __future__ import annotations

import numpy as np

from .metadata import Tiling
from .tiling import feather_weights, tile_slices

#: Logit given to pixels no asked tile covers.
OUTSIDE_LOGIT = -20.0


class TileBlend:
    """Feather-weighted mean of per-tile logits over the window of the tiles added so far.

    Parameters
    ----------
    tiling : Tiling
        The slice's tiling.

    Attributes
    ----------
    origin : (int, int)
        (row, col) of the window's top-left corner in the slice.
    total, weight : np.ndarray, shape (h, w), float32
        Weighted logit sum and weight sum over the window.

    Indexing with a pair of slices in the slice's (row, col) frame,
    ``blend[rows, cols]``, gives the merged mask (blended logits > 0) there;
    pixels outside the window are background.  That is all
    :func:`~promptseg.store.tiling.touched_neighbours` needs of a mask.
    """

    def __init__(self, tiling: Tiling) -> None:
        self.tiling = tiling
        self.origin = (0, 0)
        self.total = np.zeros((0, 0), np.float32)
        self.weight = np.zeros((0, 0), np.float32)

    @property
    def window(self) -> tuple[slice, slice]:
        """Where the window lies in the slice, as (rows, cols) slices."""
        r, c = self.origin
        return slice(r, r + self.total.shape[0]), slice(c, c + self.total.shape[1])

    def add(self, index: int, logits: np.ndarray) -> None:
        """Add tile ``index``'s (th, tw) logits with its feathering weights."""
        rs, cs = tile_slices(self.tiling, index)
        self._cover(rs, cs)
        w = feather_weights(self.tiling, index)
        local = self._local(rs, cs)
        self.total[local] += w * np.asarray(logits, np.float32)
        self.weight[local] += w

    def logits(self) -> np.ndarray:
        """Blended (h, w) float32 logits of the window; :data:`OUTSIDE_LOGIT` where no tile has weight."""
        out = np.full(self.total.shape, OUTSIDE_LOGIT, np.float32)
        covered = self.weight > 0
        out[covered] = self.total[covered] / self.weight[covered]
        return out

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rs, cs = key
        out = np.zeros((rs.stop - rs.start, cs.stop - cs.start), bool)
        wr, wc = self.window
        r0, r1 = max(rs.start, wr.start), min(rs.stop, wr.stop)
        c0, c1 = max(cs.start, wc.start), min(cs.stop, wc.stop)
        if r0 < r1 and c0 < c1:
            part = (slice(r0 - wr.start, r1 - wr.start), slice(c0 - wc.start, c1 - wc.start))
            total, weight = self.total[part], self.weight[part]
            out[r0 - rs.start : r1 - rs.start, c0 - cs.start : c1 - cs.start] = (weight > 0) & (total > 0)
        return out

    def _local(self, rs: slice, cs: slice) -> tuple[slice, slice]:
        r, c = self.origin
        return slice(rs.start - r, rs.stop - r), slice(cs.start - c, cs.stop - c)

    def _cover(self, rs: slice, cs: slice) -> None:
        """Grow the window (copying what it holds) until it contains ``rs, cs``."""
        wr, wc = self.window
        if self.total.size and wr.start <= rs.start and rs.stop <= wr.stop and wc.start <= cs.start and cs.stop <= wc.stop:
            return
        if self.total.size:
            r0, r1 = min(wr.start, rs.start), max(wr.stop, rs.stop)
            c0, c1 = min(wc.start, cs.start), max(wc.stop, cs.stop)
        else:
            r0, r1, c0, c1 = rs.start, rs.stop, cs.start, cs.stop
        total = np.zeros((r1 - r0, c1 - c0), np.float32)
        weight = np.zeros_like(total)
        old = (slice(wr.start - r0, wr.stop - r0), slice(wc.start - c0, wc.stop - c0))
        total[old], weight[old] = self.total, self.weight
        self.origin, self.total, self.weight = (r0, c0), total, weight
