"""The annotator's 3D propagation with SAM 2.1 memory: track an object through a z-range, correct, track again.

A :class:`MemoryPropagation` belongs to one annotation session whose backend
is SAM 2.1 and keeps one :class:`~promptseg.session.stack_tracker.StackTracker`
per image and leading prefix, so that every object prompted for propagation
(and every correction: the object's prompts on another slice, propagated
again) stays a conditioning slice of that object.  Slices' features come
from the session's embeddings (its cache or store), so nothing is encoded
twice.  :meth:`MemoryPropagation.run` is a generator with one
:class:`~promptseg.session.propagate.PropagationStep` per slice, returning a
:class:`~promptseg.session.propagate.PropagationResult` for
:func:`~promptseg.session.propagate.commit_propagation` (one undoable step).
"""

from __future__ import annotations

from typing import Any, Generator

from ..errors import PromptsegError
from ..model.sam2.sam2_model import Sam2Model
from ..prompts import Prompts
from .embedded_frames import tracker_features
from .frame_source import CachedFrames
from .propagate import PropagationResult, PropagationStep, session_embeddings
from .stack_tracker import StackTracker

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

    def run(self, label: int, slice_key: tuple[int, ...], prompts: Prompts,
            z_range: tuple[int, int]) -> Generator[PropagationStep, None, PropagationResult]:
        """Prompt object ``label`` on ``slice_key`` and track it through ``z_range`` (both ways from there).

        Parameters
        ----------
        label : int
            The object's id (kept on every slice; an id prompted before keeps
            its earlier prompted slices as conditioning slices).
        slice_key : tuple of int
            ``prefix + (z,)``; z inside ``z_range``.
        prompts : Prompts
            Clicks and / or a box on that slice (polygons, scribbles or a
            painted mask cannot start a track).
        z_range : (int, int)
            Inclusive slice range.

        Yields
        ------
        PropagationStep
            Per tracked slice (score: the predicted IoU; ``accepted`` when the
            object is there; an absent object is tracked on, it may reappear).

        Returns
        -------
        PropagationResult
            Masks of the slices where the object is present (the prompted
            slice always).
        """
        prefix, z = tuple(slice_key[:-1]), int(slice_key[-1])
        lo, hi = sorted(int(v) for v in z_range)
        if not lo <= z <= hi:
            raise PromptsegError(f"the object is on slice {z}, outside the range {lo}–{hi}: widen the range.")
        if prompts.has_paths or prompts.mask is not None or (len(prompts.points) == 0 and prompts.box is None):
            raise PromptsegError("memory propagation starts from clicks or a box (not outlines, scribbles or paint).")
        tracker = self.tracker(prefix)
        points = prompts.points if len(prompts.points) else None
        first = tracker.add_prompts(z, label, points=points, labels=prompts.labels if points is not None else None,
                                    box=prompts.box, clear=True)[label]
        result = PropagationResult(start=z, masks={z: first.mask}, scores={z: float(first.score)})
        passes = ((False, hi - z), (True, z - lo))
        done, total = 0, max(hi - lo, 1)
        for reverse, count in passes:
            if count <= 0:
                continue
            for t, answers in tracker.propagate(start=z, reverse=reverse, max_slices=count):
                if t == z:
                    continue
                answer = answers[label]
                present = bool(answer.mask.any())
                if present:
                    result.masks[t] = answer.mask
                    result.scores[t] = float(answer.score)
                done += 1
                # an absent object is tracked on (it may come back): "vanished" here does not stop the pass
                yield PropagationStep(z=t, direction=-1 if reverse else 1, accepted=present,
                                      reason=None if present else "vanished", score=float(answer.score),
                                      overlap=float("nan"), area=int(answer.mask.sum()), done=done, total=total)
        return result
