"""SAM 2's mask decoder: SAM's, plus an object-score token, high-resolution skips and stability fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..common import MLP
from ..mask_decoder import MaskDecoder


@dataclass
class DecoderOutput:
    """What :class:`Sam2MaskDecoder` returns; B prompt sets, M masks each.

    Attributes
    ----------
    masks : torch.Tensor, (B, M, 4h, 4w)
        Mask logits in the low-resolution frame (256 x 256 for a 1024 input;
        not clamped).  M = 3 with ``multimask_output``, else 1.
    iou : torch.Tensor, (B, M)
        Predicted IoU of each mask, in [0, 1] (sigmoid head).
    sam_tokens : torch.Tensor, (B, M', C)
        Output mask tokens after the transformer, for the tracker's object
        pointer: the three multimask tokens (M' = 3) with
        ``multimask_output``, else the single-mask token (M' = 1), even when
        the stability fallback picked a multimask candidate.
    object_score_logits : torch.Tensor, (B, 1)
        Logit that the object is present in the image (> 0: present).
    """

    masks: torch.Tensor
    iou: torch.Tensor
    sam_tokens: torch.Tensor
    object_score_logits: torch.Tensor


def stability_scores(logits: torch.Tensor, delta: float) -> torch.Tensor:
    """Area above ``+delta`` over area above ``-delta`` of (..., h, w) logits; 1 where both are empty."""
    flat = logits.flatten(-2)
    inner = (flat > delta).sum(-1).float()
    outer = (flat > -delta).sum(-1).float()
    return torch.where(outer > 0, inner / outer.clamp(min=1), torch.ones_like(outer))


class Sam2MaskDecoder(MaskDecoder):
    """SAM's mask decoder with SAM 2.1's additions.

    * Output tokens are ``[object score, IoU, mask_0 .. mask_3]``; the
      object-score token's output goes through ``pred_obj_score_head`` (an
      MLP of three layers).
    * The upscaling path adds the high-resolution features: after the first
      transposed convolution the stride-8 map (``conv_s1`` applied), after the
      second the stride-4 map (``conv_s0`` applied); ``conv_s0`` / ``conv_s1``
      live here but are applied once per image, by the image path.
    * Predicted IoU passes a sigmoid.
    * Single-mask answers fall back to the best multimask candidate (highest
      predicted IoU) when mask 0's stability score is below
      ``stability_thresh`` (see :func:`stability_scores`).

    Parameters
    ----------
    **sam_decoder
        :class:`~promptseg.model.mask_decoder.MaskDecoder`'s keywords, as in
        SAM: ``transformer_dim`` (token width C, 256), ``transformer`` (a
        :class:`~promptseg.model.transformer.TwoWayTransformer` built with ``mlp_keys="layers"``),
        ``num_multimask_outputs``, ``iou_head_depth``, ``iou_head_hidden_dim``
        (3, 3, 256).
    stability_delta, stability_thresh : float
        Fallback settings (0.05, 0.98).
    """

    def __init__(self, *, stability_delta: float = 0.05, stability_thresh: float = 0.98, **sam_decoder: Any) -> None:
        super().__init__(**sam_decoder)
        transformer_dim = self.transformer_dim
        self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.pred_obj_score_head = MLP(transformer_dim, transformer_dim, 1, 3)
        self.stability_delta = stability_delta
        self.stability_thresh = stability_thresh

    def output_tokens(self, batch: int) -> torch.Tensor:
        """Object-score token, IoU token, then mask tokens: (B, 2 + num_mask_tokens, C)."""
        weights = (self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight)
        return torch.cat(weights, dim=0).unsqueeze(0).expand(batch, -1, -1)

    def forward(  # type: ignore[override]
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        high_res_features: tuple[torch.Tensor, torch.Tensor],
    ) -> DecoderOutput:
        """Reference forward pass.

        Parameters
        ----------
        image_embeddings : (1, C, h, w) or (B, C, h, w)
            The 64 x 64 image embedding (``no_mem_embed`` already added for
            single images).
        image_pe : (1, C, h, w)
            The prompt encoder's dense positional encoding.
        sparse_prompt_embeddings : (B, N, C)
        dense_prompt_embeddings : (B, C, h, w)
        multimask_output : bool
            Return the three candidates instead of one mask.
        high_res_features : ((1 or B, C/8, 4h, 4w), (1 or B, C/4, 2h, 2w))
            The stride-4 and stride-8 maps after ``conv_s0`` / ``conv_s1``.

        Returns
        -------
        DecoderOutput
        """
        hs, image_map = self.run_transformer(image_embeddings, image_pe, sparse_prompt_embeddings,
                                             dense_prompt_embeddings)
        iou = torch.sigmoid(self.iou_prediction_head(hs[:, 1]))
        mask_tokens_out = hs[:, 2 : 2 + self.num_mask_tokens]
        feat_s0, feat_s1 = high_res_features
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        upscaled = act1(ln1(dc1(image_map) + feat_s1))
        upscaled = act2(dc2(upscaled) + feat_s0)
        masks = self.masks_from_tokens(mask_tokens_out, upscaled)
        object_score_logits = self.pred_obj_score_head(hs[:, 0])
        if multimask_output:
            masks, iou, sam_tokens = masks[:, 1:], iou[:, 1:], mask_tokens_out[:, 1:]
        else:
            masks, iou = self._stable_single_mask(masks, iou)
            sam_tokens = mask_tokens_out[:, :1]
        return DecoderOutput(masks, iou, sam_tokens, object_score_logits)

    def _stable_single_mask(self, masks: torch.Tensor, iou: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask 0 where stable, else the multimask candidate with the highest predicted IoU: (B, 1, ...)."""
        best = iou[:, 1:].argmax(dim=-1) + 1
        rows = torch.arange(masks.shape[0], device=masks.device)
        stable = stability_scores(masks[:, 0], self.stability_delta) >= self.stability_thresh  # (B,)
        pick = torch.where(stable, torch.zeros_like(best), best)
        return masks[rows, pick].unsqueeze(1), iou[rows, pick].unsqueeze(1)
