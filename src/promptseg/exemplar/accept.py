"""Proposals into objects: a label image, or committed objects of an annotation session."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import PromptsegError
from ..session.history import CommittedObject, LabelEdit, Step
from .proposal import Proposal

__all__ = ["accept_proposals", "proposals_to_labels"]


def proposals_to_labels(proposals: Sequence[Proposal], shape: Sequence[int], *, start: int = 1) -> np.ndarray:
    """Paint proposals into a new int32 label array of ``shape`` (leading axes index slices), ids from ``start``.

    Proposals are painted best score first; a later one never overwrites an earlier one.
    """
    out = np.zeros(tuple(int(s) for s in shape), np.int32)
    label = int(start)
    for p in sorted(proposals, key=lambda q: -q.score):
        r0, c0, r1, c1 = p.box
        window = out[tuple(p.slice_key) + (slice(r0, r1), slice(c0, c1))]
        write = p.crop & (window == 0)
        if write.any():
            window[write] = label
            label += 1
    return out


def accept_proposals(session, proposals: Sequence[Proposal]) -> list[CommittedObject]:
    """Commit proposals as new objects of an :class:`~promptseg.session.AnnotationSession`.

    Each becomes one undoable commit (undo takes them back one by one, last
    first), recorded with the prompts that reproduce it (its seed point, box
    and shape prior as a painted mask).  Only background pixels are written: committed objects stay intact.
    A proposal that no longer adds any pixel is skipped.

    Returns
    -------
    list of CommittedObject
        The objects made, in the order given.
    """
    made: list[CommittedObject] = []
    backend = session.backend
    for p in proposals:
        key = session.image.check_key(p.slice_key)
        r0, c0, r1, c1 = p.box
        plane = np.asarray(session.objects[key])
        rows, cols = np.nonzero(p.crop & (plane[r0:r1, c0:c1] == 0))
        if rows.size == 0:
            continue
        rows, cols = rows + r0, cols + c0
        label = session.next_label
        index = tuple(np.full(rows.size, i, dtype=np.intp) for i in key) + (rows, cols)
        edit = LabelEdit(index, np.array(session.objects[index]), label)
        prompts = p.prompts(session.image.plane_shape)
        obj = CommittedObject(
            label=label, slice_key=key, prompts=prompts,
            backend_name=str(getattr(backend, "name", type(backend).__name__)), backend_id=backend.backend_id,
            checkpoint_hash=getattr(backend, "checkpoint_hash", None), score=float(p.score), area=int(rows.size),
        )
        session.apply_step(Step("commit", session.draft, session.draft, edit, obj))
        made.append(obj)
    if proposals and not made:
        raise PromptsegError("none of the proposals adds a pixel: they all lie on committed objects.")
    return made
