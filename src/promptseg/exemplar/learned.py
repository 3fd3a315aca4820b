"""The exemplar model: what the exemplars look like and how large they are, portable across slices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..backends.base import ImageEmbedding
from ..errors import PromptsegError
from .candidates import Candidates
from .classic_search import ClassicAppearance, classic_candidates
from .deep_search import DeepAppearance, deep_candidates
from .shape import ExemplarShape, check_masks

__all__ = ["ExemplarModel", "describe_exemplars"]


@dataclass(frozen=True)
class ExemplarModel:
    """Appearance and size of one kind of object, learnt from exemplar masks on one slice.

    Attributes
    ----------
    kind : {"classic", "deep"}
        Superpixel appearance (classic backend) or encoder features (SAM family).
    appearance : ClassicAppearance or DeepAppearance
    shape : ExemplarShape
    """

    kind: str
    appearance: ClassicAppearance | DeepAppearance
    shape: ExemplarShape

    def candidates(self, embedding: ImageEmbedding, excluded: np.ndarray | None) -> Candidates:
        """Seeds of likely objects on a slice (``excluded``: (H, W) bool, known objects)."""
        search = classic_candidates if self.kind == "classic" else deep_candidates
        return search(embedding, self.appearance, radius=self.shape.radius, excluded=excluded)


def describe_exemplars(
    embedding: ImageEmbedding,
    exemplars: Sequence[np.ndarray] | np.ndarray,
    negatives: Sequence[np.ndarray] | np.ndarray | None = None,
) -> ExemplarModel:
    """Learn an :class:`ExemplarModel` from masks on the slice ``embedding`` was made from.

    Parameters
    ----------
    embedding : ImageEmbedding
        Classic or SAM-family embedding of the slice.
    exemplars : list of np.ndarray, each (H, W) bool, or an (H, W) label image
        Finished objects of the kind to look for (a label image gives one
        exemplar per label).
    negatives : same, optional
        Examples of what must not be proposed.

    Raises
    ------
    PromptError
        Masks of the wrong shape, or no exemplar pixel at all.
    PromptsegError
        An embedding of a backend without features to compare (random
        walker, GrabCut, tiled embeddings).
    """
    shape = tuple(embedding.image_shape)
    pos = check_masks(exemplars, shape, "exemplar")
    neg = check_masks(negatives, shape, "negative")
    size = ExemplarShape.from_masks(pos)
    features = embedding.features
    if hasattr(features, "graph") and hasattr(features, "work"):
        return ExemplarModel("classic", ClassicAppearance.from_masks(embedding, pos, neg), size)
    if hasattr(features, "embedding") and hasattr(features, "geometry"):
        return ExemplarModel("deep", DeepAppearance.from_masks(embedding, pos, neg), size)
    raise PromptsegError(
        f"find-similar cannot compare {type(features).__name__} embeddings; use the classic backend or a "
        "SAM-family checkpoint (untiled: images up to the tile size, or a store written without tiles)."
    )
