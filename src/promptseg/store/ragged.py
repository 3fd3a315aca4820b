"""Packing the variable-size arrays of one tile into one byte array, and unpacking them.

Classic embeddings hold arrays whose size depends on the image (superpixel
and edge counts).  A store keeps them per slice and tile as one uint8 array
(``ragged/Z_T``); its attribute ``arrays`` maps each name to the offset,
shape and dtype of its bytes.
"""

from __future__ import annotations

import numpy as np

from ..errors import StoreError

#: Every array starts at a multiple of this, so that reading it back is a view.
ALIGN = 16


def pack(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, dict]]:
    """(packed uint8 bytes, name -> {"offset", "shape", "dtype"}) of ``arrays``, in name order."""
    entries, parts, offset = {}, [], 0
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        pad = -offset % ALIGN
        if pad:
            parts.append(np.zeros(pad, np.uint8))
            offset += pad
        entries[name] = {"offset": offset, "shape": list(arr.shape), "dtype": arr.dtype.str}
        parts.append(arr.reshape(-1).view(np.uint8))
        offset += arr.nbytes
    packed = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    return packed, entries


def write_packed(group, name: str, arrays: dict[str, np.ndarray]) -> None:
    """Pack ``arrays`` into the uint8 array ``name`` of zarr ``group`` (lz4 blosc; replacing a partial one)."""
    from zarr.codecs import BloscCodec

    packed, entries = pack(arrays)
    n = max(int(packed.size), 1)
    # lz4: a 1024 x 1024 classic slice (9.6 MiB) packs into ~4 MiB and unpacks in a few ms (zstd: 3 MiB, ~5x slower)
    fast = BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle")
    out = group.create_array(name, shape=(n,), chunks=(n,), dtype="uint8", fill_value=0, compressors=fast,
                             overwrite=True, attributes={"arrays": entries})
    if packed.size:
        out[:] = packed


def unpack(packed: np.ndarray, entries: dict[str, dict], where: str) -> dict[str, np.ndarray]:
    """The arrays :func:`pack` packed (views into ``packed``); ``where`` names the tile in errors.

    Raises
    ------
    StoreError
        An entry that does not fit the packed bytes (damaged metadata).
    """
    out = {}
    for name, e in entries.items():
        try:
            dt = np.dtype(e["dtype"])
            count = int(np.prod(e["shape"], dtype=np.int64))
            start = int(e["offset"])
            out[name] = packed[start : start + count * dt.itemsize].view(dt).reshape(e["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{where}: the packed array {name!r} does not fit its bytes ({exc}).") from exc
    return out
