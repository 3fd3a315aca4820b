"""A backend wrapper that encodes large 2D images tile by tile and answers prompts seamlessly.

``TiledBackend(inner)`` behaves like ``inner`` for images up to the tiling
threshold.  Larger images are encoded as overlapping tiles
(:func:`~promptseg.store.tiling.plan_tiling`); a prompt set is answered by
the tile that holds it farthest from its inner edges, and when the mask
reaches into the overlap with a neighbour, that neighbour is asked too (with
the mask so far as its mask prompt) and the answers are blended with
feathered weights, so masks are continuous across tile borders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding, Prediction, PromptBackend, native_prompts
from ..backends.classic.upsample import LazyLogitsPrediction
from ..imaging import check_contrast_limits, check_image, robust_limits
from ..prompts import Prompts
from .blend import OUTSIDE_LOGIT, TileBlend
from .metadata import Tiling
from .tiling import DEFAULT_TILE_THRESHOLD, best_tile, plan_tiling, tile_slices, touched_neighbours

__all__ = ["OUTSIDE_LOGIT", "TiledBackend", "TiledFeatures", "TiledState", "encode_tiles", "iter_tiles",
           "predict_tiled", "slice_contrast_limits", "tile_of", "tiled_embedding", "untiled_previous"]


@dataclass(frozen=True, eq=False)
class TiledFeatures:
    """Payload of a tiled :class:`ImageEmbedding`: the tiling and a loader of each tile's embedding.

    Tiles are loaded on first use (from memory or an embedding store) and
    kept in the embedding's ``cache``.
    """

    tiling: Tiling
    load_tile: Callable[[int], ImageEmbedding] = field(repr=False)


@dataclass(frozen=True, eq=False)
class TiledState:
    """``Prediction.state`` of a tiled answer: each asked tile's own prediction."""

    first: int
    tiles: dict[int, Prediction]


def tiled_embedding(backend_id: str, tiling: Tiling, image_shape: tuple[int, int],
                    load_tile: Callable[[int], ImageEmbedding], encode_seconds: float = 0.0) -> ImageEmbedding:
    """Wrap per-tile embeddings of one (H, W) slice as one :class:`ImageEmbedding`."""
    return ImageEmbedding(backend_id, tuple(image_shape), TiledFeatures(tiling, load_tile), encode_seconds)


def tile_of(embedding: ImageEmbedding, index: int) -> ImageEmbedding:
    """Tile ``index`` of a tiled embedding (loaded once, then cached)."""
    tiles = embedding.cache.setdefault("tiles", {})
    if index not in tiles:
        tiles[index] = embedding.features.load_tile(index)
    return tiles[index]


def slice_contrast_limits(image: np.ndarray, contrast_limits: Sequence[float] | None) -> tuple[float, float] | None:
    """Limits that scale every tile of ``image`` alike: the given ones, or robust percentiles of the whole slice (None for uint8).

    The percentiles of 8/16-bit data come from a histogram (no copy of the slice).
    """
    if contrast_limits is not None:
        return check_contrast_limits(contrast_limits)
    arr = check_image(image)
    if arr.dtype == np.uint8:
        return None
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    low, high = robust_limits(arr)
    if high <= low:
        low, high = float(arr.min()), float(arr.max())
    return (low, high) if high > low else None


def tile_encoder(backend: Backend, image: np.ndarray, tiling: Tiling,
                 contrast_limits: Sequence[float] | None = None) -> Callable[[int], ImageEmbedding]:
    """A function encoding tile ``i`` of an (H, W[, C]) slice, every tile scaled with the same limits.

    The limits of the whole slice are computed when the first tile is encoded.
    """
    limits: list = []

    def encode(index: int) -> ImageEmbedding:
        if not limits:
            limits.append(slice_contrast_limits(image, contrast_limits))
        rs, cs = tile_slices(tiling, index)
        return backend.encode(np.ascontiguousarray(image[rs, cs]), contrast_limits=limits[0])

    return encode


