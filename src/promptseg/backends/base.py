"""The one interface every segmentation backend implements.

A backend turns an image into an :class:`ImageEmbedding` once (``encode``,
the heavy part) and then answers any number of prompt sets against that
embedding (``predict``, the light per-click part).  The GUI, the CLI, the
evaluation and the embedding store only ever talk to this interface.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import EmbeddingError, PromptError
from ..prompts import Prompts

#: Keywords of ``predict``'s short form: the :class:`Prompts` fields.
SHORT_FORM = frozenset({"points", "labels", "box", "mask", "polygons", "polygon_labels", "scribbles",
                        "scribble_labels"})


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

    ``predict(embedding, prompts, *, previous=None)`` answers one
    :class:`~promptseg.prompts.Prompts` value; scripts may pass the short
    form instead, ``predict(embedding, points=[(r, c)], labels=[1], box=...)``
    (any :class:`~promptseg.prompts.Prompts` field as a keyword).
    :class:`PromptBackend` implements both once: a backend derived from it
    writes only ``answer(embedding, prompts, previous)``.

    A backend may also declare ``native_prompts``: the path kinds
    (``"polygons"``, ``"scribbles"``) it reads itself; the others reach it
    drawn into the mask prompt (:meth:`Prompts.rasterised`).  It may define
    ``warm_up() -> float``: pay its one-off start-up costs in the calling
    thread (the annotator calls it in the GUI thread when the backend is
    chosen); see :meth:`promptseg.backends.sam.SamBackend.warm_up`.
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

    def predict(self, embedding: ImageEmbedding, prompts: Prompts | None = None, *,
                previous: Prediction | None = None, **short: Any) -> Prediction:
        """Answer one prompt set; coordinates are (row, col) image pixels."""
        ...


def native_prompts(backend: Any) -> frozenset[str]:
    """The path kinds ``backend`` reads natively (its ``native_prompts``; none when it declares nothing)."""
    return frozenset(getattr(backend, "native_prompts", ()))


def checked_prompts(embedding: ImageEmbedding, prompts: Prompts | None, short: dict[str, Any]) -> Prompts:
    """The :class:`Prompts` a ``predict`` call asks about, checked against ``embedding``'s image.

    Parameters
    ----------
    prompts : Prompts or None
        The value; None when the call uses the short form.
    short : dict
        The short form's keywords (``points=``, ``labels=``, ``box=``,
        ``mask=``, ``polygons=``, ``scribbles=`` and their labels).

    Raises
    ------
    TypeError
        Both forms at once, an unknown keyword, or ``prompts`` that is no
        :class:`Prompts`.
    PromptError
        Malformed prompts, coordinates outside the image, no prompt at all.
    """
    shape = embedding.image_shape
    if short:
        unknown = set(short) - SHORT_FORM
        if unknown:
            raise TypeError(f"predict() got unexpected keyword arguments {sorted(unknown)}; "
                            f"prompts are given as {sorted(SHORT_FORM)}.")
        if prompts is not None:
            raise TypeError("predict() takes a Prompts value or the keywords points=, labels=, box=, ..., not both.")
        prompts = Prompts(**short, image_shape=shape)
    elif prompts is None:
        prompts = Prompts(image_shape=shape)
    elif not isinstance(prompts, Prompts):
        raise TypeError(f"predict() takes a promptseg.prompts.Prompts value, got {type(prompts).__name__}; "
                        "or pass points=, labels=, box=, mask= as keywords.")
    else:
        prompts = prompts.on_image(shape)
    if prompts.is_empty:
        raise PromptError("no prompt given: add at least one point, a box or a mask.")
    return prompts


class PromptBackend:
    """The shared half of every backend's ``predict``: a backend implements :meth:`answer`.

    ``predict`` checks the embedding, builds or checks the :class:`Prompts`
    (from the short form when that is used), draws the paths the backend
    does not read natively into the mask prompt, and hands the result to
    :meth:`answer`.  Subclasses set ``name``, ``backend_id`` and, when they
    read polygons or scribbles themselves, ``native_prompts``.
    """

    #: Path kinds (``"polygons"``, ``"scribbles"``) this backend reads itself; others reach it as mask pixels.
    native_prompts: frozenset[str] = frozenset()

    def predict(self, embedding: ImageEmbedding, prompts: Prompts | None = None, *,
                previous: Prediction | None = None, **short: Any) -> Prediction:
        """Answer one prompt set, given as a :class:`Prompts` value or in the short form.

        Parameters
        ----------
        embedding : ImageEmbedding
            From this backend's ``encode``.
        prompts : Prompts, optional
            The prompts, (row, col) pixels of the embedded image.
        previous : Prediction, optional
            This backend's last answer for the same object, fed back.
        **short
            Instead of ``prompts``: ``points=`` (N, 2), ``labels=`` (N,),
            ``box=`` (row0, col0, row1, col1), ``mask=`` (H, W), ``polygons=``,
            ``scribbles=`` (lists of (K, 2)) and ``polygon_labels=``,
            ``scribble_labels=``.

        Raises
        ------
        EmbeddingError
            ``embedding`` was not made by this backend.
        PromptError
            Malformed prompts, coordinates outside the image, no prompt at all.
        """
        emb = check_embedding(embedding, self.backend_id)
        checked = checked_prompts(emb, prompts, short).rasterised(self.native_prompts, where=f"the {self.name} backend")
        return self.answer(emb, checked, previous)

    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """The backend's own work: answer checked, non-empty ``prompts`` on its own ``embedding``."""
        raise NotImplementedError


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


class FeatureBackend(PromptBackend):
    """A backend whose ``encode`` is its :meth:`image_features`, timed (classic, the seeded baselines)."""

    def encode(self, image: np.ndarray, *, contrast_limits: Sequence[float] | None = None) -> ImageEmbedding:
        """Do all image-dependent work for an (H, W) or (H, W, C) image.

        Parameters
        ----------
        image : np.ndarray, shape (H, W) or (H, W, C), C in {1, 3, 4}
            uint8, uint16 or float; non-uint8 data is scaled by
            ``contrast_limits`` or robust percentiles.
        contrast_limits : (low, high), optional
            napari's display range for the layer.

        Raises
        ------
        ImageError
            Wrong dimensions, NaNs, constant images.
        """
        t0 = time.perf_counter()
        image_shape, features = self.image_features(image, contrast_limits=contrast_limits)
        return ImageEmbedding(backend_id=self.backend_id, image_shape=image_shape, features=features,
                              encode_seconds=time.perf_counter() - t0)

    def image_features(
        self, image: np.ndarray, *, contrast_limits: Sequence[float] | None
    ) -> tuple[tuple[int, int], Any]:
        """``((H, W), features)``: the image's size and the embedding's backend-specific payload."""
        raise NotImplementedError
