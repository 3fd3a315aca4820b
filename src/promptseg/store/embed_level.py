"""Encoding the tiles of one level of a large image ahead of time, locally or on a Dask cluster.

Each tile is an independent task: a worker opens the image by its path
(reading only that tile's chunks), encodes the tile and writes it to the
:class:`~promptseg.store.lazy_tiles.TileStore`, keyed by (level, tile) and
checked against the tile's pixels, where an annotation session with the same
store later loads it instead of encoding.  Tiles already stored are skipped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Sequence

from ..backends.base import Backend
from .embed import BackendSpec
from .lazy_tiles import LazyTiles
from .multiscale import open_multiscale

__all__ = ["LevelProgress", "embed_level"]


@dataclass(frozen=True)
class LevelProgress:
    """Yielded by :func:`embed_level` after each tile."""

    done: int
    total: int
    tile: int
    seconds: float


def _tiles(image_path: str, backend: Backend, level: int, store: str, tile: int | None, halo: int | None,
           limits: Sequence[float] | None, slice_key: Sequence[int] | None) -> LazyTiles:
    image = open_multiscale(image_path, slice_key=slice_key)
    return LazyTiles(backend, image, level=level, tile=tile, halo=halo, max_tiles=1, contrast_limits=limits,
                     store=store)


def _tile_task(image_path: str, backend: Backend | BackendSpec, level: int, store: str, tile: int | None,
               halo: int | None, limits: Sequence[float] | None, slice_key: Sequence[int] | None, index: int) -> int:
    """On a worker: read, encode and store one tile (nothing when it is stored already)."""
    be = backend.load() if isinstance(backend, BackendSpec) else backend
    _tiles(image_path, be, level, store, tile, halo, limits, slice_key).tile(index)
    return index


def embed_level(image_path: str | os.PathLike, backend: Backend | BackendSpec, store: str | os.PathLike, *,
                level: int = 0, tile: int | None = None, halo: int | None = None,
                tiles: Sequence[int] | None = None, contrast_limits: Sequence[float] | None = None,
                slice_key: Sequence[int] | None = None, client: Any = None) -> Generator[LevelProgress, None, int]:
    """Encode the tiles of ``level`` into a tile store, yielding after each; returns how many were encoded.

    Parameters
    ----------
    image_path : path
        An OME-Zarr image or zarr array (workers open it by path).
    backend : Backend or BackendSpec
        A spec lets Dask workers build the model themselves.
    store : path
        The :class:`~promptseg.store.lazy_tiles.TileStore` folder.
    tiles : sequence of int, optional
        Global tile indices to encode (default all tiles of the level).
    contrast_limits : (low, high), optional
        Default: robust limits of a coarse level, the same for every tile
        (computed once here, so that every worker scales alike).
    client : distributed.Client, optional
        Run the tiles as Dask tasks on this client; default one after another here.
    """
    path, store = str(Path(image_path).expanduser()), str(Path(store).expanduser())
    local = backend.load() if isinstance(backend, BackendSpec) else backend
    plan = _tiles(path, local, level, store, tile, halo, contrast_limits, slice_key)  # creates the store
    plan.store.prepare_level(level)
    limits = plan.contrast_limits
    todo = [int(i) for i in (range(plan.tiling.n_tiles) if tiles is None else tiles)]
    start = time.perf_counter()
    if client is None:
        for done, index in enumerate(todo, start=1):
            plan.tile(index)
            yield LevelProgress(done, len(todo), index, time.perf_counter() - start)
        return len(plan.encoded)
    from distributed import as_completed

    remote = backend if isinstance(backend, BackendSpec) else client.scatter(backend, broadcast=True, hash=False)
    futures = [client.submit(_tile_task, path, remote, level, store, tile, halo, limits, slice_key, index,
                             pure=False) for index in todo]
    for done, future in enumerate(as_completed(futures), start=1):
        yield LevelProgress(done, len(todo), int(future.result()), time.perf_counter() - start)
    return len(todo)
