"""GrabCut baseline: OpenCV's GrabCut initialised from the clicks.

A classical anchor for the click tables (Rother et al. 2004).  Clicks become
definite object / background seeds; a disk around each positive click (and,
with feedback, the previous mask) is marked "probably object", everything
else "probably background"; a negative click inside that region carves a
"probably background" disk.  Only connected parts that contain a positive
click are kept.  Needs OpenCV: ``pip install napari-promptseg[baselines]``.
"""

from __future__ import annotations

import math

import numpy as np

from ..prompts import Prompts
from ._seeded import SEED_RADIUS, SeededBackend, empty_prediction, keep_clicked_parts, paint_disks
from .base import ImageEmbedding, Prediction

__all__ = ["GrabCutBackend"]


def _import_cv2():
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            "the grabcut backend needs OpenCV, which is an optional extra: "
            "pip install napari-promptseg[baselines]  (or: pip install opencv-python-headless)"
        ) from err
    return cv2


class GrabCutBackend(SeededBackend):
    """Interactive segmentation by GrabCut from clicks.

    Parameters
    ----------
    iterations : int
        GrabCut iterations per click.
    max_pixels : int
        GrabCut runs on a copy of the image with at most this many pixels
        (default 0.3 MP); masks are returned at full size.
    region_fraction : float
        Radius of the "probably object" disk around a positive click, as a
        fraction of sqrt(h * w) of the working copy.

    Raises
    ------
    ImportError
        If OpenCV is not installed (the message says how to install it).

    Examples
    --------
    >>> gc = GrabCutBackend()
    >>> img = np.zeros((60, 60, 3), np.uint8); img[15:45, 15:45] = (200, 40, 40)
    >>> pred = gc.predict(gc.encode(img), points=[(30, 30)], labels=[1])
    >>> bool(pred.mask[30, 30]), bool(pred.mask[5, 5])
    (True, False)
    """

    name = "grabcut"

    def __init__(self, *, iterations: int = 3, max_pixels: int = 300_000, region_fraction: float = 0.05) -> None:
        if iterations < 1 or max_pixels < 16 or not 0 < region_fraction < 1:
            raise ValueError(
                "GrabCutBackend needs iterations >= 1, max_pixels >= 16 and 0 < region_fraction < 1; "
                f"got {iterations}, {max_pixels}, {region_fraction}."
            )
        self._cv2 = _import_cv2()
        self.iterations, self.max_pixels, self.region_fraction = int(iterations), int(max_pixels), float(region_fraction)

    def identity(self) -> dict[str, float | int]:
        return {"iterations": self.iterations, "max_pixels": self.max_pixels, "region": self.region_fraction}

    def method_note(self) -> str:
        return f"OpenCV GrabCut ({self.iterations} iterations per click)"

    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """Segment from (row, col) clicks, a box, a mask prompt and the previous answer.

        Returns an (H, W) mask at image size; ``state`` holds the mask at
        working resolution for the next call's ``previous``.

        (Called by :meth:`PromptBackend.predict` with checked prompts; a
        polygon or scribble arrives drawn into the mask prompt.)
        """
        cv2 = self._cv2
        copy = embedding.features
        pts = copy.to_work(prompts.points)
        positives, negatives = pts[prompts.labels == 1], pts[prompts.labels == 0]

        prior = np.zeros(copy.shape, dtype=bool)
        if previous is not None:
            state = previous.state
            prior |= state if isinstance(state, np.ndarray) and state.shape == copy.shape else copy.mask_to_work(previous.mask)
        if prompts.mask is not None:
            prior |= copy.mask_to_work(prompts.mask)
        inside = None
        if prompts.box is not None:
            inside, centre = copy.box_to_work(prompts.box)
            if not prior.any():
                prior[inside] = True
            if len(positives) == 0:
                positives = centre
        if len(positives) == 0 and not prior.any():
            return empty_prediction(embedding.image_shape)

        radius = max(3, int(round(self.region_fraction * math.sqrt(copy.shape[0] * copy.shape[1]))))
        trimap = np.where(prior, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        paint_disks(trimap, np.array([p for p in positives if not prior[p[0], p[1]]]), cv2.GC_PR_FGD, radius)
        paint_disks(trimap, np.array([p for p in negatives if prior[p[0], p[1]]]), cv2.GC_PR_BGD, radius)
        if inside is not None:
            outside = np.ones(copy.shape, dtype=bool)
            outside[inside] = False
            trimap[outside] = cv2.GC_BGD
        for (r, c), lab in zip(pts, prompts.labels):
            paint_disks(trimap, np.array([[r, c]]), cv2.GC_FGD if lab == 1 else cv2.GC_BGD, SEED_RADIUS)
        paint_disks(trimap, positives, cv2.GC_FGD, 0)

        is_fg = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
        if is_fg.all():
            result = is_fg
        else:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(copy.rgb, trimap, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
            result = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
        result = keep_clicked_parts(result, positives) if len(positives) else result
        logits = copy.logits_to_image(np.where(result, np.float32(1.0), np.float32(-1.0)))
        return Prediction(mask=logits > 0, logits=logits, score=float(result.any()), state=result)
