"""Typed state of the SAM 2 video tracker: features, prompts and per-object outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["FrameFeatures", "FramePrompts", "FrameOutput", "ObjectTrack", "TrackResult"]


@dataclass(frozen=True)
class FrameFeatures:
    """The image features of one frame, as the tracker uses them.

    Attributes
    ----------
    image : torch.Tensor, shape (1, C, h, w)
        The stride-16 neck map (64 x 64 for a 1024 input), *without*
        ``no_mem_embed``: the tracker conditions it on the memory instead.
    high_res : (torch.Tensor, torch.Tensor)
        The stride-4 (1, C/8, 4h, 4w) and stride-8 (1, C/4, 2h, 2w) maps,
        after the decoder's ``conv_s0`` / ``conv_s1``.
    """

    image: torch.Tensor
    high_res: tuple[torch.Tensor, torch.Tensor]

    @classmethod
    def from_backbone(cls, maps: list[torch.Tensor]) -> "FrameFeatures":
        """From :meth:`promptseg.model.sam2.sam2_model.Sam2Model.backbone` of one frame."""
        s0, s1, image = maps
        return cls(image=image, high_res=(s0, s1))


@dataclass
class FramePrompts:
    """One object's prompts on one frame, in the model's (x, y) input frame.

    Attributes
    ----------
    points : torch.Tensor, shape (N, 2), float32
        Clicks as (x, y) in the S x S model input.
    labels : torch.Tensor, shape (N,), int64
        1 positive, 0 negative.
    box : torch.Tensor, shape (4,), float32, or None
        XYXY in the model input; given to the decoder before the clicks.
    """

    points: torch.Tensor
    labels: torch.Tensor
    box: torch.Tensor | None = None

    @property
    def num_points(self) -> int:
        """Points the decoder sees: the clicks plus two box corners."""
        return int(self.points.shape[0]) + (2 if self.box is not None else 0)

    def extended(self, points: torch.Tensor, labels: torch.Tensor) -> "FramePrompts":
        """These prompts with more clicks appended."""
        return FramePrompts(torch.cat([self.points, points]), torch.cat([self.labels, labels]), self.box)


@dataclass
class FrameOutput:
    """What the tracker keeps of one object on one frame.

    Attributes
    ----------
    low_res : torch.Tensor, shape (1, 1, 4h, 4w), float32
        Mask logits of the chosen mask (256 x 256 for a 1024 input), set to
        -1024 where the object was judged absent; before hole filling.
    object_score : torch.Tensor, shape (1, 1)
        Logit that the object is present (> 0: present).
    pointer : torch.Tensor, shape (1, C)
        Object pointer for later frames' memory attention.
    iou : float
        Predicted IoU of the chosen mask.
    memory : torch.Tensor, shape (1, mem_dim, h, w), bfloat16, or None
        The encoded memory (None until encoded, or after eviction from the
        memory cache; it is then encoded again from ``low_res``).
    from_clicks : bool
        The mask answers prompts on this frame (its memory is encoded from
        the binarised, hole-filled mask).
    """

    low_res: torch.Tensor
    object_score: torch.Tensor
    pointer: torch.Tensor
    iou: float
    memory: torch.Tensor | None = None
    from_clicks: bool = False

    @property
    def present(self) -> bool:
        """Whether the object was judged present on the frame."""
        return bool(self.object_score.item() > 0)


@dataclass
class ObjectTrack:
    """Everything the tracker knows about one object.

    Attributes
    ----------
    obj_id : int
        The caller's id.
    prompts : dict[int, FramePrompts]
        Prompts per frame.
    pending : dict[int, FrameOutput]
        Answers to prompts not yet in the memory bank (they join it as
        conditioning frames when propagation starts).
    conditioning : dict[int, FrameOutput]
        Frames with prompts: every tracked frame attends to all of them.
    tracked : dict[int, FrameOutput]
        Frames reached by propagation (not conditioning).
    directions : dict[int, bool]
        For every frame propagation has visited: whether it went in reverse.
    """

    obj_id: int
    prompts: dict[int, FramePrompts] = field(default_factory=dict)
    pending: dict[int, FrameOutput] = field(default_factory=dict)
    conditioning: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: dict[int, FrameOutput] = field(default_factory=dict)
    directions: dict[int, bool] = field(default_factory=dict)

    def latest(self, frame: int) -> FrameOutput | None:
        """The most recent output on ``frame``: pending, else conditioning, else tracked."""
        for outputs in (self.pending, self.conditioning, self.tracked):
            if frame in outputs:
                return outputs[frame]
        return None


@dataclass(frozen=True)
class TrackResult:
    """One object's answer on one frame, in the model's low-resolution frame.

    Attributes
    ----------
    low_res : torch.Tensor, shape (1, 1, 4h, 4w), float32
        Mask logits after small-hole filling; all -1024 for an object with
        no output on the frame.
    object_score : float
        Logit that the object is present (-inf when it has no output).
    iou : float
        Predicted IoU (0 when it has no output).
    """

    low_res: torch.Tensor
    object_score: float
    iou: float
