"""Builders: SAM 2.1 architecture numbers -> randomly initialised networks with the checkpoint's key layout.

:func:`build_sam2` builds the whole model; the ``build_*`` functions its parts.
"""

from __future__ import annotations

from .. import build as sam1_build
from ..config import config_keywords
from ..prompt_encoder import PromptEncoder
from .config import SAM2_ARCHITECTURES, Sam2Config
from .fpn_neck import FpnNeck
from .hiera import Hiera
from .image_encoder import Sam2ImageEncoder
from .mask_decoder import Sam2MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .sam2_model import Sam2Model


#: Hiera's keywords, config fields of the same names.
HIERA_FIELDS = ("embed_dim", "num_heads", "stages", "global_att_blocks", "window_spec",
                "window_pos_embed_bkg_spatial_size", "q_pool", "q_stride", "dim_mul", "head_mul", "mlp_ratio")


def _config(config: Sam2Config | str) -> Sam2Config:
    if isinstance(config, Sam2Config):
        return config
    if config not in SAM2_ARCHITECTURES:
        raise ValueError(f"unknown SAM 2.1 architecture {config!r}; choose one of {sorted(SAM2_ARCHITECTURES)}")
    return SAM2_ARCHITECTURES[config]


def build_image_encoder(config: Sam2Config | str) -> Sam2ImageEncoder:
    """Hiera trunk + FPN neck (``image_encoder.`` keys)."""
    config = _config(config)
    trunk = Hiera(**config_keywords(config, HIERA_FIELDS))
    neck = FpnNeck(config.d_model, list(config.stage_dims[::-1]), config.fpn_top_down_levels)
    return Sam2ImageEncoder(trunk, neck, scalp=config.scalp)


def build_prompt_encoder(config: Sam2Config | str) -> PromptEncoder:
    """SAM's prompt encoder (``sam_prompt_encoder.`` keys)."""
    config = _config(config)
    return sam1_build.build_prompt_encoder(config, config.d_model, config.embedding_size, config.image_size)


def build_mask_decoder(config: Sam2Config | str) -> Sam2MaskDecoder:
    """SAM 2.1's mask decoder (``sam_mask_decoder.`` keys)."""
    config = _config(config)
    return sam1_build.build_mask_decoder(
        config, config.d_model, mlp_keys="layers", decoder_class=Sam2MaskDecoder,
        **config_keywords(config, ("stability_delta", "stability_thresh")),
    )


def build_memory_attention(config: Sam2Config | str) -> MemoryAttention:
    """The tracker's memory attention (``memory_attention.`` keys)."""
    config = _config(config)
    grid = (config.embedding_size, config.embedding_size)
    return MemoryAttention(config.d_model, config.mem_dim, config.memory_attention_layers,
                           ffn_dim=config.memory_attention_ffn_dim, grid=grid)


def build_memory_encoder(config: Sam2Config | str) -> MemoryEncoder:
    """The tracker's memory encoder (``memory_encoder.`` keys)."""
    config = _config(config)
    return MemoryEncoder(config.d_model, config.mem_dim, config.memory_fuser_layers)


def build_sam2(config: Sam2Config | str) -> Sam2Model:
    """Build a SAM 2.1 model with random weights, in eval mode.

    Parameters
    ----------
    config : Sam2Config or str
        Architecture numbers, or a published architecture name (``hiera_t``,
        ``hiera_s``, ``hiera_b+``, ``hiera_l``).

    Returns
    -------
    Sam2Model
        Its ``state_dict()`` has exactly the keys and shapes of the published
        checkpoint's ``checkpoint["model"]`` for that architecture.
    """
    config = _config(config)
    model = Sam2Model(
        build_image_encoder(config),
        build_prompt_encoder(config),
        build_mask_decoder(config),
        build_memory_attention(config),
        build_memory_encoder(config),
        num_maskmem=config.num_maskmem,
        mem_dim=config.mem_dim,
    )
    return model.eval()
