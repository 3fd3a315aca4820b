"""Edits of committed objects as a whole: many written at once, one deleted, two merged, a picked-up one put back.

Each function is one undoable step of an :class:`~.session.AnnotationSession`
(:meth:`~.session.AnnotationSession.apply_step`): undo restores the objects
array exactly and the list of committed objects with it.  Coordinates are
the napari frame: ``slice_key`` indexes the leading axes, masks are
(H, W) planes of ``session.image.label_shape``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import PromptsegError
from ..prompts import Prompts
from .history import CommittedObject, Draft, LabelEdit, Step
from .image_stack import SliceKey

__all__ = ["check_labels", "delete_object", "merge_objects", "put_back", "write_objects"]


def check_labels(session, labels: np.ndarray) -> np.ndarray:
    """``labels`` as an array of the session's label shape, integer and non-negative; else a PromptsegError."""
    shape = tuple(session.objects.shape)
    labels = np.asarray(labels)
    if labels.shape != shape:
        raise PromptsegError(f"the labels have shape {labels.shape}, the image {shape}; "
                             "use labels made for this image (same size, same slices).")
    if not np.issubdtype(labels.dtype, np.integer):
        raise PromptsegError(f"labels must be integers (one id per object, 0 background), got {labels.dtype}.")
    if labels.size and labels.min() < 0:
        raise PromptsegError("labels hold negative ids; object ids must be positive (0 is background).")
    return labels


def write_objects(session, labels: np.ndarray, *, keep_ids: bool, backend_name: str,
                  scores: dict[int, float] | None = None, in_place: bool = False) -> list[CommittedObject]:
    """Make every object of ``labels`` a committed object, in one undoable step.

    Parameters
    ----------
    labels : np.ndarray, shape ``session.image.label_shape``, integer
        0 background.  Written only where the objects array is background:
        existing objects win where they overlap.
    keep_ids : bool
        Keep the ids of ``labels`` (adopted labels); else number the objects
        from ``session.next_label`` on, in the order of their ids in ``labels``.
    backend_name : str
        Recorded as the objects' backend (what made them).
    scores : dict, optional
        Score of each id of ``labels`` (default NaN).
    in_place : bool
        ``labels`` is the objects array itself (labels opened with the image):
        only the records are made, no pixel is written.

    Returns
    -------
    list of CommittedObject
        One per object that kept at least one pixel, by id.
    """
    labels = check_labels(session, labels)
    flat = labels.reshape(-1)
    where = np.flatnonzero(flat)
    if not in_place:
        where = where[np.asarray(session.objects).reshape(-1)[where] == 0]
    where = where[np.argsort(flat[where], kind="stable")]  # pixels grouped by id
    ids, starts, counts = np.unique(flat[where], return_index=True, return_counts=True)
    if keep_ids and not in_place:
        taken = np.intersect1d(ids, np.unique(np.asarray(session.objects)))
        if taken.size:
            listed = ", ".join(str(v) for v in taken[:5].tolist()) + (", ..." if taken.size > 5 else "")
            raise PromptsegError(f"ids {listed} are already used by committed objects; adopt labels into an image "
                                 "without objects (or delete those first) so that every id stays one object.")
    new_ids = ids.astype(np.int64) if keep_ids else session.next_label + np.arange(ids.size, dtype=np.int64)
    made = []
    for old, new, start, count in zip(ids.tolist(), new_ids.tolist(), starts.tolist(), counts.tolist()):
        first = np.unravel_index(where[start], labels.shape)
        score = float("nan") if scores is None else float(scores.get(old, float("nan")))
        made.append(CommittedObject(label=int(new), slice_key=tuple(int(i) for i in first[:-2]), prompts=Prompts(),
                                    backend_name=backend_name, backend_id=backend_name, checkpoint_hash=None,
                                    score=score, area=int(count)))
    if not made:
        return []
    edit = None
    if not in_place:
        index = np.unravel_index(where, labels.shape)
        values = np.repeat(new_ids, counts).astype(session.objects.dtype)
        edit = LabelEdit(index, np.zeros(where.size, session.objects.dtype), values)
    session.apply_step(Step("commit", session.draft, session.draft, edit, added=tuple(made)))
    return made


def _pixels(session, key: SliceKey, label: int) -> tuple[np.ndarray, ...]:
    """Full nD indices of object ``label``'s pixels on slice ``key`` (PromptsegError when it has none there)."""
    plane = np.asarray(session.objects[key])
    rows, cols = np.nonzero(plane == label)
    if rows.size == 0:
        raise PromptsegError(f"object {label} is not on this slice; point at an object shown here.")
    return tuple(np.full(rows.size, i, dtype=np.intp) for i in key) + (rows, cols)


def _records_gone(session, label: int, leaving: int) -> tuple[CommittedObject, ...]:
    """The records of ``label`` when ``leaving`` pixels are all it has left in the objects array."""
    if int(np.count_nonzero(np.asarray(session.objects) == label)) > leaving:
        return ()  # the object lives on other slices too: its record stays
    return tuple(o for o in session.committed if o.label == label)


def delete_object(session, slice_key: Sequence[int], label: int) -> Step:
    """Remove object ``label`` from slice ``slice_key`` (its record too when no pixel of it is left); undoable."""
    key = session.image.check_key(slice_key)
    index = _pixels(session, key, int(label))
    edit = LabelEdit(index, np.full(index[0].size, label, session.objects.dtype), 0)
    step = Step("commit", session.draft, session.draft, edit, removed=_records_gone(session, int(label), index[0].size))
    session.apply_step(step)
    return step


def merge_objects(session, slice_key: Sequence[int], keep: int, other: int) -> Step:
    """Give object ``other``'s pixels on slice ``slice_key`` to object ``keep``; undoable."""
    keep, other = int(keep), int(other)
    if keep == other:
        raise PromptsegError(f"object {keep} cannot be merged with itself; point at another object.")
    key = session.image.check_key(slice_key)
    _pixels(session, key, keep)  # both must be on this slice
    index = _pixels(session, key, other)
    edit = LabelEdit(index, np.full(index[0].size, other, session.objects.dtype), keep)
    step = Step("commit", session.draft, session.draft, edit, removed=_records_gone(session, other, index[0].size))
    session.apply_step(step)
    return step


def put_back(session, slice_key: Sequence[int], label: int, mask: np.ndarray) -> Step:
    """End the current object by writing ``mask`` back as object ``label`` unchanged (Clear after a pick-up); undoable.

    Only background pixels are written (nothing else can have taken them
    while the object was picked up, but a panel may have committed there).
    """
    key = session.image.check_key(slice_key)
    rows, cols = np.nonzero(np.asarray(mask, bool) & (np.asarray(session.objects[key]) == 0))
    index = tuple(np.full(rows.size, i, dtype=np.intp) for i in key) + (rows, cols)
    edit = LabelEdit(index, np.zeros(rows.size, session.objects.dtype), int(label))
    step = Step("clear", session.draft, Draft(), edit)
    session.apply_step(step)
    return step
