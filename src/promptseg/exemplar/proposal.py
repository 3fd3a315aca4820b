"""What a find-similar search returns and reports while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from ..backends.base import Prediction
from ..prompts import Prompts
from .shape import place_template

__all__ = ["Proposal", "FindProgress"]


@dataclass(frozen=True, eq=False)
class Proposal:
    """One candidate object found by similarity to the exemplars.

    Attributes
    ----------
    slice_key : tuple of int
        The 2D slice it lies on (``()`` for a 2D image).
    box : (int, int, int, int)
        (row0, col0, row1, col1), end exclusive: where ``crop`` sits in the
        slice's (row, col) frame.
    crop : np.ndarray, shape (row1 - row0, col1 - col0), bool
        The object's pixels inside ``box``.
    score : float
        Confidence in [0, 1] that this is an object of the exemplars' kind
        (appearance, size and the backend's own score together).
    seed : (float, float)
        The (row, col) candidate location the backend was prompted at.
    prompt_box : (float, float, float, float) or None
        The (row0, col0, row1, col1) box prompt given with the seed, if any.
    template : np.ndarray, shape (N, 2), int, or None
        (row, col) offsets from the seed of the mask prompt given with the
        seed (the exemplar's shape), if any.  Seed, box and template
        reproduce the backend's answer (:meth:`prompts`); ``crop`` may differ
        from it by the boundary refinement learnt from the exemplars
        (:mod:`.boundary`) and by the pixels of known objects left out.
    prediction : Prediction or None
        The backend's full answer (for editing the proposal further with
        ``predict(previous=...)``); None once detached from the embedding.
    """

    slice_key: tuple[int, ...]
    box: tuple[int, int, int, int]
    crop: np.ndarray
    score: float
    seed: tuple[float, float]
    prompt_box: tuple[float, float, float, float] | None = None
    template: np.ndarray | None = field(default=None, repr=False)
    prediction: Prediction | None = field(default=None, repr=False)

    @property
    def area(self) -> int:
        """Object pixels."""
        return int(np.count_nonzero(self.crop))

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The object as a full (H, W) bool mask of a slice of ``shape``."""
        out = np.zeros(shape, bool)
        r0, c0, r1, c1 = self.box
        out[r0:r1, c0:c1] = self.crop
        return out

    def prompt_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The mask prompt (the exemplar's shape at the seed), (H, W) bool, or None."""
        return None if self.template is None else place_template(self.template, self.seed, shape)

    def prompts(self, shape: tuple[int, int]) -> Prompts:
        """The prompts that reproduce the backend's answer on a slice of (H, W) ``shape``: seed, box, shape mask."""
        return Prompts(points=[self.seed], labels=[1], box=self.prompt_box, mask=self.prompt_mask(shape),
                       image_shape=shape)


@dataclass(frozen=True)
class FindProgress:
    """Yielded while a search runs.

    Attributes
    ----------
    stage : str
        ``"encode"``, ``"search"`` (candidates located) or ``"prompt"`` (one
        candidate answered by the backend).
    done, total : int
        Steps of this stage finished, and the number there will be.
    slice_key : tuple of int
        The slice being worked on.
    proposals : int
        Proposals kept so far on this slice.
    """

    stage: str
    done: int
    total: int
    slice_key: tuple[int, ...] = ()
    proposals: int = 0
