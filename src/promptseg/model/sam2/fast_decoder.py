"""The per-click path of SAM 2.1: SAM 1's fast decoder plus the object-score token and high-resolution skips.

:class:`Sam2FastDecoder` computes the function of
:class:`~promptseg.model.sam2.mask_decoder.Sam2MaskDecoder` with the work
ordered as :class:`~promptseg.model.fast_decoder.FastMaskDecoder` orders it
(per-image projections once, token-side products first, mask prompt folded
into the first block).  What SAM 2 adds is arranged the same way:

* the high-resolution maps (after ``conv_s0`` / ``conv_s1``) are permuted
  once per image into the row order of the channels-last upscaling, so on
  each click they are one addition each;
* the final token->image attention runs only for the rows read afterwards
  (object score, IoU and the candidate mask tokens); rows are independent;
* only the returned mask is formed; a single-mask answer forms mask 0,
  checks its stability, and forms the best multimask candidate only when
  mask 0 is unstable (the official fallback).

Only float rounding differs from the reference; the golden tests check both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..common import gelu
from ..fast_decoder import FastMaskDecoder, PreparedEmbedding, PreparedMask
from .mask_decoder import stability_scores
from .sam2_model import Sam2Model


@dataclass
class Sam2PreparedEmbedding(PreparedEmbedding):
    """SAM 1's per-image constants plus the high-resolution maps in the upscaling's row order (N = h*w)."""

    feat_s1: torch.Tensor | None = None  #: (4N, C/4): rows (i, j, di, dj) of the stride-8 map
    feat_s0: torch.Tensor | None = None  #: (4N, 4 C/8): rows (i, j, di, dj), columns (ei, ej, c) of the stride-4 map


@dataclass
class Sam2Answer:
    """One decoded prompt set.

    Attributes
    ----------
    low_res : torch.Tensor, (1, 4h, 4w)
        Logits of the returned mask in the low-resolution frame (256 x 256;
        not clamped: the image predictor clamps to [-32, 32] what it feeds back).
    iou : torch.Tensor, (M,)
        Predicted IoU (sigmoid): the three candidates with ``multimask``,
        else the returned mask's.
    index : int
        Mask token returned: 0 (single mask), 1-3 (a candidate, also when
        the single-mask answer fell back to one).
    object_score_logit : torch.Tensor, (1,)
        Logit that the object is present (> 0: present).
    sam_token : torch.Tensor, (C,)
        The output mask token the tracker turns into an object pointer:
        the returned candidate's with ``multimask``, else mask 0's.
    """

    low_res: torch.Tensor
    iou: torch.Tensor
    index: int
    object_score_logit: torch.Tensor
    sam_token: torch.Tensor


class Sam2FastDecoder(FastMaskDecoder):
    """Prompt -> mask for one SAM 2.1 image embedding at a time.

    Parameters
    ----------
    model : Sam2Model
        A loaded model; its decoder weights are read (partly pre-multiplied)
        once, here.
    """

    iou_row = 1  # row 0: the object-score token

    def __init__(self, model: Sam2Model) -> None:  # noqa: D107 - documented on the class
        dec, pe = model.sam_mask_decoder, model.sam_prompt_encoder
        self.num_mask_tokens = dec.num_mask_tokens
        self.stability = (dec.stability_delta, dec.stability_thresh)
        with torch.inference_mode():
            self._build(dec, pe)
            self.out_tokens = torch.cat([dec.obj_score_token.weight, self.out_tokens], 0)
            self.obj_head = dec.pred_obj_score_head
            self.c8 = self.up2[0].shape[1] // 4

    @torch.inference_mode()
    def prepare(  # type: ignore[override]
        self, embedding: torch.Tensor, high_res: tuple[torch.Tensor, torch.Tensor]
    ) -> Sam2PreparedEmbedding:
        """Per-image work, once per embedding.

        Parameters
        ----------
        embedding : torch.Tensor, (1, C, h, w)
            ``image_embed`` (with ``no_mem_embed``).
        high_res : ((1, C/8, 4h, 4w), (1, C/4, 2h, 2w))
            ``high_res_feat_0`` and ``high_res_feat_1``.
        """
        base = super().prepare(embedding)
        s0, s1 = high_res[0][0], high_res[1][0]
        h, w = self.grid_size
        c4, c8 = s1.shape[0], s0.shape[0]
        # stride-8 pixel (2i + di, 2j + dj) -> row (i, j, di, dj)
        s1_rows = s1.reshape(c4, h, 2, w, 2).permute(1, 3, 2, 4, 0).reshape(-1, c4)
        # stride-4 pixel (4i + 2di + ei, 4j + 2dj + ej) -> row (i, j, di, dj), column (ei, ej, c)
        s0_rows = s0.reshape(c8, h, 2, 2, w, 2, 2).permute(1, 4, 2, 5, 3, 6, 0).reshape(-1, 4 * c8)
        return Sam2PreparedEmbedding(**vars(base), feat_s1=s1_rows.contiguous(), feat_s0=s0_rows.contiguous())

    @torch.inference_mode()
    def __call__(  # type: ignore[override]
        self,
        prep: Sam2PreparedEmbedding,
        sparse: torch.Tensor,
        mask_hidden: torch.Tensor | PreparedMask | None,
        multimask: bool,
    ) -> Sam2Answer:
        """Decode one prompt set.

        Parameters
        ----------
        prep : Sam2PreparedEmbedding
        sparse : torch.Tensor, (n, C)
            Tokens from :func:`promptseg.model.sam2.prompts.sparse_tokens` (one prompt set).
        mask_hidden : torch.Tensor (N, 16), PreparedMask or None
            Mask prompt, as for :class:`~promptseg.model.fast_decoder.FastMaskDecoder`.
        multimask : bool
            Return the candidate with the highest predicted IoU among the three.

        Returns
        -------
        Sam2Answer
        """
        queries, keys, point_pe = self._transformer(prep, sparse, mask_hidden)
        xp = keys + self.pos_tokens
        # token rows: 0 object score, 1 IoU, 2 + k mask k
        first = list(range(1, self.num_mask_tokens)) if multimask else [0]
        out = self._final_rows(queries, point_pe, keys, xp, [0, 1] + [2 + k for k in first])
        score = self.obj_head(out[0])
        iou_all = self.iou_scores(out[1])
        features = self._upscaled(keys, prep)
        if multimask:
            iou = iou_all[1:]
            best = int(torch.argmax(iou))
            token = out[2 + best]
            return Sam2Answer(self._mask(features, self.hyper[1 + best](token)), iou, 1 + best, score, token)
        token = out[2]
        low_res = self._mask(features, self.hyper[0](token))
        delta, thresh = self.stability
        if stability_scores(low_res, delta) >= thresh:
            return Sam2Answer(low_res, iou_all[:1], 0, score, token)
        index = 1 + int(torch.argmax(iou_all[1:]))
        fallback = self._final_rows(queries, point_pe, keys, xp, [2 + index])[0]
        low_res = self._mask(features, self.hyper[index](fallback))
        return Sam2Answer(low_res, iou_all[index : index + 1], index, score, token)

    def iou_scores(self, iou_tokens: torch.Tensor) -> torch.Tensor:
        """Predicted IoU (the sigmoid of SAM 2's IoU head), (..., C) -> (..., num_mask_tokens)."""
        return torch.sigmoid(self.iou_head(iou_tokens))

    @torch.inference_mode()
    def decode_batch(self, prep: Sam2PreparedEmbedding, sparse: torch.Tensor, *, multimask: bool = True):  # type: ignore[override]
        """B prompt sets without a mask prompt at once (sparse (B, n, C)), with three candidates each.

        As SAM 1's :meth:`FastMaskDecoder.decode_batch`; the masks that
        :meth:`batch_masks` forms get the high-resolution maps added.  The
        object score is not computed (the automatic generator does not read it).

        Raises
        ------
        ValueError
            ``multimask=False``: single masks need the per-prompt stability
            fallback, which the batched path does not form.
        """
        if not multimask:
            raise ValueError("the batched SAM 2.1 decoder answers with three candidates per point (multimask=True); "
                             "decode single masks one prompt set at a time.")
        answer = super().decode_batch(prep, sparse, multimask=True)
        answer.skips = (prep.feat_s1, prep.feat_s0)
        return answer

    def _final_rows(self, queries, point_pe, keys, xp, rows: list[int]) -> torch.Tensor:
        """The final token->image attention and norm for the given token rows only: (len(rows), C)."""
        q = queries[rows] + point_pe[rows]
        out = queries[rows] + self.final.tokens_to_image_tm(q, keys, xp)
        return F.layer_norm(out, out.shape[-1:], *self.final_norm)

    def _upscaled(self, keys: torch.Tensor, prep: Sam2PreparedEmbedding) -> torch.Tensor:
        """Both transposed convolutions with the high-resolution maps added, channels last.

        keys (N, C) -> (16 N, C/8), rows (i, j, di, dj, ei, ej).
        """
        y = torch.addmm(self.up1[1], keys, self.up1[0]).view(-1, self.c4)  # rows (i, j, di, dj)
        y = gelu(F.layer_norm(y.add_(prep.feat_s1), (self.c4,), *self.up_norm))
        z = torch.addmm(self.up2[1], y, self.up2[0]).add_(prep.feat_s0)  # columns (ei, ej, channel)
        return gelu(z).view(-1, self.c8)

    def _mask(self, features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(1, 4h, 4w) logits of one mask from the upscaled features and its hypernetwork weights (C/8,)."""
        h, w = self.grid_size
        m = (features @ weights).view(h, w, 2, 2, 2, 2)  # (i, j, di, dj, ei, ej)
        return m.permute(0, 2, 4, 1, 3, 5).reshape(1, 4 * h, 4 * w)
