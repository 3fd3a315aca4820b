"""Builders: architecture numbers -> a randomly initialised :class:`Sam`."""

from __future__ import annotations

from torch import nn

from .config import ARCHITECTURES, SamConfig
from .image_encoder_vit import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .tiny_vit import TinyViT
from .transformer import TwoWayTransformer


def build_image_encoder(config: SamConfig) -> nn.Module:
    """The ViT or TinyViT encoder described by ``config``."""
    if config.encoder == "vit":
        return ImageEncoderViT(
            img_size=config.img_size,
            patch_size=config.patch_size,
            embed_dim=config.embed_dim,
            depth=config.depth,
            num_heads=config.num_heads,
            mlp_ratio=config.mlp_ratio,
            out_chans=config.out_chans,
            qkv_bias=config.qkv_bias,
            use_rel_pos=config.use_rel_pos,
            window_size=config.window_size,
            global_attn_indexes=config.global_attn_indexes,
        )
    if config.encoder == "tiny_vit":
        return TinyViT(
            img_size=config.img_size,
            embed_dims=config.embed_dims,
            depths=config.depths,
            num_heads=config.tiny_num_heads,
            window_sizes=config.window_sizes,
            mlp_ratio=config.mlp_ratio,
            mbconv_expand_ratio=config.mbconv_expand_ratio,
            local_conv_size=config.local_conv_size,
            num_classes=config.num_classes,
            out_chans=config.out_chans,
        )
    raise ValueError(f"unknown encoder {config.encoder!r}; expected 'vit' or 'tiny_vit'")


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
    grid = config.embedding_size
    dim = config.prompt_embed_dim
    sam = Sam(
        image_encoder=build_image_encoder(config),
        prompt_encoder=PromptEncoder(dim, (grid, grid), (config.img_size, config.img_size), config.mask_in_chans),
        mask_decoder=MaskDecoder(
            transformer_dim=dim,
            transformer=TwoWayTransformer(
                depth=config.decoder_depth,
                embedding_dim=dim,
                num_heads=config.decoder_num_heads,
                mlp_dim=config.decoder_mlp_dim,
            ),
            num_multimask_outputs=config.num_multimask_outputs,
            iou_head_depth=config.iou_head_depth,
            iou_head_hidden_dim=config.iou_head_hidden_dim,
        ),
    )
    return sam.eval()
