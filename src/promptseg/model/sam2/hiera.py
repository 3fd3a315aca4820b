"""Hiera: the hierarchical vision transformer trunk of SAM 2 (four stages, strides 4 to 32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .hiera_block import HieraBlock


class Hiera(nn.Module):
    """Image (B, 3, S, S) -> four channels-first feature maps, strides 4, 8, 16, 32.

    A 7x7 stride-4 convolution embeds patches; a positional embedding made
    of a background grid (interpolated bicubically to the patch grid) plus a
    window-sized pattern tiled over it is added; then the blocks run, the
    first block of stages 2-4 pooling the queries by ``q_stride`` and
    widening the features by ``dim_mul`` (heads by ``head_mul``).  A block's
    window is that of its stage, except that a stage's first block still uses
    the previous stage's window (it works on the finer grid); blocks listed in
    ``global_att_blocks`` attend over the whole grid.

    Parameters
    ----------
    embed_dim, num_heads : int
        Width and heads of stage 1.
    stages : tuple of int
        Blocks per stage.
    global_att_blocks : tuple of int
        Block indices with global attention.
    window_spec : tuple of int
        Window side per stage.
    window_pos_embed_bkg_spatial_size : (int, int)
        Grid of the background positional embedding.
    q_pool : int
        Number of stage transitions with query pooling (the first ones).
    q_stride : (int, int)
        Pooling at those transitions.
    dim_mul, head_mul : float
        Growth of width and heads per stage.
    mlp_ratio : float
        MLP width / block width.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        stages: tuple[int, ...],
        global_att_blocks: tuple[int, ...],
        window_spec: tuple[int, ...],
        window_pos_embed_bkg_spatial_size: tuple[int, int],
        q_pool: int = 3,
        q_stride: tuple[int, int] = (2, 2),
        dim_mul: float = 2.0,
        head_mul: float = 2.0,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if len(stages) != len(window_spec):
            raise ValueError(f"stages {stages} and window_spec {window_spec} must have the same length")
        if not 0 <= q_pool < len(stages):
            raise ValueError(f"q_pool must be in [0, {len(stages) - 1}], got {q_pool}")
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, window_spec[0], window_spec[0]))
        self.blocks = nn.ModuleList()
        dim, heads, stage = embed_dim, num_heads, 0
        for i in range(sum(stages)):
            window = 0 if i in global_att_blocks else window_spec[stage]
            dim_out = dim
            if i - 1 in self.stage_ends:
                dim_out, heads, stage = int(dim * dim_mul), int(heads * head_mul), stage + 1
            q = q_stride if i in q_pool_blocks else None
            self.blocks.append(HieraBlock(dim, dim_out, heads, mlp_ratio, q_stride=q, window_size=window))
            dim = dim_out
        self._pos_cache: tuple | None = None
        #: Channels of the outputs, coarsest first (the neck's order).
        self.channel_list = [self.blocks[i].dim_out for i in self.stage_ends[::-1]]

    def positional_embedding(self, h: int, w: int) -> torch.Tensor:
        """(1, h, w, C) channels-last: the background grid resized bicubically plus the tiled window pattern.

        Cached while the two parameters are unchanged (their version counters
        move when weights are loaded or edited in place).
        """
        key = (h, w, self.pos_embed._version, self.pos_embed_window._version, self.pos_embed.device,
               self.pos_embed.dtype, torch.is_grad_enabled())
        if self._pos_cache is None or self._pos_cache[0] != key:
            pos = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
            window = self.pos_embed_window
            reps = (h // window.shape[-2], w // window.shape[-1])
            pos = pos + window.tile(1, 1, *reps)
            self._pos_cache = (key, pos.permute(0, 2, 3, 1).contiguous())
        return self._pos_cache[1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Image (B, 3, S, S) -> [(B, C, S/4, S/4), (B, 2C, S/8, S/8), (B, 4C, S/16, S/16), (B, 8C, S/32, S/32)].

        The maps are channels-first views of channels-last tensors.
        """
        # a channels-last input makes the convolution's output contiguous (B, H, W, C)
        x = self.patch_embed.proj(x.contiguous(memory_format=torch.channels_last)).permute(0, 2, 3, 1)
        x = x + self.positional_embedding(*x.shape[1:3])
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
