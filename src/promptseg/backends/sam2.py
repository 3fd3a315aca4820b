"""SAM 2.1 backend: the Hiera image encoder once per image, the SAM 2 decoder per click.

:class:`Sam2Backend` answers what the official ``SAM2ImagePredictor``
answers (preprocessing, prompt order, decoder, post-processing: see
:mod:`promptseg.model.sam2.predictor`) through the same backend interface as
:class:`~promptseg.backends.sam.SamBackend`, whose encode / predict /
feedback / warm-up machinery it inherits; only what the model family changes
is here: the three feature maps of an embedding, the square resize without
padding, the prompt tokens and the decoder's answer.

Works with the four published SAM 2.1 checkpoints (``sam2.1_hiera_tiny``,
``_small``, ``_base_plus``, ``_large``) and with random-weight models built
by :func:`promptseg.model.sam2.build.build_sam2`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..model.sam2.fast_decoder import Sam2FastDecoder, Sam2PreparedEmbedding
from ..model.sam2.predictor import LOW_RES_CLAMP, Sam2Features
from ..model.sam2.prompts import sparse_tokens
from ..model.sam2.transforms import Sam2Geometry
from ..prompts import Prompts, box_to_xyxy, to_xy
from .base import ImageEmbedding, Prediction, check_embedding
from .sam import MASK_PROMPT_LOGIT, SamBackend

__all__ = ["Sam2Backend", "Sam2Features"]

#: The stored arrays of one embedding, in the order of :class:`Sam2Features`.
FEATURE_NAMES = ("image_embed", "high_res_feat_0", "high_res_feat_1")


class Sam2Backend(SamBackend):
    """Encode-once / predict-many wrapper around a :class:`~promptseg.model.sam2.sam2_model.Sam2Model`.

    Parameters
    ----------
    model : Sam2Model
        A model with loaded weights (only the image networks are used here;
        :class:`promptseg.StackTracker` uses the memory networks of the same
        :attr:`model`).
    name : str
        Shown to users (registry name or file name).
    checkpoint_hash : str
        Content hash of the weights; part of :attr:`backend_id`.
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    architecture : str, optional
        The published model the weights are (``hiera_t``, ``hiera_s``,
        ``hiera_b+``, ``hiera_l``; :func:`~promptseg.backends.load_backend`
        sets it), None for another configuration.

    Notes
    -----
    An embedding's ``features`` is a
    :class:`~promptseg.model.sam2.predictor.Sam2Features`: the (1, 256, 64, 64)
    map with ``no_mem_embed`` added and the two high-resolution maps
    (1, 32, 256, 256) and (1, 64, 128, 128), all float32.  A prediction's
    ``state`` is the (1, 256, 256) low-resolution logits clamped to [-32, 32],
    what the official predictor feeds back as ``mask_input``.
    """

    decoder_class = Sam2FastDecoder
    #: Model family, as in the checkpoint registry.
    family = "sam2.1"

    @staticmethod
    def _load_checkpoint(name_or_path, **options):
        """(model, LoadedCheckpoint) of :func:`~promptseg.model.sam2.load.load_sam2` (``from_checkpoint`` calls it)."""
        from ..model.sam2.load import load_sam2

        return load_sam2(name_or_path, **options)

    @property
    def _prompt_encoder(self):
        return self.model.sam_prompt_encoder

    # ------------------------------------------------------------------ encode
    def _encode_rgb(self, rgb: np.ndarray) -> ImageEmbedding:
        geometry = Sam2Geometry.for_image(rgb.shape[:2], self.model.image_size)
        maps = self.model.encode_image(geometry.preprocess(rgb).to(self.device))
        return self.embedding_from_features(Sam2Features(*(maps[k] for k in FEATURE_NAMES), geometry))

    def embedding_from_features(self, features: Sam2Features) -> ImageEmbedding:  # type: ignore[override]
        """Wrap computed or stored feature maps (any float dtype, any device) as an :class:`ImageEmbedding`."""
        maps = [getattr(features, k).to(self.device, torch.float32) for k in FEATURE_NAMES]
        emb = ImageEmbedding(
            backend_id=self.backend_id,
            image_shape=features.geometry.original_size,
            features=Sam2Features(*maps, features.geometry),
        )
        self._prepared(emb)
        return emb

    def _prepared(self, emb: ImageEmbedding) -> Sam2PreparedEmbedding:
        prep = emb.cache.get("sam2_decoder")
        if prep is None:
            features: Sam2Features = emb.features
            prep = emb.cache["sam2_decoder"] = self._decoder.prepare(features.image_embed, features.high_res)
        return prep

    # ------------------------------------------- storage (promptseg.store)
    #: Name and version of the arrays below; stores written with another are refused.
    embedding_codec = "sam2.1-image-embedding/1"

    def embedding_layout(self, image_shape: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """Shapes of the three maps stored per (H, W) image: (C, h, w), (C/8, 4h, 4w), (C/4, 2h, 2w); C 256, h = w = 64."""
        dim = int(self.model.sam_mask_decoder.transformer_dim)
        h, w = (int(s) for s in self._prompt_encoder.image_embedding_size)
        return {"image_embed": (dim, h, w), "high_res_feat_0": (dim // 8, 4 * h, 4 * w),
                "high_res_feat_1": (dim // 4, 2 * h, 2 * w)}

    def embedding_to_arrays(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        """The stored form of an embedding: the three maps of :meth:`embedding_layout`, float32 (the store casts)."""
        emb = check_embedding(embedding, self.backend_id)
        return {k: getattr(emb.features, k)[0].to("cpu", torch.float32).numpy() for k in FEATURE_NAMES}

    def embedding_from_arrays(self, arrays: dict[str, np.ndarray], image_shape: tuple[int, int]) -> ImageEmbedding:
        """Rebuild an embedding of an (H, W) image from :meth:`embedding_to_arrays` output (any float dtype)."""
        maps = [torch.from_numpy(np.ascontiguousarray(arrays[k], dtype=np.float32))[None] for k in FEATURE_NAMES]
        return self.embedding_from_features(Sam2Features(*maps, Sam2Geometry.for_image(image_shape, self.model.image_size)))

    # ----------------------------------------------------------------- predict
    def _decode(self, emb: ImageEmbedding, prompts: Prompts, previous: Prediction | None,
                multimask: bool) -> Prediction:
        """The decoder's answer to checked prompts (called by :meth:`predict` under inference mode)."""
        geometry: Sam2Geometry = emb.features.geometry
        prep = self._prepared(emb)
        hidden = self._mask_hidden(prep, prompts, previous, geometry)
        answer = self._decoder(prep, self._sparse_tokens(prompts, geometry), hidden, multimask)
        logits = geometry.upsample_logits(answer.low_res[None])[0, 0].to("cpu", torch.float32).numpy()
        state = answer.low_res.clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP)
        return Prediction(mask=logits > 0, logits=logits, score=float(answer.iou.max()), state=state)

    def _sparse_tokens(self, prompts: Prompts, geometry: Sam2Geometry) -> torch.Tensor:
        """(n, 256) tokens as the official image predictor orders them: box corners, clicks, one padding token.

        A mask-only prompt has no token at all (the official predictor then
        gives the prompt encoder no points).
        """
        pe = self._prompt_encoder
        if not len(prompts.points) and prompts.box is None:
            return torch.zeros(0, pe.embed_dim, device=self.device)
        points = labels = box = None
        if len(prompts.points):
            xy = geometry.coords_to_input(to_xy(prompts.points))
            points = torch.as_tensor(xy, dtype=torch.float32, device=self.device)[None]
            labels = torch.tensor(prompts.labels, device=self.device)[None]  # a copy: the prompts' arrays are read-only
        if prompts.box is not None:
            corners = geometry.coords_to_input(box_to_xyxy(prompts.box).reshape(2, 2)).reshape(1, 4)
            box = torch.as_tensor(corners, dtype=torch.float32, device=self.device)
        return sparse_tokens(pe, points, labels, box)[0]

    def mask_to_low_res(self, mask: np.ndarray, geometry: Sam2Geometry) -> torch.Tensor:
        """A (H, W) bool mask in the original frame as (1, 256, 256) mask-prompt logits.

        The mask is resized like the image (bilinear to S x S, the aspect
        ratio not kept), area-averaged to 256 x 256 and mapped to +/-
        :data:`~promptseg.backends.sam.MASK_PROMPT_LOGIT`.
        """
        m = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]
        m = F.interpolate(m, geometry.input_size, mode="bilinear", align_corners=False)
        low = F.adaptive_avg_pool2d(m, self._prompt_encoder.mask_input_size)[0]
        return torch.where(low >= 0.5, MASK_PROMPT_LOGIT, -MASK_PROMPT_LOGIT).to(self.device)