def iter_tiles(backend: Backend, image: np.ndarray, tiling: Tiling,
               contrast_limits: Sequence[float] | None = None) -> Iterator[ImageEmbedding]:
    """Encode the tiles of an (H, W[, C]) slice one at a time, in tiling order; one tile is the slice as is.

    A generator: only the tile being encoded is held, so a caller that stores
    each tile before asking for the next keeps memory at one tile.
    """
    if tiling.n_tiles == 1:
        yield backend.encode(image, contrast_limits=contrast_limits)
        return
    encode = tile_encoder(backend, image, tiling, contrast_limits)
    for i in range(tiling.n_tiles):
        yield encode(i)


def encode_tiles(backend: Backend, image: np.ndarray, tiling: Tiling,
                 contrast_limits: Sequence[float] | None = None) -> list[ImageEmbedding]:
    """Encode every tile of an (H, W[, C]) slice (all held in memory: see :func:`iter_tiles`)."""
    return list(iter_tiles(backend, image, tiling, contrast_limits))


def native_tile_size(backend: Backend) -> int:
    """The input side of the backend's model (1024 for SAM), or 1024."""
    return int(getattr(getattr(backend, "model", None), "img_size", 1024))


class TiledBackend(PromptBackend):
    """``inner`` for ordinary images, tiled encoding and blended prediction for large ones.

    Parameters
    ----------
    inner : Backend
        The backend that encodes each tile and answers each tile's prompts.
    tile : int, optional
        Tile side; default the model's input size (1024 for SAM).
    halo : int, optional
        Overlap margin (default ``tile // 8``).
    threshold : int or None
        Slices whose longer side exceeds this are tiled (default 2048).
    lazy : bool
        Encode a tile when a prompt first needs it instead of all tiles in
        :meth:`encode` (the embedding then holds the image).  One-shot
        segmentation of a huge image encodes a few tiles instead of hundreds.
    """

    def __init__(self, inner: Backend, *, tile: int | None = None, halo: int | None = None,
                 threshold: int | None = DEFAULT_TILE_THRESHOLD, lazy: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.tile = native_tile_size(inner) if tile is None else int(tile)
        self.halo = halo
        self.threshold = threshold
        self.lazy = bool(lazy)

    @property
    def backend_id(self) -> str:
        return self.inner.backend_id

    @property
    def checkpoint_hash(self) -> str | None:
        return getattr(self.inner, "checkpoint_hash", None)

    @property
    def native_prompts(self) -> frozenset[str]:  # type: ignore[override]
        """The path kinds the inner backend reads natively (on untiled slices)."""
        return native_prompts(self.inner)

    def prepare_feedback(self, embedding: ImageEmbedding, previous: Prediction) -> None:
        """The inner backend's ``prepare_feedback`` for an untiled embedding; tiled ones have none."""
        prepare = getattr(self.inner, "prepare_feedback", None)
        features = getattr(embedding, "features", None)
        tiled = isinstance(features, TiledFeatures) or isinstance(previous.state, TiledState)
        if prepare is not None and not tiled:
            prepare(embedding, previous)

    def tiling_for(self, plane_shape: Sequence[int]) -> Tiling:
        """How a slice of (H, W) ``plane_shape`` is tiled by this backend."""
        return plan_tiling(plane_shape, tile=self.tile, halo=self.halo, threshold=self.threshold)

    def encode(self, image: np.ndarray, *, contrast_limits: Sequence[float] | None = None) -> ImageEmbedding:
        """Encode an (H, W[, C]) image, tile by tile when it is larger than the threshold."""
        image = check_image(image)
        tiling = self.tiling_for(image.shape[:2])
        if self.lazy and tiling.n_tiles > 1:
            encode = tile_encoder(self.inner, image, tiling, contrast_limits)
            return tiled_embedding(self.backend_id, tiling, image.shape[:2], encode)
        tiles = encode_tiles(self.inner, image, tiling, contrast_limits)
        if tiling.n_tiles == 1:
            return tiles[0]
        seconds = sum(t.encode_seconds for t in tiles)
        return tiled_embedding(self.backend_id, tiling, image.shape[:2], tiles.__getitem__, seconds)

    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """Answer checked prompts; see the module docstring for tiled images.

        An untiled slice goes to the inner backend as it is (polygons and
        scribbles natively where it reads them).  On a tiled one positive
        polygons and scribbles join the mask prompt, since each tile is asked
        with points, a box and a mask.

        Raises
        ------
        PromptError
            Negative polygons or scribbles on a tiled slice.
        """
        if not isinstance(embedding.features, TiledFeatures):
            return self.inner.predict(embedding, prompts, previous=untiled_previous(previous))
        return predict_tiled(self.inner, embedding, prompts.rasterised(where="the tiles of a tiled image"), previous)


def untiled_previous(previous: Prediction | None) -> Prediction | None:
    """``previous`` unless it is a tiled answer, which an untiled slice cannot take."""
    return None if previous is not None and isinstance(previous.state, TiledState) else previous


def _bbox(prompts: Prompts, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    rows, cols = [], []
    if len(prompts.points):
        rows += list(prompts.points[:, 0]); cols += list(prompts.points[:, 1])  # noqa: E702
    if prompts.box is not None:
        r0, c0, r1, c1 = prompts.box
        rows += [r0, r1]; cols += [c0, c1]  # noqa: E702
    if prompts.mask is not None and prompts.mask.any():
        rr, cc = np.nonzero(prompts.mask)
        rows += [rr.min(), rr.max()]; cols += [cc.min(), cc.max()]  # noqa: E702
    if not rows:
        return 0.0, 0.0, shape[0] - 1.0, shape[1] - 1.0
    return min(rows), min(cols), max(rows), max(cols)


def _local_prompts(prompts: Prompts, tiling: Tiling, index: int, so_far: np.ndarray | None) -> Prompts:
    """Prompts of tile ``index`` in its own frame; ``so_far`` is the mask so far on that tile, (th, tw) bool."""
    rs, cs = tile_slices(tiling, index)
    r0, c0 = rs.start, cs.start
    th, tw = tiling.tile_shape
    out: dict[str, Any] = {}
    if len(prompts.points):
        p = prompts.points - np.array([r0, c0], dtype=float)
        keep = (p[:, 0] >= 0) & (p[:, 0] <= th - 1) & (p[:, 1] >= 0) & (p[:, 1] <= tw - 1)
        if keep.any() and (prompts.labels[keep] == 1).any():
            out["points"], out["labels"] = p[keep], prompts.labels[keep]
    if prompts.box is not None:
        b0, b1, b2, b3 = prompts.box
        box = (max(b0 - r0, 0.0), max(b1 - c0, 0.0), min(b2 - r0, th - 1.0), min(b3 - c0, tw - 1.0))
        if box[0] < box[2] and box[1] < box[3]:
            out["box"] = box
    masks = [m for m in (None if prompts.mask is None else prompts.mask[rs, cs], so_far) if m is not None]
    if masks:
        out["mask"] = np.logical_or.reduce(masks)
    return Prompts(**out)


def predict_tiled(inner: Backend, emb: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
    """Answer ``prompts`` on a tiled embedding: the best tile, then every neighbour the mask reaches, blended.

    The blend is kept over the tiles asked (:class:`~promptseg.store.blend.TileBlend`);
    the (H, W) mask is filled from it and the (H, W) float32 logits are built
    only when read.
    """
    tiling: Tiling = emb.features.tiling
    shape = emb.image_shape
    old = previous.state.tiles if previous is not None and isinstance(previous.state, TiledState) else {}
    first = best_tile(tiling, _bbox(prompts, shape))
    blend = TileBlend(tiling)
    asked: dict[int, Prediction] = {}
    queue = [first]
    while queue:
        i = queue.pop(0)
        if i in asked:
            continue
        local = _local_prompts(prompts, tiling, i, None if i == first else blend[tile_slices(tiling, i)])
        if i != first and local.mask is None:
            continue
        pred = inner.predict(tile_of(emb, i), local, previous=old.get(i))
        asked[i] = pred
        blend.add(i, pred.logits)
        queue += [j for j in touched_neighbours(tiling, i, blend) if j not in asked]
    window, logits = blend.window, blend.logits()
    mask = np.zeros(shape, bool)
    mask[window] = logits > 0

    def full_logits() -> np.ndarray:
        out = np.full(shape, OUTSIDE_LOGIT, np.float32)
        out[window] = logits
        return out

    return LazyLogitsPrediction(mask=mask, logits=full_logits, score=float(asked[first].score),
                                state=TiledState(first, asked))
