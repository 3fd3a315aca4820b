"""SAM's mask decoder: tokens + image embedding -> mask logits and predicted IoU."""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, LayerNorm2d
from .transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    """Predicts ``num_multimask_outputs + 1`` masks and their IoU.

    Mask 0 is the single-mask answer; masks 1..3 are the three candidates
    for ambiguous prompts.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def output_tokens(self, batch: int) -> torch.Tensor:
        """IoU token then mask tokens, (B, 1 + num_mask_tokens, C)."""
        tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        return tokens.unsqueeze(0).expand(batch, -1, -1)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference forward pass.

        Parameters
        ----------
        image_embeddings : (1, C, 64, 64)
        image_pe : (1, C, 64, 64)
        sparse_prompt_embeddings : (B, N, C)
        dense_prompt_embeddings : (B, C, 64, 64)
        multimask_output : bool
            Return masks 1..3 instead of mask 0.

        Returns
        -------
        masks : (B, M, 256, 256) low-resolution logits
        iou_pred : (B, M)
        """
        hs, image_map = self.run_transformer(image_embeddings, image_pe, sparse_prompt_embeddings,
                                             dense_prompt_embeddings)
        iou_pred = self.iou_prediction_head(hs[:, 0, :])
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]
        masks = self.masks_from_tokens(mask_tokens_out, self.output_upscaling(image_map))
        sl = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, sl], iou_pred[:, sl]

    def run_transformer(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two-way transformer on the output tokens, the prompt tokens and the image.

        Parameters are those of :meth:`forward`.

        Returns
        -------
        hs : (B, T + N, C)
            Output tokens (the T of :meth:`output_tokens` first), then the prompt tokens.
        image_map : (B, C, h, w)
            The image tokens after the transformer, back on their grid.
        """
        batch = sparse_prompt_embeddings.shape[0]
        tokens = torch.cat([self.output_tokens(batch), sparse_prompt_embeddings], dim=1)
        src = image_embeddings.expand(batch, -1, -1, -1) + dense_prompt_embeddings
        pos = image_pe.expand(batch, -1, -1, -1)
        b, c, h, w = src.shape
        hs, keys = self.transformer(src, pos, tokens)
        return hs, keys.transpose(1, 2).reshape(b, c, h, w)

    def masks_from_tokens(self, mask_tokens_out: torch.Tensor, upscaled: torch.Tensor) -> torch.Tensor:
        """Mask logits (B, M, H, W): each mask token's hypernetwork output dotted with the upscaled (B, C', H, W) map."""
        hyper = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        b, c2, h2, w2 = upscaled.shape
        return (hyper @ upscaled.reshape(b, c2, h2 * w2)).view(b, -1, h2, w2)
