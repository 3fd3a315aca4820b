"""Point and box prompts as SAM 2 feeds them to the prompt encoder."""

from __future__ import annotations

import torch

from ..prompt_encoder import PromptEncoder


def sparse_tokens(
    prompt_encoder: PromptEncoder, points_xy: torch.Tensor | None, labels: torch.Tensor | None,
    box_xyxy: torch.Tensor | None,
) -> torch.Tensor:
    """Sparse prompt tokens in the order of the SAM 2 image predictor.

    The box, if any, comes first as two corner points (labels 2 and 3), then
    the clicks, then always one padding token ("not a point"), because SAM 2
    passes boxes to the prompt encoder as points.

    Parameters
    ----------
    prompt_encoder : PromptEncoder
    points_xy : torch.Tensor, (B, N, 2), or None
        Click (x, y) in the S x S input frame.
    labels : torch.Tensor, (B, N), or None
        1 positive, 0 negative.
    box_xyxy : torch.Tensor, (B, 4), or None
        Box in the input frame.

    Returns
    -------
    torch.Tensor, (B, 2 [box] + N + 1, C)
    """
    device = prompt_encoder.no_mask_embed.weight.device
    if points_xy is None:
        batch = 1 if box_xyxy is None else box_xyxy.shape[0]
        points_xy = torch.zeros(batch, 0, 2, device=device)
        labels = torch.zeros(batch, 0, dtype=torch.int64, device=device)
    tokens = prompt_encoder.embed_points(points_xy, labels, pad=True)
    if box_xyxy is not None:
        tokens = torch.cat([prompt_encoder.embed_box(box_xyxy), tokens], dim=1)
    return tokens
