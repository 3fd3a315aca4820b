"""Encode once, predict many: the SAM 2.1 image predictor at the model level.

:class:`Sam2Predictor` answers what the official ``SAM2ImagePredictor``
answers (same preprocessing, prompt order, decoder and post-processing), in
the official convention: (x, y) pixels of the original image, boxes XYXY.
Conversion from napari's (row, col) stays in :mod:`promptseg.prompts`.

Examples
--------
>>> from promptseg.model.sam2.build import build_sam2
>>> predictor = Sam2Predictor(build_sam2("hiera_t"))  # doctest: +SKIP
>>> features = predictor.encode(rgb)  # doctest: +SKIP
>>> masks, iou, low_res = predictor.predict(features, point_coords=[[200, 140]], point_labels=[1])  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...errors import ImageError, PromptError
from .fast_decoder import Sam2FastDecoder, Sam2PreparedEmbedding
from .prompts import sparse_tokens
from .sam2_model import Sam2Model
from .transforms import Sam2Geometry

#: The official predictor clamps the low-resolution logits it returns (for feeding back) to this range.
LOW_RES_CLAMP = 32.0


@dataclass(frozen=True)
class Sam2Features:
    """What an image costs to encode; everything a click needs besides the prompts.

    Attributes
    ----------
    image_embed : torch.Tensor, (1, 256, 64, 64), float32
        Stride-16 features with ``no_mem_embed`` added.
    high_res_feat_0 : torch.Tensor, (1, 32, 256, 256)
        Stride-4 features after ``conv_s0``.
    high_res_feat_1 : torch.Tensor, (1, 64, 128, 128)
        Stride-8 features after ``conv_s1``.
    geometry : Sam2Geometry
        Original image size (the 1024 x 1024 input ignores the aspect ratio).
    """

    image_embed: torch.Tensor
    high_res_feat_0: torch.Tensor
    high_res_feat_1: torch.Tensor
    geometry: Sam2Geometry

    @property
    def high_res(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.high_res_feat_0, self.high_res_feat_1

    @property
    def embedding(self) -> torch.Tensor:
        """The (1, 256, 64, 64) map under the name SAM 1 features use (read by find-similar's feature search)."""
        return self.image_embed


class Sam2Predictor:
    """Image -> :class:`Sam2Features` once; prompts -> mask logits per click.

    Parameters
    ----------
    model : Sam2Model
        A model with loaded weights (moved to ``device``, eval mode).
    device : str, optional
        Torch device; default the model's.
    """

    def __init__(self, model: Sam2Model, *, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device) if device is not None else model.no_mem_embed.device
        self.model = model.to(self.device).eval()
        self.fast = Sam2FastDecoder(self.model)
        self._prepared: tuple[Sam2Features, Sam2PreparedEmbedding] | None = None

    @torch.inference_mode()
    def encode(self, rgb: np.ndarray) -> Sam2Features:
        """Run the image encoder.

        Parameters
        ----------
        rgb : np.ndarray, (H, W, 3), uint8
            The image (other dtypes: convert with :func:`promptseg.imaging.to_uint8_rgb`).
        """
        if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
            got = f"{getattr(rgb, 'dtype', type(rgb).__name__)} array of shape {getattr(rgb, 'shape', '?')}"
            raise ImageError(f"expected an (H, W, 3) uint8 RGB image, got a {got}; convert it with to_uint8_rgb")
        geometry = Sam2Geometry.for_image(rgb.shape[:2], self.model.image_size)
        feats = self.model.encode_image(geometry.preprocess(rgb).to(self.device))
        return Sam2Features(feats["image_embed"], feats["high_res_feat_0"], feats["high_res_feat_1"], geometry)

    def _tokens(self, features: Sam2Features, point_coords, point_labels, box) -> torch.Tensor:
        geometry, device = features.geometry, self.device
        points = labels = box_t = None
        if point_coords is not None:
            coords = np.asarray(point_coords, dtype=np.float64).reshape(-1, 2)
            labels_np = np.asarray(point_labels if point_labels is not None else [], dtype=np.int64).reshape(-1)
            if labels_np.shape[0] != coords.shape[0] or not np.isin(labels_np, (0, 1)).all():
                raise PromptError(f"point_labels must hold one label (1 positive, 0 negative) per point; got {labels_np}")
            points = torch.as_tensor(geometry.coords_to_input(coords), dtype=torch.float32, device=device)[None]
            labels = torch.as_tensor(labels_np, device=device)[None]
        if box is not None:
            corners = geometry.coords_to_input(np.asarray(box, dtype=np.float64).reshape(2, 2))
            box_t = torch.as_tensor(corners.reshape(1, 4), dtype=torch.float32, device=device)
        if points is None and box_t is None:
            raise PromptError("give at least one point or a box")
        return sparse_tokens(self.model.sam_prompt_encoder, points, labels, box_t)

    @torch.inference_mode()
    def predict(
        self,
        features: Sam2Features,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | torch.Tensor | None = None,
        *,
        multimask_output: bool = True,
        fast: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask logits for one prompt set.

        Parameters
        ----------
        features : Sam2Features
        point_coords : array (N, 2), optional
            (x, y) pixels of the original image.
        point_labels : array (N,), optional
            1 positive, 0 negative.
        box : array (4,), optional
            XYXY pixels of the original image.
        mask_input : array (1, 256, 256), optional
            Low-resolution logits of a previous answer (as returned here).
        multimask_output : bool
            Three candidates for an ambiguous prompt instead of one mask.
        fast : bool
            Use :class:`Sam2FastDecoder` (returns only the candidate with the
            highest predicted IoU); False runs the reference decoder and
            returns every candidate, as the official predictor does.

        Returns
        -------
        masks : torch.Tensor, (M, H, W)
            Logits at the original size (> 0: inside).
        iou : torch.Tensor, (M',)
            Predicted IoU; with ``fast`` and ``multimask_output`` all three
            candidates' (M' = 3) while M = 1.
        low_res : torch.Tensor, (M, 256, 256)
            Logits clamped to [-32, 32], to feed back as ``mask_input``.
        """
        sparse = self._tokens(features, point_coords, point_labels, box)
        mask = None if mask_input is None else torch.as_tensor(mask_input, dtype=torch.float32, device=self.device)
        if mask is not None and tuple(mask.shape) != (1, *self.model.sam_prompt_encoder.mask_input_size):
            raise PromptError(f"mask_input must have shape (1, 256, 256), got {tuple(mask.shape)}")
        if fast:
            hidden = None if mask is None else self.fast.mask_hidden(mask)
            answer = self.fast(self._prepare(features), sparse[0], hidden, multimask_output)
            low_res, iou = answer.low_res, answer.iou
        else:
            low_res, iou = self._reference(features, sparse, mask, multimask_output)
        masks = features.geometry.upsample_logits(low_res[None])[0]
        return masks, iou, low_res.clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP)

    def _reference(self, features: Sam2Features, sparse, mask, multimask_output: bool):
        pe = self.model.sam_prompt_encoder
        if mask is None:
            h, w = pe.image_embedding_size
            dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
        else:
            dense = pe.mask_downscaling(mask[None])
        out = self.model.sam_mask_decoder(
            features.image_embed, pe.get_dense_pe(), sparse, dense, multimask_output, features.high_res
        )
        return out.masks[0], out.iou[0]

    def _prepare(self, features: Sam2Features) -> Sam2PreparedEmbedding:
        """The fast decoder's per-image constants, kept for the last features seen."""
        if self._prepared is None or self._prepared[0] is not features:
            self._prepared = (features, self.fast.prepare(features.image_embed, features.high_res))
        return self._prepared[1]
