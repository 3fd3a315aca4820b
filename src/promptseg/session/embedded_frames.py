"""Tracker frames from a SAM 2.1 *backend's* image embeddings: encoded by the backend, or read from a store.

:class:`~promptseg.session.frame_source.StackFrames` prepares frames as the
official video loader does (PIL bicubic resize of 8-bit frames).  The frames
here come from what the SAM 2.1 image backend computes instead (its float
resize, see :class:`~promptseg.model.sam2.transforms.Sam2Geometry`): exactly
what ``promptseg embed`` writes to an embedding store.  So a stack tracked
with :class:`BackendFrames` (encoded on demand) and one tracked with
:class:`StoreFrames` (read from a float32 store of the same stack) give the
same tracks, and a Dask worker reading the shared store gives what the
in-process run gives.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..backends.base import ImageEmbedding
from ..errors import StoreError
from ..model.sam2.sam2_model import Sam2Model
from ..model.sam2.tracker_state import FrameFeatures
from .frame_source import CachedFrames, check_stack_shape, stack_contrast_limits

__all__ = ["BackendFrames", "StoreFrames", "tracker_features"]


def tracker_features(embedding: ImageEmbedding, model: Sam2Model) -> FrameFeatures:
    """The tracker's features of one SAM 2.1 image embedding.

    Parameters
    ----------
    embedding : ImageEmbedding
        From a SAM 2.1 backend (``features`` a
        :class:`~promptseg.model.sam2.predictor.Sam2Features`).
    model : Sam2Model
        The backend's model (for ``no_mem_embed``).

    Returns
    -------
    FrameFeatures
        The stride-16 map with ``no_mem_embed`` taken off again (the image
        predictor adds it; the tracker conditions on memory instead) and the
        two high-resolution maps, on the model's device.
    """
    features = embedding.features
    if not hasattr(features, "high_res_feat_0"):
        raise TypeError(f"not a SAM 2.1 embedding (features are {type(features).__name__})")
    device = model.no_mem_embed.device
    image = features.image_embed.to(device, torch.float32) - model.no_mem_embed.view(1, -1, 1, 1)
    high_res = (features.high_res_feat_0.to(device, torch.float32), features.high_res_feat_1.to(device, torch.float32))
    return FrameFeatures(image=image, high_res=high_res)


class BackendFrames(CachedFrames):
    """Slices of a stack encoded on demand by a SAM 2.1 backend (as ``promptseg embed`` encodes them).

    Parameters
    ----------
    backend : Sam2Backend
        Its ``encode`` and its ``model``.
    stack : array_like, shape (Z, H, W) or (Z, H, W, C)
        Read slice by slice.
    contrast_limits : (low, high), optional
        For non-uint8 data; default one scaling for the whole stack
        (:func:`~promptseg.session.frame_source.stack_contrast_limits`).
        Give a store the same limits (``promptseg embed --contrast-limits``)
        for store-backed tracks to equal these.
    cache_frames : int
        Slices whose features are kept.
    """

    def __init__(self, backend: Any, stack: Any, *, contrast_limits: Sequence[float] | None = None,
                 cache_frames: int = 2) -> None:
        super().__init__(*check_stack_shape(stack), cache_frames=cache_frames)
        self.backend = backend
        self.model: Sam2Model = backend.model
        self.stack = stack
        self.contrast_limits = stack_contrast_limits(stack, contrast_limits)

    def compute(self, z: int) -> FrameFeatures:
        """Read slice ``z`` and encode it with the backend."""
        plane = np.asarray(self.stack[z])
        return tracker_features(self.backend.encode(plane, contrast_limits=self.contrast_limits), self.model)


class StoreFrames(CachedFrames):
    """Slices' features read from an embedding store of SAM 2.1 embeddings (``promptseg embed``).

    Parameters
    ----------
    store : EmbeddingStore
        Opened with the SAM 2.1 backend that wrote it; one tile per slice,
        one slice axis.
    cache_frames : int
        Slices whose features are kept.

    Raises
    ------
    StoreError
        The store is tiled (slices larger than the tile threshold), has more
        than one leading axis, or holds no SAM 2.1 embeddings.  Reading a
        slice not computed yet raises :class:`StoreError` too (run
        ``promptseg embed`` to complete the store).
    """

    def __init__(self, store: Any, *, cache_frames: int = 2) -> None:
        metadata = store.metadata
        info = metadata.image
        leading = tuple(info.shape[: len(info.shape) - 2 - int(info.rgb)])
        if metadata.tiling.n_tiles != 1:
            raise StoreError(
                f"the store {store.path} holds tiled slices ({metadata.tiling.n_tiles} tiles each); tracking needs one "
                "embedding per slice: embed the stack again with --tile-threshold above the slice size."
            )
        if len(leading) != 1:
            raise StoreError(f"the store {store.path} is not one (Z, H, W[, C]) stack (leading axes {leading}).")
        backend = store.backend
        model = getattr(backend, "model", None)
        if not isinstance(model, Sam2Model):
            raise StoreError(
                f"the store {store.path} holds {metadata.backend_name!r} embeddings; memory tracking needs a store "
                "written by a SAM 2.1 model (promptseg embed --backend sam2.1_...)."
            )
        super().__init__(store.n_slices, tuple(metadata.image.plane_shape), cache_frames=cache_frames)
        self.store = store
        self.model = model

    def compute(self, z: int) -> FrameFeatures:
        """Read and check slice ``z``'s stored maps."""
        return tracker_features(self.store.load(z), self.model)
