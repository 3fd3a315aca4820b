"""SAM 2's image encoder: Hiera trunk, FPN neck, coarsest level dropped."""

from __future__ import annotations

import torch
from torch import nn

from .fpn_neck import FpnNeck
from .hiera import Hiera
from .position_encoding import PositionEmbeddingSine


class Sam2ImageEncoder(nn.Module):
    """Normalised image (B, 3, 1024, 1024) -> neck maps at strides 4, 8, 16.

    Parameters
    ----------
    trunk : Hiera
    neck : FpnNeck
    scalp : int
        Number of the coarsest neck levels dropped (1: the stride-32 map).
    """

    def __init__(self, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        if trunk.channel_list != neck.backbone_channel_list:
            raise ValueError(f"trunk channels {trunk.channel_list} do not match the neck's {neck.backbone_channel_list}")
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp
        #: Sine encoding of a neck map's grid (the video tracker's ``vision_pos_enc``); no weights.
        self.position_encoding = PositionEmbeddingSine(neck.d_model)

    def forward(self, x: torch.Tensor, heads: dict[int, nn.Conv2d] | None = None) -> list[torch.Tensor]:
        """(B, 3, S, S) -> [(B, d, S/4, S/4), (B, d, S/8, S/8), (B, d, S/16, S/16)] (with ``scalp`` 1), finest first.

        These are the neck outputs before ``no_mem_embed``, and before the
        mask decoder's ``conv_s0`` / ``conv_s1`` unless they are given as
        ``heads`` ({0: conv_s0, 1: conv_s1}, see :meth:`FpnNeck.forward`):
        then levels 0 and 1 come through them.
        """
        features = self.neck(self.trunk(x), heads)
        return features[: len(features) - self.scalp]
