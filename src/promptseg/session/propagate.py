"""3D propagation: carry one object's mask from slice z up and down a stack.

Each new slice is prompted from its neighbour's mask -- the mask itself as
mask prompt, its bounding box (slightly enlarged) and a positive click at
its innermost pixel.  Before that, the backend answers the same kind of
prompts on the start slice, and the logit threshold at which its answer
best matches the committed start mask is used on every slice
(``calibrate``, see :func:`~promptseg.session.propagation_checks.calibrate_threshold`):
the user's own mask corrects a backend that draws boundaries
systematically too wide or too narrow.  Propagation in one direction stops
at the first slice where the backend's score drops below ``min_score``,
the mask's IoU with the previous slice drops below ``min_overlap``, the
mask vanishes (fewer than ``min_area`` pixels), or -- for convex objects
such as nuclei, whose area along z rises to one maximum and falls -- the
mask grows again after it has shrunk (``regrow_tolerance``: past the
object's end a backend tends to creep into the background one slice after
the other) or stays large where the shrinking trend says the object ends
(``end_fraction``); that slice is not kept.

:func:`propagate` is a generator (progress per slice, the masks as its
return value) that needs only a backend and a way to get each slice's
embedding (an :class:`~promptseg.store.EmbeddingStore`, a list, a
function), so embeddings stream from disk and memory stays bounded.
:func:`commit_propagation` writes the result into an
:class:`~promptseg.session.AnnotationSession` as one undoable step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generator, Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import PromptsegError
from ..prompts import Prompts, deepest_point
from .history import CommittedObject, Draft, LabelEdit, Step
from .propagation_checks import AreaTrend, calibrate_threshold, iou

#: Why propagation stopped in one direction.
STOP_REASONS = ("score", "overlap", "vanished", "regrew", "ended", "range")


@dataclass(frozen=True)
class PropagationStep:
    """Yielded after each slice :func:`propagate` predicts.

    Attributes
    ----------
    z : int
        The slice just predicted.
    direction : int
        +1 (increasing z) or -1.
    accepted : bool
        Whether the mask was kept; False means propagation stops here in this direction.
    reason : str or None
        For a rejected slice: ``"score"``, ``"overlap"``, ``"vanished"``, ``"regrew"`` or ``"ended"``.
    score, overlap : float
        The backend's score and the IoU with the previous slice's mask.
    area : int
        Pixels of the predicted mask.
    done, total : int
        Slices predicted so far / at most (the whole ``z_range`` minus the start).
    """

    z: int
    direction: int
    accepted: bool
    reason: str | None
    score: float
    overlap: float
    area: int
    done: int
    total: int


@dataclass
class PropagationResult:
    """The object on every slice it was carried to.

    Attributes
    ----------
    start : int
        The slice it started from (its mask is included).
    masks : dict of int to np.ndarray (H, W) bool
        Kept masks by slice.
    scores : dict of int to float
        The backend's score by slice (1.0 for the start).
    stopped : dict of int to str
        Direction (+1, -1) -> why it stopped (:data:`STOP_REASONS`).
    threshold : float
        Logit threshold used on every slice (0 without calibration).
    calibration_iou : float or None
        IoU of the backend's answer on the start slice (at ``threshold``)
        with the start mask; None without calibration.
    """

    start: int
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    stopped: dict[int, str] = field(default_factory=dict)
    threshold: float = 0.0
    calibration_iou: float | None = None

    @property
    def z_range(self) -> tuple[int, int]:
        """(first, last) slice holding the object, inclusive."""
        return min(self.masks), max(self.masks)


def _embedding_getter(embeddings) -> tuple[Callable[[int], ImageEmbedding], int | None]:
    if hasattr(embeddings, "load"):
        return embeddings.load, getattr(embeddings, "n_slices", None)
    if isinstance(embeddings, Sequence):
        return embeddings.__getitem__, len(embeddings)
    if callable(embeddings):
        return embeddings, None
    raise TypeError("embeddings must be an EmbeddingStore, a sequence of ImageEmbedding or a function z -> ImageEmbedding.")


def neighbour_prompts(mask: np.ndarray, *, box_margin: float = 0.1) -> Prompts:
    """Prompts for the next slice from an (H, W) bool mask: mask, box (row0, col0, row1, col1) and the innermost point."""
    mask = np.asarray(mask, bool)
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    pad_r = max(2.0, box_margin * (rows.max() - rows.min() + 1))
    pad_c = max(2.0, box_margin * (cols.max() - cols.min() + 1))
    box = (max(rows.min() - pad_r, 0.0), max(cols.min() - pad_c, 0.0),
           min(rows.max() + pad_r, h - 1.0), min(cols.max() + pad_c, w - 1.0))
    return Prompts(points=[deepest_point(mask)], labels=[1], box=box, mask=mask, image_shape=(h, w))


def propagate(
    backend: Backend,
    embeddings,
    start_mask: np.ndarray,
    z: int,
    *,
    z_range: tuple[int, int] | None = None,
    min_score: float = 0.0,
    min_overlap: float = 0.3,
    min_area: int = 4,
    regrow_tolerance: float | None = 0.25,
    end_fraction: float | None = 0.3,
    calibrate: bool = True,
    directions: Sequence[int] = (1, -1),
) -> Generator[PropagationStep, None, PropagationResult]:
    """Carry ``start_mask`` on slice ``z`` through the stack, slice by slice.

    Parameters
    ----------
    backend : Backend
        Answers each slice's prompts (the one the embeddings were made with).
    embeddings : EmbeddingStore, sequence of ImageEmbedding, or callable
        Slice index -> embedding; a store streams each slice from disk.
    start_mask : np.ndarray, shape (H, W), bool
        The object on slice ``z`` (the current prediction or a committed object).
    z : int
        Its slice.
    z_range : (int, int), optional
        First and last slice (inclusive) to propagate to; default the whole
        stack (required when ``embeddings`` is a function).
    min_score : float
        Stop when the backend's score falls below this.
    min_overlap : float
        Stop when the IoU with the previous slice's mask falls below this.
    min_area : int
        Stop when the mask has fewer pixels (the object vanished).
    regrow_tolerance : float or None
        Once the area has fallen below ``1 - regrow_tolerance`` of its
        largest value, stop when it exceeds ``1 + regrow_tolerance`` times
        its smallest value since (convex objects); None disables this.
    end_fraction : float or None
        While the area falls, stop where the trend of the last three areas
        predicts less than this fraction of the last area but the mask keeps
        more than ``1 - end_fraction`` of it (convex objects: the object
        ended, the backend follows the blur past it); None disables this.
    calibrate : bool
        Use the logit threshold at which the backend's answer on the start
        slice best matches ``start_mask`` (False: the backend's own masks).
    directions : sequence of {+1, -1}
        Up (+1), down (-1) or both.

    Yields
    ------
    PropagationStep
        After each predicted slice.

    Returns
    -------
    PropagationResult
        Masks and scores of every kept slice, including ``z``.

    Raises
    ------
    PromptsegError
        Empty start mask, ``z`` outside ``z_range``, or no ``z_range`` with a
        function of embeddings.
    """
    load, n = _embedding_getter(embeddings)
    start_mask = np.asarray(start_mask, bool)
    if start_mask.ndim != 2 or not start_mask.any():
        raise PromptsegError("propagation needs a non-empty (H, W) mask on the start slice: segment the object first.")
    if z_range is None:
        if n is None:
            raise PromptsegError("give z_range=(first, last) when embeddings is a function.")
        z_range = (0, n - 1)
    lo, hi = int(z_range[0]), int(z_range[1])
    if n is not None:
        lo, hi = max(lo, 0), min(hi, n - 1)
    if not lo <= z <= hi:
        raise PromptsegError(f"start slice {z} lies outside the propagation range {lo}..{hi}.")
    result = PropagationResult(start=int(z), masks={int(z): start_mask}, scores={int(z): 1.0})
    if calibrate:
        first = load(int(z))
        _check_shape(first, start_mask, int(z))
        answer = backend.predict(first, neighbour_prompts(start_mask))
        result.threshold, result.calibration_iou, _ = calibrate_threshold(answer.logits, start_mask)
    total = sum((hi - z) if d > 0 else (z - lo) for d in directions)
    done = 0
    for direction in directions:
        prev, current = start_mask, int(z) + direction
        areas = AreaTrend(int(start_mask.sum()), regrow_tolerance, end_fraction)
        result.stopped[direction] = "range"
        while lo <= current <= hi:
            emb = load(current)
            _check_shape(emb, start_mask, current)
            pred = backend.predict(emb, neighbour_prompts(prev))
            mask = pred.mask if result.threshold == 0.0 else np.asarray(pred.logits) > result.threshold
            area, overlap = int(mask.sum()), iou(mask, prev)
            reason = ("vanished" if area < min_area else "score" if pred.score < min_score
                      else "overlap" if overlap < min_overlap else areas.check(area))
            done += 1
            yield PropagationStep(current, direction, reason is None, reason, float(pred.score), overlap, area, done, total)
            if reason is not None:
                result.stopped[direction] = reason
                break
            result.masks[current], result.scores[current] = mask, float(pred.score)
            prev, current = mask, current + direction
    return result


def _check_shape(embedding: ImageEmbedding, start_mask: np.ndarray, z: int) -> None:
    if tuple(embedding.image_shape) != start_mask.shape:
        raise PromptsegError(f"slice {z} has shape {tuple(embedding.image_shape)}, the start mask {start_mask.shape}.")


def commit_propagation(session, result: PropagationResult, *, label: int | None = None, overwrite: bool = False,
                       prefix: tuple[int, ...] = ()) -> LabelEdit:
    """Write a propagation into ``session.objects`` as one undoable step; returns the edit.

    Parameters
    ----------
    session : AnnotationSession
        Its image's last leading axis is the propagation axis.
    label : int, optional
        Id to write: an existing object's id extends that object; default the
        next free id (a new object, recorded with the current prompts).
    overwrite : bool
        Also take pixels of other objects (default: background only).
    prefix : tuple of int
        Leading indices before the propagation axis (e.g. the time point of a
        (T, Z, H, W) image).
    """
    new_object = label is None or int(label) >= session.next_label
    label = session.next_label if label is None else int(label)
    indices: list[list[np.ndarray]] = [[] for _ in range(len(prefix) + 3)]
    for z, mask in sorted(result.masks.items()):
        plane = np.asarray(session.objects[prefix + (z,)])
        write = mask if overwrite else mask & (plane == 0)
        rows, cols = np.nonzero(write & (plane != label))
        for axis, value in enumerate(prefix + (z,)):
            indices[axis].append(np.full(rows.size, value, dtype=np.intp))
        indices[-2].append(rows)
        indices[-1].append(cols)
    index = tuple(np.concatenate(parts) for parts in indices)
    if index[-1].size == 0:
        raise PromptsegError("nothing to write: the propagated masks add no pixels (they lie on existing objects).")
    edit = LabelEdit(index, np.array(session.objects[index]), label)
    obj = None
    if new_object:
        draft = session.draft
        obj = CommittedObject(
            label=label, slice_key=prefix + (result.start,),
            prompts=draft.prompts if not draft.is_empty else Prompts(),
            backend_name=str(getattr(session.backend, "name", type(session.backend).__name__)),
            backend_id=session.backend.backend_id, checkpoint_hash=getattr(session.backend, "checkpoint_hash", None),
            score=float(np.mean(list(result.scores.values()))), area=int(index[-1].size),
        )
    session.apply_step(Step("commit", session.draft, Draft(), edit, obj))
    return edit


def session_embeddings(session, prefix: tuple[int, ...] = ()) -> Callable[[int], ImageEmbedding]:
    """Slice index -> embedding through the session's cache (encoding, or loading from a store, on demand)."""

    def load(z: int) -> ImageEmbedding:
        key = prefix + (int(z),)
        for _ in session.encode_iter([key]):
            pass
        return session.embedding(key)

    return load


def start_from_session(session, *, label: int | None = None,
                       slice_key: Sequence[int] | None = None) -> tuple[tuple[int, ...], np.ndarray]:
    """The slice and mask to propagate from: the current object's prediction, or committed object ``label``.

    Returns
    -------
    (slice_key, mask)
        ``slice_key[:-1]`` is the ``prefix`` and ``slice_key[-1]`` the ``z``
        of :func:`propagate` / :func:`commit_propagation`; ``mask`` is (H, W) bool.

    Raises
    ------
    PromptsegError
        No current prediction, or object ``label`` is not on ``slice_key``.
    """
    if label is None:
        if session.draft.is_empty or session.prediction is None or not session.prediction.mask.any():
            raise PromptsegError("nothing to propagate: segment an object on a slice first (or choose a committed one).")
        return tuple(session.draft.slice_key), session.prediction.mask
    if slice_key is None:
        raise PromptsegError("give the slice on which the committed object should be propagated from.")
    key = session.image.check_key(slice_key)
    mask = np.asarray(session.objects[key]) == int(label)
    if not mask.any():
        raise PromptsegError(f"object {label} is not on slice {key}; go to a slice where it is, or pick another object.")
    return key, mask
