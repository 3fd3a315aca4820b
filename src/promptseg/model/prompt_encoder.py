"""SAM's prompt encoder: points and box corners to sparse tokens, a mask to a dense map.

All coordinates here are in the model's frame: (x, y) pixels of the resized
1024-long-side input (see :mod:`promptseg.model.transforms`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import LayerNorm2d


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of normalised (x, y) positions."""

    def __init__(self, num_pos_feats: int = 128) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords in [0, 1], shape (..., 2) as (x, y) -> (..., 2 * num_pos_feats)."""
        proj = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        proj = 2 * math.pi * proj
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)

    def grid(self, size: tuple[int, int]) -> torch.Tensor:
        """Encoding of every cell centre of an (h, w) grid, shape (C, h, w)."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
        coords = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
        return self._encode(coords).permute(2, 0, 1)

    def points(self, coords_xy: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Encoding of (B, N, 2) (x, y) pixel coordinates in an image of (h, w) pixels."""
        h, w = image_size
        scale = torch.tensor([1.0 / w, 1.0 / h], dtype=torch.float32, device=coords_xy.device)
        return self._encode(coords_xy.to(torch.float32) * scale)


class PromptEncoder(nn.Module):
    """Embeds points, boxes and masks for the mask decoder.

    Parameters
    ----------
    embed_dim : int
        Token width (256).
    image_embedding_size : (int, int)
        Grid of the image embedding (64, 64).
    input_image_size : (int, int)
        Padded model input (1024, 1024).
    mask_in_chans : int
        Hidden channels of the mask downscaling path (16).
    """

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # 0: negative point, 1: positive point, 2: box top-left, 3: box bottom-right
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the image embedding grid, shape (1, C, 64, 64)."""
        return self.pe_layer.grid(self.image_embedding_size).unsqueeze(0)

    def embed_points(self, coords_xy: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """(B, N, 2) pixel (x, y) and (B, N) labels (1, 0, or -1 for padding) -> (B, N[+1], C).

        ``pad`` appends one "not a point" token, as SAM does when no box is given.
        """
        coords_xy = coords_xy + 0.5  # pixel centres
        if pad:
            b = coords_xy.shape[0]
            coords_xy = torch.cat([coords_xy, coords_xy.new_zeros(b, 1, 2)], dim=1)
            labels = torch.cat([labels, -labels.new_ones(b, 1)], dim=1)
        emb = self.pe_layer.points(coords_xy, self.input_image_size)
        is_pad = (labels == -1).unsqueeze(-1)
        emb = torch.where(is_pad, self.not_a_point_embed.weight, emb)
        emb = emb + (labels == 0).unsqueeze(-1) * self.point_embeddings[0].weight
        emb = emb + (labels == 1).unsqueeze(-1) * self.point_embeddings[1].weight
        return emb

    def embed_box(self, box_xyxy: torch.Tensor) -> torch.Tensor:
        """(B, 4) pixel XYXY boxes -> (B, 2, C) corner tokens."""
        corners = (box_xyxy + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.points(corners, self.input_image_size)
        corner_types = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight], dim=0)
        return emb + corner_types

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse tokens (B, N, C) and dense map (B, C, 64, 64) for a batch of prompts."""
        batch = 1
        for item in (points[0] if points is not None else None, boxes, masks):
            if item is not None:
                batch = item.shape[0]
                break
        sparse = self.no_mask_embed.weight.new_empty(batch, 0, self.embed_dim)
        if points is not None:
            sparse = torch.cat([sparse, self.embed_points(points[0], points[1], pad=boxes is None)], dim=1)
        if boxes is not None:
            sparse = torch.cat([sparse, self.embed_box(boxes)], dim=1)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, h, w)
        return sparse, dense
