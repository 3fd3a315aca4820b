"""What the automatic mask generator needs from a model: answers to batches of single points.

:class:`PointPrompter` is the whole interface between the generator
(:mod:`promptseg.auto.amg`) and a model family.  SAM 1 / MobileSAM and SAM 2.1
plug in through :class:`SamPointPrompter` (the fast decoder's batched path,
which the backend hands over with ``point_decoder(embedding)``); another
family plugs in by giving its backend a ``point_prompter(embedding)`` method
that returns an object with the same two methods.
"""

from __future__ import annotations

from typing import Protocol

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
    """Batched points through the fast decoder of a SAM 1 / MobileSAM or SAM 2.1 backend.

    Parameters
    ----------
    backend
        A :class:`~promptseg.backends.sam.SamBackend` or
        :class:`~promptseg.backends.sam2.Sam2Backend` (its ``point_decoder``).
    embedding : ImageEmbedding
        Made by that backend (``features`` with a ``geometry``).
    chunk : int
        Points run through the transformer together (a memory / cache
        trade-off on CPUs; results do not depend on it).
    multimask : bool
        Three candidates per point (SAM's automatic generator) or one.
    """

    def __init__(self, backend, embedding: ImageEmbedding, *, chunk: int = 8, multimask: bool = True) -> None:
        self._decoder, self._prep, self._prompt_encoder = backend.point_decoder(embedding)
        self._geometry = embedding.features.geometry
        self._device = self._prep.tokens_no_mask.device
        self._chunk = int(chunk)
        self._multimask = multimask

    @torch.inference_mode()
    def decode(self, points_xy: np.ndarray) -> PointAnswers:
        xy = self._geometry.coords_to_input(np.asarray(points_xy, np.float64).reshape(-1, 2))
        coords = torch.as_tensor(xy, dtype=torch.float32, device=self._device)[:, None]
        labels = torch.ones(len(xy), 1, dtype=torch.long, device=self._device)
        sparse = self._prompt_encoder.embed_points(coords, labels, pad=True)  # SAM 2: the same tokens
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
    if callable(getattr(backend, "point_decoder", None)):
        return SamPointPrompter(backend, embedding, **options)
    raise PromptsegError(
        f"backend {getattr(backend, 'name', type(backend).__name__)!r} cannot answer batches of points; "
        "the automatic mask generator needs a SAM-family backend (use 'classic' for the weight-free pass)."
    )
