"""Segment-Anything-family backend: encode with the heavy image encoder once,
answer each prompt set with the light decoder.

Works with every published checkpoint (SAM vit_b/l/h, MobileSAM vit_t,
micro-sam) and with random-weight models built from a :class:`SamConfig`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..imaging import to_uint8_rgb
from ..model.fast_decoder import FastMaskDecoder, PreparedEmbedding
from ..model.runtime import tune_allocator
from ..model.threads import heavy_work, light_work
from ..model.sam import Sam
from ..model.transforms import ImageGeometry
from ..prompts import Prompts, box_to_xyxy, to_xy
from .base import ImageEmbedding, Prediction, PromptBackend, check_embedding

#: Logit given to a user mask prompt inside / outside the object (probability
#: 1 - 1e-3 and 1e-3), so it reads like a confident low-resolution prediction.
MASK_PROMPT_LOGIT = float(np.log(999.0))


@dataclass(frozen=True)
class SamFeatures:
    """Payload of a SAM :class:`ImageEmbedding`.

    Attributes
    ----------
    embedding : torch.Tensor, shape (1, 256, 64, 64), float32
        Image encoder output for the padded 1024x1024 input.
    geometry : ImageGeometry
        How the original image maps to the model input.
    """

    embedding: torch.Tensor
    geometry: ImageGeometry


class SamBackend(PromptBackend):
    """Encode-once / predict-many wrapper around a :class:`Sam` model.

    Parameters
    ----------
    model : Sam
        A model with loaded weights.
    name : str
        Shown to users (registry name or file name).
    checkpoint_hash : str
        Content hash of the weights; part of :attr:`backend_id` so embeddings
        of one checkpoint are never used with another.
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    """

    #: A prediction's ``score`` is the model's estimate of the mask's IoU (backends without this
    #: attribute return a score that is no quality estimate, and the annotator does not show it).
    score_is_quality = True
    #: The per-click decoder built from the model (a subclass's model family brings its own).
    decoder_class = FastMaskDecoder
    #: Model family, as in the checkpoint registry; the first part of :attr:`backend_id`.
    family = "sam"

    def __init__(self, model: Sam, *, name: str, checkpoint_hash: str = "random", device: str | None = None,
                 architecture: str | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.name = name
        self.checkpoint_hash = checkpoint_hash
        #: The published model the weights are (``vit_b``, ``vit_t``, ``hiera_t``, ...), None for another configuration.
        self.architecture = architecture
        self._decoder = self.decoder_class(self.model)
        self._feedback: tuple | None = None  # (PreparedEmbedding, previous state, PreparedMask): prepare_feedback
        tune_allocator()

    @classmethod
    def from_checkpoint(
        cls,
        name_or_path: str | os.PathLike,
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> "SamBackend":
        """Load a registry checkpoint (downloading it once) or a local file."""
        model, loaded = cls._load_checkpoint(name_or_path, cache_dir=cache_dir, progress=progress)
        return cls(model, name=loaded.name, checkpoint_hash=loaded.content_hash, device=device,
                   architecture=loaded.architecture)

    @staticmethod
    def _load_checkpoint(name_or_path, **options):
        """(model, LoadedCheckpoint) of the family's strict loader (:func:`~promptseg.model.checkpoint.load_sam`)."""
        from ..model.checkpoint import load_sam

        return load_sam(name_or_path, **options)

    @property
    def backend_id(self) -> str:
        return f"{self.family}:{self.name}:{self.checkpoint_hash}"

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def encode(self, image: np.ndarray, *, contrast_limits: Sequence[float] | None = None) -> ImageEmbedding:
        """Run the image encoder once.

        Parameters
        ----------
        image : np.ndarray, shape (H, W) or (H, W, C)
            Grayscale, RGB or RGBA; uint8, uint16 or float.
        contrast_limits : (low, high), optional
            Scaling of non-uint8 data to 0-255 (else robust percentiles).

        Returns
        -------
        ImageEmbedding
            ``features`` is a :class:`SamFeatures`; ``image_shape`` is (H, W).
        """
        start = time.perf_counter()
        rgb = to_uint8_rgb(image, contrast_limits=contrast_limits)
        with heavy_work():  # torch's thread count, and clicks meanwhile know an encode runs
            emb = self._encode_rgb(rgb)
        emb.encode_seconds = time.perf_counter() - start
        return emb

    def _encode_rgb(self, rgb: np.ndarray) -> ImageEmbedding:
        """The model's embedding of an (H, W, 3) uint8 image (called by :meth:`encode` under inference mode)."""
        geometry = ImageGeometry.for_image(rgb.shape[:2], self.model.img_size)
        x = geometry.preprocess(rgb).to(self.device)
        return self.embedding_from_features(self.model.image_encoder(x), geometry)

    def embedding_from_features(self, embedding: torch.Tensor, geometry: ImageGeometry) -> ImageEmbedding:
        """Wrap a stored or computed (1, 256, 64, 64) encoder output as an :class:`ImageEmbedding`."""
        embedding = embedding.to(self.device, torch.float32)
        emb = ImageEmbedding(
            backend_id=self.backend_id,
            image_shape=geometry.original_size,
            features=SamFeatures(embedding, geometry),
        )
        self._prepared(emb)
        return emb

    # ------------------------------------------- storage (promptseg.store)
    #: Name and version of the arrays below; stores written with another are refused.
    embedding_codec = "sam-image-embedding/1"

    def embedding_layout(self, image_shape: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """Shapes of the arrays :meth:`embedding_to_arrays` returns for an (H, W) image: the (256, 64, 64) encoder output."""
        pe = self.model.prompt_encoder
        return {"embedding": (int(pe.embed_dim), *(int(s) for s in pe.image_embedding_size))}

    def embedding_to_arrays(self, embedding: ImageEmbedding) -> dict[str, np.ndarray]:
        """The stored form of an embedding: ``{"embedding": (256, 64, 64) float32}`` (geometry follows from the image shape)."""
        emb = check_embedding(embedding, self.backend_id)
        return {"embedding": emb.features.embedding[0].to("cpu", torch.float32).numpy()}

    def embedding_from_arrays(self, arrays: dict[str, np.ndarray], image_shape: tuple[int, int]) -> ImageEmbedding:
        """Rebuild an embedding of an (H, W) image from :meth:`embedding_to_arrays` output (any float dtype)."""
        tensor = torch.from_numpy(np.ascontiguousarray(arrays["embedding"], dtype=np.float32))[None]
        return self.embedding_from_features(tensor, ImageGeometry.for_image(image_shape, self.model.img_size))

    def point_decoder(self, embedding: ImageEmbedding):
        """What batched single-point decoding of ``embedding`` needs (:class:`~promptseg.auto.prompter.SamPointPrompter`).

        Returns
        -------
        decoder : FastMaskDecoder
            This backend's per-click decoder (its ``decode_batch`` / ``batch_masks``).
        prepared : PreparedEmbedding
            Its per-image constants for ``embedding`` (cached on the embedding).
        prompt_encoder : PromptEncoder
            Turns (x, y) input-frame points into tokens.
        """
        emb = check_embedding(embedding, self.backend_id)
        return self._decoder, self._prepared(emb), self._prompt_encoder

    def _prepared(self, emb: ImageEmbedding) -> PreparedEmbedding:
        prep = emb.cache.get("sam_decoder")
        if prep is None:
            prep = emb.cache["sam_decoder"] = self._decoder.prepare(emb.features.embedding)
        return prep

    # ----------------------------------------------------------------- predict
    @torch.inference_mode()
    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """Answer checked prompts (polygons and scribbles arrive drawn into the mask prompt).

        A single point with no other prompt is ambiguous: SAM's three
        candidate masks are computed and the one with the highest predicted
        IoU is returned.  Any other prompt set returns the single-mask output.
        ``previous`` feeds an earlier prediction back as the mask prompt; an
        explicit mask takes precedence over it.  Runs with the intra-op
        thread count :func:`promptseg.model.threads.click_threads` picks
        (fewer threads while other work holds cores).

        Returns
        -------
        Prediction
            ``mask`` (H, W) bool, ``logits`` (H, W) float32, ``score`` the
            predicted IoU, ``state`` the (1, 256, 256) low-resolution logits.
        """
        multimask = prompts.is_single_point and previous is None
        with light_work():
            return self._decode(embedding, prompts, previous, multimask)

    def _decode(self, emb: ImageEmbedding, prompts: Prompts, previous: Prediction | None,
                multimask: bool) -> Prediction:
        """The decoder's answer to checked prompts (called by :meth:`predict` under inference mode)."""
        geometry: ImageGeometry = emb.features.geometry
        prep = self._prepared(emb)
        hidden = self._mask_hidden(prep, prompts, previous, geometry)
        sparse = self._sparse_tokens(prompts, geometry)
        low_res, iou, index = self._decoder(prep, sparse, hidden, multimask)
        score = float(iou.max())
        logits = geometry.upsample_logits(low_res[None])[0, 0]
        logits_np = logits.to("cpu", torch.float32).numpy()
        return Prediction(mask=logits_np > 0, logits=logits_np, score=score, state=low_res)

    def _mask_hidden(self, prep: PreparedEmbedding, prompts: Prompts, previous: Prediction | None, geometry):
        """The decoder's mask-prompt input: what :meth:`prepare_feedback` formed for ``previous``, else computed now (None: no mask prompt)."""
        ready = self._feedback  # read once: prepare_feedback may replace it from another thread
        if ready is not None and prompts.mask is None and previous is not None \
                and ready[0] is prep and ready[1] is previous.state:
            return ready[2]
        low_res_prompt = self._mask_prompt(prompts, previous, geometry)
        return None if low_res_prompt is None else self._decoder.mask_hidden(low_res_prompt.to(self.device))

    def warm_up(self) -> float:
        """Answer two clicks on a blank 64x64 embedding in the calling thread; returns the seconds taken.

        A process's first predictions pay one-off start-up costs (the calling
        thread's OpenMP team, oneDNN kernels generated for the mask path's
        convolutions, fresh allocator pages): on 2 CPUs a first random-weight
        vit_t click took 46-130 ms against 29-36 ms once warm.  The annotator
        calls this in the GUI thread when a backend is chosen, before the
        first click.  No state is kept besides what torch caches itself.
        """
        start = time.perf_counter()
        blank = {name: np.zeros(shape, np.float32) for name, shape in self.embedding_layout((64, 64)).items()}
        emb = self.embedding_from_arrays(blank, (64, 64))
        first = self.predict(emb, points=[(32, 32)], labels=[1])  # one point: the multimask path
        self.predict(emb, points=[(32, 32), (20, 40)], labels=[1, 0], previous=first)  # the mask prompt path
        return time.perf_counter() - start

    @torch.inference_mode()
    def prepare_feedback(self, embedding: ImageEmbedding, previous: Prediction) -> None:
        """Do now the work of feeding ``previous`` back as the mask prompt of the next click.

        The annotator calls this while the user is idle after an answer.  A
        later ``predict(embedding, ..., previous=previous)`` without an
        explicit ``mask`` then skips the mask prompt's downscaling path and
        block 0's low-rank products (a few ms of a click on 2 CPUs; see
        :meth:`FastMaskDecoder.prepare_mask`).  The answer is the same as
        without it, up to float rounding.  Only the latest call is kept
        (about 10 MB).

        Raises
        ------
        EmbeddingError
            ``embedding`` was not made by this backend.
        ValueError
            ``previous`` is not a prediction of a SAM backend.
        """
        emb = check_embedding(embedding, self.backend_id)
        with light_work():
            prep = self._prepared(emb)
            hidden = self._decoder.mask_hidden(self._previous_logits(previous).to(self.device))
            self._feedback = (prep, previous.state, self._decoder.prepare_mask(prep, hidden))

    @property
    def _prompt_encoder(self):
        return self.model.prompt_encoder

    def _sparse_tokens(self, prompts: Prompts, geometry: ImageGeometry) -> torch.Tensor:
        """(n, 256) point and box tokens in the model's (x, y) input frame."""
        pe = self.model.prompt_encoder
        parts = []
        if len(prompts.points):
            xy = torch.as_tensor(geometry.coords_to_input(to_xy(prompts.points)), dtype=torch.float32)
            labels = torch.tensor(prompts.labels)
            parts.append(pe.embed_points(xy[None].to(self.device), labels[None].to(self.device), pad=prompts.box is None)[0])
        if prompts.box is not None:
            corners = geometry.coords_to_input(box_to_xyxy(prompts.box).reshape(2, 2)).reshape(1, 4)
            parts.append(pe.embed_box(torch.as_tensor(corners, dtype=torch.float32, device=self.device))[0])
        if not parts:  # mask prompt only: SAM pads with one "not a point" token
            empty = torch.zeros(1, 0, 2, device=self.device)
            parts.append(pe.embed_points(empty, torch.zeros(1, 0, dtype=torch.long, device=self.device), pad=True)[0])
        return torch.cat(parts, dim=0)

    def _mask_prompt(
        self, prompts: Prompts, previous: Prediction | None, geometry: ImageGeometry
    ) -> torch.Tensor | None:
        """(1, 256, 256) low-resolution logits to use as the mask prompt, or None."""
        if prompts.mask is not None:
            return self.mask_to_low_res(prompts.mask, geometry)
        if previous is None:
            return None
        return self._previous_logits(previous)

    def _previous_logits(self, previous: Prediction) -> torch.Tensor:
        """The (1, 256, 256) low-resolution logits a SAM prediction keeps as its state."""
        state = previous.state
        if not isinstance(state, torch.Tensor) or state.shape[-2:] != self._prompt_encoder.mask_input_size:
            raise ValueError(
                "previous= must be a Prediction returned by this SAM backend (its state holds the "
                "low-resolution logits); for a mask from elsewhere pass mask= instead."
            )
        return state.reshape(1, *state.shape[-2:])

    def mask_to_low_res(self, mask: np.ndarray, geometry: ImageGeometry) -> torch.Tensor:
        """A (H, W) bool mask in the original frame as (1, 256, 256) mask-prompt logits.

        The mask is resized like the image (bilinear to ``input_size``), padded
        to the square input, area-averaged to 256x256 and mapped to +/-
        :data:`MASK_PROMPT_LOGIT`.
        """
        size = self.model.img_size
        m = torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None]
        m = F.interpolate(m, geometry.input_size, mode="bilinear", align_corners=False)
        m = F.pad(m, (0, size - geometry.input_size[1], 0, size - geometry.input_size[0]))
        low = F.adaptive_avg_pool2d(m, self.model.prompt_encoder.mask_input_size)[0]
        return torch.where(low >= 0.5, MASK_PROMPT_LOGIT, -MASK_PROMPT_LOGIT).to(self.device)
