"""Architecture numbers of the SAM 2.1 models (Hiera trunk, FPN neck, SAM heads, memory).

:data:`SAM2_ARCHITECTURES` holds the four published models, under the names
the checkpoint registry uses (``hiera_t``, ``hiera_s``, ``hiera_b+``,
``hiera_l``); the numbers are those of the official
``configs/sam2.1/sam2.1_hiera_*.yaml`` files.  Everything the builders need is
a field here, so a new size is one more :class:`Sam2Config`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config import HeadsConfig, dataclass_from_dict


@dataclass(frozen=True)
class Sam2Config(HeadsConfig):
    """Architecture of one SAM 2.1 model.

    Attributes
    ----------
    embed_dim, num_heads : int
        Width and heads of the first Hiera stage; both are multiplied by
        ``dim_mul`` / ``head_mul`` at every later stage.
    stages : tuple of int
        Blocks per stage (four stages: strides 4, 8, 16, 32).
    global_att_blocks : tuple of int
        Indices of the blocks with global attention; the others attend
        within windows of ``window_spec[stage]`` tokens a side.
    window_spec : tuple of int
        Window side per stage.
    window_pos_embed_bkg_spatial_size : (int, int)
        Grid of the background positional embedding, interpolated (bicubic)
        to the stride-4 grid.
    q_pool, q_stride : int, (int, int)
        Number of stage transitions that pool the queries, and the pooling.
    d_model : int
        Channels of the FPN neck outputs and of the SAM heads (256).
    fpn_top_down_levels : tuple of int
        Neck levels (0 = stride 4) that receive the upsampled coarser level.
    scalp : int
        Number of the coarsest neck levels dropped (1: the stride-32 map).
    image_size, backbone_stride : int
        Side of the square input (1024) and stride of the image embedding (16).
    mask_in_chans ... iou_head_hidden_dim : int
        Prompt encoder and mask decoder numbers, as in SAM 1
        (:class:`~promptseg.model.config.HeadsConfig`).
    stability_delta, stability_thresh : float
        Single-mask answers fall back to the best multimask candidate when the
        stability score of mask 0 (area above +delta over area above -delta,
        on the low-resolution logits) is below the threshold.
    mem_dim, num_maskmem : int
        Memory channels (64) and memory frames (7) of the video tracker.
    memory_attention_layers, memory_attention_ffn_dim : int
        Depth and feed-forward width of the memory attention.
    memory_fuser_layers : int
        ConvNeXt blocks of the memory encoder's fuser.
    """

    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (1, 2, 7, 2)
    global_att_blocks: tuple[int, ...] = (5, 7, 9)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (7, 7)
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    mlp_ratio: float = 4.0
    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    scalp: int = 1
    image_size: int = 1024
    backbone_stride: int = 16
    stability_delta: float = 0.05
    stability_thresh: float = 0.98
    mem_dim: int = 64
    num_maskmem: int = 7
    memory_attention_layers: int = 4
    memory_attention_ffn_dim: int = 2048
    memory_fuser_layers: int = 2

    @property
    def stage_dims(self) -> tuple[int, ...]:
        """Channels of each trunk stage, finest first (e.g. 96, 192, 384, 768)."""
        return tuple(int(self.embed_dim * self.dim_mul**i) for i in range(len(self.stages)))

    @property
    def embedding_size(self) -> int:
        """Side of the image embedding grid (64 for 1024 inputs)."""
        return self.image_size // self.backbone_stride

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Sam2Config":
        """Build from a dict of field values (lists become tuples; unknown keys are rejected)."""
        return dataclass_from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The four published SAM 2.1 models, by the architecture names of the registry.
SAM2_ARCHITECTURES: dict[str, Sam2Config] = {
    "hiera_t": Sam2Config(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9)),
    "hiera_s": Sam2Config(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13)),
    "hiera_b+": Sam2Config(
        embed_dim=112,
        num_heads=2,
        stages=(2, 3, 16, 3),
        global_att_blocks=(12, 16, 20),
        window_pos_embed_bkg_spatial_size=(14, 14),
    ),
    "hiera_l": Sam2Config(
        embed_dim=144,
        num_heads=2,
        stages=(2, 6, 36, 4),
        global_att_blocks=(23, 33, 43),
        window_spec=(8, 4, 16, 8),
    ),
}

#: Registry name of each published SAM 2.1 architecture.
SAM2_CHECKPOINT_NAMES: dict[str, str] = {
    "hiera_t": "sam2.1_hiera_tiny",
    "hiera_s": "sam2.1_hiera_small",
    "hiera_b+": "sam2.1_hiera_base_plus",
    "hiera_l": "sam2.1_hiera_large",
}
