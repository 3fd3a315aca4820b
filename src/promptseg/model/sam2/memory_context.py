"""Which memories a frame attends to, and the memory-attention call (official ``_prepare_memory_conditioned_features``)."""

from __future__ import annotations

from typing import Callable

import torch

from .sam2_model import Sam2Model
from .temporal_encoding import sine_offset_encoding
from .tracker_state import FrameFeatures, FrameOutput, ObjectTrack

__all__ = ["condition_on_memory", "MAX_POINTERS"]

#: Most object pointers a frame attends to (``max_obj_ptrs_in_encoder``).
MAX_POINTERS = 16

#: (frame, output) -> that output's memory, (1, mem_dim, h, w).
MemoryLookup = Callable[[int, FrameOutput], torch.Tensor]


def _spatial_memories(
    model: Sam2Model, track: ObjectTrack, frame: int, reverse: bool, memory_of: MemoryLookup
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Memory tokens and their positions: every conditioning frame, then the last ``num_maskmem - 1`` tracked frames.

    Conditioning frames get the temporal slot of distance 0; the tracked
    frame ``d`` steps back in the direction of travel gets slot ``d``
    (``maskmem_tpos_enc[d - 1]``, counted from the end of the table as the
    official code indexes it).
    """
    slots = model.num_maskmem
    chosen: list[tuple[int, int, FrameOutput]] = [(0, t, out) for t, out in track.conditioning.items()]
    for distance in range(slots - 1, 0, -1):  # oldest first, as the official order
        t = frame + distance if reverse else frame - distance
        out = track.tracked.get(t)
        if out is not None:
            chosen.append((slots - distance, t, out))
    grid_pos = model.memory_encoder.position(model.sam_prompt_encoder.image_embedding_size)
    grid_pos = grid_pos.flatten(2).transpose(1, 2)  # (1, hw, mem_dim)
    tokens, positions = [], []
    for slot, t, out in chosen:
        tokens.append(memory_of(t, out).flatten(2).transpose(1, 2).float())
        positions.append(grid_pos + model.maskmem_tpos_enc[slots - slot - 1].view(1, 1, -1))
    return tokens, positions


def _pointer_memories(
    model: Sam2Model, track: ObjectTrack, frame: int, reverse: bool, num_frames: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Object-pointer tokens (1, 4 P, mem_dim) and their temporal encodings, or None.

    Pointers of conditioning frames not ahead of ``frame`` (signed offset),
    then of tracked frames 1, 2, ... steps back, up to
    ``min(num_frames, 16)`` in all; each 256-wide pointer becomes four
    64-wide tokens.
    """
    sign = -1 if reverse else 1
    most = min(num_frames, MAX_POINTERS)
    offsets: list[int] = []
    pointers: list[torch.Tensor] = []
    for t, out in track.conditioning.items():
        if (t >= frame) if reverse else (t <= frame):
            offsets.append((frame - t) * sign)
            pointers.append(out.pointer)
    for step in range(1, most):
        t = frame + step if reverse else frame - step
        if t < 0 or t >= num_frames:
            break
        out = track.tracked.get(t)
        if out is not None:
            offsets.append(step)
            pointers.append(out.pointer)
    if not pointers:
        return None
    dim, mem_dim = model.no_obj_ptr.shape[1], model.mem_dim
    # one frame: the official code divides by zero here; a span of 1 keeps it finite
    scaled = torch.tensor(offsets, dtype=torch.float32) / max(most - 1, 1)
    time_pos = model.obj_ptr_tpos_proj(sine_offset_encoding(scaled.to(model.no_obj_ptr.device), dim))
    split = dim // mem_dim
    tokens = torch.cat(pointers, dim=0).reshape(-1, split, mem_dim).flatten(0, 1)
    return tokens[None], time_pos.repeat_interleave(split, dim=0)[None]


def condition_on_memory(
    model: Sam2Model,
    track: ObjectTrack,
    frame: int,
    features: FrameFeatures,
    *,
    reverse: bool,
    num_frames: int,
    memory_of: MemoryLookup,
) -> torch.Tensor:
    """The frame's image embedding after attending to the object's memory.

    Parameters
    ----------
    model : Sam2Model
    track : ObjectTrack
        Its ``conditioning`` frames (at least one) and ``tracked`` frames.
    frame : int
        Index of the frame being tracked.
    features : FrameFeatures
    reverse : bool
        Direction of travel (memories come from later frames).
    num_frames : int
        Frames in the stack.
    memory_of : callable
        Gives the memory of an output (encoding it again if it was evicted).

    Returns
    -------
    torch.Tensor, shape (1, C, h, w)
    """
    tokens, positions = _spatial_memories(model, track, frame, reverse, memory_of)
    pointers = _pointer_memories(model, track, frame, reverse, num_frames)
    num_pointer_tokens = 0
    if pointers is not None:
        tokens.append(pointers[0])
        positions.append(pointers[1])
        num_pointer_tokens = pointers[0].shape[1]
    image = features.image
    _, dim, h, w = image.shape
    image_pos = model.image_encoder.position_encoding.grid(h, w, image.device).flatten(1).T[None]
    fused = model.memory_attention(
        image.flatten(2).transpose(1, 2),
        image_pos,
        torch.cat(tokens, dim=1),
        torch.cat(positions, dim=1),
        num_pointer_tokens,
    )
    return fused.transpose(1, 2).reshape(1, dim, h, w)
