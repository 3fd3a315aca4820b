"""SAM 2's memory attention: condition a frame's image tokens on the memory bank."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .memory_attention_layer import MemoryAttentionLayer


class MemoryAttention(nn.Module):
    """A stack of :class:`MemoryAttentionLayer` and a final layer norm.

    The input tokens get ``0.1 * image_pos`` added once, at the start.

    Parameters
    ----------
    dim, memory_dim : int
        Widths of the image and memory tokens, as in :class:`MemoryAttentionLayer`.
    num_layers : int
        Layers (4 in the published models).
    **layer
        The other keywords of :class:`MemoryAttentionLayer`, the same for
        every layer: ``ffn_dim`` (MLP hidden width, 2048 in the published
        models), ``num_heads`` (1), ``grid`` ((H, W) of the image-token grid,
        64 x 64) and ``rope_theta``.

    Notes
    -----
    Keys: ``layers.{i}.*`` and ``norm.*``, as under ``memory_attention.`` in a
    SAM 2.1 checkpoint.
    """

    def __init__(self, dim: int = 256, memory_dim: int = 64, num_layers: int = 4, **layer: Any) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MemoryAttentionLayer(dim, memory_dim, **layer) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        image: torch.Tensor,
        image_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        num_pointer_tokens: int = 0,
    ) -> torch.Tensor:
        """Fuse the memory into the image tokens.

        Parameters
        ----------
        image : torch.Tensor, shape (B, H*W, dim)
            The frame's image embedding as tokens, row-major.
        image_pos : torch.Tensor, shape (1 or B, H*W, dim)
            Its sine position encoding.
        memory, memory_pos : torch.Tensor, shape (B, F*H*W + P, memory_dim)
            ``F`` memory grids then ``P`` object-pointer tokens, and their
            (spatial + temporal) position encodings.
        num_pointer_tokens : int
            ``P``.

        Returns
        -------
        torch.Tensor, shape (B, H*W, dim)
        """
        x = image + 0.1 * image_pos
        for layer in self.layers:
            x = layer(x, memory, memory_pos, num_pointer_tokens)
        return self.norm(x)
