"""Embeddings on disk: compute once (locally or on a Dask cluster), annotate anywhere without encoding again.

* :class:`EmbeddingStore` — one zarr directory per image or stack, one chunk
  per slice and tile, float16 by default, with the metadata that identifies
  the data and the model (a store written for anything else is refused).
* :func:`embed_stack` — the batch job, a generator yielding progress; the
  ``promptseg embed`` command runs it.
* :class:`StoredBackend` — a drop-in backend that serves ``encode`` from a
  store; :class:`TiledBackend` — tiled encoding and seamless prediction for
  large 2D images.
"""

from .codec import StorableBackend, check_storable
from .embed import BackendSpec, EmbedProgress, embed_stack, start_client
from .embedding_store import EmbeddingStore, expected_metadata
from .metadata import PREPROCESSING_VERSION, ImageInfo, StoreMetadata, Tiling, describe_image, slice_digest
from .paths import STORE_SUFFIX, find_store, store_path_for
from .sources import ArraySource, SliceSource, TiffSource, ZarrSource, expand_inputs, open_source
from .stored_backend import StoredBackend
from .tiled_backend import TiledBackend
from .tiling import plan_tiling

__all__ = [
    "ArraySource", "BackendSpec", "EmbedProgress", "EmbeddingStore", "ImageInfo", "PREPROCESSING_VERSION",
    "STORE_SUFFIX", "SliceSource", "StorableBackend", "StoreMetadata", "StoredBackend", "TiffSource",
    "TiledBackend", "Tiling", "ZarrSource", "check_storable", "describe_image", "embed_stack", "expand_inputs",
    "expected_metadata", "find_store", "open_source", "plan_tiling", "slice_digest", "start_client",
    "store_path_for",
]
