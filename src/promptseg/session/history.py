"""Object-level undo and redo: prompt changes, commits and clears.

Every step records the current object before and after; a commit also
records the pixels it wrote into the objects array (their indices and old
values), so undoing it restores the array exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..prompts import Prompts
from .image_stack import SliceKey

StepKind = Literal["prompt", "commit", "clear"]


@dataclass(frozen=True, eq=False)
class Draft:
    """The object being drawn: its slice and its prompts (``slice_key`` None when nothing is drawn)."""

    slice_key: SliceKey | None = None
    prompts: Prompts = field(default_factory=Prompts)

    @property
    def is_empty(self) -> bool:
        return self.slice_key is None or self.prompts.is_empty


@dataclass(frozen=True, eq=False)
class CommittedObject:
    """One object saved into the objects array, with everything needed to redo it.

    Attributes
    ----------
    label : int
        Its id in the objects array.
    slice_key : tuple of int
        The 2D slice it lives on (``()`` for 2D images).
    prompts : Prompts
        The prompts that produced it.
    backend_name, backend_id : str
        The backend that answered them (``backend_id`` includes the checkpoint hash).
    checkpoint_hash : str or None
        Content hash of the model weights, when the backend has any.
    score : float
        The backend's quality estimate of the mask.
    area : int
        Pixels written into the objects array.
    """

    label: int
    slice_key: SliceKey
    prompts: Prompts
    backend_name: str
    backend_id: str
    checkpoint_hash: str | None
    score: float
    area: int


@dataclass(frozen=True, eq=False)
class LabelEdit:
    """Pixels written into the objects array: full nD indices, old values and the new value (or one per pixel)."""

    index: tuple[np.ndarray, ...]
    old: np.ndarray
    new: int | np.ndarray


@dataclass(frozen=True, eq=False)
class Step:
    """One undoable action.

    ``obj`` is the object a commit made; ``added`` more objects the same step
    made (Segment all, adopted labels) and ``removed`` the records it drops
    (a deleted object, one merged into another): undo does the reverse.
    """

    kind: StepKind
    before: Draft
    after: Draft
    edit: LabelEdit | None = None
    obj: CommittedObject | None = None
    added: tuple[CommittedObject, ...] = ()
    removed: tuple[CommittedObject, ...] = ()

    @property
    def objects_added(self) -> tuple[CommittedObject, ...]:
        """``obj`` (when set) and ``added``."""
        return ((self.obj,) if self.obj is not None else ()) + tuple(self.added)


class History:
    """Two stacks of :class:`Step`; recording a new step forgets the redo stack.

    Parameters
    ----------
    limit : int
        Most steps kept for undo (the oldest are forgotten; commits stay in
        the objects array either way).
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = int(limit)
        self._undo: list[Step] = []
        self._redo: list[Step] = []

    def record(self, step: Step) -> None:
        self._undo.append(step)
        del self._undo[: -self.limit]
        self._redo.clear()

    def pop_undo(self) -> Step | None:
        return self._move_last(self._undo, self._redo)

    def pop_redo(self) -> Step | None:
        return self._move_last(self._redo, self._undo)

    @staticmethod
    def _move_last(source: list[Step], target: list[Step]) -> Step | None:
        """Move the newest step of ``source`` onto ``target`` and return it (None when ``source`` is empty)."""
        if not source:
            return None
        step = source.pop()
        target.append(step)
        return step

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def is_done(self, edit: LabelEdit) -> bool | None:
        """Whether the step that wrote ``edit`` is done (True) or undone (False); None when it is not kept."""
        if any(step.edit is edit for step in self._undo):
            return True
        return False if any(step.edit is edit for step in self._redo) else None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
