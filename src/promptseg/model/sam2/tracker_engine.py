"""SAM 2.1 video tracking at the model level: prompts in the model frame, memories, propagation.

:class:`TrackerEngine` reproduces the official ``SAM2VideoPredictor`` with
the published post-processing and ``add_all_frames_to_correct_as_cond``:
prompts on any frame make it a conditioning frame for that object, and
propagation tracks every object frame by frame with up to ``num_maskmem``
memories and 16 object pointers.  It works on encoder features (given by a
callback, so frames can be encoded on demand or read from a store) and on
(x, y) prompts in the S x S model input; :class:`promptseg.StackTracker`
adds the image side.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterator, Sequence

import torch

from .hole_filling import fill_small_holes
from .memory_context import condition_on_memory
from .sam2_model import Sam2Model
from .track_step import NO_OBJECT_LOGIT, decode, decode_mask, encode_memory
from .tracker_state import FrameFeatures, FrameOutput, FramePrompts, ObjectTrack, TrackResult

__all__ = ["TrackerEngine"]

#: Clamp of an earlier answer fed back as the mask prompt.
_FEEDBACK_CLAMP = 32.0


class TrackerEngine:
    """Track objects through a stack of frames with SAM 2.1's memory.

    Parameters
    ----------
    model : Sam2Model
        In eval mode.
    num_frames : int
        Frames in the stack.
    features : callable
        ``features(frame) -> FrameFeatures``; called whenever a frame's
        features are needed (the caller decides what to cache).
    fill_hole_area : int
        Background regions of at most this many low-resolution pixels become
        foreground in every answer (published default 8; 0 turns it off).
    cached_memories : int
        Memories of tracked frames kept per object; older ones are encoded
        again from their stored mask when needed (conditioning frames'
        memories are always kept).

    Examples
    --------
    >>> engine = TrackerEngine(model, 10, features)          # doctest: +SKIP
    >>> engine.add_prompts(0, 1, points_xy=[[400.0, 340.0]], labels=[1])  # doctest: +SKIP
    >>> for frame, results in engine.propagate():            # doctest: +SKIP
    ...     print(frame, results[1].object_score)
    """

    def __init__(
        self,
        model: Sam2Model,
        num_frames: int,
        features: Callable[[int], FrameFeatures],
        *,
        fill_hole_area: int = 8,
        cached_memories: int = 16,
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"a stack needs at least one frame, got {num_frames}")
        if cached_memories < model.num_maskmem - 1:
            raise ValueError(f"cached_memories must be at least {model.num_maskmem - 1}, got {cached_memories}")
        self.model = model
        self.num_frames = num_frames
        self.features = features
        self.fill_hole_area = fill_hole_area
        self.cached_memories = cached_memories
        self.tracks: dict[int, ObjectTrack] = {}
        self._memory_order: dict[int, OrderedDict[int, None]] = {}

    @property
    def object_ids(self) -> list[int]:
        """Object ids in order of first prompt."""
        return list(self.tracks)

    def reset(self) -> None:
        """Forget every object, prompt and result."""
        self.tracks.clear()
        self._memory_order.clear()

    # ------------------------------------------------------------------ prompts
    @torch.inference_mode()
    def add_prompts(
        self,
        frame: int,
        obj_id: int,
        points_xy: Sequence[Sequence[float]] | torch.Tensor | None = None,
        labels: Sequence[int] | torch.Tensor | None = None,
        box_xyxy: Sequence[float] | torch.Tensor | None = None,
        *,
        clear: bool = False,
    ) -> dict[int, TrackResult]:
        """Add clicks and/or a box for one object on one frame and answer it.

        Parameters
        ----------
        frame : int
        obj_id : int
            A new id starts a new object.
        points_xy : (N, 2) (x, y) in the S x S model input, optional
        labels : (N,) 1 positive / 0 negative, with ``points_xy``
        box_xyxy : (4,) in the model input, optional
            A box replaces the object's earlier prompts on this frame.
        clear : bool
            Drop the object's earlier prompts on this frame first (otherwise
            clicks accumulate).

        Returns
        -------
        dict[int, TrackResult]
            Every object's answer on this frame (objects without one get
            -1024 logits).  A frame that propagation has not reached is
            answered without memory, as a first frame; a frame it has
            reached is corrected with its memory.  Either way the frame
            becomes a conditioning frame when propagation next starts.
        """
        frame = self._check_frame(frame)
        new = self._prompts(points_xy, labels, box_xyxy)
        track = self.tracks.get(obj_id) or self._new_track(obj_id)
        old = None if (clear or new.box is not None) else track.prompts.get(frame)
        prompts = new if old is None else old.extended(new.points, new.labels)
        track.prompts[frame] = prompts
        features = self.features(frame)
        previous = track.latest(frame)
        feedback = None
        if previous is not None:
            feedback = self._filled(previous).clamp(-_FEEDBACK_CLAMP, _FEEDBACK_CLAMP)
        if frame in track.directions:
            image = self._conditioned(track, frame, features, track.directions[frame])
        else:
            image = features.image + self.model.no_mem_embed.view(1, -1, 1, 1)
        track.pending[frame] = decode(self.model, image, features, prompts, feedback)
        return self.results(frame)

    @torch.inference_mode()
    def add_mask(self, frame: int, obj_id: int, mask: torch.Tensor) -> dict[int, TrackResult]:
        """Give one object's mask on one frame (the official ``add_new_mask``); answer every object there.

        Parameters
        ----------
        frame : int
        obj_id : int
            A new id starts a new object.
        mask : torch.Tensor, shape (S, S) or (1, 1, S, S)
            0 / 1 on the S x S model input.  It replaces the object's clicks
            and box on this frame and is its answer there (see
            :func:`~.track_step.decode_mask`); the frame becomes a
            conditioning frame when propagation next starts.

        Returns
        -------
        dict[int, TrackResult]
        """
        frame = self._check_frame(frame)
        size = self.model.image_size
        mask = torch.as_tensor(mask).float().reshape(1, 1, *torch.as_tensor(mask).shape[-2:])
        if tuple(mask.shape[-2:]) != (size, size):
            raise ValueError(f"a mask is given on the {size} x {size} model input, got {tuple(mask.shape[-2:])}")
        track = self.tracks.get(obj_id) or self._new_track(obj_id)
        track.prompts.pop(frame, None)
        track.pending[frame] = decode_mask(self.model, self.features(frame), mask)
        return self.results(frame)

    def results(self, frame: int) -> dict[int, TrackResult]:
        """Every object's latest answer on ``frame`` (pending, conditioning or tracked)."""
        out = {}
        for obj_id, track in self.tracks.items():
            latest = track.latest(frame)
            out[obj_id] = self._result(latest)
        return out

    # -------------------------------------------------------------- propagation
    @torch.inference_mode()
    def propagate(
        self, start: int | None = None, reverse: bool = False, max_frames: int | None = None,
        obj_ids: Sequence[int] | None = None,
    ) -> Iterator[tuple[int, dict[int, TrackResult]]]:
        """Track every object frame by frame; a generator.

        Parameters
        ----------
        start : int, optional
            First frame; default the earliest conditioning frame of any
            object.
        reverse : bool
            Go towards frame 0 (from ``start`` down to 0; nothing when
            ``start`` is 0).
        max_frames : int, optional
            Stop after ``start`` plus this many frames.
        obj_ids : sequence of int, optional
            Track only these objects (default all); the others keep what
            they have.

        Yields
        ------
        frame : int
        results : dict[int, TrackResult]
            Every object's answer on that frame.  Conditioning frames give
            their prompted answer; other frames are tracked and their
            memories encoded for the next ones.

        Raises
        ------
        ValueError
            No object has prompts yet.
        """
        self._commit_prompts()
        if start is None:
            start = min(t for track in self.tracks.values() for t in track.conditioning)
        start = self._check_frame(start)
        span = self.num_frames if max_frames is None else max_frames
        if reverse:
            order = range(start, max(start - span, 0) - 1, -1) if start > 0 else range(0)
        else:
            order = range(start, min(start + span, self.num_frames - 1) + 1)
        chosen = list(self.tracks) if obj_ids is None else [int(i) for i in obj_ids]
        unknown = [i for i in chosen if i not in self.tracks]
        if unknown:
            raise ValueError(f"objects {unknown} have no prompts yet; prompted objects: {list(self.tracks)}")
        for frame in order:
            yield frame, self._track_frame(frame, reverse, chosen)

    def _track_frame(self, frame: int, reverse: bool, obj_ids: list[int]) -> dict[int, TrackResult]:
        features = None
        results = {}
        for obj_id in obj_ids:
            track = self.tracks[obj_id]
            out = track.conditioning.get(frame)
            if out is None:
                if features is None:
                    features = self.features(frame)
                image = self._conditioned(track, frame, features, reverse)
                out = decode(self.model, image, features, None, None)
                out.memory = encode_memory(self.model, features, out, self.fill_hole_area)
                track.tracked[frame] = out
                self._remember(obj_id, frame)
            track.directions[frame] = reverse
            results[obj_id] = self._result(out)
        return results

    def _commit_prompts(self) -> None:
        """Encode the memories of prompted frames and make them conditioning frames."""
        if not self.tracks:
            raise ValueError("no prompts yet: add points or a box for an object before propagating")
        for track in self.tracks.values():
            for frame, out in track.pending.items():
                out.memory = encode_memory(self.model, self.features(frame), out, self.fill_hole_area)
                track.conditioning[frame] = out
            track.pending.clear()
            for frame in track.conditioning:
                track.tracked.pop(frame, None)
                self._memory_order[track.obj_id].pop(frame, None)

    # ------------------------------------------------------------------ helpers
    def _conditioned(self, track: ObjectTrack, frame: int, features: FrameFeatures, reverse: bool) -> torch.Tensor:
        return condition_on_memory(
            self.model,
            track,
            frame,
            features,
            reverse=reverse,
            num_frames=self.num_frames,
            memory_of=lambda t, out: self._memory(track.obj_id, t, out),
        )

    def _memory(self, obj_id: int, frame: int, out: FrameOutput) -> torch.Tensor:
        """An output's memory, encoded again if it was evicted."""
        if out.memory is None:
            out.memory = encode_memory(self.model, self.features(frame), out, self.fill_hole_area)
        if not out.from_clicks:
            self._remember(obj_id, frame)
        return out.memory

    def _remember(self, obj_id: int, frame: int) -> None:
        """Mark a tracked frame's memory as recently used; evict the oldest beyond the cache size."""
        order = self._memory_order[obj_id]
        order[frame] = None
        order.move_to_end(frame)
        track = self.tracks[obj_id]
        while len(order) > self.cached_memories:
            old, _ = order.popitem(last=False)
            if old in track.tracked:
                track.tracked[old].memory = None

    def _filled(self, out: FrameOutput) -> torch.Tensor:
        return fill_small_holes(out.low_res, self.fill_hole_area)

    def _result(self, out: FrameOutput | None) -> TrackResult:
        if out is None:
            size = self.model.sam_prompt_encoder.mask_input_size
            empty = torch.full((1, 1, *size), NO_OBJECT_LOGIT)
            return TrackResult(empty, float("-inf"), 0.0)
        return TrackResult(self._filled(out), float(out.object_score), out.iou)

    def _new_track(self, obj_id: int) -> ObjectTrack:
        track = self.tracks[obj_id] = ObjectTrack(obj_id)
        self._memory_order[obj_id] = OrderedDict()
        return track

    def _check_frame(self, frame: int) -> int:
        if not 0 <= int(frame) < self.num_frames:
            raise IndexError(f"frame {frame} is outside the stack of {self.num_frames} frames")
        return int(frame)

    @staticmethod
    def _prompts(points_xy, labels, box_xyxy) -> FramePrompts:
        if (points_xy is None) != (labels is None):
            raise ValueError("points and labels must be given together")
        if points_xy is None and box_xyxy is None:
            raise ValueError("give at least one point or a box")
        points = torch.zeros(0, 2) if points_xy is None else torch.as_tensor(points_xy, dtype=torch.float32)
        tags = torch.zeros(0, dtype=torch.int64) if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        points = points.reshape(-1, 2) if points.numel() else points.reshape(0, 2)
        tags = tags.reshape(-1)
        if points.shape[0] != tags.shape[0]:
            raise ValueError(f"{points.shape[0]} points but {tags.shape[0]} labels")
        if tags.numel() and not bool(((tags == 0) | (tags == 1)).all()):
            raise ValueError(f"labels must be 1 (positive) or 0 (negative), got {tags.tolist()}")
        box = None
        if box_xyxy is not None:
            box = torch.as_tensor(box_xyxy, dtype=torch.float32).reshape(-1)
            if box.numel() != 4:
                raise ValueError(f"a box is (x0, y0, x1, y1), got {box.numel()} numbers")
        return FramePrompts(points, tags, box)
