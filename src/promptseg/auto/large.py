"""Segment all objects of an image larger than memory, tile by tile, into sparse labels.

The level is cut into the usual overlapping tiles; each tile is read (only
its chunks), segmented whole by :func:`~promptseg.auto.segment_all.segment_all`,
and the objects whose centre lies in the tile's own part of the level (a
partition: the half-way lines between neighbouring tile centres) are written
into :class:`~promptseg.store.sparse_labels.SparseLabels` at full resolution
with new ids, on background pixels only.  An object cut by a tile's edge has
its centre in the neighbour's part and is taken from the neighbour, where it
lies whole (it must be smaller than the halo).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Sequence

import numpy as np
from scipy import ndimage

from ..backends.base import Backend
from ..store.multiscale import MultiscaleImage
from ..store.sparse_labels import SparseLabels
from ..store.tiled_backend import native_tile_size
from ..store.tiling import plan_tiling, tile_slices
from .segment_all import segment_all

__all__ = ["LargeSegmentAllProgress", "segment_all_large"]


@dataclass(frozen=True)
class LargeSegmentAllProgress:
    """After each tile: ``done`` of ``total`` tiles, objects written so far."""

    done: int
    total: int
    objects: int


def _owned(origins: list[int], size: int, tile: int) -> dict[int, tuple[float, float]]:
    """Per tile origin along one axis, the half-open range of positions it owns (half-way between centres)."""
    centres = [o + (min(tile, size) - 1) / 2 for o in origins]
    bounds = [-np.inf] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [np.inf]
    return {o: (bounds[i], bounds[i + 1]) for i, o in enumerate(origins)}


def segment_all_large(backend: Backend, image: MultiscaleImage, labels: SparseLabels, *, level: int = 0,
                      tile: int | None = None, halo: int | None = None,
                      region: Sequence[float] | None = None, contrast_limits: Sequence[float] | None = None,
                      **options: Any) -> Generator[LargeSegmentAllProgress, None, int]:
    """Segment the tiles of ``level`` (those meeting ``region``) into ``labels``; returns the objects written.

    Parameters
    ----------
    region : (row0, col0, row1, col1), optional
        Full-resolution box; only tiles overlapping it are segmented (default all).
    contrast_limits : (low, high), optional
        Default robust limits of a coarse level, the same for every tile.
    **options
        Passed to :func:`~promptseg.auto.segment_all.segment_all`.
    """
    level = image.check_level(level)
    shape = image.level_shape(level)
    side = native_tile_size(backend) if tile is None else int(tile)
    tiling = plan_tiling(shape, tile=side, halo=halo, threshold=None)
    limits = contrast_limits if contrast_limits is not None else image.contrast_limits()
    th, tw = tiling.tile_shape
    own_r = _owned(sorted({r for r, _ in tiling.origins}), shape[0], th)
    own_c = _owned(sorted({c for _, c in tiling.origins}), shape[1], tw)
    todo = list(range(tiling.n_tiles))
    if region is not None:
        (r0, c0), (r1, c1) = image.to_level(np.reshape(region, (2, 2)), level)
        todo = [i for i, (r, c) in enumerate(tiling.origins) if r < r1 and r + th > r0 and c < c1 and c + tw > c0]
    factor = image.factor(level)
    next_id = labels.max_label() + 1
    written = 0
    for done, index in enumerate(todo, start=1):
        rs, cs = tile_slices(tiling, index)
        pixels = image.read(level, rs, cs)
        if pixels.min() == pixels.max():  # nothing to find (and nothing the passes could scale)
            yield LargeSegmentAllProgress(done, len(todo), written)
            continue
        gen = segment_all(backend, pixels, contrast_limits=limits, tile_threshold=max(th, tw), **options)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                found = stop.value.labels
                break
        n = int(found.max()) if found.size else 0
        if n:
            centres = np.asarray(ndimage.center_of_mass(found > 0, found, np.arange(1, n + 1))).reshape(-1, 2)
            (lo_r, hi_r), (lo_c, hi_c) = own_r[rs.start], own_c[cs.start]
            gr, gc = centres[:, 0] + rs.start, centres[:, 1] + cs.start
            keep = (gr >= lo_r) & (gr < hi_r) & (gc >= lo_c) & (gc < hi_c)
            new_ids = np.zeros(n + 1, np.int64)
            new_ids[1:][keep] = np.arange(next_id, next_id + int(keep.sum()))
            if keep.any():
                labels.paint_ids(new_ids[found].astype(labels.array.dtype), (rs.start, cs.start), factor)
                next_id += int(keep.sum())
                written += int(keep.sum())
        yield LargeSegmentAllProgress(done, len(todo), written)
    return written
