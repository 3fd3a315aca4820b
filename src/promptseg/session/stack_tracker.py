"""Track objects through a 3D stack or a time-lapse with SAM 2.1's memory, in napari's (row, col) frame."""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..backends.base import Prediction
from ..errors import PromptError
from ..model.sam2.sam2_model import Sam2Model
from ..model.sam2.tracker_engine import TrackerEngine
from ..model.sam2.tracker_state import TrackResult
from ..prompts import Prompts, box_to_xyxy, to_xy
from .frame_source import FrameSource, StackFrames
from .embedded_frames import BackendFrames, StoreFrames

__all__ = ["StackTracker"]

#: Slices between two returns of freed heap memory to the system during a propagation.
TRIM_EVERY = 16


def _release_heap() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim``; nothing elsewhere).

    Each tracked slice keeps a small mask per object between the large
    temporaries of the next slices; the heap fragments and the process keeps
    the freed memory around them (measured on a small model: resident memory
    grew 160 KB per slice for 51 KB kept, 73 KB with a trim).
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _frames(backend: Any, model: Sam2Model, stack: Any, contrast_limits, cache_frames: int) -> FrameSource:
    """The :class:`FrameSource` for ``stack``: itself, a store's slices, or slices encoded on demand."""
    from ..store.embedding_store import EmbeddingStore

    if isinstance(stack, FrameSource):
        return stack
    if isinstance(stack, EmbeddingStore):
        if stack.backend is None:
            if isinstance(backend, Sam2Model):
                raise TypeError("a store's embeddings are read by the SAM 2.1 backend that wrote them: pass that "
                                "backend (not the bare model), or open the store with backend=...")
            stack = EmbeddingStore.open(stack.path, backend=backend)
        return StoreFrames(stack, cache_frames=cache_frames)
    if isinstance(backend, Sam2Model):
        return StackFrames(model, stack, contrast_limits=contrast_limits, cache_frames=cache_frames)
    return BackendFrames(backend, stack, contrast_limits=contrast_limits, cache_frames=cache_frames)


def _sam2_model(backend: Any) -> Sam2Model:
    """The SAM 2.1 model behind ``backend`` (the model itself, or anything holding it as ``.model``)."""
    model = backend if isinstance(backend, Sam2Model) else getattr(backend, "model", None)
    if not isinstance(model, Sam2Model):
        raise TypeError(
            f"StackTracker needs a SAM 2.1 model, got {type(backend).__name__}; "
            "memory tracking exists only for SAM 2.1 (other models propagate slice by slice)."
        )
    return model


