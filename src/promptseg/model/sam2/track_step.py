"""One tracking step of SAM 2 for one object: SAM heads on a (memory-conditioned) frame, and its memory.

These functions hold the equations of the official ``_forward_sam_heads``
and ``_encode_new_memory`` for the published SAM 2.1 settings (object-score
gating, fixed no-object pointer, multimask tokens for the pointer, memory
masks as ``20 * sigmoid(logits) - 10``, binarised on clicked frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .hole_filling import fill_small_holes
from .prompts import sparse_tokens
from .sam2_model import Sam2Model
from .tracker_state import FrameFeatures, FrameOutput, FramePrompts

__all__ = ["decode", "decode_mask", "encode_memory", "NO_OBJECT_LOGIT"]

#: Logit given to every pixel of an object judged absent.
NO_OBJECT_LOGIT = -1024.0

#: Scale and bias applied to mask probabilities before the memory encoder.
_MEMORY_MASK_SCALE, _MEMORY_MASK_BIAS = 20.0, -10.0


def _prompt_tokens(model: Sam2Model, prompts: FramePrompts | None) -> torch.Tensor:
    """Sparse tokens (1, N, C): the prompts, or two "not a point" tokens on a frame without any."""
    encoder = model.sam_prompt_encoder
    device = encoder.no_mask_embed.weight.device
    if prompts is None:
        return encoder.embed_points(torch.zeros(1, 1, 2, device=device), -torch.ones(1, 1, dtype=torch.int64, device=device), pad=True)
    points = prompts.points[None].to(device) if prompts.points.shape[0] else None
    labels = prompts.labels[None].to(device) if prompts.points.shape[0] else None
    box = prompts.box[None].to(device) if prompts.box is not None else None
    return sparse_tokens(encoder, points, labels, box)


def decode(
    model: Sam2Model,
    image: torch.Tensor,
    features: FrameFeatures,
    prompts: FramePrompts | None,
    previous_logits: torch.Tensor | None,
) -> FrameOutput:
    """Run the SAM heads for one object and keep the chosen mask.

    Parameters
    ----------
    model : Sam2Model
    image : torch.Tensor, shape (1, C, h, w)
        The frame's image embedding, conditioned on the memory (or with
        ``no_mem_embed`` added on a frame without memory).
    features : FrameFeatures
        The frame's high-resolution maps.
    prompts : FramePrompts or None
        Clicks / box on this frame; None while tracking.
    previous_logits : torch.Tensor, shape (1, 1, 4h, 4w), or None
        An earlier answer on this frame, fed back as the mask prompt.

    Returns
    -------
    FrameOutput
        ``memory`` is None (see :func:`encode_memory`).  With at most one
        point (a tracked frame counts as none) the three candidates are
        scored and the best kept, its token giving the pointer; otherwise
        the single mask (with the stability fallback) and the single-mask
        token.
    """
    encoder = model.sam_prompt_encoder
    num_points = 0 if prompts is None else prompts.num_points
    multimask = num_points <= 1
    if previous_logits is None:
        h, w = encoder.image_embedding_size
        dense = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
    else:
        dense = encoder.mask_downscaling(previous_logits)
    out = model.sam_mask_decoder(
        image, encoder.get_dense_pe(), _prompt_tokens(model, prompts), dense, multimask, features.high_res
    )
    present = out.object_score_logits > 0  # (1, 1)
    masks = torch.where(present[:, :, None, None], out.masks, torch.tensor(NO_OBJECT_LOGIT)).float()
    best = int(out.iou[0].argmax()) if multimask else 0
    token = out.sam_tokens[:, best] if multimask else out.sam_tokens[:, 0]
    weight = present.float()
    pointer = weight * model.obj_ptr_proj(token) + (1 - weight) * model.no_obj_ptr
    return FrameOutput(
        low_res=masks[:, best : best + 1].clone(),  # not a view: the other candidates would stay alive per frame
        object_score=out.object_score_logits,
        pointer=pointer,
        iou=float(out.iou[0, best]),
        from_clicks=prompts is not None,
    )


def decode_mask(model: Sam2Model, features: FrameFeatures, mask: torch.Tensor) -> FrameOutput:
    """A mask given on a frame taken as the object's output there (the official ``add_new_mask``).

    As the published SAM 2.1 settings do (``use_mask_input_as_output_without_sam``),
    the mask itself is the answer: its low-resolution logits are ``20 m - 10``
    downsampled (bilinear, antialiased); the SAM heads run once on the frame's
    unconditioned embedding with the mask as dense prompt (through
    ``mask_downsample``) only to give the object pointer; the object counts
    as present when the mask has any pixel.

    Parameters
    ----------
    model : Sam2Model
    features : FrameFeatures
        The frame's features (no memory, no ``no_mem_embed``).
    mask : torch.Tensor, shape (1, 1, S, S), float 0 / 1
        The mask on the S x S model input.

    Returns
    -------
    FrameOutput
        ``from_clicks`` True (its memory is encoded from the binarised mask),
        ``iou`` 1.
    """
    mask = mask.float()
    high = mask * _MEMORY_MASK_SCALE + _MEMORY_MASK_BIAS
    size = (high.shape[-2] // 4, high.shape[-1] // 4)
    low_res = F.interpolate(high, size=size, mode="bilinear", align_corners=False, antialias=True)
    encoder = model.sam_prompt_encoder
    dense = encoder.mask_downscaling(model.mask_downsample(mask))
    out = model.sam_mask_decoder(
        features.image, encoder.get_dense_pe(), _prompt_tokens(model, None), dense, False, features.high_res
    )
    decoded = (out.object_score_logits > 0).float()
    pointer = decoded * model.obj_ptr_proj(out.sam_tokens[:, 0]) + (1 - decoded) * model.no_obj_ptr
    appears = float(bool((mask > 0).any()))
    pointer = appears * pointer + (1 - appears) * model.no_obj_ptr
    score = torch.full((1, 1), _MEMORY_MASK_SCALE * appears + _MEMORY_MASK_BIAS)
    return FrameOutput(low_res=low_res, object_score=score, pointer=pointer, iou=1.0, from_clicks=True)


def encode_memory(model: Sam2Model, features: FrameFeatures, output: FrameOutput, fill_hole_area: int) -> torch.Tensor:
    """The memory of one object's output on a frame.

    The mask is the low-resolution answer upsampled bilinearly to the
    model input; on a frame with clicks it is first hole-filled and then
    binarised (what the user saw), elsewhere it goes through a sigmoid.
    Either way it is mapped to ``20 p - 10``.  An absent object adds
    ``no_obj_embed_spatial`` to every memory cell.

    Returns
    -------
    torch.Tensor, shape (1, mem_dim, h, w), bfloat16
        Rounded to bfloat16 as the official tracker stores it.
    """
    logits = output.low_res
    if output.from_clicks:
        logits = fill_small_holes(logits, fill_hole_area)
    size = (model.image_size, model.image_size)
    full = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    probability = (full > 0).float() if output.from_clicks else torch.sigmoid(full)
    mask = probability * _MEMORY_MASK_SCALE + _MEMORY_MASK_BIAS
    memory = model.memory_encoder(features.image, mask)
    if not output.present:
        memory = memory + model.no_obj_embed_spatial[..., None, None]
    return memory.to(torch.bfloat16)
