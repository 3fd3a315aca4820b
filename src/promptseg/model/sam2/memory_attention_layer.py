"""One layer of SAM 2's memory attention: self-attention, cross-attention to memory, MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope_attention import RoPEAttention


class MemoryAttentionLayer(nn.Module):
    """Pre-norm layer: ``x += SA(n1(x)); x += CA(n2(x), memory); x += MLP(n3(x))``.

    Self-attention rotates the image tokens by their grid position (no added
    position encoding); cross-attention adds ``memory_pos`` to the memory
    keys only, rotates the spatial memory keys and leaves the trailing
    object-pointer tokens unrotated.  The MLP is ``linear2(relu(linear1))``.

    Parameters
    ----------
    dim : int
        Width of the image tokens (256).
    memory_dim : int
        Width of the memory tokens (64).
    ffn_dim : int
        Hidden width of the MLP (2048 in the published models).
    num_heads : int
        Heads of both attentions (1 in the published models).
    grid : (int, int)
        (H, W) of the image-token grid.
    rope_theta : float
        Base of the rotary frequencies.
    """

    def __init__(
        self,
        dim: int = 256,
        memory_dim: int = 64,
        ffn_dim: int = 2048,
        num_heads: int = 1,
        *,
        grid: tuple[int, int] = (64, 64),
        rope_theta: float = 10000.0,
    ) -> None:
        super().__init__()
        self.self_attn = RoPEAttention(dim, num_heads, grid=grid, rope_theta=rope_theta)
        self.cross_attn_image = RoPEAttention(dim, num_heads, kv_dim=memory_dim, grid=grid, rope_theta=rope_theta)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor, num_pointer_tokens: int = 0
    ) -> torch.Tensor:
        """Update the image tokens with what the memory says about them.

        Parameters
        ----------
        x : torch.Tensor, shape (B, H*W, dim)
            Image tokens in row-major grid order.
        memory : torch.Tensor, shape (B, F*H*W + P, memory_dim)
            ``F`` spatial memory grids followed by ``P`` pointer tokens.
        memory_pos : torch.Tensor, shape of ``memory``
            Position encoding added to the memory keys.
        num_pointer_tokens : int
            ``P``: trailing memory tokens that are not rotated.

        Returns
        -------
        torch.Tensor, shape (B, H*W, dim)
        """
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y)
        y = self.norm2(x)
        x = x + self.cross_attn_image(y, memory + memory_pos, memory, num_unrotated=num_pointer_tokens)
        y = self.norm3(x)
        return x + self.linear2(F.relu(self.linear1(y)))
