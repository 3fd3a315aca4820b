"""Objects found tile by tile, joined into one labels image of the whole slice.

Neighbouring tiles overlap (:func:`promptseg.store.tiling.plan_tiling`), so
an object near a seam is seen by two tiles: whole by one and cut by the
other, or whole by both.  Two objects of neighbouring tiles that share at
least half of the smaller one's pixels inside the overlap are one object:
their union is kept, with the larger score.  Chains of such pairs join
objects that span several tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..store.metadata import Tiling
from ..store.tiling import image_shape_of, tile_slices

__all__ = ["TileObjects", "join_tiles"]

#: Share of the smaller object's pixels in the overlap that two objects must share to be one.
JOIN_SHARE = 0.5


@dataclass(frozen=True)
class TileObjects:
    """One tile's objects: a labels image in the tile's frame and each label's score."""

    labels: np.ndarray  #: (h, w) uint32, 0 background, 1..n
    scores: np.ndarray  #: (n,) score of label i + 1


class _Groups:
    """Union-find over object ids."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _overlap(tiling: Tiling, i: int, j: int) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where tiles i and j overlap, as slices in each tile's frame."""
    (ri, ci), (rj, cj) = (tile_slices(tiling, k) for k in (i, j))
    r0, r1 = max(ri.start, rj.start), min(ri.stop, rj.stop)
    c0, c1 = max(ci.start, cj.start), min(ci.stop, cj.stop)
    if r0 >= r1 or c0 >= c1:
        return None
    return ((slice(r0 - ri.start, r1 - ri.start), slice(c0 - ci.start, c1 - ci.start)),
            (slice(r0 - rj.start, r1 - rj.start), slice(c0 - cj.start, c1 - cj.start)))


def _join_pairs(groups: _Groups, a: np.ndarray, b: np.ndarray, base_a: int, base_b: int) -> None:
    """Join objects of two label crops of the same pixels that share enough of them."""
    both = (a > 0) & (b > 0)
    if not both.any():
        return
    area_a = np.bincount(a.ravel())
    area_b = np.bincount(b.ravel())
    pairs, counts = np.unique(np.stack([a[both], b[both]]), axis=1, return_counts=True)
    for (la, lb), n in zip(pairs.T, counts):
        if n >= JOIN_SHARE * min(area_a[la], area_b[lb]):
            groups.join(base_a + int(la) - 1, base_b + int(lb) - 1)


def join_tiles(tiling: Tiling, tiles: list[TileObjects]) -> tuple[np.ndarray, np.ndarray]:
    """One labels image from per-tile objects.

    Parameters
    ----------
    tiling : Tiling
        The tiles (origins in the slice, tile shape).
    tiles : list of TileObjects
        Objects of each tile, in ``tiling.origins`` order.

    Returns
    -------
    labels : np.ndarray, shape (H, W), uint32
        Objects numbered 1..n by decreasing score; where two overlap the
        higher score wins.
    scores : np.ndarray, shape (n,), float32
    """
    shape = image_shape_of(tiling)
    counts = [len(t.scores) for t in tiles]
    bases = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    groups = _Groups(int(bases[-1]))
    for i in range(len(tiles)):
        for j in range(i + 1, len(tiles)):
            where = _overlap(tiling, i, j)
            if where is not None:
                _join_pairs(groups, tiles[i].labels[where[0]], tiles[j].labels[where[1]], bases[i], bases[j])
    roots = np.array([groups.find(k) for k in range(int(bases[-1]))], np.int64)
    all_scores = np.concatenate([np.asarray(t.scores, np.float64) for t in tiles]) if tiles else np.zeros(0)
    group_ids, member_group = np.unique(roots, return_inverse=True)
    group_score = np.full(len(group_ids), -np.inf)
    np.maximum.at(group_score, member_group, all_scores)
    order = np.argsort(-group_score, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    canvas = np.zeros(shape, np.int64)
    members = np.argsort(-rank[member_group], kind="stable")  # worst group first
    boxes = [ndi.find_objects(t.labels.astype(np.int64), max_label=len(t.scores)) for t in tiles]
    for k in members:
        t = int(np.searchsorted(bases, k, side="right") - 1)
        label = k - bases[t] + 1
        rs, cs = tile_slices(tiling, t)
        box = boxes[t][label - 1]
        if box is None:
            continue
        local = tiles[t].labels[box] == label
        target = canvas[rs.start + box[0].start: rs.start + box[0].stop, cs.start + box[1].start: cs.start + box[1].stop]
        target[local] = rank[member_group[k]] + 1
    areas = np.bincount(canvas.ravel(), minlength=len(order) + 1)[1:]
    alive = areas > 0
    new_id = np.zeros(len(order) + 1, np.uint32)
    new_id[1:][alive] = np.arange(1, int(alive.sum()) + 1, dtype=np.uint32)
    return new_id[canvas], group_score[order][alive].astype(np.float32)
