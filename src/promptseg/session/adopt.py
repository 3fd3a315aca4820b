"""Existing labels as a starting point: adopt them as committed objects, then correct one by picking it up.

Labels made by another tool (Cellpose, StarDist, an earlier session) become
committed objects of an :class:`~.session.AnnotationSession` with their ids
kept (:func:`adopt_labels`).  :func:`pick_up` makes the object under a click
the current object: its pixels leave the objects array and its mask becomes
the starting (mask) prompt, so the next clicks correct it; committing with
the returned id puts it back under the same id, undo restores it unchanged.
The same mechanics serve objects written by "Segment all".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..backends.base import Prediction
from ..errors import PromptsegError
from ..prompts import Prompts
from .history import CommittedObject, Draft, LabelEdit, Step
from .object_edits import write_objects
from .session import AnnotationSession

__all__ = ["adopt_labels", "pick_up"]

ADOPTED = "adopted"


def adopt_labels(session: AnnotationSession, labels: np.ndarray | None = None) -> list[CommittedObject]:
    """Make every object of ``labels`` a committed object of ``session``, ids kept, in one undoable step.

    Parameters
    ----------
    labels : np.ndarray, shape ``session.image.label_shape``, integer, optional
        Objects to take over; written where the session's objects array is
        background (existing objects are kept).  Default: the objects already
        in the session's array (a labels layer opened with the image).

    Raises
    ------
    PromptsegError
        Labels of another shape, not integers, or negative; nothing is changed.
    """
    source = session.objects if labels is None else labels
    return write_objects(session, source, keep_ids=True, backend_name=ADOPTED, in_place=labels is None)


def pick_up(session: AnnotationSession, slice_key: Sequence[int], point: Sequence[float]) -> tuple[int, Prediction | None]:
    """Make the committed object under ``point`` (row, col) on ``slice_key`` the current object.

    Returns
    -------
    (int, Prediction or None)
        Its id (pass it to ``session.commit(label=...)``) and the answer to
        its mask as the only prompt (None while the slice is not encoded).

    Raises
    ------
    PromptsegError
        Another object is being drawn, or no object lies under the point.
    """
    if not session.draft.is_empty:
        raise PromptsegError("commit or clear the current object before picking up another one.")
    key = session.image.check_key(slice_key)
    h, w = session.image.plane_shape
    r, c = int(round(point[0])), int(round(point[1]))
    if not (0 <= r < h and 0 <= c < w):
        raise PromptsegError(f"({point[0]:.0f}, {point[1]:.0f}) lies outside the image of {h} x {w} pixels.")
    plane = np.asarray(session.objects[key])
    label = int(plane[r, c])
    if label == 0:
        raise PromptsegError(f"no object at ({r}, {c}); click inside a committed object to correct it.")
    mask = plane == label
    rows, cols = np.nonzero(mask)
    index = tuple(np.full(rows.size, i, dtype=np.intp) for i in key) + (rows, cols)
    edit = LabelEdit(index, np.full(rows.size, label, plane.dtype), 0)
    session.apply_step(Step("prompt", session.draft, Draft(key, Prompts(mask=mask)), edit))
    return label, session.prediction
