"""Embeddings of one image or stack on disk: a zarr (v3) directory, one chunk per slice and tile.

Layout::

    image.tif.embeddings.zarr/
      zarr.json            group; attribute "promptseg" = StoreMetadata (JSON)
      embedding/           (Z, T, 256, 64, 64) float16, chunks (1, 1, 256, 64, 64)   [SAM]
      ragged/Z_T           uint8, one per slice and tile: arrays whose size varies per image (classic
                           superpixel graphs), packed; attribute "arrays" = name -> offset, shape, dtype
      checksums/           (Z, T) uint64: xxh3-64 of each tile's files, checked before they are decoded
      done/                (Z,) uint8, one chunk per slice: 1 once every tile of the slice is written

A slice counts only once its ``done`` marker is written, after all of its
arrays, so a run killed half-way leaves a store that :func:`embed_stack`
resumes.  Reading one slice reads only its chunks (memory stays bounded
whatever the stack length).  A damaged slice (truncated, deleted or altered
files) raises :class:`~promptseg.errors.StoreError` naming it, and is never
handed to a decompressor (see :mod:`.integrity`); :func:`embed_stack`
recomputes damaged slices when it resumes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import StoreError, StoreMismatchError
from .codec import StorableBackend, array_dtypes, cast_arrays, check_storable, is_ragged
from .integrity import CHECKSUMS, ChunkFile, blosc_problem, chunk_file, files_digest
from .metadata import PREPROCESSING_VERSION, STORE_FORMAT_VERSION, ImageInfo, StoreMetadata, Tiling, differences
from .paths import damaged_store, holds_no_slice, is_leftover, remove_store, replace_error
from .ragged import unpack, write_packed
from .tiled_backend import tiled_embedding
from .tiling import tile_slices

ATTRIBUTE = "promptseg"
RAGGED = "ragged"
DTYPES = ("float16", "float32")


def expected_metadata(backend: Backend, image: ImageInfo, tiling: Tiling, *, dtype: str = "float16") -> StoreMetadata:
    """The metadata a store for ``image`` embedded by ``backend`` with ``tiling`` must have."""
    storable = check_storable(backend)
    if dtype not in DTYPES:
        raise StoreError(f"store dtype must be one of {DTYPES}, got {dtype!r}.")
    return StoreMetadata(
        backend_name=str(backend.name),
        backend_id=backend.backend_id,
        checkpoint_hash=getattr(backend, "checkpoint_hash", None),
        codec=storable.embedding_codec,
        arrays={k: tuple(None if s is None else int(s) for s in v)
                for k, v in storable.embedding_layout(tiling.tile_shape).items()},
        array_dtypes=array_dtypes(storable),
        image=image,
        tiling=tiling,
        dtype=dtype,
    )


class EmbeddingStore:
    """Precomputed embeddings of one image or stack, read and written one slice at a time.

    Use :meth:`create`, :meth:`open` or :meth:`open_or_create`; ``backend``
    rebuilds embeddings from the stored arrays.

    Examples
    --------
    >>> store = EmbeddingStore.open_or_create(path, backend, describe_image(source), tiling)  # doctest: +SKIP
    >>> if not store.has(3): store.write(3, [backend.encode(source.read(3))])                 # doctest: +SKIP
    >>> emb = store.load(3)                                                                  # doctest: +SKIP
    """

    def __init__(self, path: Path, group, metadata: StoreMetadata, backend: Backend | None, writable: bool) -> None:
        self.path = path
        self.metadata = metadata
        self.backend = backend
        self.writable = writable
        self._group = group
        try:
            self._arrays = {name: group[name] for name, shape in metadata.arrays.items() if not is_ragged(shape)}
            self._ragged = group[RAGGED] if any(is_ragged(s) for s in metadata.arrays.values()) else None
            self._done = group["done"]
            self._checksums = group[CHECKSUMS] if CHECKSUMS in group else None  # absent in older stores
        except Exception as exc:  # noqa: BLE001 - zarr raises many types for damaged array metadata
            raise damaged_store(path, f"an array's metadata cannot be read ({type(exc).__name__}: {exc})") from exc
        self._index = {d: z for z, d in enumerate(metadata.image.slice_digests)}

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(cls, path: str | os.PathLike, metadata: StoreMetadata, *, backend: Backend | None = None,
               overwrite: bool = False) -> "EmbeddingStore":
        """Write an empty store for ``metadata`` (replacing an existing one only with ``overwrite=True``)."""
        import zarr

        p = Path(path).expanduser()
        if p.exists():
            if not overwrite:
                raise replace_error(StoreError, f"{p} already exists; open it, or {{replace}} to replace it.")
            remove_store(p)
        group = zarr.open_group(str(p), mode="w")
        z, t = metadata.image.n_slices, metadata.tiling.n_tiles
        for name, shape in metadata.arrays.items():
            if is_ragged(shape):
                continue
            group.create_array(name, shape=(z, t, *shape), chunks=(1, 1, *shape), dtype=metadata.array_dtypes.get(name, metadata.dtype),
                               fill_value=0, compressors=None)
        if any(is_ragged(s) for s in metadata.arrays.values()):
            group.create_group(RAGGED)
        group.create_array(CHECKSUMS, shape=(z, t), chunks=(1, 1), dtype="uint64", fill_value=0, compressors=None)
        group.create_array("done", shape=(z,), chunks=(1,), dtype="uint8", fill_value=0, compressors=None)
        group.attrs[ATTRIBUTE] = metadata.to_json()
        return cls(p, group, metadata, backend, writable=True)

    @classmethod
    def open(cls, path: str | os.PathLike, *, backend: Backend | None = None, expected: StoreMetadata | None = None,
             check_image: bool = True, writable: bool = False) -> "EmbeddingStore":
        """Open an existing store, refusing it when it was written for anything other than ``expected``.

        Parameters
        ----------
        backend : Backend, optional
            Needed by :meth:`load`; checked against the store's backend id.
        expected : StoreMetadata, optional
            Full check (image signature, contrast limits, tiling, dtype, ...).
        check_image : bool
            With ``expected``: also compare the image signature (False when
            each slice is matched by its digest instead, as
            :class:`~promptseg.store.stored_backend.StoredBackend` does).

        Raises
        ------
        StoreError
            No store at ``path``, or damaged metadata.
        StoreMismatchError
            The store was written for other data, another model or other settings.
        """
        import zarr

        p = Path(path).expanduser()
        try:
            group = zarr.open_group(str(p), mode="r+" if writable else "r")
            metadata = StoreMetadata.from_json(dict(group.attrs[ATTRIBUTE]))
        except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError) as exc:
            if (p / "zarr.json").is_file() and not isinstance(exc, KeyError):
                raise damaged_store(p, f"zarr.json cannot be read ({type(exc).__name__})") from exc
            raise StoreError(f"no embedding store at {p}; compute one with `promptseg embed IMAGE --store DIR`.") from exc
        except StoreError as exc:
            raise damaged_store(p, str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a damaged zarr.json raises JSON, type and value errors
            raise damaged_store(p, f"zarr.json cannot be read ({type(exc).__name__}: {exc})") from exc
        problems = [] if expected is None else differences(metadata, expected, check_image=check_image)
        if expected is None and (metadata.format_version, metadata.preprocessing_version) != (
                STORE_FORMAT_VERSION, PREPROCESSING_VERSION):
            problems.append(f"store format v{metadata.format_version} with preprocessing v{metadata.preprocessing_version} "
                            f"(this version: v{STORE_FORMAT_VERSION}, preprocessing v{PREPROCESSING_VERSION})")
        if backend is not None and expected is None and metadata.backend_id != backend.backend_id:
            problems.append(f"backend {metadata.backend_id!r} instead of {backend.backend_id!r}")
        if problems:
            raise replace_error(
                StoreMismatchError,
                f"the embedding store {p} was written for {'; '.join(problems)}. It is not used: to re-compute it, "
                "{replace}; or choose another store folder.",
            )
        return cls(p, group, metadata, backend, writable=writable)

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, expected: StoreMetadata, *, backend: Backend | None = None,
                       overwrite: bool = False) -> "EmbeddingStore":
        """Open the store at ``path`` to resume it, or create it.

        A store written for anything else is replaced only with ``overwrite``,
        unless it holds no complete slice; the leftover of a store whose
        folder was removed during a run is replaced too (nothing is lost).
        """
        p = Path(path).expanduser()
        if not p.exists():
            return cls.create(p, expected, backend=backend)
        if is_leftover(p):  # the folder of an earlier run was removed while it was written: nothing to keep
            return cls.create(p, expected, backend=backend, overwrite=True)
        try:
            return cls.open(p, backend=backend, expected=expected, writable=True)
        except StoreMismatchError:
            if not overwrite and not holds_no_slice(p):
                raise
        except StoreError as exc:
            if not overwrite:
                what = "is damaged" if (p / "zarr.json").is_file() else "is not an embedding store"
                raise replace_error(StoreError, f"{p} exists but {what} ({exc}); remove it, or {{replace}} "
                                                 "to replace it.") from exc
        return cls.create(p, expected, backend=backend, overwrite=True)

    # ---------------------------------------------------------------- slices
    @property
    def n_slices(self) -> int:
        return self.metadata.image.n_slices

    def done(self) -> np.ndarray:
        """(Z,) bool: which slices are complete."""
        return np.asarray(self._done[:]).astype(bool)

    def has(self, z: int) -> bool:
        """Whether slice ``z`` is complete."""
        return bool(self._done[self._check_z(z)])

    def missing(self) -> list[int]:
        """Slices still to compute, in order."""
        return [int(z) for z in np.flatnonzero(~self.done())]

    def index_of(self, digest: str) -> int | None:
        """The slice whose content has :func:`~promptseg.store.metadata.slice_digest` ``digest``, or None."""
        return self._index.get(digest)

    def write(self, z: int, tiles: Sequence[ImageEmbedding]) -> None:
        """Store slice ``z`` from its embeddings (one per tile, in tiling order), then mark it done."""
        backend = check_storable(self._require_backend())
        arrays = [backend.embedding_to_arrays(t) for t in tiles]
        self.write_arrays(z, arrays)

    def write_arrays(self, z: int, tiles: Sequence[dict[str, np.ndarray]]) -> None:
        """Store slice ``z`` from per-tile arrays (as :meth:`StorableBackend.embedding_to_arrays` returns), then mark it done."""
        if len(tiles) != self.metadata.tiling.n_tiles:
            raise StoreError(f"slice {z}: got {len(tiles)} tiles, the store's tiling has {self.metadata.tiling.n_tiles}.")
        for t, arrays in enumerate(tiles):
            self.write_tile(z, t, arrays)
        self.mark_done(z)

    def write_tile(self, z: int, tile: int, arrays: dict[str, np.ndarray]) -> None:
        """Store one tile of slice ``z`` and its checksum (the slice counts only after :meth:`mark_done`).

        Raises
        ------
        StoreError
            The store is read-only, or its folder is gone or cannot be written.
        """
        if not self.writable:
            raise StoreError(f"{self.path} was opened read-only.")
        z = self._check_z(z)
        self._check_present(z)
        dtype = np.dtype(self.metadata.dtype)
        try:
            ragged = {}
            for name, arr in cast_arrays(arrays, self.metadata.arrays, dtype, self.metadata.array_dtypes).items():
                if name in self._arrays:
                    self._arrays[name][z, tile] = arr
                else:
                    ragged[name] = arr
            if ragged:
                write_packed(self._ragged, f"{z}_{tile}", ragged)
            if self._checksums is not None:
                self._checksums[z, tile] = files_digest([f.path for f in self._tile_files(z, tile)], self.path)
        except OSError as exc:
            raise StoreError(f"cannot write slice {z} to {self.path} ({type(exc).__name__}: {exc}); check the "
                             "folder and the free space, then run the command again to resume.") from exc

    def mark_done(self, z: int) -> None:
        """Mark slice ``z`` complete once all of its tiles are written."""
        z = self._check_z(z)
        self._check_present(z)
        self._done[z] = 1
        self._check_present(z)  # zarr recreates a deleted folder for the chunk it writes: see that it did not

    def _check_present(self, z: int) -> None:
        if not (self.path / "zarr.json").is_file():
            raise StoreError(f"the store folder {self.path} disappeared (or lost its zarr.json) while slice {z} was "
                             "being written; nothing more is written to it. Run the command again to recompute it.")

    def _ragged_node(self, z: int, tile: int):
        try:
            node = self._ragged[f"{z}_{tile}"]
            return node, dict(node.attrs["arrays"])
        except KeyError as exc:
            raise self._damaged_slice(z, tile, f"its packed arrays ({RAGGED}/{z}_{tile}) are missing") from exc
        except Exception as exc:  # noqa: BLE001 - damaged JSON metadata raises many types
            raise self._damaged_slice(z, tile, f"{RAGGED}/{z}_{tile}/zarr.json cannot be read "
                                               f"({type(exc).__name__})") from exc

    def _tile_files(self, z: int, tile: int) -> list[ChunkFile]:
        """Every file holding tile ``tile`` of slice ``z`` (chunks of the fixed arrays, the packed array and its metadata)."""
        files = [chunk_file(self.path, arr, name, (z, tile) + (0,) * (arr.ndim - 2)) for name, arr in self._arrays.items()]
        if self._ragged is not None:
            name = f"{RAGGED}/{z}_{tile}"
            files.append(ChunkFile(self.path / name / "zarr.json", f"{name}/zarr.json"))
            if (self.path / name / "zarr.json").is_file():
                node, _ = self._ragged_node(z, tile)
                files.append(chunk_file(self.path, node, name, (0,)))
        return files

    def check_tile(self, z: int, tile: int = 0) -> None:
        """Check the files of one tile of a complete slice without decoding them.

        Raises
        ------
        StoreError
            A file is truncated, missing or altered (the message names the
            slice and says what to do).
        """
        files = self._tile_files(z, tile)
        for f in files:
            problem = blosc_problem(f)
            if problem:
                raise self._damaged_slice(z, tile, problem)
        if self._checksums is None:
            return  # a store written before checksums: the length checks are all there is
        try:
            recorded = int(self._checksums[z, tile])
        except Exception as exc:  # noqa: BLE001 - a damaged checksum chunk
            raise self._damaged_slice(z, tile, f"its checksum cannot be read ({type(exc).__name__})") from exc
        if recorded == 0:
            raise self._damaged_slice(z, tile, "its checksum is missing")
        if files_digest([f.path for f in files], self.path) != recorded:
            raise self._damaged_slice(z, tile, "its files were changed or lost after they were written")

    def damaged(self) -> dict[int, str]:
        """Complete slices whose files fail :meth:`check_tile`: slice -> what is wrong."""
        out = {}
        for z in np.flatnonzero(self.done()):
            for t in range(self.metadata.tiling.n_tiles):
                try:
                    self.check_tile(int(z), t)
                except StoreError as exc:
                    out[int(z)] = str(exc)
                    break
        return out

    def forget(self, z: int) -> None:
        """Mark slice ``z`` as not computed (a damaged slice, before it is written again)."""
        if not self.writable:
            raise StoreError(f"{self.path} was opened read-only.")
        self._done[self._check_z(z)] = 0

    def _damaged_slice(self, z: int, tile: int, problem: str) -> StoreError:
        where = f"slice {z}" + (f" (tile {tile})" if self.metadata.tiling.n_tiles > 1 else "")
        return StoreError(
            f"{where} of the embedding store {self.path} is damaged: {problem}. The annotator encodes this slice "
            "live instead; to repair the store, run the same `promptseg embed` command again (it checks every "
            "stored slice and recomputes damaged ones)."
        )

    def read_arrays(self, z: int, tile: int = 0) -> dict[str, np.ndarray]:
        """The stored arrays of one tile of slice ``z`` (in the store's dtype), after :meth:`check_tile`."""
        z = self._check_z(z)
        if not self.has(z):
            raise StoreError(f"slice {z} is not in the store {self.path} yet; run `promptseg embed` to complete it.")
        self.check_tile(z, tile)
        try:
            out = {name: np.asarray(arr[z, tile]) for name, arr in self._arrays.items()}
            if self._ragged is not None:
                node, entries = self._ragged_node(z, tile)
                out.update(unpack(np.asarray(node[:]), entries, f"slice {z} tile {tile} of {self.path}"))
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoding errors come in many types
            raise self._damaged_slice(z, tile, f"it cannot be decoded ({type(exc).__name__}: {exc})") from exc
        return out

    def load(self, z: int) -> ImageEmbedding:
        """Slice ``z`` as a ready-to-predict embedding (tiles of a tiled slice are read on first use).

        Raises
        ------
        StoreError
            The slice is not computed yet, or no backend was given.
        """
        backend: StorableBackend = check_storable(self._require_backend())
        tiling = self.metadata.tiling
        plane = self.metadata.image.plane_shape
        if tiling.n_tiles == 1:
            return backend.embedding_from_arrays(self.read_arrays(z), plane)
        z = self._check_z(z)
        if not self.has(z):
            self.read_arrays(z)  # raises the helpful error

        def load_tile(index: int) -> ImageEmbedding:
            rs, cs = tile_slices(tiling, index)
            return backend.embedding_from_arrays(self.read_arrays(z, index), (rs.stop - rs.start, cs.stop - cs.start))

        return tiled_embedding(self.metadata.backend_id, tiling, plane, load_tile)

    def _check_z(self, z: int) -> int:
        z = int(z)
        if not 0 <= z < self.n_slices:
            raise StoreError(f"slice {z} is outside the store's {self.n_slices} slices.")
        return z

    def _require_backend(self) -> Backend:
        if self.backend is None:
            raise StoreError("open the store with backend=... to read or write embeddings.")
        if self.backend.backend_id != self.metadata.backend_id:
            raise StoreMismatchError(
                f"the store {self.path} holds embeddings of {self.metadata.backend_id!r}, not of "
                f"{self.backend.backend_id!r}; open it with that backend or re-compute it."
            )
        return self.backend

    def __repr__(self) -> str:
        done = int(self.done().sum())
        return f"EmbeddingStore({str(self.path)!r}, {self.metadata.backend_name}, {done}/{self.n_slices} slices)"
