"""Objects tracked through slices with SAM 2.1 memory, and writing them into a session as one undoable step.

A memory propagation (:class:`~promptseg.session.memory_propagation.MemoryPropagation`)
answers for every tracked object on every slice it goes through, absent
objects included.  :func:`commit_tracks` therefore *replaces* each tracked
object on those slices: its old pixels there are cleared and its new mask
written, so a correction that shrinks an object shrinks it on every slice
propagated again; other objects' pixels stay as they are (unless
``overwrite``), and undo restores the array exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..backends.base import Prediction
from ..errors import PromptsegError
from ..prompts import Prompts
from .history import CommittedObject, Draft, LabelEdit, Step

__all__ = ["TrackedObjects", "commit_tracks"]


@dataclass
class TrackedObjects:
    """Every tracked object's masks on the slices one propagation went through.

    Attributes
    ----------
    prefix : tuple of int
        Leading indices before the propagation axis (e.g. the time point of a
        (T, Z, H, W) image; ``()`` for a (Z, H, W) stack).
    start : int
        The slice the objects were prompted on.
    slices : list of int
        Slices tracked (the start included), sorted: on these each object is
        replaced by its mask (cleared where it is absent).
    masks : dict[int, dict[int, ndarray]]
        Object id -> slice -> (H, W) bool mask, on slices where it is present.
    scores : dict[int, dict[int, float]]
        Object id -> slice -> predicted IoU, where it is present.
    """

    prefix: tuple[int, ...]
    start: int
    slices: list[int]
    masks: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    scores: dict[int, dict[int, float]] = field(default_factory=dict)

    @property
    def z_range(self) -> tuple[int, int]:
        """(first, last) slice tracked."""
        return min(self.slices), max(self.slices)

    @property
    def labels(self) -> list[int]:
        """The tracked objects' ids."""
        return list(self.masks)

    def add(self, z: int, answers: dict[int, Prediction]) -> list[int]:
        """Keep the answers of the tracked objects on slice ``z``; returns the ids present there."""
        present = []
        for label in self.masks:
            answer = answers[label]
            if answer.mask.any():
                self.masks[label][z] = answer.mask
                self.scores[label][z] = float(answer.score)
                present.append(label)
        return present


def commit_tracks(session, result: TrackedObjects, *, overwrite: bool = False) -> LabelEdit:
    """Replace the tracked objects on every tracked slice of ``session.objects``, as one undoable step.

    Parameters
    ----------
    session : AnnotationSession
        Its image's last leading axis is the propagation axis.
    result : TrackedObjects
        From :meth:`~promptseg.session.memory_propagation.MemoryPropagation.run`.
        An id at or beyond ``session.next_label`` is a new object, recorded
        with the current prompts (at most one new id: the current object).
    overwrite : bool
        Also take pixels of other objects (default: only background and the
        tracked objects' own pixels).  Where two tracked objects overlap, the
        one listed first keeps the pixel.

    Returns
    -------
    LabelEdit
        Its ``new`` holds one value per pixel (an object id, or 0 where a
        tracked object's old pixel was cleared).

    Raises
    ------
    PromptsegError
        More than one new id, or nothing changes (the array is untouched).
    """
    new_labels = [label for label in result.labels if label >= session.next_label]
    if len(new_labels) > 1:
        raise PromptsegError(f"only one new object can be written at a time, got ids {new_labels}.")
    tracked = np.array(result.labels)
    parts: list[tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]] = []
    for z in result.slices:
        key = result.prefix + (z,)
        plane = np.asarray(session.objects[key])
        out = plane.copy()
        out[np.isin(plane, tracked)] = 0
        for label in reversed(result.labels):  # the first listed is written last: it wins overlaps
            mask = result.masks[label].get(z)
            if mask is not None:
                out[mask & (overwrite | (out == 0) | np.isin(out, tracked))] = label
        rows, cols = np.nonzero(out != plane)
        index = tuple(np.full(rows.size, v, dtype=np.intp) for v in key) + (rows, cols)
        parts.append((index, plane[rows, cols], out[rows, cols]))
    index = tuple(np.concatenate([p[0][axis] for p in parts]) for axis in range(len(result.prefix) + 3))
    if index[-1].size == 0:
        raise PromptsegError("nothing to write: the tracked masks are what the objects already are "
                             "(or lie on other objects; turn on overwrite to take their pixels).")
    edit = LabelEdit(index, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
    obj = None
    if new_labels:
        label, draft = new_labels[0], session.draft
        masks = result.masks[label]
        obj = CommittedObject(
            label=label, slice_key=result.prefix + (result.start,),
            prompts=draft.prompts if not draft.is_empty else Prompts(),
            backend_name=str(getattr(session.backend, "name", type(session.backend).__name__)),
            backend_id=session.backend.backend_id, checkpoint_hash=getattr(session.backend, "checkpoint_hash", None),
            score=float(np.mean(list(result.scores[label].values()))) if masks else 0.0,
            area=int(sum(int(m.sum()) for m in masks.values())),
        )
    session.apply_step(Step("commit", session.draft, Draft(), edit, obj))
    return edit
