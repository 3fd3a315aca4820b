"""The embedding cache: LRU order within a byte budget."""

from __future__ import annotations

import numpy as np
import torch

from promptseg.backends.base import ImageEmbedding
from promptseg.session import EmbeddingCache
from promptseg.session.cache import nbytes


def _emb(n_bytes: int) -> ImageEmbedding:
    return ImageEmbedding("b", (4, 4), np.zeros(n_bytes, np.uint8))


def test_nbytes_counts_arrays_and_tensors() -> None:
    assert nbytes({"a": np.zeros(10, np.float32), "b": [torch.zeros(5)]}) == 60


def test_lru_eviction_by_bytes() -> None:
    cache = EmbeddingCache(max_bytes=300)
    for z in range(3):
        cache.put(("img", (z,), "b"), _emb(100))
    assert len(cache) == 3
    cache.get(("img", (0,), "b"))  # now most recent
    cache.put(("img", (3,), "b"), _emb(100))
    assert ("img", (1,), "b") not in cache
    assert ("img", (0,), "b") in cache and cache.total_bytes == 300


def test_newest_is_kept_even_if_too_big() -> None:
    cache = EmbeddingCache(max_bytes=10)
    cache.put(("img", (), "b"), _emb(100))
    assert len(cache) == 1
