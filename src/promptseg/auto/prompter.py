"""What the automatic mask generator needs from a model: answers to batches of single points.

:class:`PointPrompter` is the whole interface between the generator
(:mod:`promptseg.auto.amg`) and a model family.  SAM 1 / MobileSAM plug in
through :class:`SamPointPrompter` (the fast decoder's batched path); another
family (SAM 2.1) plugs in by giving its backend a ``point_prompter(embedding)``
method that returns an object with the same two methods.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

import numpy as np
import torch

from ..backends.base import ImageEmbedding
from ..errors import PromptsegError

__all__ = ["PointAnswers", "PointPrompter", "SamPointPrompter", "point_prompter"]


class PointAnswers(Protocol):
    """A model's answers to B single positive points on one image."""

    #: (B, M) predicted IoU of each point's M candidate masks.
    iou: torch.Tensor

    def logits(self, prompts: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """(K, H, W) float32 mask logits, in the image's frame, of the candidates (``prompts[k]``, ``columns[k]``)."""
        ...


class PointPrompter(Protocol):
    """Answers batches of single positive points on one encoded image."""

    def decode(self, points_xy: np.ndarray) -> PointAnswers:
        """Answer (B, 2) points given as (x, y) pixels of the image (floats: cell centres of a grid)."""
        ...


_DECODERS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _fast_decoder(model):
    """One :class:`FastMaskDecoder` per loaded model (built on first use)."""
    from ..model.fast_decoder import FastMaskDecoder

    dec = _DECODERS.get(model)
    if dec is None:
        dec = _DECODERS[model] = FastMaskDecoder(model)
    return dec


class _SamAnswers:
    def __init__(self, decoder, answers, geometry, chunk: int) -> None:
        self._decoder, self._answers, self._geometry, self._chunk = decoder, answers, geometry, chunk
        self.iou = torch.cat([a.iou for a in answers]) if answers else torch.zeros(0, 3)

    def logits(self, prompts: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        parts = []
        for i, answer in enumerate(self._answers):
            mine = (prompts // self._chunk) == i
            if mine.any():
                low = self._decoder.batch_masks(answer, prompts[mine] - i * self._chunk, columns[mine])
                parts.append((torch.nonzero(mine)[:, 0], low))
        h, w = self._geometry.original_size
        out = torch.empty(len(prompts), h, w)
        for where, low in parts:
            out[where] = self._geometry.upsample_logits(low[:, None])[:, 0]
        return out


class SamPointPrompter:
    """Batched points through the fast decoder of a SAM 1 / MobileSAM backend.

    Parameters
    ----------
    backend
        A :class:`~promptseg.backends.sam.SamBackend` (its ``model``).
    embedding : ImageEmbedding
        Made by that backend (``features`` a ``SamFeatures``).
    chunk : int
        Points run through the transformer together (a memory / cache
        trade-off on CPUs; results do not depend on it).
    multimask : bool
        Three candidates per point (SAM's automatic generator) or one.
    """

    def __init__(self, backend, embedding: ImageEmbedding, *, chunk: int = 8, multimask: bool = True) -> None:
        self._model = backend.model
        self._decoder = _fast_decoder(self._model)
        features = embedding.features
        self._geometry = features.geometry
        self._device = features.embedding.device
        self._prep = embedding.cache.get("sam_decoder") or self._decoder.prepare(features.embedding)
        self._chunk = int(chunk)
        self._multimask = multimask

    @torch.inference_mode()
    def decode(self, points_xy: np.ndarray) -> PointAnswers:
        xy = self._geometry.coords_to_input(np.asarray(points_xy, np.float64).reshape(-1, 2))
        coords = torch.as_tensor(xy, dtype=torch.float32, device=self._device)[:, None]
        labels = torch.ones(len(xy), 1, dtype=torch.long, device=self._device)
        sparse = self._model.prompt_encoder.embed_points(coords, labels, pad=True)
        answers = [self._decoder.decode_batch(self._prep, sparse[i:i + self._chunk], multimask=self._multimask)
                   for i in range(0, len(sparse), self._chunk)]
        return _SamAnswers(self._decoder, answers, self._geometry, self._chunk)


def point_prompter(backend, embedding: ImageEmbedding, **options) -> PointPrompter:
    """The :class:`PointPrompter` of a backend's embedding.

    Raises
    ------
    PromptsegError
        The backend answers no batches of points (e.g. the classic backend,
        which has its own automatic pass).
    """
    own = getattr(backend, "point_prompter", None)
    if callable(own):
        return own(embedding, **options)
    features = embedding.features
    if hasattr(features, "geometry") and hasattr(features, "embedding") and hasattr(backend, "model"):
        return SamPointPrompter(backend, embedding, **options)
    raise PromptsegError(
        f"backend {getattr(backend, 'name', type(backend).__name__)!r} cannot answer batches of points; "
        "the automatic mask generator needs a SAM-family backend (use 'classic' for the weight-free pass)."
    )
