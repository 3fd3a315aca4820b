"""Full-resolution labels of a large image, written sparsely into a zarr array.

A 40,000 x 40,000 label image holds 6.4 GB of int32 when it exists in
memory; :class:`SparseLabels` keeps it as a zarr array (on disk or in
memory) whose chunks are created only where an object was written: reading a
chunk that was never written returns zeros without any file.  Masks answered
at a coarser level are painted at full resolution chunk by chunk
(nearest-neighbour), so no full-resolution mask is ever built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import PromptsegError

__all__ = ["ChunkChange", "LabelPaint", "SparseLabels"]


@dataclass(frozen=True, eq=False)
class ChunkChange:
    """The pixels one paint changed in one chunk, kept small: 1 bit per pixel of the window plus the old values.

    Attributes
    ----------
    rows, cols : slice
        The full-resolution window (inside one chunk).
    bits : np.ndarray
        ``np.packbits`` of the (h, w) bool mask of changed pixels (C order).
    count : int
        Changed pixels.
    old : np.ndarray or scalar
        Their old ids in C order, or one id when they all had it (0 for
        background: the usual case, which then costs nothing per pixel).
    """

    rows: slice
    cols: slice
    bits: np.ndarray
    count: int
    old: Any

    @classmethod
    def record(cls, rows: slice, cols: slice, changed: np.ndarray, old: np.ndarray) -> "ChunkChange":
        """The change of the (h, w) bool ``changed`` pixels whose ids were ``old`` (``block[changed]``)."""
        same = old.size and bool((old == old.flat[0]).all())
        return cls(rows, cols, np.packbits(changed, axis=None), int(changed.sum()), old.flat[0] if same else old)

    def mask(self) -> np.ndarray:
        """The (h, w) bool mask of the changed pixels."""
        h, w = self.rows.stop - self.rows.start, self.cols.stop - self.cols.start
        return np.unpackbits(self.bits, count=h * w).view(bool).reshape(h, w)


@dataclass(frozen=True, eq=False)
class LabelPaint:
    """Pixels one paint (or erase) changed, chunk by chunk, with their old ids (for undo)."""

    parts: tuple[ChunkChange, ...]
    label: int

    @property
    def area(self) -> int:
        return int(sum(part.count for part in self.parts))


class SparseLabels:
    """An (H, W) integer label array in zarr, only the written chunks stored.

    Use :meth:`create` or :meth:`open`.  ``array`` is the zarr array (napari
    can show it as a Labels layer's data).
    """

    def __init__(self, array: Any, path: Path | None = None) -> None:
        self.array = array
        self.path = path
        self.shape = tuple(int(s) for s in array.shape)
        self.chunks = tuple(int(c) for c in array.chunks)

    @classmethod
    def create(cls, shape: Sequence[int], path: str | os.PathLike | None = None, *, chunks: int = 1024,
               dtype: str = "int32", overwrite: bool = False) -> "SparseLabels":
        """A new all-zero label array of (H, W) ``shape`` in ``path`` (a zarr folder), or in memory when None."""
        import zarr

        store: Any = zarr.storage.MemoryStore() if path is None else str(Path(path).expanduser())
        if path is not None and Path(store).exists() and not overwrite:
            raise PromptsegError(f"{store} already exists; open it to go on annotating, or choose another path.")
        h, w = (int(s) for s in shape)
        arr = zarr.create_array(store, shape=(h, w), chunks=(min(chunks, h), min(chunks, w)), dtype=dtype,
                                fill_value=0, overwrite=overwrite, config={"write_empty_chunks": False})
        return cls(arr, None if path is None else Path(store))

    @classmethod
    def open(cls, path: str | os.PathLike) -> "SparseLabels":
        """Labels written earlier (a 2D integer zarr array)."""
        import zarr

        p = Path(path).expanduser()
        try:
            arr = zarr.open_array(str(p), mode="r+")
        except Exception as exc:  # noqa: BLE001 - zarr raises many types
            raise PromptsegError(f"cannot open {p} as a zarr label array ({type(exc).__name__}: {exc}).") from exc
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise PromptsegError(f"{p} holds a {arr.ndim}D {arr.dtype} array; labels are a 2D integer array.")
        return cls(arr, p)

    def read(self, rows: slice, cols: slice, step: int = 1) -> np.ndarray:
        """The labels in ``[rows, cols]``, every ``step``-th pixel (chunks never written read as zeros)."""
        return np.asarray(self.array[rows.start:rows.stop:step, cols.start:cols.stop:step])

    def label_at(self, row: float, col: float) -> int:
        """The id at a full-resolution (row, col) pixel (0: background)."""
        r, c = int(round(row)), int(round(col))
        if not (0 <= r < self.shape[0] and 0 <= c < self.shape[1]):
            raise PromptsegError(f"({row:.0f}, {col:.0f}) lies outside the labels of {self.shape[0]} x {self.shape[1]}.")
        return int(self.array[r, c])

    def stored_chunks(self) -> int:
        """How many chunks exist in the store (chunks never written are not stored)."""
        return int(self.array.nchunks_initialized)

    def max_label(self) -> int:
        """The largest id written (reads only the stored chunks)."""
        best = 0
        ch, cw = self.chunks
        for key in _chunk_keys(self.array):
            r, c = key
            block = np.asarray(self.array[r * ch:(r + 1) * ch, c * cw:(c + 1) * cw])
            best = max(best, int(block.max()) if block.size else 0)
        return best

    def paint(self, mask: np.ndarray, origin: Sequence[int], factor: Sequence[float], label: int, *,
              overwrite: bool = False, only: int | None = None) -> LabelPaint:
        """Write ``label`` where ``mask`` is set, at full resolution.

        Parameters
        ----------
        mask : np.ndarray, shape (h, w), bool
            In the frame of a level whose pixel ``(0, 0)`` is level pixel ``origin``.
        origin : (int, int)
            (row, col) of ``mask[0, 0]`` in its level.
        factor : (float, float)
            The level's downsampling factor (1 at full resolution).
        overwrite : bool
            Also take pixels of other objects (default: only background).
        only : int, optional
            Take pixels whose id is 0 or ``only`` (re-committing a picked-up object).

        Returns
        -------
        LabelPaint
            The changed pixels with their old values (for :meth:`undo`).
        """
        if label <= 0:
            raise PromptsegError(f"object ids must be positive, got {label}.")
        rr, cc = np.nonzero(mask)
        if rr.size == 0:
            return LabelPaint((), int(label))
        fr, fc = (float(f) for f in factor)
        o_r, o_c = int(origin[0]), int(origin[1])
        # full-resolution box of the set level pixels
        r_lo, r_hi = int(np.floor((o_r + rr.min()) * fr)), int(np.ceil((o_r + rr.max() + 1) * fr))
        c_lo, c_hi = int(np.floor((o_c + cc.min()) * fc)), int(np.ceil((o_c + cc.max() + 1) * fc))
        r_hi, c_hi = min(r_hi, self.shape[0]), min(c_hi, self.shape[1])
        ch, cw = self.chunks
        parts = []
        for r0 in range(r_lo - r_lo % ch, r_hi, ch):
            for c0 in range(c_lo - c_lo % cw, c_hi, cw):
                rows = slice(max(r0, r_lo), min(r0 + ch, r_hi))
                cols = slice(max(c0, c_lo), min(c0 + cw, c_hi))
                sub = _resample(mask, rows, cols, (o_r, o_c), (fr, fc))
                if not sub.any():
                    continue
                block = np.asarray(self.array[rows, cols])
                if not overwrite:
                    sub &= (block == 0) | ((block == only) if only else False)
                changed = sub & (block != label)
                if not changed.any():
                    continue
                parts.append(ChunkChange.record(rows, cols, changed, block[changed]))
                block[changed] = label
                self.array[rows, cols] = block
        return LabelPaint(tuple(parts), int(label))

    def paint_ids(self, ids: np.ndarray, origin: Sequence[int], factor: Sequence[float]) -> int:
        """Write a level-frame label image ``ids`` (0: nothing) at full resolution, on background pixels only.

        For passes that make many objects at once ("segment all" tile by
        tile); no undo record.  Returns the pixels written.
        """
        h, w = ids.shape
        fr, fc = (float(f) for f in factor)
        o_r, o_c = int(origin[0]), int(origin[1])
        rows = slice(int(o_r * fr), min(int(np.ceil((o_r + h) * fr)), self.shape[0]))
        cols = slice(int(o_c * fc), min(int(np.ceil((o_c + w) * fc)), self.shape[1]))
        ch, cw = self.chunks
        written = 0
        for r0 in range(rows.start - rows.start % ch, rows.stop, ch):
            for c0 in range(cols.start - cols.start % cw, cols.stop, cw):
                rs = slice(max(r0, rows.start), min(r0 + ch, rows.stop))
                cs = slice(max(c0, cols.start), min(c0 + cw, cols.stop))
                sub = _resample(ids, rs, cs, (o_r, o_c), (fr, fc))
                if not sub.any():
                    continue
                block = np.asarray(self.array[rs, cs])
                take = (sub > 0) & (block == 0)
                if take.any():
                    block[take] = sub[take]
                    self.array[rs, cs] = block
                    written += int(take.sum())
        return written

    def erase(self, label: int, rows: slice, cols: slice) -> LabelPaint:
        """Set the pixels of ``label`` inside ``[rows, cols]`` to 0 (chunk by chunk); returns the change."""
        ch, cw = self.chunks
        parts = []
        for r0 in range(rows.start - rows.start % ch, rows.stop, ch):
            for c0 in range(cols.start - cols.start % cw, cols.stop, cw):
                rs = slice(max(r0, rows.start), min(r0 + ch, rows.stop))
                cs = slice(max(c0, cols.start), min(c0 + cw, cols.stop))
                block = np.asarray(self.array[rs, cs])
                changed = block == label
                if changed.any():
                    parts.append(ChunkChange.record(rs, cs, changed, block[changed]))
                    block[changed] = 0
                    self.array[rs, cs] = block
        return LabelPaint(tuple(parts), 0)

    def undo(self, paint: LabelPaint) -> None:
        """Put back the old values of a :meth:`paint` or :meth:`erase`."""
        for part in reversed(paint.parts):
            block = np.asarray(self.array[part.rows, part.cols])
            block[part.mask()] = part.old
            self.array[part.rows, part.cols] = block


def _resample(values: np.ndarray, rows: slice, cols: slice, origin: tuple[int, int],
              factor: tuple[float, float]) -> np.ndarray:
    """``values`` (level frame, offset ``origin``) sampled at the full-resolution pixels ``[rows, cols]`` (nearest);
    0 (False) where the full-resolution pixel lies outside ``values``."""
    li = np.floor((np.arange(rows.start, rows.stop) + 0.5) / factor[0]).astype(np.int64) - origin[0]
    lj = np.floor((np.arange(cols.start, cols.stop) + 0.5) / factor[1]).astype(np.int64) - origin[1]
    ok_i = (li >= 0) & (li < values.shape[0])
    ok_j = (lj >= 0) & (lj < values.shape[1])
    out = values[np.ix_(np.clip(li, 0, values.shape[0] - 1), np.clip(lj, 0, values.shape[1] - 1))]
    return np.where(ok_i[:, None] & ok_j[None, :], out, 0).astype(values.dtype, copy=False)


def _chunk_keys(array: Any) -> list[tuple[int, int]]:
    """(row, col) grid indices of the chunks stored for a 2D zarr v3 array."""
    from zarr.core.sync import sync

    store, prefix = array.store, array.path
    base = f"{prefix}/c/" if prefix else "c/"

    async def keys() -> list[str]:
        return [k async for k in store.list_prefix(base)]

    out = []
    for key in sync(keys()):
        parts = key[len(base):].split("/")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            out.append((int(parts[0]), int(parts[1])))
    return out
