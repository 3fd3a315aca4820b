"""SAM's two-way transformer: prompt tokens and image tokens attend to each other."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import MLP, LinMLP


class TokenAttention(nn.Module):
    """Multi-head attention with optional down-projection of the internal width.

    ``q_proj``/``k_proj``/``v_proj`` map ``embedding_dim`` to
    ``embedding_dim // downsample_rate``; ``out_proj`` maps back.
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.num_heads = num_heads
        internal = embedding_dim // downsample_rate
        if internal % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide the internal width {internal}")
        self.internal_dim = internal
        self.q_proj = nn.Linear(embedding_dim, internal)
        self.k_proj = nn.Linear(embedding_dim, internal)
        self.v_proj = nn.Linear(embedding_dim, internal)
        self.out_proj = nn.Linear(internal, embedding_dim)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (B, Nq, C), k and v (B, Nk, C) -> (B, Nq, C)."""
        qh = self.split_heads(self.q_proj(q))
        kh = self.split_heads(self.k_proj(k))
        vh = self.split_heads(self.v_proj(v))
        scale = 1.0 / math.sqrt(qh.shape[-1])
        out = F.scaled_dot_product_attention(qh, kh, vh, scale=scale)
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.internal_dim))


def _mlp_weights(mlp: nn.Module) -> tuple[torch.Tensor, ...]:
    """(W1, b1, W2, b2) of a block's two-layer ReLU MLP, in either key layout."""
    first, second = (mlp.lin1, mlp.lin2) if isinstance(mlp, LinMLP) else (mlp.layers[0], mlp.layers[1])
    return first.weight.detach(), first.bias.detach(), second.weight.detach(), second.bias.detach()


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token->image, MLP, image->token; post-norm residuals.

    ``mlp_keys`` names the MLP's layers in the checkpoint: ``"lin"``
    (``mlp.lin1`` / ``mlp.lin2``, SAM 1) or ``"layers"`` (``mlp.layers.0`` /
    ``mlp.layers.1``, SAM 2); the function is the same.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        downsample_rate: int,
        skip_first_layer_pe: bool,
        mlp_keys: str = "lin",
    ):
        super().__init__()
        self.self_attn = TokenAttention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = TokenAttention(dim, num_heads, downsample_rate)
        self.norm2 = nn.LayerNorm(dim)
        if mlp_keys not in ("lin", "layers"):
            raise ValueError(f"mlp_keys must be 'lin' or 'layers', got {mlp_keys!r}")
        self.mlp = LinMLP(dim, mlp_dim, F.relu) if mlp_keys == "lin" else MLP(dim, mlp_dim, dim, 2)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = TokenAttention(dim, num_heads, downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (B, Nt, C) prompt tokens, keys (B, Ni, C) image tokens."""
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q = queries + query_pe
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q = queries + query_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """``depth`` two-way blocks and a final token->image attention (``mlp_keys``: see the block)."""

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        downsample_rate: int = 2,
        mlp_keys: str = "lin",
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim, num_heads, mlp_dim, downsample_rate, skip_first_layer_pe=i == 0, mlp_keys=mlp_keys
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = TokenAttention(embedding_dim, num_heads, downsample_rate)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: torch.Tensor, image_pe: torch.Tensor, point_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embedding, image_pe (B, C, h, w); point_embedding (B, Nt, C).

        Returns the updated tokens (B, Nt, C) and image tokens (B, h*w, C).
        """
        keys = image_embedding.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, point_embedding, key_pe)
        q = queries + point_embedding
        k = keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q, k, keys))
        return queries, keys
