"""Architecture numbers of the Segment-Anything family.

A :class:`SamConfig` holds every number the builders need, so the same code
builds the published vit_b / vit_l / vit_h / vit_t networks and the tiny
random-weight models of the golden fixtures (``SamConfig.from_dict`` reads
their ``config.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def dataclass_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """``cls(**data)`` for an architecture dataclass; lists become tuples, unknown keys raise ValueError."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown architecture keys: {sorted(unknown)}; expected some of {sorted(names)}")
    return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def config_keywords(config: Any, names: tuple[str, ...], **renamed: str) -> dict[str, Any]:
    """Constructor keywords read from a config: ``name=config.name`` for each of ``names``,
    and ``keyword=config.<field>`` for each ``keyword=field`` of ``renamed``."""
    out = {name: getattr(config, name) for name in names}
    out.update({keyword: getattr(config, field) for keyword, field in renamed.items()})
    return out


@dataclass(frozen=True)
class HeadsConfig:
    """Prompt encoder and mask decoder numbers, the same fields in SAM 1 and SAM 2.1.

    Attributes
    ----------
    mask_in_chans : int
        Channels of the prompt encoder's mask downscaling (16).
    decoder_depth, decoder_mlp_dim, decoder_num_heads : int
        Layers, MLP width and attention heads of the two-way transformer (2, 2048, 8).
    num_multimask_outputs : int
        Multimask candidates; the decoder has one more mask token (3).
    iou_head_depth, iou_head_hidden_dim : int
        Layers and width of the IoU prediction head (3, 256).
    """

    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256


@dataclass(frozen=True)
class SamConfig(HeadsConfig):
    """Architecture of one SAM-family model.

    ``encoder`` is ``"vit"`` (SAM's plain ViT with windowed/global attention)
    or ``"tiny_vit"`` (MobileSAM's TinyViT).  Fields of the other encoder are
    ignored.  The prompt encoder and mask decoder fields are those of
    :class:`HeadsConfig`.
    """

    encoder: str = "vit"
    img_size: int = 1024
    # plain ViT
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    window_size: int = 14
    use_rel_pos: bool = True
    qkv_bias: bool = True
    mlp_ratio: float = 4.0
    # TinyViT
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    tiny_num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    num_classes: int = 1000
    # shared neck / prompt encoder
    out_chans: int = 256
    prompt_embed_dim: int = 256

    @property
    def embedding_size(self) -> int:
        """Side of the (square) image embedding grid, 64 for 1024 inputs."""
        return self.img_size // 16

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SamConfig":
        """Build from a ``config.json``-style dict (unknown keys are rejected).

        ``num_heads`` is a list for TinyViT and an int for ViT, as in the
        fixture files; lists become tuples.
        """
        data = dict(data)
        if data.get("encoder") == "tiny_vit" and "num_heads" in data:
            data["tiny_num_heads"] = data.pop("num_heads")
        return dataclass_from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The published architectures, by the names used in checkpoint_keys.json.
ARCHITECTURES: dict[str, SamConfig] = {
    "vit_b": SamConfig(encoder="vit", embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
    "vit_l": SamConfig(encoder="vit", embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    "vit_h": SamConfig(encoder="vit", embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
    "vit_t": SamConfig(
        encoder="tiny_vit",
        embed_dims=(64, 128, 160, 320),
        depths=(2, 2, 6, 2),
        tiny_num_heads=(2, 4, 5, 10),
        window_sizes=(7, 7, 14, 7),
    ),
}
