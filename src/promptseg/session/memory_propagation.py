"""The annotator's 3D propagation with SAM 2.1 memory: track an object through a z-range, correct, track again.

A :class:`MemoryPropagation` belongs to one annotation session whose backend
is SAM 2.1 and keeps one :class:`~promptseg.session.stack_tracker.StackTracker`
per image and leading prefix, so that every object prompted for propagation
(and every correction: the object's prompts on another slice, propagated
again) stays a conditioning slice of that object.  Slices' features come
from the session's embeddings (its cache or store), so nothing is encoded
twice.  :meth:`MemoryPropagation.run` starts any number of objects (from
clicks / a box, or from a committed object's mask) on one slice and is a
generator with one :class:`~promptseg.session.propagate.PropagationStep` per
slice, returning :class:`~promptseg.session.tracked_objects.TrackedObjects`
for :func:`~promptseg.session.tracked_objects.commit_tracks`: one undoable
step that replaces every tracked object's pixels on every slice tracked.
"""

from __future__ import annotations

from typing import Any, Generator

import numpy as np

from ..errors import PromptsegError
from ..model.sam2.sam2_model import Sam2Model
from ..prompts import Prompts
from .embedded_frames import tracker_features
from .frame_source import CachedFrames
from .propagate import PropagationStep, session_embeddings
from .stack_tracker import StackTracker
from .tracked_objects import TrackedObjects

__all__ = ["MemoryPropagation", "is_memory_backend"]


def _inner(backend: Any) -> Any:
    while hasattr(backend, "inner"):
        backend = backend.inner
    return backend


def is_memory_backend(backend: Any) -> bool:
    """Whether ``backend`` (or the backend it wraps) is SAM 2.1, which propagates with memory."""
    return isinstance(getattr(_inner(backend), "model", None), Sam2Model)


class SessionFrames(CachedFrames):
    """The tracker's features of the slices ``prefix + (z,)`` of a session's image, from its embeddings."""

    def __init__(self, session: Any, prefix: tuple[int, ...], model: Sam2Model) -> None:
        image = session.image
        super().__init__(image.leading_shape[-1], image.plane_shape)
        self.load = session_embeddings(session, prefix)
        self.model = model

    def compute(self, z: int):
        embedding = self.load(z)
        try:
            return tracker_features(embedding, self.model)
        except (TypeError, AttributeError) as exc:
            raise PromptsegError(f"slice {z} has no single SAM 2.1 embedding (a tiled large image?): memory "
                                 "propagation needs slices the model encodes whole.") from exc


class MemoryPropagation:
    """SAM 2.1 memory tracking for one annotation session.

    Parameters
    ----------
    session : AnnotationSession
        Its backend must be SAM 2.1 (:func:`is_memory_backend`); the
        propagation axis is its image's last leading axis.
    """

    def __init__(self, session: Any) -> None:
        if not is_memory_backend(session.backend):
            raise PromptsegError("memory propagation needs a SAM 2.1 model; other models propagate slice by slice.")
        self.session = session
        self._trackers: dict[tuple, StackTracker] = {}

    def tracker(self, prefix: tuple[int, ...]) -> StackTracker:
        """The tracker of the slices under ``prefix`` (made on first use; forgotten when the backend changes)."""
        backend = _inner(self.session.backend)
        key = (self.session.image.key, backend.backend_id, tuple(prefix))
        if key not in self._trackers:
            self._trackers = {k: t for k, t in self._trackers.items() if k[:2] == key[:2]}
            self._trackers[key] = StackTracker(backend.model, SessionFrames(self.session, tuple(prefix), backend.model))
        return self._trackers[key]

    def run(self, starts: dict[int, Prompts | np.ndarray], slice_key: tuple[int, ...],
            z_range: tuple[int, int]) -> Generator[PropagationStep, None, TrackedObjects]:
        """Prompt objects on ``slice_key`` and track them through ``z_range`` (both ways from there).

        Parameters
        ----------
        starts : dict[int, Prompts or ndarray]
            Object id -> its start on that slice: clicks and / or a box
            (:class:`~promptseg.prompts.Prompts`; polygons, scribbles or
            paint cannot start a track), or an (H, W) bool mask (e.g. the
            committed object; the official ``add_new_mask``).  Ids prompted
            before keep their earlier prompted slices as conditioning slices.
        slice_key : tuple of int
            ``prefix + (z,)``; z inside ``z_range``.
        z_range : (int, int)
            Inclusive slice range.

        Yields
        ------
        PropagationStep
            Per tracked slice (score: the lowest predicted IoU of the objects
            present; ``accepted`` when any object is there; ``area`` all
            objects' pixels; absent objects are tracked on, they may reappear).

        Returns
        -------
        TrackedObjects
            Every object's masks on the slices of ``z_range`` (see
            :func:`commit_tracks`); an object given as a mask keeps exactly
            that mask on ``slice_key``.
        """
        prefix, z = tuple(slice_key[:-1]), int(slice_key[-1])
        lo, hi = sorted(int(v) for v in z_range)
        if not lo <= z <= hi:
            raise PromptsegError(f"the objects are on slice {z}, outside the range {lo}–{hi}: widen the range.")
        if not starts:
            raise PromptsegError("nothing to propagate: click an object (or draw a box) on a slice, or commit one.")
        for label, start in starts.items():
            if isinstance(start, Prompts) and (start.has_paths or start.mask is not None
                                               or (len(start.points) == 0 and start.box is None)):
                raise PromptsegError(f"object {label}: memory propagation starts from clicks, a box or a committed "
                                     "object's mask (not outlines, scribbles or paint).")
        tracker = self.tracker(prefix)
        labels = [int(label) for label in starts]
        result = TrackedObjects(prefix=prefix, start=z, slices=[z], masks={label: {} for label in labels},
                                scores={label: {} for label in labels})
        for label, start in starts.items():
            if isinstance(start, Prompts):
                points = start.points if len(start.points) else None
                answers = tracker.add_prompts(z, label, points=points, box=start.box, clear=True,
                                              labels=start.labels if points is not None else None)
            else:
                answers = tracker.add_mask(z, label, start)
        result.add(z, answers)
        for label, start in starts.items():  # a given mask is kept as it is on its slice (not the model's resize)
            if not isinstance(start, Prompts):
                result.masks[label].pop(z, None)
                result.scores[label].pop(z, None)
                if np.any(start):
                    result.masks[label][z] = np.asarray(start, dtype=bool).copy()
                    result.scores[label][z] = 1.0
        done, total = 0, max(hi - lo, 1)
        for reverse, count in ((False, hi - z), (True, z - lo)):
            if count <= 0:
                continue
            for t, answers in tracker.propagate(start=z, reverse=reverse, max_slices=count, obj_ids=labels):
                if t == z:
                    continue
                result.slices.append(t)
                present = result.add(t, answers)
                done += 1
                scores = [float(answers[label].score) for label in present] or [0.0]
                # an absent object is tracked on (it may come back): "vanished" here does not stop the pass
                yield PropagationStep(z=t, direction=-1 if reverse else 1, accepted=bool(present),
                                      reason=None if present else "vanished", score=min(scores),
                                      overlap=float("nan"), area=sum(int(a.mask.sum()) for a in answers.values()),
                                      done=done, total=total)
        result.slices.sort()
        return result
