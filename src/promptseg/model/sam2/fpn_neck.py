"""SAM 2's feature pyramid neck: 1x1 lateral convolutions and top-down fusion."""

from __future__ import annotations

import torch
from torch import nn

from ..fused_linear import linear


class FpnNeck(nn.Module):
    """Trunk maps -> ``d_model``-channel maps at the same strides.

    Each level passes a 1x1 convolution (``convs.{n-1-level}.conv``: the
    coarsest level is ``convs.0``).  Going from the coarsest level to the
    finest, a level listed in ``fpn_top_down_levels`` also receives the
    previous (coarser) output, upsampled 2x by nearest-neighbour
    interpolation and added; other levels keep their lateral map alone.

    Parameters
    ----------
    d_model : int
        Output channels (256).
    backbone_channel_list : list of int
        Trunk channels, coarsest first (e.g. [768, 384, 192, 96]).
    fpn_top_down_levels : tuple of int
        Levels (0 = finest) with top-down fusion.
    """

    def __init__(self, d_model: int, backbone_channel_list: list[int], fpn_top_down_levels: tuple[int, ...]) -> None:
        super().__init__()
        self.d_model = d_model
        self.backbone_channel_list = list(backbone_channel_list)
        self.fpn_top_down_levels = tuple(fpn_top_down_levels)
        self.convs = nn.ModuleList()
        for dim in backbone_channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=1))
            self.convs.append(lateral)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Trunk maps, finest first, (B, C_i, H_i, W_i) -> neck maps (B, d_model, H_i, W_i), finest first.

        Works channels last: each 1x1 convolution is a matrix product over
        the channels of (B, H, W, C_i) (the trunk's own layout), and the
        outputs are channels-first views of channels-last tensors.
        """
        if len(xs) != len(self.convs):
            raise ValueError(f"expected {len(self.convs)} feature maps, got {len(xs)}")
        n = len(xs) - 1
        out: list[torch.Tensor] = [None] * len(xs)  # type: ignore[list-item]
        prev = None
        for level in range(n, -1, -1):
            conv = self.convs[n - level].conv
            weight = conv.weight.view(conv.out_channels, conv.in_channels)
            lateral = linear(xs[level].permute(0, 2, 3, 1), weight, conv.bias)  # (B, H, W, d)
            if level in self.fpn_top_down_levels and prev is not None:
                lateral += upsample_nearest_2x(prev)
            prev = lateral
            out[level] = lateral.permute(0, 3, 1, 2)
        return out


def upsample_nearest_2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling of a channels-last (B, H, W, C) tensor -> (B, 2H, 2W, C)."""
    b, h, w, c = x.shape
    return x[:, :, None, :, None, :].expand(b, h, 2, w, 2, c).reshape(b, 2 * h, 2 * w, c)
