"""What an embedding store records about the data and the model it was written for.

Every field that changes the embeddings is part of :class:`StoreMetadata`:
the backend (name, id, checkpoint hash, array codec), the image (shape,
dtype, a content signature: an xxhash of every slice's bytes, shape and
dtype), the contrast limits, the preprocessing version and the tiling.  A
store is only ever used when all of them match (:func:`differences`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import xxhash

from ..errors import StoreError
from .sources import SliceSource, iter_slices, n_slices, plane_shape

#: Version of the image preprocessing shared by every backend
#: (:func:`promptseg.imaging.to_uint8_rgb`, :class:`~promptseg.model.transforms.ImageGeometry`).
#: Bump it when either changes: older stores are then refused instead of used.
PREPROCESSING_VERSION = 1

STORE_FORMAT = "promptseg-embedding-store"
STORE_FORMAT_VERSION = 1


def slice_digest(plane: np.ndarray) -> str:
    """Content signature of one slice: xxh3-128 of its bytes, shape and dtype (32 hex digits).

    Examples
    --------
    >>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> slice_digest(a) == slice_digest(a.copy()), slice_digest(a) == slice_digest(a.reshape(3, 2))
    (True, False)
    """
    arr = np.ascontiguousarray(plane)
    h = xxhash.xxh3_128()
    h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def combine_digests(digests: Sequence[str]) -> str:
    """One signature for a whole stack from its slice digests."""
    h = xxhash.xxh3_128()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class ImageInfo:
    """Everything about an image that its embeddings depend on.

    Attributes
    ----------
    shape : tuple of int
        Full array shape, e.g. (Z, H, W).
    dtype : str
        numpy dtype string, e.g. ``"uint16"``.
    rgb : bool
        Whether the last axis holds colour channels.
    plane_shape : (int, int)
        (H, W) of each slice.
    slice_digests : tuple of str
        :func:`slice_digest` of every slice, in flattened leading order.
    contrast_limits : (float, float) or None
        How non-uint8 data is scaled to 8 bits (None: robust percentiles of
        each slice).
    """

    shape: tuple[int, ...]
    dtype: str
    rgb: bool
    plane_shape: tuple[int, int]
    slice_digests: tuple[str, ...]
    contrast_limits: tuple[float, float] | None = None

    @property
    def n_slices(self) -> int:
        return len(self.slice_digests)

    @property
    def signature(self) -> str:
        return combine_digests(self.slice_digests)


def describe_image(source: SliceSource, *, contrast_limits: Sequence[float] | None = None) -> ImageInfo:
    """Read every slice once (streaming) and return its :class:`ImageInfo`."""
    digests = tuple(slice_digest(p) for p in iter_slices(source))
    limits = None if contrast_limits is None else (float(contrast_limits[0]), float(contrast_limits[1]))
    if len(digests) != n_slices(source):
        raise StoreError(f"{source.name}: read {len(digests)} slices, expected {n_slices(source)}.")
    return ImageInfo(tuple(source.shape), np.dtype(source.dtype).name, bool(source.rgb), plane_shape(source),
                     digests, limits)


@dataclass(frozen=True)
class Tiling:
    """How each slice is cut into overlapping tiles (see :mod:`promptseg.store.tiling`).

    Attributes
    ----------
    tile_shape : (int, int)
        (h, w) of every tile.
    halo : int
        Minimum overlap, in pixels, on each side of a tile's core.
    origins : tuple of (int, int)
        (row, col) of each tile's top-left corner in the slice.
    """

    tile_shape: tuple[int, int]
    halo: int
    origins: tuple[tuple[int, int], ...]

    @property
    def n_tiles(self) -> int:
        return len(self.origins)


@dataclass(frozen=True)
class StoreMetadata:
    """The JSON record at the root of a store (``promptseg`` attribute of the zarr group)."""

    backend_name: str
    backend_id: str
    checkpoint_hash: str | None
    codec: str
    arrays: dict[str, tuple[int, ...]]
    image: ImageInfo
    tiling: Tiling
    dtype: str = "float16"
    array_dtypes: dict[str, str] = field(default_factory=dict)
    preprocessing_version: int = PREPROCESSING_VERSION
    format: str = STORE_FORMAT
    format_version: int = STORE_FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["image"]["signature"] = self.image.signature
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StoreMetadata":
        try:
            d = dict(data)
            img = dict(d.pop("image"))
            img.pop("signature", None)
            limits = img.get("contrast_limits")
            image = ImageInfo(
                shape=tuple(img["shape"]), dtype=img["dtype"], rgb=bool(img["rgb"]),
                plane_shape=tuple(img["plane_shape"]), slice_digests=tuple(img["slice_digests"]),
                contrast_limits=None if limits is None else tuple(float(v) for v in limits),
            )
            t = d.pop("tiling")
            tiling = Tiling(tuple(t["tile_shape"]), int(t["halo"]), tuple(tuple(o) for o in t["origins"]))
            arrays = {k: tuple(v) for k, v in d.pop("arrays").items()}
            d["array_dtypes"] = dict(d.get("array_dtypes") or {})
            return cls(image=image, tiling=tiling, arrays=arrays, **d)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"the store's metadata is incomplete or from another program ({exc!r}).") from exc


def differences(found: StoreMetadata, wanted: StoreMetadata, *, check_image: bool = True) -> list[str]:
    """Human-readable list of what differs between a store's metadata and what is asked for (empty: usable)."""
    out = []
    if found.format != wanted.format or found.format_version != wanted.format_version:
        out.append(f"store format {found.format} v{found.format_version}, this version reads v{wanted.format_version}")
    if found.backend_id != wanted.backend_id:
        out.append(f"backend {found.backend_id!r} instead of {wanted.backend_id!r}")
    if found.codec != wanted.codec or found.arrays != wanted.arrays or found.array_dtypes != wanted.array_dtypes:
        out.append(f"embedding layout {found.codec} {found.arrays} instead of {wanted.codec} {wanted.arrays}")
    if found.preprocessing_version != wanted.preprocessing_version:
        out.append(f"preprocessing version {found.preprocessing_version} instead of {wanted.preprocessing_version}")
    if found.tiling != wanted.tiling:
        out.append(f"tiling {_tiling_text(found.tiling)} instead of {_tiling_text(wanted.tiling)}")
    if found.dtype != wanted.dtype:
        out.append(f"{found.dtype} embeddings instead of {wanted.dtype}")
    fi, wi = found.image, wanted.image
    if fi.contrast_limits != wi.contrast_limits:
        out.append(f"contrast limits {fi.contrast_limits} instead of {wi.contrast_limits}")
    if check_image:
        if (fi.shape, fi.dtype, fi.rgb) != (wi.shape, wi.dtype, wi.rgb):
            out.append(f"an image of shape {fi.shape} {fi.dtype} instead of {wi.shape} {wi.dtype}")
        elif fi.slice_digests != wi.slice_digests:
            changed = [z for z, (a, b) in enumerate(zip(fi.slice_digests, wi.slice_digests)) if a != b]
            shown = ", ".join(map(str, changed[:5])) + (" ..." if len(changed) > 5 else "")
            out.append(f"other image data ({len(changed)} of {fi.n_slices} slices differ: {shown})")
    return out


def _tiling_text(t: Tiling) -> str:
    if t.n_tiles == 1:
        return "none"
    return f"{t.n_tiles} tiles of {t.tile_shape[0]}x{t.tile_shape[1]} (halo {t.halo})"
