"""An in-memory, size-bounded LRU cache of image embeddings.

Keys are ``(image_key, slice_key, backend_id)``: one embedding per 2D slice of
one image per model.  The bound is in bytes (the arrays and tensors an
embedding holds), so a few large SAM embeddings and many small classical ones
fit the same budget.  Thread-safe: encoding threads put, the GUI thread gets.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any, Hashable

from ..backends.base import ImageEmbedding

CacheKey = tuple[Hashable, tuple[int, ...], str]

#: Default budget: about 16 SAM embeddings (4 MiB each plus decoder caches).
DEFAULT_MAX_BYTES = 512 * 1024**2


def nbytes(value: Any, _depth: int = 0) -> int:
    """Approximate memory held by ``value``: arrays and tensors, recursively."""
    if _depth > 6 or value is None:
        return 0
    size = getattr(value, "nbytes", None)  # numpy arrays
    if isinstance(size, int) and not isinstance(value, (int, float)):
        return size
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # torch tensors
        return int(value.element_size() * value.nelement())
    if isinstance(value, dict):
        return sum(nbytes(v, _depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v, _depth + 1) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    if hasattr(value, "__dict__") and _depth < 3:
        return sum(nbytes(v, _depth + 1) for v in vars(value).values())
    return 0


class EmbeddingCache:
    """Least-recently-used embeddings within a byte budget.

    Parameters
    ----------
    max_bytes : int
        Total size allowed; the least recently used embeddings are dropped
        when a new one would exceed it (the newest is always kept).

    Examples
    --------
    >>> cache = EmbeddingCache(max_bytes=10_000)
    >>> emb = ImageEmbedding("b", (8, 8), np.zeros(1000))
    >>> cache.put(("img", (0,), "b"), emb); ("img", (0,), "b") in cache
    True
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[CacheKey, tuple[ImageEmbedding, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> ImageEmbedding | None:
        """The embedding for ``key`` (now most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: CacheKey, embedding: ImageEmbedding) -> None:
        """Store ``embedding``, evicting the least recently used ones beyond the budget."""
        size = nbytes(embedding.features) + nbytes(embedding.cache)
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (embedding, size)
            total = sum(s for _, s in self._items.values())
            while total > self.max_bytes and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                total -= dropped

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(s for _, s in self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
