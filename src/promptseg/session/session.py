"""The interactive annotation state, without any GUI.

An :class:`AnnotationSession` owns the current object (its prompts and live
prediction), the objects array that committed objects are written into, the
embedding cache and the undo history.  The napari widget only maps layer
events to calls on it; scripts and tests drive it directly.

Examples
--------
>>> from promptseg.backends.random_walker import RandomWalkerBackend
>>> img = np.zeros((40, 40), np.uint8); img[10:30, 10:30] = 200
>>> session = AnnotationSession(ImageStack(img), RandomWalkerBackend(max_pixels=4096))
>>> for _ in session.encode_iter([()]): pass
>>> session.set_prompts((), Prompts(points=[(20, 20)], labels=[1])).area
400
>>> session.commit().label, int(session.objects.max())
(1, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator, Iterable, Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding, Prediction, native_prompts
from ..errors import PromptError, PromptsegError
from ..prompts import Prompts
from .cache import CacheKey, EmbeddingCache
from .chain import PredictionChain
from .history import CommittedObject, Draft, History, LabelEdit, Step
from .image_stack import ImageStack, SliceKey


@dataclass(frozen=True)
class EncodeProgress:
    """Yielded by :meth:`AnnotationSession.encode_iter` after each slice."""

    done: int
    total: int
    slice_key: SliceKey
    seconds: float


class AnnotationSession:
    """Prompts, live prediction, commits and undo for one image and one backend.

    Parameters
    ----------
    image : ImageStack
        The image, as 2D slices.
    backend : Backend
        Answers prompts; may be replaced later with :meth:`set_backend`.
    objects : np.ndarray, optional
        Integer array of ``image.label_shape`` to commit into (for example a
        napari Labels layer's data, written in place); default a new int32 array.
    cache : EmbeddingCache, optional
        Shared embedding cache; default a new one.
    """

    def __init__(
        self,
        image: ImageStack,
        backend: Backend,
        *,
        objects: np.ndarray | None = None,
        cache: EmbeddingCache | None = None,
    ) -> None:
        self.image = image
        self.backend = backend
        if objects is None:
            objects = np.zeros(image.label_shape, dtype=np.int32)
        if tuple(objects.shape) != image.label_shape:
            raise PromptsegError(f"objects array has shape {objects.shape}; it must match the image, {image.label_shape}.")
        self.objects = objects
        self.cache = cache if cache is not None else EmbeddingCache()
        self.committed: list[CommittedObject] = []
        self.history = History()
        self.draft = Draft()
        self.prediction: Prediction | None = None
        self._chain = PredictionChain()
        self._next_label = int(np.max(objects)) + 1 if objects.size else 1

    # ------------------------------------------------------------ embeddings
    def embedding_key(self, slice_key: Sequence[int]) -> CacheKey:
        return (self.image.key, self.image.check_key(slice_key), self.backend.backend_id)

    def embedding(self, slice_key: Sequence[int]) -> ImageEmbedding | None:
        """The cached embedding of a slice for the current backend, or None."""
        return self.cache.get(self.embedding_key(slice_key))

    def encode_iter(self, slice_keys: Iterable[Sequence[int]]) -> Generator[EncodeProgress, None, int]:
        """Encode the slices not yet cached, yielding after each; returns how many were encoded.

        Stopping the generator (a GUI cancelling stale work) leaves every
        slice encoded so far in the cache.
        """
        keys = [self.image.check_key(k) for k in slice_keys]
        todo = [k for k in dict.fromkeys(keys) if self.embedding_key(k) not in self.cache]
        backend = self.backend
        for done, key in enumerate(todo, start=1):
            cache_key = (self.image.key, key, backend.backend_id)
            emb = backend.encode(self.image.plane(key), contrast_limits=self.image.contrast_limits)
            self.cache.put(cache_key, emb)
            yield EncodeProgress(done, len(todo), key, emb.encode_seconds)
        return len(todo)

    def set_backend(self, backend: Backend) -> None:
        """Answer prompts with another backend from now on (the current object is re-predicted on demand)."""
        self.backend = backend
        self._chain = PredictionChain()  # nothing memoised or answered ahead by the old backend is reused
        self.prediction = None

    # ---------------------------------------------------------------- prompts
    def set_prompts(self, slice_key: Sequence[int], prompts: Prompts, *, record: bool = True) -> Prediction | None:
        """Make ``prompts`` on ``slice_key`` the current object and predict it.

        Parameters
        ----------
        record : bool
            Whether the change is an undoable step (False when the GUI merely
            re-reads its layers, e.g. after the displayed slice changed).

        Returns
        -------
        Prediction or None
            None when there are no prompts, or when the slice's embedding is
            not ready yet (:attr:`waiting_for` then names the slice; call
            :meth:`refresh` once it is encoded).
        """
        key = self.image.check_key(slice_key)
        new = Draft(key, prompts)
        if record and not _same_draft(new, self.draft):
            self.history.record(Step("prompt", self.draft, new))
        self.draft = new
        return self.refresh()

    @property
    def waiting_for(self) -> SliceKey | None:
        """The slice whose embedding the current object waits for, if any."""
        d = self.draft
        if d.is_empty or self.embedding(d.slice_key) is not None:
            return None
        return d.slice_key

    def refresh(self) -> Prediction | None:
        """Predict the current object again (e.g. once its embedding is ready)."""
        d = self.draft
        emb = None if d.is_empty else self.embedding(d.slice_key)
        self.prediction = None if emb is None else self._chain.predict(self.backend, emb, d.prompts)
        return self.prediction

    def prepare_feedback(self) -> bool:
        """Let the backend get ready for the next click on the current object (call while the user is idle).

        The next click feeds the current prediction back (see
        :class:`~promptseg.session.chain.PredictionChain`) once the object has
        clicks; a backend that can do part of that work early defines
        ``prepare_feedback(embedding, previous)``.  Returns whether it was asked
        (not when a painted mask or rasterised paths give an explicit mask
        prompt, which takes precedence over the fed-back answer).
        """
        d, pred = self.draft, self.prediction
        prepare = getattr(self.backend, "prepare_feedback", None)
        if prepare is None or pred is None or d.is_empty or not len(d.prompts.points):
            return False
        if d.prompts.gives_mask(native_prompts(self.backend)):
            return False
        emb = self.embedding(d.slice_key)
        if emb is None:
            return False
        prepare(emb, pred)
        return True

    def look_ahead(self, slice_key: Sequence[int], prompts: Prompts) -> bool:
        """Answer a click before it is made (call while the pointer rests, or on a button press).

        Computes what :meth:`set_prompts` would show for ``prompts`` on
        ``slice_key`` and keeps it, so that when the click comes its answer
        costs nothing.  Nothing visible changes: no prediction, history or
        object.

        Parameters
        ----------
        slice_key : tuple of int
            The slice the click would land on.
        prompts : Prompts
            The prompts the click would make (:meth:`Prompts.with_click` of
            those on the slice, as the GUI reads them).

        Returns
        -------
        bool
            Whether an answer is kept: False when the slice is not encoded,
            the click lies outside it, or the clicks before it are not the
            ones whose answer is shown (nothing to feed back yet).
        """
        key = self.image.check_key(slice_key)
        emb = self.embedding(key)
        if emb is None or not len(prompts.points):
            return False
        try:
            prompts = prompts.on_image(emb.image_shape)  # checked once here: the backend is given them so
        except PromptError:
            return False
        return self._chain.look_ahead(self.backend, emb, prompts) is not None

    # ------------------------------------------------------- commit and clear
    def commit(self, *, overwrite: bool = False, label: int | None = None) -> CommittedObject:
        """Write the current prediction into :attr:`objects` as a new object and clear the prompts.

        Parameters
        ----------
        overwrite : bool
            Also take pixels that belong to existing objects (default: only
            background pixels are written, existing objects stay intact).
        label : int, optional
            Id to use (when replaying a file); default the next free id.

        Raises
        ------
        PromptsegError
            Nothing to commit: no prompts, embedding not ready, an empty mask,
            or a mask entirely covered by existing objects.
        """
        d, pred = self.draft, self.prediction
        if d.is_empty:
            raise PromptsegError("nothing to commit: click on an object first.")
        if pred is None:
            raise PromptsegError("the image is still being encoded; commit again when the preview appears.")
        label = self._next_label if label is None else int(label)
        if label <= 0:
            raise PromptsegError(f"object ids must be positive, got {label}.")
        plane = self.objects[d.slice_key]
        write = pred.mask if overwrite else pred.mask & (np.asarray(plane) == 0)
        rows, cols = np.nonzero(write)
        if rows.size == 0:
            what = "the mask is empty" if not pred.mask.any() else "every pixel of the mask belongs to an existing object"
            raise PromptsegError(f"nothing to commit: {what}. Add prompts, or commit with overwrite to replace objects.")
        index = tuple(np.full(rows.size, i, dtype=np.intp) for i in d.slice_key) + (rows, cols)
        edit = LabelEdit(index, np.array(self.objects[index]), label)
        obj = CommittedObject(
            label=label,
            slice_key=d.slice_key,
            prompts=d.prompts,
            backend_name=str(getattr(self.backend, "name", type(self.backend).__name__)),
            backend_id=self.backend.backend_id,
            checkpoint_hash=getattr(self.backend, "checkpoint_hash", None),
            score=float(pred.score),
            area=int(rows.size),
        )
        step = Step("commit", d, Draft(), edit, obj)
        self._apply(step, forward=True)
        self.history.record(step)
        return obj

    def clear(self) -> bool:
        """Forget the current object's prompts (undoable); False when there were none."""
        if self.draft.is_empty:
            return False
        step = Step("clear", self.draft, Draft())
        self._apply(step, forward=True)
        self.history.record(step)
        return True

    # ------------------------------------------------------------ undo/redo
    def undo(self) -> Step | None:
        """Undo the last prompt change, commit or clear; returns it (None if none)."""
        step = self.history.pop_undo()
        if step is not None:
            self._apply(step, forward=False)
        return step

    def redo(self) -> Step | None:
        """Redo the last undone step; returns it (None if none)."""
        step = self.history.pop_redo()
        if step is not None:
            self._apply(step, forward=True)
        return step

    def apply_step(self, step: Step) -> None:
        """Apply a step built outside the session (e.g. a 3D propagation, see :mod:`.propagate`) and make it undoable."""
        self._apply(step, forward=True)
        self.history.record(step)

    def _apply(self, step: Step, *, forward: bool) -> None:
        if step.edit is not None:
            self.objects[step.edit.index] = step.edit.new if forward else step.edit.old
        added, removed = step.objects_added, tuple(step.removed)
        if forward:
            gone = {id(o) for o in removed}
            self.committed = [o for o in self.committed if id(o) not in gone] + list(added)
            self._next_label = max([self._next_label] + [o.label + 1 for o in added])
        else:
            gone = {id(o) for o in added}
            self.committed = [o for o in self.committed if id(o) not in gone] + list(removed)
            labels = [o.label for o in added]
            if labels and max(labels) == self._next_label - 1:
                self._next_label = min(labels)
        self.draft = step.after if forward else step.before
        self.refresh()

    @property
    def next_label(self) -> int:
        """The id the next commit will get."""
        return self._next_label


def _same_draft(a: Draft, b: Draft) -> bool:
    if a.is_empty and b.is_empty:
        return True
    return a.slice_key == b.slice_key and a.prompts.same_as(b.prompts)
