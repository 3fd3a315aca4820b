"""Cutting large 2D images into overlapping tiles, and blending per-tile answers.

A slice larger than ``threshold`` pixels on a side is cut into tiles of the
model's native size whose neighbours overlap by at least ``2 * halo``
pixels: every pixel lies at least ``halo`` pixels inside some tile (its
*core*), so an object up to ``halo`` pixels from a click is seen whole by
one tile.  Answers of several tiles are blended with weights that fall
linearly to zero over the overlap (a partition of unity), so a mask has no
seam where tiles meet.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .metadata import Tiling

#: Slices whose longer side exceeds this are tiled by default.
DEFAULT_TILE_THRESHOLD = 2048
#: Default halo as a fraction of the tile side.
DEFAULT_HALO_FRACTION = 0.125


def _axis_origins(size: int, tile: int, halo: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = tile - 2 * halo  # the most two neighbours may be apart
    n = -(-(size - tile) // stride) + 1
    return [int(round(v)) for v in np.linspace(0, size - tile, n)]  # evenly spread: equal overlaps


def plan_tiling(
    plane_shape: Sequence[int],
    *,
    tile: int = 1024,
    halo: int | None = None,
    threshold: int | None = DEFAULT_TILE_THRESHOLD,
) -> Tiling:
    """The tiles of an (H, W) slice; a single tile covering it when it is not larger than ``threshold``.

    Parameters
    ----------
    plane_shape : (int, int)
        (H, W) of the slice.
    tile : int
        Side of a tile (the model's input size: 1024 for SAM).
    halo : int, optional
        Minimum distance of every pixel from the edge of some tile; default
        ``tile // 8``.  Must be below ``tile // 4``.
    threshold : int or None
        Tile only when ``max(H, W) > threshold``; None always tiles slices
        larger than ``tile``.

    Examples
    --------
    >>> t = plan_tiling((3000, 1000), tile=1024, halo=128)
    >>> t.n_tiles, t.tile_shape, t.origins[-1]
    (4, (1024, 1000), (1976, 0))
    """
    h, w = int(plane_shape[0]), int(plane_shape[1])
    halo = int(tile * DEFAULT_HALO_FRACTION) if halo is None else int(halo)
    if not 0 <= halo < tile // 4:
        raise ValueError(f"halo must be between 0 and tile // 4 = {tile // 4} pixels, got {halo}.")
    limit = tile if threshold is None else max(int(threshold), tile)
    if max(h, w) <= limit:
        return Tiling((h, w), 0, ((0, 0),))
    rows, cols = _axis_origins(h, tile, halo), _axis_origins(w, tile, halo)
    return Tiling((min(h, tile), min(w, tile)), halo, tuple((r, c) for r in rows for c in cols))


def tile_slices(tiling: Tiling, index: int) -> tuple[slice, slice]:
    """Where tile ``index`` lies in the slice, as (rows, cols) slices."""
    r, c = tiling.origins[index]
    th, tw = tiling.tile_shape
    return slice(r, r + th), slice(c, c + tw)


def image_shape_of(tiling: Tiling) -> tuple[int, int]:
    """(H, W) of the slice a tiling covers."""
    th, tw = tiling.tile_shape
    return max(r for r, _ in tiling.origins) + th, max(c for _, c in tiling.origins) + tw


def best_tile(tiling: Tiling, bbox: Sequence[float]) -> int:
    """The tile that holds ``bbox`` (r0, c0, r1, c1) farthest from its inner edges (edges on the image border do not count)."""
    H, W = image_shape_of(tiling)
    th, tw = tiling.tile_shape
    r0, c0, r1, c1 = bbox
    best, best_margin = 0, -np.inf
    for i, (r, c) in enumerate(tiling.origins):
        margins = [
            np.inf if r == 0 else r0 - r,
            np.inf if r + th >= H else r + th - 1 - r1,
            np.inf if c == 0 else c0 - c,
            np.inf if c + tw >= W else c + tw - 1 - c1,
        ]
        margin = min(margins)
        if margin > best_margin:
            best, best_margin = i, margin
    return best


def inner_edges(tiling: Tiling, index: int) -> dict[str, bool]:
    """Which sides of tile ``index`` lie inside the image (top, bottom, left, right)."""
    H, W = image_shape_of(tiling)
    th, tw = tiling.tile_shape
    r, c = tiling.origins[index]
    return {"top": r > 0, "bottom": r + th < H, "left": c > 0, "right": c + tw < W}


def feather_weights(tiling: Tiling, index: int) -> np.ndarray:
    """(h, w) float32 blending weights of tile ``index``: 1 inside, falling linearly to ~0 at inner edges over ``2 * halo`` pixels."""
    th, tw = tiling.tile_shape
    ramp = max(2 * tiling.halo, 1)
    edges = inner_edges(tiling, index)

    def axis(n: int, low: bool, high: bool) -> np.ndarray:
        i = np.arange(n, dtype=np.float32)
        w = np.ones(n, np.float32)
        if low:
            w = np.minimum(w, (i + 0.5) / ramp)
        if high:
            w = np.minimum(w, (n - i - 0.5) / ramp)
        return w

    return np.outer(axis(th, edges["top"], edges["bottom"]), axis(tw, edges["left"], edges["right"]))


def touched_neighbours(tiling: Tiling, index: int, mask: np.ndarray, *, margin: int = 2) -> list[int]:
    """Tiles other than ``index`` that a full-slice ``mask`` reaches near one of tile ``index``'s inner edges."""
    rs, cs = tile_slices(tiling, index)
    local = mask[rs, cs]
    edges = inner_edges(tiling, index)
    bands = {
        "top": local[:margin], "bottom": local[-margin:], "left": local[:, :margin], "right": local[:, -margin:],
    }
    if not any(edges[side] and bands[side].any() for side in bands):
        return []
    out = []
    for j in range(tiling.n_tiles):
        if j == index:
            continue
        rj, cj = tile_slices(tiling, j)
        if mask[rj, cj].any():
            out.append(j)
    return out
