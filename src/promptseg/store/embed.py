"""Batch precompute: encode every slice of a stack into an embedding store, locally or on a Dask cluster.

:func:`embed_stack` is a generator: it yields an :class:`EmbedProgress`
after each stored slice (and, for tiled slices, after each tile) and
returns the :class:`EmbeddingStore`.  The CLI draws a progress bar from it,
tests run it to the end, a GUI can wrap it in a thread worker.  Slices
already in the store are skipped, so a killed run resumes where it stopped;
stored slices whose files are damaged are computed again.  In this process
a tiled slice is encoded and written one tile at a time (memory: one tile).

With ``workers > 1`` a local Dask cluster (one process per worker) is
started; with ``scheduler`` an existing cluster is used.  Workers read their
slice from the source themselves (by path: files must be reachable from the
workers), encode it and send back the arrays in the store's dtype; only this
process writes the store.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence

import numpy as np

from ..backends.base import Backend
from ..imaging import check_contrast_limits
from .codec import array_dtypes, cast_arrays, check_storable
from .embedding_store import EmbeddingStore, expected_metadata
from .metadata import Tiling, describe_image
from .sources import ArraySource, SliceSource, plane_shape
from .tiled_backend import TiledBackend, encode_tiles, iter_tiles
from .tiling import DEFAULT_TILE_THRESHOLD


@dataclass(frozen=True)
class EmbedProgress:
    """Yielded by :func:`embed_stack` after each slice is stored, and after each tile of a tiled slice.

    Attributes
    ----------
    done, total : int
        Slices computed so far in this run / to compute in this run.
    z : int
        The slice just stored, or being stored.
    skipped : int
        Slices that were already in the store when the run started.
    seconds : float
        Wall time since the run started (after the image was hashed).
    tiles_done, n_tiles : int
        Tiles of slice ``z`` stored so far / in all; the slice is complete
        when they are equal.
    repaired : int
        Stored slices found damaged at the start and computed again.
    """

    done: int
    total: int
    z: int
    skipped: int
    seconds: float
    tiles_done: int = 1
    n_tiles: int = 1
    repaired: int = 0

    @property
    def slice_complete(self) -> bool:
        """Whether slice ``z`` is fully stored (False for the progress of a tile)."""
        return self.tiles_done >= self.n_tiles

    @property
    def slices_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class BackendSpec:
    """How a worker process builds the backend itself (instead of receiving the model's weights).

    Attributes
    ----------
    key : str
        Identifies the backend; each process builds it once per key.
    factory : callable
        Picklable zero-argument function returning the backend, e.g.
        ``functools.partial(load_backend, "mobile_sam_vit_t", progress=False)``.
    """

    key: str
    factory: Callable[[], Backend]

    def load(self) -> Backend:
        backend = _PROCESS_BACKENDS.get(self.key)
        if backend is None:
            backend = _PROCESS_BACKENDS[self.key] = self.factory()
        return backend


_PROCESS_BACKENDS: dict[str, Backend] = {}


def _encode_task(source: SliceSource, z: int, backend: Backend | BackendSpec, tiling: Tiling,
                 limits: tuple[float, float] | None, dtype: str, threads: int | None) -> tuple[int, list[dict]]:
    """On a worker: read, encode and serialise slice ``z``."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    be = backend.load() if isinstance(backend, BackendSpec) else backend
    storable = check_storable(be)
    layout = storable.embedding_layout(tiling.tile_shape)
    tiles = encode_tiles(be, source.read(z), tiling, limits)
    own = array_dtypes(storable)
    return z, [cast_arrays(storable.embedding_to_arrays(t), layout, np.dtype(dtype), own) for t in tiles]


def embed_stack(
    source: SliceSource | np.ndarray,
    backend: Backend | BackendSpec,
    store_path: str | os.PathLike,
    *,
    contrast_limits: Sequence[float] | None = None,
    dtype: str = "float16",
    tile: int | None = None,
    halo: int | None = None,
    tile_threshold: int | None = DEFAULT_TILE_THRESHOLD,
    overwrite: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
) -> Generator[EmbedProgress, None, EmbeddingStore]:
    """Compute the embeddings of every slice of ``source`` not yet in the store at ``store_path``.

    Parameters
    ----------
    source : SliceSource or np.ndarray
        The image or stack, (..., H, W[, C]); arrays are wrapped in an
        :class:`~promptseg.store.sources.ArraySource`.
    backend : Backend or BackendSpec
        A storable backend (see :class:`~promptseg.store.codec.StorableBackend`);
        a :class:`BackendSpec` lets worker processes build it themselves.
    store_path : path
        The zarr directory (created, or opened to resume).
    contrast_limits : (low, high), optional
        Scaling of non-uint8 data (default: robust percentiles per slice).
    dtype : {"float16", "float32"}
        Precision of the stored embeddings.
    tile, halo, tile_threshold : int, optional
        Tiling of large slices (see :func:`~promptseg.store.tiling.plan_tiling`).
    overwrite : bool
        Replace a store written for other data, model or settings (default:
        raise :class:`~promptseg.errors.StoreMismatchError`).
    workers : int
        1 encodes in this process; N > 1 starts a local Dask cluster of N processes.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    client : distributed.Client, optional
        An existing client (takes precedence over ``workers`` and ``scheduler``).

    Yields
    ------
    EmbedProgress
        After each stored slice, and after each tile of a tiled slice
        computed in this process.

    Returns
    -------
    EmbeddingStore
        The complete store, open with the backend.

    Raises
    ------
    ImageError
        Invalid ``contrast_limits`` (before any store is created).
    StoreError
        The store cannot be created or written (for example its folder
        disappears during the run).
    """
    src = source if isinstance(source, SliceSource) else ArraySource(source)
    be = backend.load() if isinstance(backend, BackendSpec) else backend
    limits = check_contrast_limits(contrast_limits)
    tiling = TiledBackend(be, tile=tile, halo=halo, threshold=tile_threshold).tiling_for(plane_shape(src))
    info = describe_image(src, contrast_limits=limits)
    store = EmbeddingStore.open_or_create(store_path, expected_metadata(be, info, tiling, dtype=dtype),
                                          backend=be, overwrite=overwrite)
    damaged = store.damaged()
    for z in damaged:
        store.forget(z)
    todo = store.missing()
    skipped = store.n_slices - len(todo)
    if not todo:
        return store
    if client is None and scheduler is None and workers <= 1:
        storable, n = check_storable(be), tiling.n_tiles
        start = time.perf_counter()
        for done, z in enumerate(todo, start=1):
            for t, emb in enumerate(iter_tiles(be, src.read(z), tiling, info.contrast_limits)):
                store.write_tile(z, t, storable.embedding_to_arrays(emb))
                if t + 1 < n:
                    yield EmbedProgress(done - 1, len(todo), z, skipped, time.perf_counter() - start, t + 1, n,
                                        len(damaged))
            store.mark_done(z)
            yield EmbedProgress(done, len(todo), z, skipped, time.perf_counter() - start, n, n, len(damaged))
        return store
    yield from _embed_distributed(src, backend, store, todo, skipped, tiling, info.contrast_limits, dtype,
                                  workers=workers, scheduler=scheduler, client=client, repaired=len(damaged))
    return store


def start_client(*, workers: int = 1, scheduler: str | None = None, processes: bool = True):
    """A Dask client: connected to ``scheduler``, or to a new local cluster of ``workers`` single-threaded workers."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        return Client(scheduler)
    # the scheduler always serves HTTP; port 0 (any free port) instead of 8787 avoids "port 8787 is already
    # in use" warnings when another cluster runs on the machine, and 127.0.0.1 keeps it off the network
    cluster = LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1, processes=processes,
                           dashboard_address="127.0.0.1:0")
    return Client(cluster)


def close_client(client) -> None:
    """Close a client from :func:`start_client`, and its local cluster when it made one."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _embed_distributed(src, backend, store, todo, skipped, tiling, limits, dtype, *, workers, scheduler, client,
                       repaired=0):
    from distributed import as_completed

    own = client is None
    if own:
        client = start_client(workers=workers, scheduler=scheduler)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        local = scheduler is None and own
        threads = max(1, (os.cpu_count() or 1) // n_workers) if local else None
        remote_backend = backend if isinstance(backend, BackendSpec) else client.scatter(backend, broadcast=True, hash=False)
        remote_source = client.scatter(src, broadcast=True, hash=False)
        pending = list(todo)
        window = 2 * n_workers

        def submit(z: int):
            return client.submit(_encode_task, remote_source, z, remote_backend, tiling, limits, dtype, threads,
                                 key=f"promptseg-embed-{store.path.name}-{z}-{time.monotonic_ns()}", pure=False)

        futures = as_completed([submit(pending.pop(0)) for _ in range(min(window, len(pending)))])
        start = time.perf_counter()
        done = 0
        for future in futures:
            z, arrays = future.result()
            store.write_arrays(z, arrays)
            done += 1
            if pending:
                futures.add(submit(pending.pop(0)))
            n = tiling.n_tiles
            yield EmbedProgress(done, len(todo), z, skipped, time.perf_counter() - start, n, n, repaired)
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()

