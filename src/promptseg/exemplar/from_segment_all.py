"""Find similar from the automatic pass's candidates: every object ``segment_all`` finds, ranked by the exemplars.

Instead of looking for places like the exemplars and prompting the backend
there (:mod:`.search`), this source takes the objects of
:func:`promptseg.auto.segment_all` (the classic pass, or SAM's automatic
mask generator) as they are and ranks them by how alike their shape, size
and intensity are to the closest exemplar (:mod:`.descriptors`), nudged by
the exemplar model's appearance map (superpixel appearance or pooled
encoder features, the map the search scores with).  A candidate that
resembles a negative example (a rejected proposal) more than any exemplar
loses score by the square of the ratio of the two likenesses.  The pass's
own scores are left out: the classic pass's contrast is no likeness to the exemplars
(0.05-0.2 on DSB nuclei), and SAM's generator keeps only masks of high
predicted IoU anyway.  A candidate lying mostly on an exemplar or a
committed object is dropped.
"""

from __future__ import annotations

from typing import Generator, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..auto.segment_all import segment_all
from ..backends.base import Backend, ImageEmbedding
from ..errors import PromptsegError
from ..prompts import deepest_point
from .classic_search import lightness_image
from .descriptors import ObjectDescriptors, likeness, tolerances
from .learned import ExemplarModel
from .proposal import FindProgress, Proposal

__all__ = ["SOURCES", "segment_all_proposals"]

#: Where find similar takes its candidates from: its own search, the automatic pass, or both merged.
SOURCES = ("search", "segment_all", "both")
#: A candidate lying more than this share on a negative example is dropped (as in the search).
NEGATIVE_OVERLAP = 0.3
#: Exponent of the appearance map's mean in the score: the map of one bright exemplar calls dimmer
#: objects of the same kind background (DSB nuclei at IoU 0.97 with a mean of 0.2), so it only nudges.
LOOK_WEIGHT = 0.25


def segment_all_proposals(
    backend: Backend,
    embedding: ImageEmbedding,
    model: ExemplarModel,
    exemplars: Sequence[np.ndarray],
    *,
    image: np.ndarray | None = None,
    auto_labels: np.ndarray | None = None,
    negatives: Sequence[np.ndarray] = (),
    excluded: np.ndarray | None = None,
    slice_key: tuple[int, ...] = (),
    max_overlap: float = 0.5,
    max_candidates: int = 500,
) -> Generator[FindProgress, None, list[Proposal]]:
    """Rank the objects of the automatic pass on one slice by their likeness to the exemplars.

    Parameters
    ----------
    backend : Backend
        Runs the automatic pass (when ``auto_labels`` is not given) and
        answers each proposal's prompts (its deepest point, itself as mask
        prompt) so that it can be edited like any other.
    embedding : ImageEmbedding
        The slice, encoded by ``backend`` (SAM's generator reuses it).
    model : ExemplarModel
        The exemplars' description (its appearance map scores the candidates).
    exemplars : list of (H, W) bool masks
        On this slice; their shape, size and intensity rank the candidates
        (none: the model's exemplar sizes alone do).
    image : np.ndarray, shape (H, W) or (H, W, C), optional
        The slice itself: the automatic pass runs on it.
    auto_labels : np.ndarray, shape (H, W), int, optional
        The automatic pass's objects when already known (then ``image`` is
        only used for the intensity of SAM-family candidates).
    negatives : list of (H, W) bool masks
        Rejected things: candidates like them score lower, candidates on them are dropped.
    excluded : np.ndarray, shape (H, W), bool, optional
        Known objects (exemplars, committed ones): a candidate lying more
        than ``max_overlap`` of its area on them is dropped, the others keep
        only their background pixels.
    slice_key : tuple of int
        Stamped on the proposals.
    max_candidates : int
        Keep at most this many proposals (the best).

    Yields
    ------
    FindProgress
        ``"search"`` before the automatic pass and once per step of it,
        ``"prompt"`` after each proposal's prompts are answered.

    Returns
    -------
    list of Proposal
        Highest score first (they do not overlap: the pass's objects are disjoint).

    Raises
    ------
    PromptsegError
        Neither ``image`` nor ``auto_labels``, or either of the wrong size.
    """
    shape = tuple(embedding.image_shape)
    key = tuple(int(k) for k in slice_key)
    if image is not None and tuple(np.shape(image)[:2]) != shape:
        raise PromptsegError(f"the image has shape {np.shape(image)}; it must be the encoded slice, {shape} (rows, cols).")
    if auto_labels is None and image is None:
        raise PromptsegError("find similar from segment-all candidates needs the slice's image (or the pass's labels).")
    if auto_labels is not None and np.shape(auto_labels) != shape:
        raise PromptsegError(f"the automatic labels have shape {np.shape(auto_labels)}; they must match the slice, {shape}.")
    yield FindProgress("search", 0, 1, key, 0)
    if auto_labels is None:
        deep = model.kind == "deep"
        result = yield from _relay(segment_all(backend, image, embedding=embedding if deep else None), key)
        auto_labels = result.labels
    excluded = np.zeros(shape, bool) if excluded is None else np.asarray(excluded, bool)
    negative = np.logical_or.reduce(list(negatives)) if len(negatives) else None
    proposals = _ranked(model, exemplars, negatives, np.asarray(auto_labels), _intensity(embedding, image),
                        model.candidates(embedding, excluded).similarity, excluded, negative, key, max_overlap)
    proposals = proposals[: int(max_candidates)]
    for i, p in enumerate(proposals):  # the backend's answer to the proposal's prompts, for editing
        proposals[i] = Proposal(p.slice_key, p.box, p.crop, p.score, p.seed, None, p.template,
                                backend.predict(embedding, p.prompts(shape)))
        yield FindProgress("prompt", i + 1, len(proposals), key, len(proposals))
    return proposals


