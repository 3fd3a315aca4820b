"""Headless SAM 2.1 tracking of a stack from exported prompts: in this process, or one Dask task per object.

The prompts are the annotator's export (``promptseg-annotations`` JSON, see
:mod:`promptseg.session.annotations`): each entry is one object's points
and/or box on one slice; several entries of the same object (label) on
different slices are its prompted and corrected slices.  Every object is
prompted on all its slices first (each becomes a conditioning slice), then
tracked from ``start`` (default the first prompted slice of any object) to
the last slice and from ``start`` back to slice 0; the later pass's answer
is kept on a slice both passes visit.

Objects are tracked independently, so :func:`track_on_dask` (one task per
object, each reading the embeddings from the shared store) gives what
:func:`track_labels` gives in one process with all objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import PromptsegError
from ..prompts import Prompts
from .annotations import AnnotationFile
from .stack_tracker import StackTracker

__all__ = ["ObjectSteps", "objects_from_annotations", "track_labels", "track_object", "track_on_dask"]


@dataclass(frozen=True)
class ObjectSteps:
    """One object's prompts: ``(z, Prompts)`` per prompted slice, in file order.

    Prompts are points (row, col) with labels and / or a box (row0, col0, row1, col1).
    """

    obj_id: int
    steps: tuple[tuple[int, Prompts], ...]


def objects_from_annotations(annotations: AnnotationFile, num_slices: int, plane_shape: tuple[int, int]) -> list[ObjectSteps]:
    """Group an annotation file's entries by object, checked against a (Z, H, W) stack.

    Raises
    ------
    PromptsegError
        No objects, an entry not on one slice of this stack, prompts the
        tracker cannot take (polygons, scribbles, a painted mask), or a
        file made on an image of another shape.
    """
    shape = (int(num_slices), *plane_shape)
    if annotations.image_shape and tuple(annotations.image_shape) != shape:
        raise PromptsegError(f"the prompts were made on an image of shape {tuple(annotations.image_shape)}, "
                             f"this stack's labels are {shape}.")
    if not annotations.objects:
        raise PromptsegError("the prompts file holds no objects; export the prompts after committing objects.")
    grouped: dict[int, list[tuple[int, Prompts]]] = {}
    for obj in annotations.objects:
        where = f"object {obj.label} on slice {list(obj.slice_key)}"
        if len(obj.slice_key) != 1 or not 0 <= obj.slice_key[0] < num_slices:
            raise PromptsegError(f"{where}: the stack has one slice axis of {num_slices} slices (0 to {num_slices - 1}).")
        p = obj.prompts
        if p.has_paths or p.mask is not None:
            raise PromptsegError(f"{where}: polygons, scribbles and painted masks cannot start a SAM 2.1 track; "
                                 "prompt it with clicks or a box.")
        if len(p.points) == 0 and p.box is None:
            raise PromptsegError(f"{where} has no clicks and no box.")
        grouped.setdefault(int(obj.label), []).append((int(obj.slice_key[0]), p.on_image(plane_shape)))
    return [ObjectSteps(obj_id, tuple(steps)) for obj_id, steps in grouped.items()]


def _first_slice(objects: list[ObjectSteps]) -> int:
    return min(z for obj in objects for z, _ in obj.steps)


def _tracked(tracker: StackTracker, objects: list[ObjectSteps], start: int | None) -> Iterator[tuple[int, dict]]:
    """Prompt every object, then propagate forward and backward from ``start``; yields ``(z, answers)``."""
    for obj in objects:
        for z, p in obj.steps:
            tracker.add_prompts(z, obj.obj_id, points=p.points if len(p.points) else None,
                                labels=p.labels if len(p.points) else None, box=p.box)
    start = _first_slice(objects) if start is None else int(start)
    for reverse in (False, True):
        yield from tracker.propagate(start=start, reverse=reverse)


def track_labels(backend: Any, stack: Any, objects: list[ObjectSteps], *, start: int | None = None,
                 progress: Callable[[int, int], None] | None = None, **tracker_options) -> np.ndarray:
    """Track every object in this process; the (Z, H, W) uint32 labels.

    Parameters
    ----------
    backend, stack
        As for :class:`~promptseg.session.stack_tracker.StackTracker` (a
        store of the stack is read instead of encoding).
    objects : list of ObjectSteps
        Written in this order: a later object covers an earlier one where
        both claim a pixel.
    start : int, optional
        Slice the passes start from (default the first prompted slice).
    progress : callable, optional
        ``progress(done, total)`` after every tracked slice.
    """
    tracker = StackTracker(backend, stack, **tracker_options)
    labels = np.zeros((tracker.num_slices, *tracker.slice_shape), np.uint32)
    total = tracker.num_slices + 1
    for done, (z, answers) in enumerate(_tracked(tracker, objects, start), start=1):
        labels[z] = 0
        for obj in objects:
            labels[z][answers[obj.obj_id].mask] = obj.obj_id
        if progress is not None:
            progress(done, total)
    return labels


def track_object(backend: Any, stack: Any, obj: ObjectSteps, start: int, threads: int | None = None) -> tuple[int, np.ndarray]:
    """One object's masks through the whole stack, bit-packed: ``(obj_id, np.packbits of (Z, H, W) bool)``.

    The task a Dask worker runs; ``backend`` may be a
    :class:`~promptseg.store.embed.BackendSpec`, ``stack`` a store path
    (opened with the backend) or anything :class:`StackTracker` takes.
    """
    from ..store.embed import BackendSpec
    from ..store.embedding_store import EmbeddingStore

    if threads:
        import torch

        torch.set_num_threads(threads)
    backend = backend.load() if isinstance(backend, BackendSpec) else backend
    if isinstance(stack, str):
        stack = EmbeddingStore.open(stack, backend=backend)
    tracker = StackTracker(backend, stack)
    masks = np.zeros((tracker.num_slices, *tracker.slice_shape), bool)
    for z, answers in _tracked(tracker, [obj], start):
        masks[z] = answers[obj.obj_id].mask
    return obj.obj_id, np.packbits(masks)


def track_on_dask(backend: Any, store_path: str, objects: list[ObjectSteps], client: Any, *,
                  start: int | None = None, threads: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """One Dask task per object, each reading the embeddings from the store; the (Z, H, W) uint32 labels.

    Parameters
    ----------
    backend : Sam2Backend or BackendSpec
        Sent to the workers (a spec lets each worker load the model itself).
    store_path : str
        A complete store of the stack written by this backend, readable
        by every worker (``promptseg embed``).
    objects : list of ObjectSteps
        Composed in this order, as :func:`track_labels` does.
    client : distributed.Client
    start, threads, progress
        The passes' first slice; torch threads per task; ``progress(done, total)``
        after each object.
    """
    from distributed import as_completed

    from ..store.embedding_store import EmbeddingStore

    store = EmbeddingStore.open(store_path)
    shape = (store.n_slices, *store.metadata.image.plane_shape)
    if store.missing():
        raise PromptsegError(f"the store {store_path} misses slices {store.missing()[:5]}...; run `promptseg embed` "
                             "to complete it first.")
    start = _first_slice(objects) if start is None else int(start)
    from ..store.embed import BackendSpec

    remote = backend if isinstance(backend, BackendSpec) else client.scatter(backend, broadcast=True, hash=False)
    futures = [client.submit(track_object, remote, str(store_path), obj, start, threads, pure=False) for obj in objects]
    masks: dict[int, np.ndarray] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        obj_id, packed = future.result()
        masks[obj_id] = packed
        if progress is not None:
            progress(done, len(objects))
    labels = np.zeros(shape, np.uint32)
    size = int(np.prod(shape))
    for obj in objects:
        labels[np.unpackbits(masks.pop(obj.obj_id), count=size).reshape(shape).astype(bool)] = obj.obj_id
    return labels
