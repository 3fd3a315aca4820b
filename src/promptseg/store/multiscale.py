"""Images larger than memory: a multiscale (pyramid) image read chunk by chunk.

A :class:`MultiscaleImage` is a list of resolution levels of one image (level
0 the full resolution, each next level coarser), each a lazy array (zarr,
dask, or numpy) of shape (..., H, W) or (..., H, W, C).  Nothing is read when
it is opened; :meth:`MultiscaleImage.read` reads one window of one level,
which touches only the chunks under it.  :func:`open_multiscale` opens an
OME-Zarr image (``multiscales`` metadata, zarr v2 and v3 groups), a single
zarr array, a dask array or a list of them.

Coordinates are napari's (row, col).  A pixel ``i`` of a level with
downsampling factor ``f`` covers full-resolution pixels ``[i f, (i + 1) f)``,
so its centre lies at ``(i + 0.5) f - 0.5`` at full resolution
(:meth:`MultiscaleImage.to_full`, :meth:`MultiscaleImage.to_level`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ImageError
from ..imaging import robust_limits

__all__ = ["MultiscaleImage", "is_ome_zarr", "is_zarr_folder", "open_multiscale", "ome_datasets"]


def ome_datasets(attrs: dict) -> list[str] | None:
    """The dataset paths of the first ``multiscales`` entry of OME-Zarr group attributes (v0.4 or v0.5), or None."""
    meta = attrs.get("ome", attrs)  # v0.5 nests everything under "ome"
    multiscales = meta.get("multiscales") if isinstance(meta, dict) else None
    if not multiscales:
        return None
    try:
        return [str(d["path"]) for d in multiscales[0]["datasets"]]
    except (KeyError, TypeError, IndexError) as exc:
        raise ImageError(f"the OME-Zarr 'multiscales' metadata is malformed ({exc!r}); "
                         "re-write the image with ome-zarr or open one level as an array.") from exc


def is_zarr_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zarr folder (an OME-Zarr image or a zarr array, zarr v2 or v3)."""
    p = Path(path).expanduser()
    return p.is_dir() and any((p / name).exists() for name in ("zarr.json", ".zgroup", ".zarray"))


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zarr group with OME-Zarr ``multiscales`` metadata (not a plain array or stack)."""
    if not is_zarr_folder(path):
        return False
    import zarr

    try:
        node = zarr.open(store=str(Path(path).expanduser()), mode="r")
    except Exception:  # noqa: BLE001 - not readable as zarr: not an OME-Zarr image
        return False
    return not hasattr(node, "shape") and ome_datasets(dict(node.attrs)) is not None


def _open_zarr(path_or_store: Any) -> Any:
    import zarr

    try:
        return zarr.open(store=path_or_store, mode="r")
    except Exception as exc:  # zarr raises many types for missing or damaged metadata
        raise ImageError(f"cannot open {path_or_store} as zarr ({type(exc).__name__}: {exc}); "
                         "give an OME-Zarr folder, a zarr array or a list of arrays.") from exc


def open_multiscale(source: Any, *, rgb: bool | None = None, slice_key: Sequence[int] | None = None,
                    name: str | None = None) -> "MultiscaleImage":
    """Open ``source`` lazily as a :class:`MultiscaleImage`.

    Parameters
    ----------
    source : path, zarr store, zarr group or array, dask array, numpy array, or list of arrays
        An OME-Zarr image (a group with ``multiscales`` metadata; its datasets
        become the levels in order), a zarr array (one level), or the levels
        themselves, full resolution first.
    rgb : bool, optional
        Whether the last axis holds colour; default guessed (3 or 4 after a larger axis).
    slice_key : sequence of int, optional
        Index of the 2D plane along the leading axes (time, channel, z, ...);
        default the first plane.
    name : str, optional
        Shown in messages; default the path or "image".

    Raises
    ------
    ImageError
        Not an image, a group without multiscales metadata, or levels that do
        not shrink.
    """
    if isinstance(source, MultiscaleImage):
        return source
    if isinstance(source, (list, tuple)):
        return MultiscaleImage(list(source), rgb=rgb, slice_key=slice_key, name=name or "image")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.exists():
            raise ImageError(f"image not found: {path}")
        name = name or path.name
        source = str(path)
    node = source
    if not hasattr(source, "shape"):  # a path or a zarr store
        node = _open_zarr(source)
    if hasattr(node, "shape"):
        return MultiscaleImage([node], rgb=rgb, slice_key=slice_key, name=name or "image")
    paths = ome_datasets(dict(node.attrs))
    if paths is None:
        arrays = sorted(n for n, _ in node.arrays())
        raise ImageError(f"{name or 'the zarr group'} has no OME-Zarr 'multiscales' metadata; open one of its "
                         f"arrays instead (arrays: {', '.join(arrays) or 'none'}).")
    try:
        levels = [node[p] for p in paths]
    except KeyError as exc:
        raise ImageError(f"{name}: the multiscales metadata names dataset {exc} that is not in the group.") from exc
    return MultiscaleImage(levels, rgb=rgb, slice_key=slice_key, name=name or "image")


class MultiscaleImage:
    """Levels of one 2D image (full resolution first), read one window at a time.

    Parameters
    ----------
    levels : list of array_like
        Each (..., H_l, W_l) or (..., H_l, W_l, C), indexable with slices
        without reading more than the chunks under them (zarr, dask, numpy).
    rgb, slice_key, name
        See :func:`open_multiscale`.

    Examples
    --------
    >>> img = MultiscaleImage([np.zeros((400, 600), np.uint16), np.zeros((100, 150), np.uint16)])
    >>> img.level_shape(1), img.factor(1), img.to_full([(0, 0)], 1).tolist()
    ((100, 150), (4.0, 4.0), [[1.5, 1.5]])
    """

    def __init__(self, levels: Sequence[Any], *, rgb: bool | None = None, slice_key: Sequence[int] | None = None,
                 name: str = "image") -> None:
        if not levels:
            raise ImageError(f"{name}: no resolution levels given.")
        self.levels = list(levels)
        self.name = name
        shape0 = tuple(int(s) for s in np.shape(self.levels[0]))
        self.rgb = (len(shape0) >= 3 and shape0[-1] in (3, 4) and shape0[-2] > 4) if rgb is None else bool(rgb)
        spatial = 3 if self.rgb else 2
        if len(shape0) < spatial:
            raise ImageError(f"{name}: shape {shape0} is not an image (..., H, W) or (..., H, W, C).")
        lead = shape0[: len(shape0) - spatial]
        key = (0,) * len(lead) if slice_key is None else tuple(int(i) for i in slice_key)
        if len(key) != len(lead) or any(not 0 <= i < n for i, n in zip(key, lead)):
            raise ImageError(f"{name}: plane {key} does not exist; the leading axes are {lead}.")
        self.slice_key = key
        self.dtype = np.dtype(self.levels[0].dtype)
        self._shapes = []
        for i, level in enumerate(self.levels):
            shape = tuple(int(s) for s in np.shape(level))
            if len(shape) != len(shape0) or shape[: len(lead)] != lead:
                raise ImageError(f"{name}: level {i} has shape {shape}, level 0 {shape0}; the levels must differ "
                                 "only in their height and width.")
            hw = shape[len(lead): len(lead) + 2]
            if i and (hw[0] > self._shapes[-1][0] or hw[1] > self._shapes[-1][1]):
                raise ImageError(f"{name}: level {i} ({hw}) is larger than level {i - 1} ({self._shapes[-1]}); "
                                 "give the levels full resolution first.")
            self._shapes.append(hw)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) at full resolution."""
        return self._shapes[0]

    def level_shape(self, level: int) -> tuple[int, int]:
        """(H, W) of ``level``."""
        return self._shapes[self.check_level(level)]

    def check_level(self, level: int) -> int:
        level = int(level)
        if not 0 <= level < self.n_levels:
            raise ImageError(f"{self.name}: level {level} does not exist (levels 0 to {self.n_levels - 1}).")
        return level

    def factor(self, level: int) -> tuple[float, float]:
        """(row, col) downsampling factor of ``level`` relative to full resolution."""
        (h0, w0), (h, w) = self.shape, self.level_shape(level)
        return h0 / h, w0 / w

    def to_level(self, points: Any, level: int) -> np.ndarray:
        """(N, 2) full-resolution (row, col) points in the pixel frame of ``level``."""
        f = np.asarray(self.factor(level))
        return (np.asarray(points, float).reshape(-1, 2) + 0.5) / f - 0.5

    def to_full(self, points: Any, level: int) -> np.ndarray:
        """(N, 2) (row, col) points of ``level`` at full resolution (pixel centres map to centres)."""
        f = np.asarray(self.factor(level))
        return (np.asarray(points, float).reshape(-1, 2) + 0.5) * f - 0.5

    def read(self, level: int, rows: slice, cols: slice) -> np.ndarray:
        """The window ``[rows, cols]`` of ``level`` as a numpy array (only its chunks are read)."""
        data = self.levels[self.check_level(level)]
        return np.asarray(data[self.slice_key + (rows, cols)])

    def choose_level(self, max_side: int) -> int:
        """The finest level whose longer side is at most ``max_side`` (the coarsest when none is)."""
        for i, (h, w) in enumerate(self._shapes):
            if max(h, w) <= max_side:
                return i
        return self.n_levels - 1

    def contrast_limits(self, max_side: int = 2048) -> tuple[float, float] | None:
        """Robust limits for scaling to 8 bits, from a coarse level (never the full image); None for uint8."""
        if self.dtype == np.uint8:
            return None
        level = self.choose_level(max_side)
        h, w = self.level_shape(level)
        arr = self.read(level, slice(0, h), slice(0, w))
        if self.rgb and arr.shape[-1] == 4:
            arr = arr[..., :3]
        low, high = robust_limits(arr)
        if high <= low:
            low, high = float(arr.min()), float(arr.max())
        return (float(low), float(high)) if high > low else None

    def __repr__(self) -> str:
        return f"MultiscaleImage({self.name!r}, {self.n_levels} levels, {self.shape[0]} x {self.shape[1]}, {self.dtype})"
