"""How a backend's embeddings become arrays on disk and back.

A backend is *storable* when it implements :class:`StorableBackend`: a fixed
layout of named arrays per (H, W) image, and the two conversions.  The SAM
backend stores its (256, 64, 64) encoder output; the geometry follows from
the image shape.  A dimension given as ``None`` varies with the image's
content (e.g. the number of superpixels of a classic embedding): such
*ragged* arrays are stored per slice at their own size.  Backends that do
not implement the protocol themselves can be adapted by a codec object
(:data:`ADAPTERS`), as the classic backend is by
:class:`~promptseg.store.classic_codec.ClassicEmbeddingCodec`.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import StoreError


@runtime_checkable
class StorableBackend(Protocol):
    """The methods a backend needs so its embeddings can be written to an :class:`EmbeddingStore`."""

    #: Name and version of the array layout, e.g. ``"sam-image-embedding/1"``.
    embedding_codec: str

    def embedding_layout(self, image_shape: tuple[int, int]) -> dict[str, tuple[int | None, ...]]:
        """Name -> shape of every array stored for one (H, W) image; ``None`` marks a size that varies per image."""
        ...

    def embedding_to_arrays(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        """The arrays of :meth:`embedding_layout`.

        They are stored in the store's dtype (float16 or float32), except
        those named in an optional ``embedding_dtypes`` attribute
        (``{name: "int32", ...}``, e.g. label maps), which keep that dtype.
        """
        ...

    def embedding_from_arrays(self, arrays: dict[str, np.ndarray], image_shape: tuple[int, int]) -> ImageEmbedding:
        """Rebuild a ready-to-predict embedding of an (H, W) image from stored arrays."""
        ...


def unwrap(backend: Backend) -> Backend:
    """The backend under wrappers such as :class:`~promptseg.store.tiled_backend.TiledBackend` (their ``inner``)."""
    while hasattr(backend, "inner"):
        backend = backend.inner
    return backend


#: Backends that are made storable by a separate codec object:
#: "module:Class" of the backend -> "module:Class" of the codec (built with the backend).
ADAPTERS: dict[str, str] = {
    "promptseg.backends.classic:ClassicBackend": "promptseg.store.classic_codec:ClassicEmbeddingCodec",
}

_STORABLE_NAMES = ("embedding_codec", "embedding_layout", "embedding_to_arrays", "embedding_from_arrays")


def _adapter(backend: Backend):
    for cls in type(backend).__mro__:
        target = ADAPTERS.get(f"{cls.__module__}:{cls.__qualname__}")
        if target is not None:
            module, name = target.split(":")
            return getattr(importlib.import_module(module), name)(backend)
    return None


def check_storable(backend: Backend) -> StorableBackend:
    """The backend (under any wrapper) or its codec if its embeddings can be stored, else a :class:`StoreError`."""
    backend = unwrap(backend)
    if not all(hasattr(backend, name) for name in _STORABLE_NAMES):
        adapted = _adapter(backend)
        if adapted is not None:
            return adapted
    missing = [name for name in _STORABLE_NAMES if not hasattr(backend, name)]
    if missing:
        name = getattr(backend, "name", type(backend).__name__)
        raise StoreError(
            f"backend {name!r} cannot write its embeddings to a store (it lacks {', '.join(missing)}). "
            "Use the classic or a SAM-family backend for precomputed embeddings, or annotate without a store "
            "(every slice is then encoded when it is first shown)."
        )
    return backend  # type: ignore[return-value]


def array_dtypes(backend: Backend) -> dict[str, str]:
    """Arrays the backend stores in a dtype of their own (its optional ``embedding_dtypes``)."""
    storable = check_storable(backend)
    return {str(k): np.dtype(v).name for k, v in dict(getattr(storable, "embedding_dtypes", {}) or {}).items()}


def is_ragged(shape: tuple[int | None, ...]) -> bool:
    """Whether a layout shape has a dimension that varies per image (``None``)."""
    return any(s is None for s in shape)


def fits(shape: tuple[int, ...], promised: tuple[int | None, ...]) -> bool:
    """Whether an array shape matches a layout shape (``None`` matches any size)."""
    return len(shape) == len(promised) and all(p is None or int(p) == int(s) for s, p in zip(shape, promised))


def cast_arrays(arrays: dict[str, np.ndarray], layout: dict[str, tuple[int, ...]], dtype: np.dtype,
                own_dtypes: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Check ``arrays`` against ``layout`` and cast them to the store's ``dtype`` (or their own, ``own_dtypes``)."""
    if set(arrays) != set(layout):
        raise StoreError(f"backend returned arrays {sorted(arrays)}, its layout promises {sorted(layout)}.")
    out = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if not fits(arr.shape, tuple(layout[name])):
            raise StoreError(f"array {name!r} has shape {arr.shape}, the layout promises {tuple(layout[name])}.")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise StoreError(f"array {name!r} has dtype {arr.dtype}; stores hold numbers only.")
        target = np.dtype((own_dtypes or {}).get(name, dtype))
        if np.issubdtype(target, np.integer) and np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(target)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise StoreError(f"array {name!r} holds values outside {target} ({arr.min()}..{arr.max()}).")
        out[name] = arr.astype(target, copy=False)
    return out
