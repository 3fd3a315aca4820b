"""Generated pyramids and a chunk-counting zarr store for the large-image tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

#: Discs (row, col, radius) at full resolution of the 4096 x 4096 test image.
DISCS = ((500.0, 600.0, 40.0), (3000.0, 3500.0, 60.0), (2048.0, 100.0, 30.0), (3900.0, 300.0, 50.0))
SIZE = 4096


def render(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """uint16 pixels at full-resolution (row, col) centres: 50 background, 3000 inside the discs."""
    img = np.full((rows.size, cols.size), 50, np.uint16)
    for r, c, rad in DISCS:
        img[(rows[:, None] - r) ** 2 + (cols[None, :] - c) ** 2 < rad ** 2] = 3000
    return img


def pyramid(n_levels: int = 3) -> list[np.ndarray]:
    """Each level rendered at its pixel centres (level l has factor 2**l)."""
    out = []
    for level in range(n_levels):
        f = 2 ** level
        centres = (np.arange(SIZE // f) + 0.5) * f - 0.5
        out.append(render(centres, centres))
    return out


def write_ome_zarr(path: Path, *, zarr_format: int = 3, chunks: int = 256) -> Path:
    """An OME-Zarr of :func:`pyramid` (OME 0.5 in zarr v3, 0.4 in zarr v2)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    datasets = []
    for level, data in enumerate(pyramid()):
        group.create_array(str(level), shape=data.shape, chunks=(chunks, chunks), dtype=data.dtype)[:] = data
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [2 ** level] * 2}]})
    ms = [{"version": "0.4", "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
           "datasets": datasets}]
    if zarr_format == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": ms}
    else:
        group.attrs["multiscales"] = ms
    return path


class CountingStore(zarr.storage.WrapperStore):
    """A zarr store that records every key read."""

    def __init__(self, store) -> None:
        super().__init__(store)
        self.keys_read: list[str] = []

    async def get(self, key, prototype, byte_range=None):
        self.keys_read.append(key)
        return await super().get(key, prototype, byte_range)

    def chunks_read(self, array: str) -> set[tuple[int, int]]:
        """(row, col) chunk indices of ``array`` that were read."""
        prefix = f"{array}/c/"
        return {tuple(int(v) for v in k[len(prefix):].split("/")) for k in self.keys_read if k.startswith(prefix)}
