"""Attention with axial rotary position encoding on queries and keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import axial_rotation, rotate_


class RoPEAttention(nn.Module):
    """Multi-head attention whose queries and keys are rotated by grid position.

    The queries are the tokens of one (H, W) grid.  The keys are that grid
    repeated any number of times (one copy per memory frame, each rotated
    like the queries), optionally followed by ``num_unrotated`` tokens that
    are not rotated (SAM 2's object pointers).

    Parameters
    ----------
    dim : int
        Width of the queries and of the output.
    num_heads : int
        Attention heads; they split ``dim``.
    kv_dim : int, optional
        Width of the key and value inputs (default ``dim``).
    grid : (int, int)
        (H, W) of the query grid (64 x 64 for 1024-pixel SAM 2 inputs).
    rope_theta : float
        Base of the rotary frequencies.

    Notes
    -----
    Parameters ``q_proj``, ``k_proj`` (kv_dim -> dim), ``v_proj`` (kv_dim -> dim)
    and ``out_proj``: the key layout of the official ``RoPEAttention``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        kv_dim: int | None = None,
        grid: tuple[int, int] = (64, 64),
        rope_theta: float = 10000.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide the width {dim}")
        kv_dim = dim if kv_dim is None else kv_dim
        self.num_heads = num_heads
        self.grid = grid
        self.rope_theta = rope_theta
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(kv_dim, dim)
        self.v_proj = nn.Linear(kv_dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.register_buffer("rotation", axial_rotation(dim // num_heads, grid, rope_theta), persistent=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_unrotated: int = 0
    ) -> torch.Tensor:
        """Attend grid queries to (possibly repeated-grid) keys.

        Parameters
        ----------
        q : torch.Tensor, shape (B, H*W, dim)
        k, v : torch.Tensor, shape (B, F*H*W + num_unrotated, kv_dim)
        num_unrotated : int
            Trailing key tokens left unrotated.

        Returns
        -------
        torch.Tensor, shape (B, H*W, dim)
        """
        if q.shape[1] != self.rotation.shape[0]:
            raise ValueError(
                f"RoPEAttention was built for a {self.grid[0]}x{self.grid[1]} grid, got {q.shape[1]} query tokens"
            )
        q = rotate_(self.q_proj(q), self.rotation, self.num_heads)
        k = self.k_proj(k)
        rotate_(k[:, : k.shape[1] - num_unrotated], self.rotation, self.num_heads)
        qh, kh, vh = self._heads(q), self._heads(k), self._heads(self.v_proj(v))
        out = F.scaled_dot_product_attention(qh, kh, vh)
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, -1))
