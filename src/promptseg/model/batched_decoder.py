"""Many single-point prompts against one image embedding at once (automatic mask generation).

The functions here compute, for B prompt sets of the same token count t,
what :class:`~promptseg.model.fast_decoder.FastMaskDecoder` computes for one:
the same equations and association orders (token-side vectors multiplied into
the projection weights first; scores as token-major ``(N, H*t)`` products),
with a leading batch axis instead of a Python loop over prompts.  The image
tokens are shared until the first image-to-token attention; after it each
prompt has its own (B, N, C) copy.

Masks are formed in a second step (:func:`batch_masks`) for chosen
(prompt, candidate) pairs only: the predicted IoU is known before the
upscaling, so candidates that a quality filter drops never pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .common import gelu

if TYPE_CHECKING:  # pragma: no cover
    from .fast_decoder import FastMaskDecoder, PreparedEmbedding, _Heads


@dataclass
class BatchAnswer:
    """Decoder state of B prompt sets after the transformer.

    Attributes
    ----------
    iou : torch.Tensor, shape (B, M)
        Predicted IoU of each prompt's M candidate masks.
    candidates : list of int
        Which mask tokens the M columns are (1..3 multimask, 0 single mask).
    keys : torch.Tensor, shape (B, N, C)
        Each prompt's image tokens after the transformer (N = h*w, row-major).
    weights : torch.Tensor, shape (B, M, C/8)
        Hypernetwork outputs: a candidate's mask is their dot product with
        the upscaled image tokens.
    skips : (torch.Tensor, torch.Tensor) or None
        SAM 2's high-resolution maps in the upscaling's row order, (4N, C/4)
        and (4N, 4 C/8), added after each transposed convolution (see
        :class:`~promptseg.model.sam2.fast_decoder.Sam2PreparedEmbedding`).
    """

    iou: torch.Tensor
    candidates: list[int]
    keys: torch.Tensor
    weights: torch.Tensor
    skips: tuple[torch.Tensor, torch.Tensor] | None = None


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, t, I) token-major -> (B, H, t, d)."""
    b, t, i = x.shape
    return x.view(b, t, heads, i // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """(B, H, t, d) -> (B, t, H*d)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def _token_side(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-head products of (B, H, t, d) token vectors with an (I, K) projection weight -> (B, H*t, K)."""
    b, heads, t, d = h.shape
    return torch.matmul(h, w.view(heads, d, -1)).reshape(b, heads * t, -1)


def among_tokens(a: "_Heads", q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention among each prompt's tokens, (B, t, C) -> (B, t, C)."""
    qh = _split(F.linear(q, a.wq, a.bq), a.heads)
    kh = _split(F.linear(k, a.wk, a.bk), a.heads)
    vh = _split(F.linear(v, a.wv, a.bv), a.heads)
    attn = torch.softmax(qh @ kh.transpose(-1, -2), dim=-1)
    return F.linear(_merge(attn @ vh), a.wo, a.bo)


def tokens_to_shared_image(a: "_Heads", q: torch.Tensor, k_side: torch.Tensor, v_side: torch.Tensor) -> torch.Tensor:
    """Tokens (B, t, C) attend to image tokens all prompts share, projected feature-major (I, N) -> (B, t, C)."""
    b, t, _ = q.shape
    qh = F.linear(q, a.wq, a.bq).view(b * t, a.heads, a.dim).transpose(0, 1)  # (H, B*t, d)
    attn = torch.softmax(torch.bmm(qh, k_side.view(a.heads, a.dim, -1)), dim=-1)  # (H, B*t, N)
    out = torch.bmm(attn, v_side.view(a.heads, a.dim, -1).transpose(1, 2))  # (H, B*t, d)
    return F.linear(out.transpose(0, 1).reshape(b, t, a.internal), a.wo, a.bo)


def tokens_to_image(a: "_Heads", q: torch.Tensor, x: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
    """Tokens (B, t, C) attend to each prompt's image tokens ``x`` (B, N, C; keys ``xp`` with PE) -> (B, t, C).

    Scores are (B, H*t, N) products of the per-head token vectors multiplied
    into the key weights; the key bias is constant along each softmax and
    dropped; values are mixed before they are projected.
    """
    qh = _split(F.linear(q, a.wq, a.bq), a.heads)  # (B, H, t, d)
    b, heads, t, d = qh.shape
    s = torch.bmm(_token_side(qh, a.wk), xp.transpose(1, 2))  # (B, H*t, N)
    s = torch.softmax(s, dim=-1)
    mixed = torch.bmm(s, x).view(b, heads, t, -1)  # (B, H, t, C)
    out = torch.matmul(mixed, a.wv.view(heads, d, -1).transpose(1, 2)) + a.bv.view(1, heads, 1, d)
    return F.linear(_merge(out), a.wo, a.bo)


def image_to_tokens(a: "_Heads", xp: torch.Tensor, k_tok: torch.Tensor, v_tok: torch.Tensor,
                    residual: torch.Tensor) -> torch.Tensor:
    """Image tokens ``xp`` ((N, C) shared or (B, N, C), with PE) attend to each prompt's tokens (B, t, C).

    Returns ``residual`` ((N, C) or (B, N, C)) plus the attention output, (B, N, C).
    """
    kh = _split(F.linear(k_tok, a.wk, a.bk), a.heads)  # (B, H, t, d), softmax scale folded in
    vh = _split(F.linear(v_tok, a.wv, a.bv), a.heads)
    b, heads, t, d = kh.shape
    const = (kh * a.bq.view(1, heads, 1, d)).sum(-1).reshape(b, heads * t, 1)
    g = _token_side(kh, a.wq)  # (B, H*t, C)
    # scores feature-major, (B, H*t, N): the softmax over each head's t tokens then runs along contiguous N
    s = torch.matmul(g, xp.transpose(-1, -2)).add_(const).view(b, heads, t, -1)
    s.sub_(s.amax(dim=2, keepdim=True)).exp_()
    s.div_(s.sum(dim=2, keepdim=True))
    u = torch.matmul(vh, a.wo_heads).reshape(b, heads * t, -1).add_(a.bo_per_head)  # (B, H*t, C)
    return torch.baddbmm(residual.expand(b, *residual.shape[-2:]), s.view(b, heads * t, -1).transpose(1, 2), u)


def block_token_side(blk: dict, queries: torch.Tensor, point_pe: torch.Tensor, to_image, among) -> torch.Tensor:
    """Self-attention, token->image attention and MLP of one block, on the prompt tokens ((t, C) or (B, t, C)).

    ``among(q, k, v)`` is the block's attention among tokens and
    ``to_image`` maps the token queries (with PE) to the block's
    token->image attention output, both for the layout at hand.
    """
    norms = blk["norms"]
    if blk["skip_pe"]:
        queries = among(queries, queries, queries)
    else:
        q = queries + point_pe
        queries = queries + among(q, q, queries)
    queries = F.layer_norm(queries, queries.shape[-1:], *norms[0])
    queries = queries + to_image(queries + point_pe)
    queries = F.layer_norm(queries, queries.shape[-1:], *norms[1])
    w1, b1, w2, b2 = blk["mlp"]
    queries = queries + F.linear(F.relu(F.linear(queries, w1, b1)), w2, b2)
    return F.layer_norm(queries, queries.shape[-1:], *norms[2])


def decode_batch(dec: "FastMaskDecoder", prep: "PreparedEmbedding", sparse: torch.Tensor,
                 multimask: bool = True) -> BatchAnswer:
    """The transformer, IoU head and hypernetworks for B prompt sets without a mask prompt.

    Parameters
    ----------
    dec : FastMaskDecoder
    prep : PreparedEmbedding
        From ``dec.prepare(embedding)``.
    sparse : torch.Tensor, shape (B, n, C)
        Point / box tokens of each prompt set (the same n for all).
    multimask : bool
        Candidates 1..3 (SAM's ambiguity-aware output) or the single mask 0.
    """
    b = sparse.shape[0]
    point_pe = torch.cat([dec.out_tokens.expand(b, -1, -1), sparse], dim=1)  # (B, t, C)
    queries = point_pe
    keys = prep.tokens_no_mask  # (N, C), shared until the first image->token attention
    for i, blk in enumerate(dec.blocks):
        xp = keys + dec.pos_tokens
        if i == 0:
            k_side, v_side, _ = prep.kvq_no_mask.chunk(3, dim=0)

            def to_image(q, blk=blk, k_side=k_side, v_side=v_side):
                return tokens_to_shared_image(blk["ca1"], q, k_side, v_side)
        else:
            def to_image(q, blk=blk, keys=keys, xp=xp):
                return tokens_to_image(blk["ca1"], q, keys, xp)
        queries = block_token_side(blk, queries, point_pe, to_image, partial(among_tokens, blk["sa"]))
        keys = image_to_tokens(blk["ca2"], xp, queries + point_pe, queries, residual=keys)
        keys = F.layer_norm(keys, keys.shape[-1:], *blk["norms"][3])
    candidates = list(range(1, dec.num_mask_tokens)) if multimask else [0]
    first = dec.iou_row  # token rows: [object score,] IoU, mask 0, mask 1, ...
    rows = [first] + [first + 1 + c for c in candidates]
    q = queries[:, rows] + point_pe[:, rows]
    out = queries[:, rows] + tokens_to_image(dec.final, q, keys, keys + dec.pos_tokens)
    out = F.layer_norm(out, out.shape[-1:], *dec.final_norm)
    iou = dec.iou_scores(out[:, 0])[:, candidates]
    weights = torch.stack([dec.hyper[c](out[:, 1 + j]) for j, c in enumerate(candidates)], dim=1)
    return BatchAnswer(iou=iou, candidates=candidates, keys=keys, weights=weights)


def batch_masks(dec: "FastMaskDecoder", answer: BatchAnswer, prompts: torch.Tensor,
                columns: torch.Tensor) -> torch.Tensor:
    """Low-resolution logits of chosen candidates, (K, 4h, 4w).

    Parameters
    ----------
    dec : FastMaskDecoder
    answer : BatchAnswer
    prompts, columns : torch.Tensor, shape (K,), int64
        Prompt index (row of ``answer.iou``) and candidate column of each
        wanted mask.  Each prompt's image tokens are upscaled once, however
        many of its candidates are asked for.
    """
    h, w = dec.grid_size
    if len(prompts) == 0:
        return answer.keys.new_zeros(0, 4 * h, 4 * w)
    unique, slot = torch.unique(prompts, return_inverse=True)
    keys = answer.keys[unique]  # (U, N, C)
    u = keys.shape[0]
    y = torch.addmm(dec.up1[1], keys.reshape(-1, keys.shape[-1]), dec.up1[0])  # rows (u, n), cols (di, dj, ch)
    y = y.view(-1, dec.c4)  # rows (u, n, di, dj)
    if answer.skips is not None:
        y.view(u, -1, dec.c4).add_(answer.skips[0])
    y = gelu(F.layer_norm(y, (dec.c4,), *dec.up_norm))
    z = torch.addmm(dec.up2[1], y, dec.up2[0])  # cols (ei, ej, ch)
    if answer.skips is not None:
        z.view(u, -1, z.shape[-1]).add_(answer.skips[1])
    z = gelu(z)
    c8 = answer.weights.shape[-1]
    z = z.view(u, -1, c8)  # (U, N*16, C/8), rows (n, di, dj, ei, ej)
    m = torch.bmm(z, answer.weights[unique].transpose(1, 2))  # (U, N*16, M): every candidate of a prompt
    m = m[slot, :, columns]  # (K, N*16)
    m = m.view(-1, h, w, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4, 6)  # (K, i, di, ei, j, dj, ej)
    return m.reshape(-1, 4 * h, 4 * w)

