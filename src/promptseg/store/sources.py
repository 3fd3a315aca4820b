"""Images to embed, read one 2D slice at a time.

A *slice source* is a small, picklable description of an image or stack
(numpy/dask/zarr array, TIFF file, zarr array on disk, single image file) that
reads one (H, W) or (H, W, C) slice on demand, so a 500-slice stack never
has to be in memory and a Dask worker can re-open the same file by path.
Leading axes (planes, time points, OME channels) are flattened into one
slice index ``z``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import ImageError
from ..io import TIFF_SUFFIXES, read_image

#: Files a folder input is expanded to (one store per file).
IMAGE_SUFFIXES = TIFF_SUFFIXES + (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
ZARR_SUFFIXES = (".zarr",)


@runtime_checkable
class SliceSource(Protocol):
    """An image seen as ``n_slices`` 2D slices.

    Attributes
    ----------
    name : str
        Shown in progress messages and used to name stores.
    shape : tuple of int
        The full array shape, e.g. (Z, H, W) or (T, Z, H, W, 3).
    dtype : np.dtype
    rgb : bool
        Whether the last axis holds colour channels.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    rgb: bool

    def read(self, z: int) -> np.ndarray:
        """Slice ``z`` (flattened leading index) as an (H, W) or (H, W, C) array."""
        ...


def leading_shape(shape: Sequence[int], rgb: bool) -> tuple[int, ...]:
    """The axes that index slices: all but (H, W) or (H, W, C)."""
    return tuple(shape[: len(shape) - (3 if rgb else 2)])


def plane_shape(source: SliceSource) -> tuple[int, int]:
    """(H, W) of every slice of ``source``."""
    lead = len(leading_shape(source.shape, source.rgb))
    return int(source.shape[lead]), int(source.shape[lead + 1])


def n_slices(source: SliceSource) -> int:
    """Number of 2D slices of ``source`` (1 for a 2D image)."""
    return int(np.prod(leading_shape(source.shape, source.rgb), dtype=np.int64))


def iter_slices(source: SliceSource) -> Iterator[np.ndarray]:
    for z in range(n_slices(source)):
        yield source.read(z)


def _guess_rgb(shape: Sequence[int]) -> bool:
    return len(shape) >= 3 and shape[-1] in (3, 4) and shape[-2] > 4


class ArraySource:
    """An in-memory or lazy array (numpy, dask, zarr) of shape (..., H, W[, C]).

    Parameters
    ----------
    data : array_like
        Indexable with integers; only the slices asked for are materialised.
    rgb : bool, optional
        Whether the last axis holds colour; default guessed (last axis of 3
        or 4 after a larger one).
    name : str
        Used to name the store in messages.
    """

    def __init__(self, data: Any, *, rgb: bool | None = None, name: str = "array") -> None:
        self.data = data
        self.shape = tuple(int(s) for s in np.shape(data))
        self.dtype = np.dtype(data.dtype)
        self.rgb = _guess_rgb(self.shape) if rgb is None else bool(rgb)
        self.name = name
        if len(self.shape) < (3 if self.rgb else 2):
            raise ImageError(f"{name}: shape {self.shape} is not an image (..., H, W) or (..., H, W, C).")

    def read(self, z: int) -> np.ndarray:
        lead = leading_shape(self.shape, self.rgb)
        index = np.unravel_index(int(z), lead) if lead else ()
        return np.asarray(self.data[tuple(int(i) for i in index)])


class TiffSource:
    """The first series of a TIFF file (multi-page stacks, OME-TIFF, ImageJ hyperstacks); one page per slice."""

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile

        self.path = Path(path)
        self.name = self.path.name
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                self.shape = tuple(int(s) for s in series.shape)
                self.dtype = np.dtype(series.dtype)
                axes = series.axes
        except Exception as exc:  # tifffile raises many types on bad files
            raise ImageError(f"cannot read {self.path} as a TIFF ({type(exc).__name__}: {exc}).") from exc
        self.rgb = axes.endswith("S") and self.shape[-1] in (3, 4)
        self._tif = None

    def read(self, z: int) -> np.ndarray:
        import tifffile

        if self._tif is None:
            self._tif = tifffile.TiffFile(self.path)
        page = np.asarray(self._tif.asarray(key=int(z), series=0))
        return page.reshape(plane_shape(self) + ((self.shape[-1],) if self.rgb else ()))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tif": None}

    def __del__(self) -> None:
        if getattr(self, "_tif", None) is not None:
            self._tif.close()


class ZarrSource(ArraySource):
    """A zarr array on disk (a ``.zarr`` directory holding one array, or ``group.zarr/name``)."""

    def __init__(self, path: str | os.PathLike, *, rgb: bool | None = None) -> None:
        import zarr

        self.path = Path(path)
        try:
            node = zarr.open(str(self.path), mode="r")
        except Exception as exc:
            raise ImageError(f"cannot open {self.path} as a zarr array ({type(exc).__name__}: {exc}).") from exc
        if isinstance(node, zarr.Group):
            names = sorted(name for name, _ in node.arrays())
            raise ImageError(
                f"{self.path} is a zarr group; pass one of its arrays as {self.path}/NAME "
                f"(arrays: {', '.join(names) or 'none'})."
            )
        super().__init__(node, rgb=rgb, name=self.path.name)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "data": None}

    def __setstate__(self, state: dict) -> None:
        import zarr

        self.__dict__.update(state)
        self.data = zarr.open(str(self.path), mode="r")


class FileSource(ArraySource):
    """A single image file (PNG, JPEG, ...), read whole on first use."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        super().__init__(read_image(self.path), name=self.path.name)


def open_source(path: str | os.PathLike) -> SliceSource:
    """The slice source for one file or zarr array (not a folder: see :func:`expand_inputs`)."""
    p = Path(path).expanduser()
    if p.suffix.lower() in ZARR_SUFFIXES or (p.is_dir() and (p / "zarr.json").exists()):
        return ZarrSource(p)
    if not p.exists():
        raise ImageError(f"input not found: {p}")
    if p.suffix.lower() in TIFF_SUFFIXES:
        return TiffSource(p)
    return FileSource(p)


def expand_inputs(paths: Sequence[str | os.PathLike]) -> list[SliceSource]:
    """Slice sources for command-line inputs: files, zarr arrays, and folders of images (one source per file).

    Raises
    ------
    ImageError
        A path does not exist, or a folder holds no image files.
    """
    sources: list[SliceSource] = []
    for path in paths:
        p = Path(path).expanduser()
        is_zarr = p.suffix.lower() in ZARR_SUFFIXES or (p / "zarr.json").exists()
        if p.is_dir() and not is_zarr:
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            zarrs = sorted(f for f in p.iterdir() if f.is_dir() and f.suffix.lower() in ZARR_SUFFIXES
                           and not f.name.endswith(".embeddings.zarr"))
            if not files and not zarrs:
                raise ImageError(f"folder {p} holds no images ({', '.join(IMAGE_SUFFIXES)}) or .zarr arrays.")
            sources.extend(open_source(f) for f in files + zarrs)
        else:
            sources.append(open_source(p))
    return sources
