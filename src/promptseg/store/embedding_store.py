"""Embeddings of one image or stack on disk: a zarr (v3) directory, one chunk per slice and tile.

Layout::

    image.tif.embeddings.zarr/
      zarr.json            group; attribute "promptseg" = StoreMetadata (JSON)
      embedding/           (Z, T, 256, 64, 64) float16, chunks (1, 1, 256, 64, 64)   [SAM]
      ragged/Z_T           uint8, one per slice and tile: arrays whose size varies per image (classic
                           superpixel graphs), packed; attribute "arrays" = name -> offset, shape, dtype
      done/                (Z,) uint8, one chunk per slice: 1 once every tile of the slice is written

A slice counts only once its ``done`` marker is written, after all of its
arrays, so a run killed half-way leaves a store that :func:`embed_stack`
resumes.  Reading one slice reads only its chunks (memory stays bounded
whatever the stack length).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import StoreError, StoreMismatchError
from .codec import StorableBackend, array_dtypes, cast_arrays, check_storable, is_ragged
from .metadata import PREPROCESSING_VERSION, STORE_FORMAT_VERSION, ImageInfo, StoreMetadata, Tiling, differences
from .tiled import tiled_embedding
from .tiling import tile_slices

ATTRIBUTE = "promptseg"
RAGGED = "ragged"
_ALIGN = 16
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
        self._arrays = {name: group[name] for name, shape in metadata.arrays.items() if not is_ragged(shape)}
        self._ragged = group[RAGGED] if any(is_ragged(s) for s in metadata.arrays.values()) else None
        self._done = group["done"]
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
                raise StoreError(f"{p} already exists; open it, or pass overwrite=True to replace it.")
            _remove_store(p)
        group = zarr.open_group(str(p), mode="w")
        z, t = metadata.image.n_slices, metadata.tiling.n_tiles
        for name, shape in metadata.arrays.items():
            if is_ragged(shape):
                continue
            group.create_array(name, shape=(z, t, *shape), chunks=(1, 1, *shape), dtype=metadata.array_dtypes.get(name, metadata.dtype),
                               fill_value=0, compressors=None)
        if any(is_ragged(s) for s in metadata.arrays.values()):
            group.create_group(RAGGED)
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
            No store at ``path``, or unreadable metadata.
        StoreMismatchError
            The store was written for other data, another model or other settings.
        """
        import zarr

        p = Path(path).expanduser()
        try:
            group = zarr.open_group(str(p), mode="r+" if writable else "r")
            metadata = StoreMetadata.from_json(dict(group.attrs[ATTRIBUTE]))
        except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError) as exc:
            raise StoreError(f"no embedding store at {p}; compute one with `promptseg embed IMAGE --store DIR`.") from exc
        problems = [] if expected is None else differences(metadata, expected, check_image=check_image)
        if expected is None and (metadata.format_version, metadata.preprocessing_version) != (
                STORE_FORMAT_VERSION, PREPROCESSING_VERSION):
            problems.append(f"store format v{metadata.format_version} with preprocessing v{metadata.preprocessing_version} "
                            f"(this version: v{STORE_FORMAT_VERSION}, preprocessing v{PREPROCESSING_VERSION})")
        if backend is not None and expected is None and metadata.backend_id != backend.backend_id:
            problems.append(f"backend {metadata.backend_id!r} instead of {backend.backend_id!r}")
        if problems:
            raise StoreMismatchError(
                f"the embedding store {p} was written for {'; '.join(problems)}. It is not used: re-compute it "
                "(`promptseg embed ... --overwrite`, or overwrite=True), or choose another store folder."
            )
        return cls(p, group, metadata, backend, writable=writable)

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, expected: StoreMetadata, *, backend: Backend | None = None,
                       overwrite: bool = False) -> "EmbeddingStore":
        """Open the store at ``path`` to resume it, or create it; a mismatching store is replaced only with ``overwrite``."""
        p = Path(path).expanduser()
        if not p.exists():
            return cls.create(p, expected, backend=backend)
        try:
            return cls.open(p, backend=backend, expected=expected, writable=True)
        except StoreMismatchError:
            if not overwrite:
                raise
        except StoreError:
            if not overwrite:
                raise StoreError(f"{p} exists but is not an embedding store; remove it or pass overwrite=True.")
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
        if not self.writable:
            raise StoreError(f"{self.path} was opened read-only.")
        z = self._check_z(z)
        if len(tiles) != self.metadata.tiling.n_tiles:
            raise StoreError(f"slice {z}: got {len(tiles)} tiles, the store's tiling has {self.metadata.tiling.n_tiles}.")
        dtype = np.dtype(self.metadata.dtype)
        for t, arrays in enumerate(tiles):
            ragged = {}
            for name, arr in cast_arrays(arrays, self.metadata.arrays, dtype, self.metadata.array_dtypes).items():
                if name in self._arrays:
                    self._arrays[name][z, t] = arr
                else:
                    ragged[name] = arr
            if ragged:
                self._write_ragged(z, t, ragged)
        self._done[z] = 1

    def _write_ragged(self, z: int, tile: int, arrays: dict[str, np.ndarray]) -> None:
        """Pack the variable-size arrays of one tile into one compressed byte array (replacing a partial one)."""
        from zarr.codecs import BloscCodec

        entries, parts, offset = {}, [], 0
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            pad = -offset % _ALIGN  # every array starts aligned, so reading it back is a view
            if pad:
                parts.append(np.zeros(pad, np.uint8))
                offset += pad
            entries[name] = {"offset": offset, "shape": list(arr.shape), "dtype": arr.dtype.str}
            parts.append(arr.reshape(-1).view(np.uint8))
            offset += arr.nbytes
        packed = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        n = max(int(packed.size), 1)
        # lz4: a 1024 x 1024 classic slice (9.6 MiB) packs into ~4 MiB and unpacks in a few ms (zstd: 3 MiB, ~5x slower)
        fast = BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle")
        out = self._ragged.create_array(f"{z}_{tile}", shape=(n,), chunks=(n,), dtype="uint8", fill_value=0,
                                        compressors=fast, overwrite=True,
                                        attributes={"arrays": entries})
        if packed.size:
            out[:] = packed

    def _read_ragged(self, z: int, tile: int) -> dict[str, np.ndarray]:
        try:
            node = self._ragged[f"{z}_{tile}"]
            entries = dict(node.attrs["arrays"])
        except KeyError as exc:
            raise StoreError(f"slice {z} of {self.path} is marked done but its arrays are missing; "
                             "re-compute the store (`promptseg embed ... --overwrite`).") from exc
        packed = np.asarray(node[:])
        out = {}
        for name, e in entries.items():
            dt = np.dtype(e["dtype"])
            count = int(np.prod(e["shape"], dtype=np.int64))
            start = int(e["offset"])
            out[name] = packed[start : start + count * dt.itemsize].view(dt).reshape(e["shape"])
        return out

    def read_arrays(self, z: int, tile: int = 0) -> dict[str, np.ndarray]:
        """The stored arrays of one tile of slice ``z`` (in the store's dtype)."""
        z = self._check_z(z)
        if not self.has(z):
            raise StoreError(f"slice {z} is not in the store {self.path} yet; run `promptseg embed` to complete it.")
        out = {name: np.asarray(arr[z, tile]) for name, arr in self._arrays.items()}
        if self._ragged is not None:
            out.update(self._read_ragged(z, tile))
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


def _remove_store(path: Path) -> None:
    """Delete a previous store; refuse to delete anything that does not look like one."""
    if path.is_dir() and (path / "zarr.json").exists():
        shutil.rmtree(path)
    elif path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    else:
        raise StoreError(f"{path} exists and is not an embedding store; it is not deleted. Choose another path.")
