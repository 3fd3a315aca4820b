"""Checking a store's chunk files before anything decodes them.

A truncated blosc chunk can crash the whole process: numcodecs (0.16) hands
the bytes to c-blosc, which trusts the compressed size written in the
chunk's own header and reads past the end of a shorter buffer (a
segmentation fault in some runs, ``blosc decompression: -1`` in others;
numcodecs issue #228).  A deleted chunk is worse: zarr returns the fill
value, and zeros pass for an embedding.  So every tile's files are checked
before they are read:

* every compressed chunk must be exactly as long as its blosc header says,
  and declare the size the array needs (any store);
* the xxh3-64 digest of all of the tile's files (chunk bytes, the ragged
  array's metadata; ``absent`` for chunks zarr did not write because they
  held only the fill value), recorded when the tile was written, must match
  (stores written since this check exists: they have a ``checksums`` array).

Only the bytes are read, nothing is decompressed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import xxhash

#: Array of per-tile digests, (Z, T) uint64; 0 means "not recorded".
CHECKSUMS = "checksums"
_BLOSC_HEADER = 16


@dataclass(frozen=True)
class ChunkFile:
    """One file that holds part of a tile.

    Attributes
    ----------
    path : Path
        The file.
    label : str
        How messages name it (relative to the store).
    blosc_nbytes : int or None
        For a blosc-compressed chunk: the decompressed size it must declare.
    """

    path: Path
    label: str
    blosc_nbytes: int | None = None


def chunk_file(root: Path, array, name: str, coords: tuple[int, ...]) -> ChunkFile:
    """The chunk file of zarr ``array`` (at ``root / name``) holding chunk ``coords``."""
    key = array.metadata.encode_chunk_key(tuple(int(c) for c in coords))
    blosc = any(type(c).__name__ == "BloscCodec" for c in array.metadata.codecs)
    nbytes = int(np.prod(array.chunks, dtype=np.int64)) * np.dtype(array.dtype).itemsize if blosc else None
    return ChunkFile(root / name / key, f"{name}/{key}", nbytes)


def blosc_problem(chunk: ChunkFile) -> str | None:
    """What is wrong with a blosc chunk's file, in words (missing, shorter or longer than its header says); None if nothing."""
    if chunk.blosc_nbytes is None:
        return None
    if not chunk.path.is_file():  # zarr leaves out only all-zero chunks; a packed tile never is one
        return f"{chunk.label} is missing" if chunk.blosc_nbytes > 1 else None
    size = chunk.path.stat().st_size
    with open(chunk.path, "rb") as fh:
        head = fh.read(_BLOSC_HEADER)
    if len(head) < _BLOSC_HEADER:
        return f"{chunk.label} is truncated ({size} bytes, shorter than its header)"
    nbytes, _, cbytes = struct.unpack("<III", head[4:16])
    if cbytes != size:
        return f"{chunk.label} is truncated or damaged ({size} bytes; its header says {cbytes})"
    if nbytes != chunk.blosc_nbytes:
        return f"{chunk.label} declares {nbytes} bytes of data instead of {chunk.blosc_nbytes}"
    return None


def files_digest(files: Iterable[Path], root: Path) -> int:
    """xxh3-64 of the files' relative names and bytes (``absent`` for a missing file), never 0."""
    h = xxhash.xxh3_64()
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"<absent>")
        h.update(b"\0")
    return h.intdigest() or 1
