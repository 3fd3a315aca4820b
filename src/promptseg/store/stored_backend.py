"""A backend that takes embeddings from a store instead of encoding: what the annotator uses.

``StoredBackend(backend, store)`` is a drop-in :class:`~promptseg.backends.base.Backend`:
``encode(image)`` hashes the slice it is given, and when the store holds a
slice with that content (and the same contrast limits) it streams it from
disk instead of running the encoder.  Each slice is matched by its content,
so a store written for other data is never used for it; anything the store
lacks is encoded as usual (tiled when large).  A damaged slice or tile
(truncated, deleted or altered files) is encoded live instead, with a
warning that names it.  An annotation session only
needs ``session.set_backend(StoredBackend.open(path, backend))`` and an
:class:`~promptseg.session.ImageStack` scaled with :attr:`StoredBackend.contrast_limits`
(napari layers have contrast limits of their own: other limits are other
embeddings, and the store is then not used).
"""

from __future__ import annotations

import os
import warnings
from typing import Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding, Prediction, PromptBackend, native_prompts
from ..errors import StoreError
from ..prompts import Prompts
from .embedding_store import EmbeddingStore
from .metadata import slice_digest
from .tiled_backend import TiledBackend, TiledFeatures, tile_encoder, tiled_embedding, untiled_previous


class StoredBackend(PromptBackend):
    """Encode-from-store wrapper around ``backend``.

    Parameters
    ----------
    backend : Backend
        The model the store was written with (checked by id).
    store : EmbeddingStore
        Opened with ``backend``.

    Attributes
    ----------
    inner : TiledBackend
        Encodes what the store lacks (tiled when large) and answers tiled slices.
    model : Backend
        The model backend itself; it answers untiled slices directly.
    hits, misses : int
        Slices served from the store / encoded because the store lacked them.
    damaged : int
        Slices or tiles the store holds but could not give (damaged files),
        encoded live instead.
    """

    def __init__(self, backend: Backend, store: EmbeddingStore) -> None:
        tiling = store.metadata.tiling
        if isinstance(backend, TiledBackend):
            tiled = backend
        elif tiling.n_tiles > 1:
            tiled = TiledBackend(backend, tile=max(tiling.tile_shape), halo=tiling.halo)
        else:
            tiled = TiledBackend(backend)
        if store.backend is None:
            store.backend = tiled.inner
        store._require_backend()
        self.inner = tiled
        self.model = tiled.inner
        self.store = store
        self.name = tiled.name
        self.hits = 0
        self.misses = 0
        self.damaged = 0

    @classmethod
    def open(cls, path: str | os.PathLike, backend: Backend) -> "StoredBackend":
        """Open the store at ``path`` for ``backend`` (see :meth:`EmbeddingStore.open` for the errors)."""
        return cls(backend, EmbeddingStore.open(path, backend=backend))

    @property
    def backend_id(self) -> str:
        return self.inner.backend_id

    @property
    def checkpoint_hash(self) -> str | None:
        return self.inner.checkpoint_hash

    @property
    def contrast_limits(self) -> tuple[float, float] | None:
        """The limits the store was computed with (None: robust percentiles); encode with these to use it."""
        return self.store.metadata.image.contrast_limits

    def lookup(self, image: np.ndarray, contrast_limits: Sequence[float] | None = None) -> int | None:
        """The stored slice with this content and these contrast limits, or None."""
        limits = None if contrast_limits is None else (float(contrast_limits[0]), float(contrast_limits[1]))
        if limits != self.store.metadata.image.contrast_limits:
            return None
        z = self.store.index_of(slice_digest(np.asarray(image)))
        return z if z is not None and self.store.has(z) else None

    def encode(self, image: np.ndarray, *, contrast_limits: Sequence[float] | None = None) -> ImageEmbedding:
        """The stored embedding of ``image`` when the store holds it, else a fresh encoding."""
        z = self.lookup(image, contrast_limits)
        if z is not None:
            try:
                emb = self.store.load(z)
            except StoreError as exc:
                self._damaged(exc)
                return self.inner.encode(image, contrast_limits=contrast_limits)
            self.hits += 1
            if isinstance(emb.features, TiledFeatures):
                return self._live_where_damaged(emb, image, contrast_limits)
            return emb
        self.misses += 1
        return self.inner.encode(image, contrast_limits=contrast_limits)

    def _damaged(self, exc: StoreError) -> None:
        self.damaged += 1
        warnings.warn(str(exc), stacklevel=3)

    def _live_where_damaged(self, emb: ImageEmbedding, image: np.ndarray,
                            contrast_limits: Sequence[float] | None) -> ImageEmbedding:
        """A tiled embedding whose tiles come from the store, or are encoded from ``image`` when damaged there."""
        stored, tiling = emb.features.load_tile, emb.features.tiling
        live = tile_encoder(self.inner.inner, np.asarray(image), tiling, contrast_limits)

        def load_tile(index: int) -> ImageEmbedding:
            try:
                return stored(index)
            except StoreError as exc:
                self._damaged(exc)
                return live(index)

        return tiled_embedding(emb.backend_id, tiling, emb.image_shape, load_tile)

    @property
    def native_prompts(self) -> frozenset[str]:  # type: ignore[override]
        """The path kinds the wrapped model backend reads natively."""
        return native_prompts(self.model)

    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """Checked prompts answered by the model backend, through the tiling wrapper only for a tiled slice."""
        if isinstance(embedding.features, TiledFeatures):
            return self.inner.predict(embedding, prompts, previous=previous)
        return self.model.predict(embedding, prompts, previous=untiled_previous(previous))

    def prepare_feedback(self, embedding: ImageEmbedding, previous: Prediction) -> None:
        """The wrapped backend's ``prepare_feedback`` (:meth:`TiledBackend.prepare_feedback` says when it applies)."""
        self.inner.prepare_feedback(embedding, previous)
