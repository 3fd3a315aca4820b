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

    def forward(self, xs: list[torch.Tensor], heads: dict[int, nn.Conv2d] | None = None) -> list[torch.Tensor]:
        """Trunk maps, finest first, (B, C_i, H_i, W_i) -> neck maps (B, d_model, H_i, W_i), finest first.

        Works channels last: each 1x1 convolution is a matrix product over
        the channels of (B, H, W, C_i) (the trunk's own layout), and the
        outputs are channels-first views of channels-last tensors.

        Parameters
        ----------
        xs : list of torch.Tensor
            Trunk maps, finest first.
        heads : dict of int to nn.Conv2d, optional
            A 1x1 convolution to apply to the neck output of some levels
            (SAM 2's ``conv_s0`` / ``conv_s1`` on levels 0 and 1); that
            level's map is returned through it, (B, head.out_channels, H, W).
            A level whose neck map no other level reads (no top-down sum
            into it or out of it) runs lateral and head as one product,
            their weights composed, so its d_model-channel map is never formed.
        """
        if len(xs) != len(self.convs):
            raise ValueError(f"expected {len(self.convs)} feature maps, got {len(xs)}")
        heads = heads or {}
        n = len(xs) - 1
        out: list[torch.Tensor] = [None] * len(xs)  # type: ignore[list-item]
        prev = None
        for level in range(n, -1, -1):
            weight, bias = _channel_map(self.convs[n - level].conv)
            head = heads.get(level)
            alone = level not in self.fpn_top_down_levels and level - 1 not in self.fpn_top_down_levels
            if head is not None and alone:
                head_weight, head_bias = _channel_map(head)
                weight, bias = head_weight @ weight, torch.addmv(head_bias, head_weight, bias)
            lateral = linear(xs[level].permute(0, 2, 3, 1), weight, bias)  # (B, H, W, d or head channels)
            if level in self.fpn_top_down_levels and prev is not None:
                lateral += upsample_nearest_2x(prev)
            prev = lateral
            if head is not None and not alone:
                lateral = linear(lateral, *_channel_map(head))
            out[level] = lateral.permute(0, 3, 1, 2)
        return out


def _channel_map(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1x1 convolution's (out, in) weight and its bias."""
    return conv.weight.view(conv.out_channels, conv.in_channels), conv.bias


def upsample_nearest_2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling of a channels-last (B, H, W, C) tensor -> (B, 2H, 2W, C)."""
    b, h, w, c = x.shape
    return x[:, :, None, :, None, :].expand(b, h, 2, w, 2, c).reshape(b, 2 * h, 2 * w, c)
