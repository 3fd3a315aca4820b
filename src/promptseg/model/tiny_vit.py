"""MobileSAM's TinyViT image encoder (vit_t).

Four stages: a convolutional stage of MBConv blocks, then three stages of
windowed-attention blocks with a depthwise "local" convolution, joined by
patch-merging convolutions; the last merge keeps the resolution (stride 1)
so the output is a (B, 256, 64, 64) embedding like SAM's.  Parameter names
follow the published MobileSAM checkpoint.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d, gelu

#: Output widths for which the final patch merging keeps the resolution.
_STRIDE_ONE_DIMS = (320, 448, 576)


class ConvBN(nn.Sequential):
    """Conv2d without bias followed by BatchNorm2d (``c`` / ``bn``).

    In eval mode the normalisation is folded into the convolution
    (``w * g / s``, ``b - m * g / s``): one pass over the activations instead
    of two.  The folded weights are recomputed whenever a parameter or buffer
    changes (load, in-place edit) or the device changes.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, pad: int = 0, groups: int = 1):
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))
        self._folded: tuple | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        conv = self.c
        weight, bias = self._folded_weights()
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def _folded_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        bn = self.bn
        tensors = (self.c.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        key = tuple((t._version, t.data_ptr()) for t in tensors)
        if self._folded is None or self._folded[0] != key:
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                weight = self.c.weight * scale.view(-1, 1, 1, 1)
                bias = bn.bias - bn.running_mean * scale
            self._folded = (key, weight, bias)
        return self._folded[1], self._folded[2]


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 convolutions: (B, 3, H, W) -> (B, C, H/4, W/4)."""

    def __init__(self, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            ConvBN(in_chans, embed_dim // 2, 3, 2, 1),
            nn.GELU(),
            ConvBN(embed_dim // 2, embed_dim, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq[2](gelu(self.seq[0](x)))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, residual, GELU."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = ConvBN(dim, hidden)
        self.conv2 = ConvBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.conv3 = ConvBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = gelu(self.conv1(x))
        y = gelu(self.conv2(y))
        return gelu(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """(B, C, H, W) or (B, H*W, C) -> (B, H'*W', C_out); stride 1 for the last SAM stage."""

    def __init__(self, resolution: int, dim: int, out_dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        stride = 1 if out_dim in _STRIDE_ONE_DIMS else 2
        self.conv1 = ConvBN(dim, out_dim)
        self.conv2 = ConvBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            b = x.shape[0]
            x = x.view(b, self.resolution, self.resolution, -1).permute(0, 3, 1, 2)
        x = gelu(self.conv1(x))
        x = gelu(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class ConvStage(nn.Module):
    """Stage 0: MBConv blocks, then patch merging."""

    def __init__(self, dim: int, depth: int, resolution: int, out_dim: int, expand_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = PatchMerging(resolution, dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x)


class TinyAttention(nn.Module):
    """Windowed attention with a learned bias per head and |offset|.

    The qkv projection is laid out per head as [q | k | v] (key_dim, key_dim,
    value_dim), unlike SAM's ViT which stacks all q, then all k, then all v.
    """

    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = dim // num_heads
        self.scale = self.key_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        offsets: dict[tuple[int, int], int] = {}
        index = []
        cells = list(itertools.product(range(window), range(window)))
        for p in cells:
            for q in cells:
                key = (abs(p[0] - q[0]), abs(p[1] - q[1]))
                index.append(offsets.setdefault(key, len(offsets)))
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        n = len(cells)
        self.register_buffer("attention_bias_idxs", torch.tensor(index).view(n, n), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) windows of N = window**2 tokens -> (B, N, C)."""
        b, n, c = x.shape
        x = self.norm(x)
        qkv = self.qkv(x).view(b, n, self.num_heads, 3 * self.key_dim).permute(0, 2, 1, 3)
        q, k, v = qkv.split(self.key_dim, dim=3)
        bias = self.attention_biases[:, self.attention_bias_idxs]  # (heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0), scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class TinyMlp(nn.Module):
    """LayerNorm -> Linear -> GELU -> Linear (``norm`` / ``fc1`` / ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Windowed attention, depthwise local convolution, MLP; on (B, H*W, C) tokens."""

    def __init__(self, dim: int, resolution: int, num_heads: int, window: int, mlp_ratio: float, local_conv: int):
        super().__init__()
        self.resolution = resolution
        self.window = window
        self.attn = TinyAttention(dim, num_heads, window)
        self.mlp = TinyMlp(dim, int(dim * mlp_ratio))
        self.local_conv = ConvBN(dim, dim, local_conv, 1, local_conv // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side, ws = self.resolution, self.window
        b, n, c = x.shape
        if side == ws:
            y = self.attn(x)
        else:
            y = x.view(b, side, side, c)
            pad = (ws - side % ws) % ws
            if pad:
                y = F.pad(y, (0, 0, 0, pad, 0, pad))
            padded = side + pad
            nw = padded // ws
            y = y.view(b, nw, ws, nw, ws, c).transpose(2, 3).reshape(b * nw * nw, ws * ws, c)
            y = self.attn(y)
            y = y.view(b, nw, nw, ws, ws, c).transpose(2, 3).reshape(b, padded, padded, c)
            if pad:
                y = y[:, :side, :side]
            y = y.reshape(b, n, c)
        x = x + y
        x = self.local_conv(x.transpose(1, 2).reshape(b, c, side, side))
        x = x.view(b, c, n).transpose(1, 2)
        return x + self.mlp(x)


class AttentionStage(nn.Module):
    """Stages 1-3: TinyViT blocks, then patch merging (except the last stage)."""

    def __init__(
        self,
        dim: int,
        depth: int,
        resolution: int,
        num_heads: int,
        window: int,
        mlp_ratio: float,
        local_conv: int,
        out_dim: int | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, resolution, num_heads, window, mlp_ratio, local_conv) for _ in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim, out_dim) if out_dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class TinyViT(nn.Module):
    """TinyViT backbone with SAM's neck: (B, 3, 1024, 1024) -> (B, 256, 64, 64).

    ``norm_head`` and ``head`` (the ImageNet classifier) exist only so that
    published checkpoints load strictly; they are not used.
    """

    def __init__(
        self,
        *,
        img_size: int = 1024,
        embed_dims: Sequence[int] = (64, 128, 160, 320),
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (2, 4, 5, 10),
        window_sizes: Sequence[int] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
        num_classes: int = 1000,
        out_chans: int = 256,
    ) -> None:
        super().__init__()
        self.grid = img_size // 16
        self.patch_embed = PatchEmbed(embed_dims[0])
        res = img_size // 4
        stages: list[nn.Module] = [ConvStage(embed_dims[0], depths[0], res, embed_dims[1], mbconv_expand_ratio)]
        n = len(depths)
        for i in range(1, n):
            # Every merge halves the resolution except the last (stride 1).
            stage_res = res // (2 ** min(i, n - 2))
            out_dim = embed_dims[i + 1] if i < n - 1 else None
            stages.append(
                AttentionStage(
                    embed_dims[i], depths[i], stage_res, num_heads[i], window_sizes[i],
                    mlp_ratio, local_conv_size, out_dim,
                )
            )
        self.layers = nn.ModuleList(stages)
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes)
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last activations: depthwise and 1x1 convolutions run much
        # faster in that layout; the attention stages already use it.
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for stage in self.layers:
            x = stage(x)
        b, _, c = x.shape
        x = x.view(b, self.grid, self.grid, c).permute(0, 3, 1, 2)
        return self.neck(x).contiguous()
