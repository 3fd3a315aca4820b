"""Builders: architecture numbers -> a randomly initialised :class:`Sam`."""

from __future__ import annotations

from typing import Any

from torch import nn

from .config import ARCHITECTURES, HeadsConfig, SamConfig, config_keywords
from .image_encoder_vit import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .tiny_vit import TinyViT
from .transformer import TwoWayTransformer


#: ImageEncoderViT's keywords, config fields of the same names.
VIT_FIELDS = ("img_size", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "out_chans", "qkv_bias",
              "use_rel_pos", "window_size", "global_attn_indexes")
#: TinyViT's keywords read from fields of the same names (``num_heads`` is ``tiny_num_heads``).
TINY_VIT_FIELDS = ("img_size", "embed_dims", "depths", "window_sizes", "mlp_ratio", "mbconv_expand_ratio",
                   "local_conv_size", "num_classes", "out_chans")


def build_image_encoder(config: SamConfig) -> nn.Module:
    """The ViT or TinyViT encoder described by ``config``."""
    if config.encoder == "vit":
        return ImageEncoderViT(**config_keywords(config, VIT_FIELDS))
    if config.encoder == "tiny_vit":
        return TinyViT(**config_keywords(config, TINY_VIT_FIELDS, num_heads="tiny_num_heads"))
    raise ValueError(f"unknown encoder {config.encoder!r}; expected 'vit' or 'tiny_vit'")


def build_prompt_encoder(config: HeadsConfig, dim: int, grid: int, image_size: int) -> PromptEncoder:
    """SAM's prompt encoder for tokens of width ``dim``, a ``grid`` x ``grid`` embedding and square inputs."""
    return PromptEncoder(dim, (grid, grid), (image_size, image_size), config.mask_in_chans)


def build_mask_decoder(
    config: HeadsConfig, dim: int, *, mlp_keys: str = "lin", decoder_class: type[MaskDecoder] = MaskDecoder,
    **options: Any,
) -> MaskDecoder:
    """A mask decoder of ``config``'s numbers on tokens of width ``dim``.

    Parameters
    ----------
    config : HeadsConfig
        The decoder numbers (a :class:`SamConfig` or a SAM 2.1 config).
    dim : int
        Token width C.
    mlp_keys : {"lin", "layers"}
        Key names of the transformer's MLPs (SAM 1 / SAM 2.1 checkpoints).
    decoder_class : type
        :class:`MaskDecoder` or a subclass (SAM 2.1's), given ``options`` too.
    """
    transformer = TwoWayTransformer(depth=config.decoder_depth, embedding_dim=dim, num_heads=config.decoder_num_heads,
                                    mlp_dim=config.decoder_mlp_dim, mlp_keys=mlp_keys)
    return decoder_class(transformer_dim=dim, transformer=transformer,
                         **config_keywords(config, ("num_multimask_outputs", "iou_head_depth", "iou_head_hidden_dim")),
                         **options)


def build_sam(config: SamConfig | str) -> Sam:
    """Build a SAM-family model with random weights, in eval mode.

    Parameters
    ----------
    config : SamConfig or str
        Architecture numbers, or the name of a published architecture
        (``vit_b``, ``vit_l``, ``vit_h``, ``vit_t``).

    Returns
    -------
    Sam
        Its ``state_dict()`` has exactly the keys and shapes of the published
        checkpoints of that architecture.
    """
    if isinstance(config, str):
        if config not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {config!r}; choose one of {sorted(ARCHITECTURES)}")
        config = ARCHITECTURES[config]
    dim = config.prompt_embed_dim
    sam = Sam(
        image_encoder=build_image_encoder(config),
        prompt_encoder=build_prompt_encoder(config, dim, config.embedding_size, config.img_size),
        mask_decoder=build_mask_decoder(config, dim),
    )
    return sam.eval()
