"""The one interface every segmentation backend implements.

A backend turns an image into an :class:`ImageEmbedding` once (``encode``,
the heavy part) and then answers any number of prompt sets against that
embedding (``predict``, the light per-click part).  The GUI, the CLI, the
evaluation and the embedding store only ever talk to this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import EmbeddingError

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(eq=False)
class ImageEmbedding:
    """What a backend knows about one image after encoding it.

    Attributes
    ----------
    backend_id : str
        Identity of the model that produced it (name plus checkpoint hash);
        ``predict`` refuses embeddings with another id.
    image_shape : (int, int)
        (H, W) of the original image in pixels; every prediction is returned
        at this size, in the image's (row, col) frame.
    features : Any
        Backend-specific payload (a SAM image embedding of shape
        (1, 256, 64, 64), classical feature maps, ...).
    encode_seconds : float
        Wall time spent in ``encode``.
    cache : dict
        Backend-private values derived from ``features`` on first use (not
        part of the embedding's identity; never stored on disk).
    """

    backend_id: str
    image_shape: tuple[int, int]
    features: Any
    encode_seconds: float = 0.0
    cache: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=False)
class Prediction:
    """One mask answered for one prompt set.

    Attributes
    ----------
    mask : np.ndarray, shape (H, W), bool
        The object, in the image's (row, col) frame; ``mask == logits > 0``.
    logits : np.ndarray, shape (H, W), float32
        Per-pixel evidence for the object; positive inside.
    score : float
        The backend's own quality estimate (SAM: predicted IoU).
    state : Any
        Backend-private feedback for the next ``predict(previous=...)``
        (SAM: the 256x256 low-resolution logits).
    """

    mask: np.ndarray
    logits: np.ndarray
    score: float
    state: Any = field(default=None, repr=False)

    @property
    def area(self) -> int:
        """Number of object pixels."""
        return int(self.mask.sum())


@runtime_checkable
class Backend(Protocol):
    """Encode once, predict many.

    A backend may also define ``warm_up() -> float``: pay its one-off start-up
    costs in the calling thread (the annotator calls it in the GUI thread when
    the backend is chosen); see :meth:`promptseg.backends.sam.SamBackend.warm_up`.
    And ``prepare_feedback(embedding, previous)``: do ahead of the next click
    the work of feeding ``previous`` back (the annotator calls it while the
    user is idle after an answer); see
    :meth:`promptseg.backends.sam.SamBackend.prepare_feedback`.
    And ``score_is_quality = True`` when :attr:`Prediction.score` estimates
    the mask's quality (SAM's predicted IoU); the annotator shows the score
    only then.
    """

    #: Short name shown to users (registry name, file name or ``classic``).
    name: str

    @property
    def backend_id(self) -> str:
        """Identity stamped on every embedding this backend makes."""
        ...

    def encode(self, image: np.ndarray, *, contrast_limits: Sequence[float] | None = None) -> ImageEmbedding:
        """Do all image-dependent work for a (H, W) or (H, W, C) image."""
        ...

    def predict(
        self,
        embedding: ImageEmbedding,
        *,
        points: Sequence[Point] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Box | None = None,
        mask: np.ndarray | None = None,
        previous: Prediction | None = None,
    ) -> Prediction:
        """Answer one prompt set; coordinates are (row, col) image pixels."""
        ...


def check_embedding(embedding: Any, backend_id: str) -> ImageEmbedding:
    """Raise a helpful error unless ``embedding`` was made by ``backend_id``."""
    if embedding is None:
        raise EmbeddingError("no embedding: call backend.encode(image) first and pass its result to predict().")
    if not isinstance(embedding, ImageEmbedding):
        raise EmbeddingError(
            f"predict() needs the ImageEmbedding returned by encode(), got {type(embedding).__name__}."
        )
    if embedding.backend_id != backend_id:
        raise EmbeddingError(
            f"this embedding was made by backend {embedding.backend_id!r}, not {backend_id!r}; "
            "encode the image again with this backend."
        )
    return embedding
