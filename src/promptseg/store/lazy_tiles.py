"""Tile embeddings of one level of a large image, encoded when first needed.

:class:`LazyTiles` cuts one level of a :class:`~promptseg.store.multiscale.MultiscaleImage`
into the usual overlapping tiles (:func:`~promptseg.store.tiling.plan_tiling`)
and encodes a tile only when a prompt needs it: the tile's pixels are read
from the level (only the chunks under it), encoded, and kept in a small
least-recently-used memory cache; optionally they are also written to a
:class:`TileStore` on disk, keyed by (level, tile), so a later session loads
them instead of encoding.  A *window* (:meth:`LazyTiles.window`) is the block
of tiles around a click; its embedding is an ordinary tiled
:class:`~promptseg.backends.base.ImageEmbedding` of the window's pixels, which
:class:`~promptseg.store.tiled_backend.TiledBackend` answers with its seamless blend.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import StoreError
from .codec import check_storable
from .metadata import Tiling, slice_digest
from .multiscale import MultiscaleImage
from .ragged import unpack, write_packed
from .tiled_backend import native_tile_size, tiled_embedding
from .tiling import DEFAULT_HALO_FRACTION, plan_tiling, tile_slices

__all__ = ["LazyTiles", "TileStore", "Window"]

TILE_STORE_FORMAT = "promptseg-tile-store"


@dataclass(frozen=True)
class Window:
    """A block of tiles of one level: where it lies and which global tiles it holds.

    Attributes
    ----------
    level : int
        The resolution level.
    origin : (int, int)
        (row, col) of its top-left pixel in the level's frame.
    shape : (int, int)
        (H, W) in level pixels.
    tiles : tuple of int
        Global tile indices (the level's tiling), row-major.
    tiling : Tiling
        The same tiles in the window's own frame.
    """

    level: int
    origin: tuple[int, int]
    shape: tuple[int, int]
    tiles: tuple[int, ...]
    tiling: Tiling

    def slices(self) -> tuple[slice, slice]:
        """Where the window lies in its level, as (rows, cols) slices."""
        (r, c), (h, w) = self.origin, self.shape
        return slice(r, r + h), slice(c, c + w)

    def contains(self, point: Sequence[float]) -> bool:
        """Whether a (row, col) point of the level lies inside the window."""
        (r, c), (h, w) = self.origin, self.shape
        return r <= point[0] < r + h and c <= point[1] < c + w


class TileStore:
    """Tile embeddings on disk, keyed by (level, tile), checked against each tile's pixels.

    A zarr group: attribute ``promptseg`` records the backend id, the tile
    size and halo and the contrast limits; each tile is one packed array
    ``L{level}/{tile}`` whose attribute ``digest`` is the
    :func:`~promptseg.store.metadata.slice_digest` of the tile's pixels, so a
    tile whose image changed is encoded again instead of used.
    """

    def __init__(self, path: str | os.PathLike, backend: Backend, *, tile: int, halo: int,
                 contrast_limits: tuple[float, float] | None) -> None:
        import zarr

        self.path = Path(path).expanduser()
        self.codec = check_storable(backend)
        meta = {"format": TILE_STORE_FORMAT, "backend_id": backend.backend_id, "tile": int(tile), "halo": int(halo),
                "contrast_limits": None if contrast_limits is None else [float(v) for v in contrast_limits]}
        try:
            self._group = zarr.open_group(str(self.path), mode="a")
        except Exception as exc:  # noqa: BLE001 - zarr raises many types for damaged folders
            raise StoreError(f"cannot open the tile store {self.path} ({type(exc).__name__}: {exc}); "
                             "delete it to start a new one.") from exc
        found = dict(self._group.attrs).get("promptseg")
        if found is None:
            self._group.attrs["promptseg"] = meta
        elif found != meta:
            raise StoreError(f"the tile store {self.path} was written for {found}, not {meta}; "
                             "give another --tile-store path or delete it.")

    def get(self, level: int, tile: int, digest: str, shape: tuple[int, int]) -> ImageEmbedding | None:
        """The stored embedding of a tile whose pixels have ``digest``, or None."""
        name = f"L{level}/{tile}"
        try:
            node = self._group[name]
        except KeyError:
            return None
        if node.attrs.get("digest") != digest:
            return None
        arrays = unpack(np.asarray(node[:]), dict(node.attrs["arrays"]), f"{self.path}/{name}")
        return self.codec.embedding_from_arrays(arrays, shape)

    def prepare_level(self, level: int) -> None:
        """Create the group of ``level`` (before parallel writers put tiles into it)."""
        self._group.require_group(f"L{level}")

    def put(self, level: int, tile: int, digest: str, embedding: ImageEmbedding) -> None:
        """Write one tile's embedding."""
        group = self._group.require_group(f"L{level}")
        write_packed(group, str(tile), self.codec.embedding_to_arrays(embedding))
        group[str(tile)].attrs["digest"] = digest


class LazyTiles:
    """Tiles of one level of ``image``, encoded by ``backend`` on first use and cached.

    Parameters
    ----------
    backend : Backend
        Encodes one tile (not a tiled wrapper).
    image : MultiscaleImage
    level : int
        The working resolution level (0: full resolution).
    tile, halo : int, optional
        Tile side (default the model's input size) and overlap margin.
    max_tiles : int
        Tile embeddings kept in memory (least recently used ones are dropped).
    contrast_limits : (low, high), optional
        Scaling to 8 bits, the same for every tile; default robust limits of a coarse level.
    store : str or path, optional
        A :class:`TileStore` folder: tiles are loaded from it when their pixels
        match and written to it after encoding.
    """

    def __init__(self, backend: Backend, image: MultiscaleImage, *, level: int = 0, tile: int | None = None,
                 halo: int | None = None, max_tiles: int = 12, contrast_limits: Sequence[float] | None = None,
                 store: str | os.PathLike | None = None) -> None:
        self.backend = backend
        self.image = image
        self.level = image.check_level(level)
        side = native_tile_size(backend) if tile is None else int(tile)
        halo = int(side * DEFAULT_HALO_FRACTION) if halo is None else int(halo)
        self.tiling = plan_tiling(image.level_shape(self.level), tile=side, halo=halo, threshold=None)
        self._rows = sorted({r for r, _ in self.tiling.origins})
        self._cols = sorted({c for _, c in self.tiling.origins})
        self.contrast_limits = (tuple(float(v) for v in contrast_limits) if contrast_limits is not None
                                else image.contrast_limits())
        self.max_tiles = max(int(max_tiles), 1)
        self._lru: OrderedDict[int, ImageEmbedding] = OrderedDict()
        # the store records the halo asked for: a level no larger than one tile is one tile without a halo,
        # and tiles of every level share the store
        self.store = None if store is None else TileStore(store, backend, tile=side, halo=halo,
                                                          contrast_limits=self.contrast_limits)
        self.encoded: list[int] = []  # tiles encoded, in order
        self.loaded: list[int] = []  # tiles read from the store
        self.encode_seconds = 0.0

    def tile(self, index: int) -> ImageEmbedding:
        """The embedding of global tile ``index`` (memory, then the store, then encoded)."""
        index = int(index)
        if index in self._lru:
            self._lru.move_to_end(index)
            return self._lru[index]
        rs, cs = tile_slices(self.tiling, index)
        pixels = self.image.read(self.level, rs, cs)
        digest = slice_digest(pixels) if self.store is not None else ""
        emb = None if self.store is None else self.store.get(self.level, index, digest, pixels.shape[:2])
        if emb is not None:
            self.loaded.append(index)
        else:
            start = time.perf_counter()
            emb = self.backend.encode(pixels, contrast_limits=self.contrast_limits)
            self.encode_seconds += time.perf_counter() - start
            self.encoded.append(index)
            if self.store is not None:
                self.store.put(self.level, index, digest, emb)
        self._lru[index] = emb
        while len(self._lru) > self.max_tiles:
            self._lru.popitem(last=False)
        return emb

    def drop_prepared(self, keep: Sequence[int]) -> None:
        """Free the backend's per-tile work (e.g. SAM's decoder preparation, ~20 MB a tile) of the cached tiles
        not in ``keep``; their embeddings stay cached and the work is redone if a prompt comes back to them."""
        keep = {int(i) for i in keep}
        for index, emb in self._lru.items():
            if index not in keep:
                emb.cache.clear()

    def is_ready(self, index: int) -> bool:
        """Whether tile ``index`` is in memory (answering on it encodes nothing)."""
        return int(index) in self._lru

    def window(self, point: Sequence[float], radius: int = 1) -> Window:
        """The block of up to ``(2 radius + 1)^2`` tiles centred on the tile that holds ``point`` best.

        Parameters
        ----------
        point : (row, col)
            In the level's pixel frame.
        """
        th, tw = self.tiling.tile_shape
        ri = _nearest(self._rows, float(point[0]) - (th - 1) / 2)
        ci = _nearest(self._cols, float(point[1]) - (tw - 1) / 2)
        rows = self._rows[max(ri - radius, 0): ri + radius + 1]
        cols = self._cols[max(ci - radius, 0): ci + radius + 1]
        origin = (rows[0], cols[0])
        shape = (rows[-1] + th - rows[0], cols[-1] + tw - cols[0])
        index = {o: i for i, o in enumerate(self.tiling.origins)}
        tiles = tuple(index[(r, c)] for r in rows for c in cols)
        local = Tiling((th, tw), self.tiling.halo, tuple((r - origin[0], c - origin[1]) for r in rows for c in cols))
        return Window(self.level, origin, shape, tiles, local)

    def embedding(self, window: Window) -> ImageEmbedding:
        """A tiled embedding of ``window`` whose tiles come from :meth:`tile` when a prompt first needs them."""
        if window.tiling.n_tiles == 1 and window.shape == self.image.level_shape(self.level):
            return self.tile(window.tiles[0])
        return tiled_embedding(self.backend.backend_id, window.tiling, window.shape,
                               lambda i: self.tile(window.tiles[i]))


def _nearest(origins: list[int], target: float) -> int:
    return int(np.argmin([abs(o - target) for o in origins]))
