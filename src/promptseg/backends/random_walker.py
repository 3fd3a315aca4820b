"""Random-walker baseline: scikit-image's random walker seeded by the clicks.

A classical anchor for the click tables (Grady 2006): positive clicks seed
the object; negative clicks and the image border (where no positive click
overrides it) seed the background.  It needs no weights and is
slow (one sparse linear solve per click), so it works on a copy of the image
capped at ``max_pixels``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..prompts import Prompts
from ._seeded import SEED_RADIUS, SeededBackend, WorkingCopy, empty_prediction, keep_clicked_parts, paint_disks
from .base import ImageEmbedding, Prediction

__all__ = ["RandomWalkerBackend"]


class RandomWalkerBackend(SeededBackend):
    """Interactive segmentation by a random walker seeded with clicks.

    Parameters
    ----------
    beta : float
        Edge penalty of :func:`skimage.segmentation.random_walker` (larger:
        diffusion stops more sharply at intensity edges).
    max_pixels : int
        The walker runs on a copy of the image with at most this many pixels
        (default 0.1 MP: one solve then takes about a second on one core);
        masks are returned at full size.
    tol : float
        Tolerance of the conjugate-gradient solver.

    Notes
    -----
    ``previous`` predictions and ``mask`` prompts are not used: the walker
    recomputes from all clicks each time.  A ``box`` seeds the background
    outside it (and the object at its centre when no positive click exists).

    Examples
    --------
    >>> rw = RandomWalkerBackend(max_pixels=4096)
    >>> img = np.zeros((40, 40), np.uint8); img[10:30, 10:30] = 200
    >>> emb = rw.encode(img)
    >>> rw.predict(emb, points=[(20, 20)], labels=[1]).mask[20, 5:35:5].tolist()
    [False, True, True, True, True, False]
    """

    name = "random_walker"

    def __init__(self, *, beta: float = 130.0, max_pixels: int = 100_000, tol: float = 1e-3) -> None:
        if beta <= 0 or max_pixels < 16 or tol <= 0:
            raise ValueError(
                f"RandomWalkerBackend needs beta > 0, max_pixels >= 16 and tol > 0; got {beta}, {max_pixels}, {tol}."
            )
        self.beta, self.max_pixels, self.tol = float(beta), int(max_pixels), float(tol)

    def identity(self) -> dict[str, float | int]:
        return {"beta": self.beta, "max_pixels": self.max_pixels}

    def method_note(self) -> str:
        return f"scikit-image random walker (beta={self.beta:g})"

    def prepare(self, copy: WorkingCopy) -> tuple[WorkingCopy, np.ndarray]:
        """The working copy and its (h, w, 3) float32 colours in [0, 1]."""
        return copy, copy.rgb.astype(np.float32) / np.float32(255.0)

    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """Segment from (row, col) clicks; returns an (H, W) mask at image size.

        (Called by :meth:`PromptBackend.predict` with checked prompts; a
        polygon or scribble arrives drawn into the mask prompt.)
        """
        copy, data = embedding.features
        seeds = np.zeros(copy.shape, dtype=np.int32)
        pts = copy.to_work(prompts.points)
        positives = pts[prompts.labels == 1]
        if prompts.box is not None:
            inside, centre = copy.box_to_work(prompts.box)
            outside = np.ones(copy.shape, dtype=bool)
            outside[inside] = False
            seeds[outside] = 2
            if len(positives) == 0:
                positives = centre
        if len(positives) == 0:
            return empty_prediction(embedding.image_shape)
        seeds[[0, -1], :] = 2  # the image border is background unless a click says otherwise
        seeds[:, [0, -1]] = 2
        for (r, c), lab in zip(pts, prompts.labels):
            paint_disks(seeds, np.array([[r, c]]), 1 if lab == 1 else 2, SEED_RADIUS)
        paint_disks(seeds, positives, 1, 0)
        from skimage.segmentation import random_walker

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # solver tolerance and "probability outside [0, 1]" notes
            prob = random_walker(
                data, seeds, beta=self.beta, mode="cg_j", tol=self.tol, return_full_prob=True, channel_axis=-1
            )[0]
        evidence = prob.astype(np.float32) - np.float32(0.5)
        kept = keep_clicked_parts(evidence > 0, positives)
        evidence = np.where(kept, evidence, np.minimum(evidence, np.float32(-1e-3)))
        logits = copy.logits_to_image(evidence)
        return Prediction(mask=logits > 0, logits=logits, score=float(prob[kept].mean()) if kept.any() else 0.0)