class StackTracker:
    """Segment objects through a stack: prompt on any slice, propagate, correct, propagate again.

    The official SAM 2.1 video predictor on a CPU: each object carries a
    memory of the slices it has seen (up to 7 recent slices, every prompted
    slice, and 16 object pointers), an object judged absent gets an empty
    mask, and a correction on any slice becomes a conditioning slice that
    later propagations keep.  Slices are encoded when first needed and only
    the last few slices' features are kept.

    Parameters
    ----------
    backend : Sam2Model or Sam2Backend
        The SAM 2.1 model (eval mode; its device is used), or the SAM 2.1
        image backend (:class:`~promptseg.backends.sam2.Sam2Backend`, or
        anything with an ``encode`` and a ``.model`` Sam2Model).  With the
        model, slices are prepared as the official video loader does (PIL
        bicubic resize); with a backend, slices are encoded as the backend
        encodes images, the same as ``promptseg embed`` stores them, so
        on-demand and store-backed tracks agree.
    stack : array_like, shape (Z, H, W) or (Z, H, W, C), EmbeddingStore, or FrameSource
        Slices or time points along the first axis; lazy arrays (zarr, dask)
        are read slice by slice.  An
        :class:`~promptseg.store.embedding_store.EmbeddingStore` of the stack
        written by the same SAM 2.1 backend (one tile per slice) is read
        slice by slice instead of encoding.  A
        :class:`~promptseg.session.frame_source.FrameSource` is used as it is.
    contrast_limits : (low, high), optional
        For non-8-bit stacks; default robust percentiles of a few slices.
    fill_hole_area : int
        Holes of up to this many pixels of the 256 x 256 low-resolution mask
        are filled (published default 8; 0 turns it off).
    cache_frames : int
        Slices whose encoder features are kept (~17 MB each).

    Examples
    --------
    >>> from promptseg.model.sam2.build import build_sam2          # doctest: +SKIP
    >>> tracker = StackTracker(build_sam2("hiera_t"), volume)      # doctest: +SKIP
    >>> first = tracker.add_prompts(10, 1, points=[(120, 200)], labels=[1])  # doctest: +SKIP
    >>> labels = np.zeros(volume.shape[:3], np.uint16)             # doctest: +SKIP
    >>> for z, answers in tracker.propagate(start=10):             # doctest: +SKIP
    ...     for obj_id, prediction in answers.items():
    ...         labels[z][prediction.mask] = obj_id
    """

    def __init__(
        self,
        backend: Any,
        stack: Any,
        *,
        contrast_limits: Sequence[float] | None = None,
        fill_hole_area: int = 8,
        cache_frames: int = 2,
    ) -> None:
        self.model = _sam2_model(backend)
        self.frames = _frames(backend, self.model, stack, contrast_limits, cache_frames)
        self.engine = TrackerEngine(
            self.model, self.frames.num_frames, self.frames.features, fill_hole_area=fill_hole_area
        )

    @property
    def num_slices(self) -> int:
        """Z."""
        return self.frames.num_frames

    @property
    def slice_shape(self) -> tuple[int, int]:
        """(H, W) of every slice and every returned mask."""
        return self.frames.frame_shape

    @property
    def object_ids(self) -> list[int]:
        """Objects prompted so far, in order of first prompt."""
        return self.engine.object_ids

    def add_prompts(
        self,
        z: int,
        obj_id: int,
        points: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Sequence[float] | None = None,
        *,
        clear: bool = False,
    ) -> dict[int, Prediction]:
        """Prompt one object on slice ``z`` and get every object's answer there.

        Parameters
        ----------
        z : int
            Slice index.
        obj_id : int
            A new id starts a new object.
        points : (N, 2) (row, col) pixel coordinates, optional
        labels : (N,) 1 object / 0 background, optional (default all 1)
        box : (row0, col0, row1, col1), optional
            Replaces the object's earlier prompts on this slice.
        clear : bool
            Drop the object's earlier prompts on this slice first; otherwise
            clicks on the same slice accumulate.

        Returns
        -------
        dict[int, Prediction]
            For every object: its mask and logits (H, W) on slice ``z``
            (empty for an object without an answer there), score = predicted
            IoU.  On a slice propagation has reached, the clicks correct the
            tracked mask using the object's memory.

        Raises
        ------
        PromptError
            Malformed or out-of-slice prompts, or none at all.
        IndexError
            ``z`` is outside the stack.
        """
        prompts = Prompts(points, labels, box, image_shape=self.slice_shape)
        if prompts.is_empty:
            raise PromptError("no prompt given: add at least one point or a box.")
        xy = self._to_model(to_xy(prompts.points)) if len(prompts.points) else None
        box_xy = self._to_model(box_to_xyxy(prompts.box).reshape(2, 2)).reshape(4) if prompts.box is not None else None
        results = self.engine.add_prompts(
            z, obj_id, xy, np.array(prompts.labels) if xy is not None else None, box_xy, clear=clear
        )
        return self._predictions(results)

    def propagate(
        self, start: int | None = None, reverse: bool = False, *, max_slices: int | None = None,
        obj_ids: Sequence[int] | None = None,
    ) -> Iterator[tuple[int, dict[int, Prediction]]]:
        """Track every object slice by slice; a generator (close it to stop).

        Parameters
        ----------
        start : int, optional
            First slice; default the first prompted slice of any object.
        reverse : bool
            Go towards slice 0.
        max_slices : int, optional
            Stop after ``start`` plus this many slices.
        obj_ids : sequence of int, optional
            Track only these objects (default every prompted one); the
            others keep their memory as it is.

        Yields
        ------
        z : int
        predictions : dict[int, Prediction]
            Every tracked object's mask on slice ``z``.

        Raises
        ------
        PromptError
            No object has been prompted, or one of ``obj_ids`` has not.
        """
        if not self.engine.tracks:
            raise PromptError("no prompts yet: add points or a box on some slice before propagating")
        unknown = [int(i) for i in obj_ids or () if int(i) not in self.engine.tracks]
        if unknown:
            raise PromptError(f"objects {unknown} have no prompts yet: prompt them on some slice first.")
        trim = sys.platform.startswith("linux")
        for count, (z, results) in enumerate(self.engine.propagate(start, reverse, max_slices, obj_ids), start=1):
            if trim and count % TRIM_EVERY == 0:
                _release_heap()
            yield z, self._predictions(results)

    def add_mask(self, z: int, obj_id: int, mask: np.ndarray) -> dict[int, Prediction]:
        """Give one object's mask on slice ``z`` (e.g. a committed object) and get every object's answer there.

        The official ``add_new_mask``: the mask, resized to the model input
        (bilinear, antialiased, >= 0.5), is the object's answer on that slice
        and a conditioning slice of it when propagation next starts; it
        replaces the object's clicks and box there.

        Parameters
        ----------
        z, obj_id : int
            The slice and the object (a new id starts a new object), as in :meth:`add_prompts`.
        mask : (H, W) bool
            On the slice, in its (row, col) frame.

        Returns
        -------
        dict[int, Prediction]
            As :meth:`add_prompts`.

        Raises
        ------
        PromptError
            The mask's shape is not the slice's.
        IndexError
            ``z`` is outside the stack.
        """
        mask = np.asarray(mask)
        if mask.shape != tuple(self.slice_shape):
            raise PromptError(f"the mask has shape {mask.shape}, the slices {tuple(self.slice_shape)}: "
                              "give a mask of one slice.")
        size = (self.model.image_size, self.model.image_size)
        full = torch.from_numpy(mask.astype(np.float32))[None, None]
        resized = F.interpolate(full, size=size, mode="bilinear", align_corners=False, antialias=True) >= 0.5
        return self._predictions(self.engine.add_mask(z, obj_id, resized.float()))

    def answers(self, z: int) -> dict[int, Prediction]:
        """Every object's latest answer on slice ``z`` (prompted, given as a mask or tracked; empty where none)."""
        return self._predictions(self.engine.results(self.engine._check_frame(z)))

    def reset(self) -> None:
        """Forget every object, prompt and tracked mask (encoded slices stay cached)."""
        self.engine.reset()

    def _to_model(self, xy: np.ndarray) -> torch.Tensor:
        """(…, 2) (x, y) slice pixels -> the S x S model input, as the official predictor scales them."""
        h, w = self.slice_shape
        scale = torch.tensor([w, h], dtype=torch.float32)
        return torch.as_tensor(np.asarray(xy), dtype=torch.float32) / scale * self.model.image_size

    def _predictions(self, results: dict[int, TrackResult]) -> dict[int, Prediction]:
        out = {}
        for obj_id, result in results.items():
            logits = F.interpolate(result.low_res, size=self.slice_shape, mode="bilinear", align_corners=False)
            logits_np = logits[0, 0].cpu().numpy()
            out[obj_id] = Prediction(mask=logits_np > 0, logits=logits_np, score=result.iou, state=result.low_res)
        return out