def _relay(gen, key):
    """Pass the automatic pass's progress on as ``"search"`` steps; return its result."""
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        yield FindProgress("search", step.done, max(step.total, 1), key, 0)


def _intensity(embedding: ImageEmbedding, image: np.ndarray | None) -> np.ndarray | None:
    """(H, W) float intensity to compare objects by: the classic lightness, else the image's channel mean."""
    lightness = lightness_image(embedding)
    if lightness is not None:
        return np.asarray(lightness, np.float64)
    if image is None:
        return None
    arr = np.asarray(image, np.float64)
    return arr.mean(axis=2) if arr.ndim == 3 else arr


def _ranked(model, exemplars, negatives, labels, intensity, similarity, excluded, negative, key,
            max_overlap) -> list[Proposal]:
    """Every usable object of an (H, W) label image as a proposal, best first."""
    ids, found = ObjectDescriptors.from_labels(labels, intensity)
    tolerance = tolerances(model.shape.log_spread, intensity)
    if len(exemplars):
        like = likeness(found, ObjectDescriptors.from_masks(exemplars, intensity), tolerance)
    else:  # a model learnt on another slice: its sizes only
        like = np.array([model.shape.size_score(np.exp(v)) for v in found.values[:, 0]])
    unlike = likeness(found, ObjectDescriptors.from_masks(negatives, intensity), tolerance)
    low, high = model.shape.area_range()
    boxes = ndi.find_objects(labels)
    out = []
    for label, form, against in zip(ids, like, unlike):
        window = boxes[label - 1]
        crop = labels[window] == label
        area = int(np.count_nonzero(crop))
        if np.count_nonzero(crop & excluded[window]) > max_overlap * area:
            continue
        if negative is not None and np.count_nonzero(crop & negative[window]) > NEGATIVE_OVERLAP * area:
            continue
        crop &= ~excluded[window]
        area = int(np.count_nonzero(crop))
        if not low <= area <= high:
            continue
        look = float(similarity[window][crop].mean()) if similarity is not None else 1.0
        rejected = min(1.0, form / against) ** 2 if against > 0 else 1.0
        score = form * rejected * max(look, 0.0) ** LOOK_WEIGHT
        out.append(_proposal(key, window, crop, score))
    return sorted(out, key=lambda p: -p.score)


def _proposal(key, window, crop, score) -> Proposal:
    """A proposal of the (h, w) bool ``crop`` at ``window`` (two slices), prompted by its deepest point and itself."""
    r0, c0 = window[0].start, window[1].start
    rows = np.flatnonzero(crop.any(axis=1))
    cols = np.flatnonzero(crop.any(axis=0))
    tight = crop[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1].copy()
    r0, c0 = r0 + int(rows[0]), c0 + int(cols[0])
    deep = deepest_point(tight)
    seed = (float(r0 + deep[0]), float(c0 + deep[1]))
    template = (np.argwhere(tight) - np.array([int(round(deep[0])), int(round(deep[1]))])).astype(np.int32)
    box = (r0, c0, r0 + tight.shape[0], c0 + tight.shape[1])
    return Proposal(key, box, tight, float(score), seed, None, template, None)
