"""The per-click path: SAM's mask decoder reorganised for one prompt set at a time.

:class:`FastMaskDecoder` computes exactly the function of
:class:`~promptseg.model.mask_decoder.MaskDecoder` (same weights, same
equations) but orders the work for interactive use:

* what depends only on the image embedding -- the first block's image-side
  projections of ``embedding + positional encoding`` -- is computed once per
  image (:meth:`FastMaskDecoder.prepare`);
* the mask prompt enters the first block through its 16-channel hidden map,
  folded into those projections (``W_k (W_3 h + b_3) = (W_k W_3) h + W_k b_3``);
  when the mask prompt is known before the click (the previous answer fed
  back), :meth:`FastMaskDecoder.prepare_mask` forms those inputs beforehand;
* with few prompt tokens (the usual case), later blocks and the final
  attention never project the image tokens: each head's token-side vectors
  are multiplied into the projection weights first, so every score matrix
  is one token-major ``(N, H*t)`` product ``(X + P) G^T`` and values are
  mixed before they are projected (``A (X W_v^T) = (A X) W_v^T``); biases that
  add a constant to every score of one softmax are dropped;
* with many prompt tokens the linear maps applied to the same image tokens
  are one fused matrix product, computed feature-major (``W X^T``) so every
  head's keys, values and queries are contiguous without copies;
* image-to-token attention uses the cheaper association order for few
  prompt tokens (``sum_h A_h (V_h W_o,h^T)`` instead of ``(A V) W_o^T``);
* the upscaling convolutions run channels-last and only the mask that is
  returned is formed.

Only float rounding differs from the reference; the golden-fixture tests check
both paths against the official outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from . import batched_decoder
from .common import gelu
from .sam import Sam
from .transformer import TokenAttention, _mlp_weights


@dataclass
class PreparedEmbedding:
    """Per-image constants of the first decoder block; N = 64*64 image tokens, I the attention width.

    Each holds the image embedding plus the dense prompt's constant part:
    the learned "no mask" vector, or the bias of the mask path.
    """

    tokens_no_mask: torch.Tensor  #: (N, C) image tokens + no-mask embedding, token-major
    tokens_mask: torch.Tensor  #: (N, C) image tokens + mask-path bias
    kvq_no_mask: torch.Tensor  #: (3I, N) block-0 keys (with PE), values, queries (with PE), feature-major
    kvq_mask: torch.Tensor  #: (3I, N) the same for the mask-path bias


@dataclass
class PreparedMask:
    """Block-0 inputs with one mask prompt, formed in full (e.g. while the user is idle).

    With a mask prompt the first block's inputs are otherwise kept as a
    low-rank product and formed on every click (:class:`Projection`).
    """

    keys: torch.Tensor  #: (N, C) image tokens + the mask prompt's dense embedding
    kvq: torch.Tensor  #: (3I, N) block-0 keys (with PE), values, queries (with PE), feature-major


class _Heads:
    """One TokenAttention's weights as plain tensors, with head bookkeeping.

    Image-side tensors are feature-major, (I, N): head h is rows h*d..(h+1)*d.
    """

    def __init__(self, attn: TokenAttention, *, scaled: str = "q") -> None:
        self.heads = attn.num_heads
        self.internal = attn.internal_dim
        self.dim = self.internal // self.heads
        scale = 1.0 / math.sqrt(self.dim)
        # The softmax scale is folded into the token-side projection that
        # enters the scores (q, or k for image->token attention).
        sq, sk = (scale, 1.0) if scaled == "q" else (1.0, scale)
        self.wq, self.bq = attn.q_proj.weight.detach() * sq, attn.q_proj.bias.detach() * sq
        self.wk, self.bk = attn.k_proj.weight.detach() * sk, attn.k_proj.bias.detach() * sk
        self.wv, self.bv = attn.v_proj.weight.detach(), attn.v_proj.bias.detach()
        self.wo, self.bo = attn.out_proj.weight.detach(), attn.out_proj.bias.detach()
        self.bo_per_head = self.bo / self.heads  # see _mixed_out
        # out_proj per head as (H, d, C), for the (few tokens) association order
        self.wo_heads = self.wo.T.reshape(self.heads, self.dim, -1).contiguous()

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(t, I) token-major -> (H, t, d)."""
        return x.view(x.shape[0], self.heads, self.dim).transpose(0, 1)

    def among_tokens(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention among the few prompt tokens, (t, C) -> (t, C)."""
        qh = self.split(F.linear(q, self.wq, self.bq))
        kh = self.split(F.linear(k, self.wk, self.bk))
        vh = self.split(F.linear(v, self.wv, self.bv))
        attn = torch.softmax(torch.bmm(qh, kh.transpose(1, 2)), dim=-1)
        out = torch.bmm(attn, vh).transpose(0, 1).reshape(q.shape[0], self.internal)
        return F.linear(out, self.wo, self.bo)

    def tokens_to_image(self, q: torch.Tensor, k_side, v_side) -> torch.Tensor:
        """Tokens (t, C) attend to the image tokens -> (t, C).

        ``k_side`` / ``v_side`` are the projected image keys / values, either
        computed, feature-major (I, N), or :class:`Projection` products.
        """
        qh = self.split(F.linear(q, self.wq, self.bq))  # (H, t, d)
        attn = torch.softmax(_head_scores(qh, k_side), dim=-1)  # (H, t, N)
        if isinstance(v_side, Projection):
            # attn_h (keys W_v,h^T + b_v,h) = (attn_h keys) W_v,h^T + b_v,h: rows of attn sum to one
            heads, t, n = attn.shape
            mixed = (attn.reshape(heads * t, n) @ v_side.keys).view(heads, t, -1)  # (H, t, K)
            w = v_side.weight.view(heads, self.dim, -1).transpose(1, 2)  # (H, K, d)
            base = torch.bmm(attn, v_side.const.view(heads, self.dim, n).transpose(1, 2))
            out = torch.baddbmm(base, mixed, w)
        else:
            out = torch.bmm(attn, v_side.view(self.heads, self.dim, -1).transpose(1, 2))
        return F.linear(out.transpose(0, 1).reshape(q.shape[0], self.internal), self.wo, self.bo)

    def tokens_to_image_tm(self, q: torch.Tensor, x: torch.Tensor, xp: torch.Tensor) -> torch.Tensor:
        """Tokens (t, C) attend to image tokens held token-major -> (t, C).

        ``x`` (N, C) are the image tokens (values), ``xp`` (N, C) the same
        plus the positional encoding (keys).  Scores are formed as an
        (N, H*t) product ``xp @ (q_h W_k,h)^T``; the key bias adds a constant
        per (head, token) row, which the softmax over the image removes.
        """
        qh = self.split(F.linear(q, self.wq, self.bq))  # (H, t, d)
        heads, t, d = qh.shape
        s = torch.mm(xp, _token_side_weights(qh, self.wk).T)  # (N, H*t)
        s.sub_(s.amax(dim=0)).exp_()
        s.div_(s.sum(dim=0))  # softmax over the image, per column
        mixed = torch.mm(s.T, x).view(heads, t, -1)  # (H, t, C)
        # attn_h (x W_v,h^T + b_v,h) = (attn_h x) W_v,h^T + b_v,h: columns of s sum to one
        out = torch.baddbmm(self.bv.view(heads, 1, d), mixed, self.wv.view(heads, d, -1).transpose(1, 2))
        return F.linear(out.transpose(0, 1).reshape(t, self.internal), self.wo, self.bo)

    def image_to_tokens_tm(self, xp: torch.Tensor, k_tok: torch.Tensor, v_tok: torch.Tensor,
                           residual: torch.Tensor) -> torch.Tensor:
        """Image tokens ``xp`` (N, C, with positional encoding) attend to tokens (t, C).

        Returns ``residual`` (N, C) plus the attention output.  Scores are
        one (N, H*t) product; the query bias gives each (head, token) column
        a constant, added as the product's bias.
        """
        kh = self.split(F.linear(k_tok, self.wk, self.bk))  # (H, t, d), scaled
        vh = self.split(F.linear(v_tok, self.wv, self.bv))
        heads, t, d = kh.shape
        const = (kh * self.bq.view(heads, 1, d)).sum(-1).reshape(-1)  # (H*t,)
        s = torch.addmm(const, xp, _token_side_weights(kh, self.wq).T)  # (N, H*t)
        s3 = s.view(-1, heads, t)
        s3.sub_(s3.amax(dim=2, keepdim=True)).exp_()
        s3.div_(s3.sum(dim=2, keepdim=True))  # softmax over the tokens, per head
        return torch.addmm(residual, s, self._mixed_out(vh))

    def image_to_tokens(self, q_side, k_tok: torch.Tensor, v_tok: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Image tokens (projected queries: (I, N) or a :class:`Projection`) attend to tokens (t, C).

        Returns ``residual`` (N, C) plus the attention output.
        """
        t = k_tok.shape[0]
        kh = self.split(F.linear(k_tok, self.wk, self.bk))  # (H, t, d)
        vh = self.split(F.linear(v_tok, self.wv, self.bv))  # (H, t, d)
        attn = _softmax_dim1_(_head_scores(kh, q_side))  # (H, t, N), over the tokens
        if self.heads * t < self.internal:
            return torch.addmm(residual, attn.reshape(self.heads * t, -1).T, self._mixed_out(vh))
        mixed_t = torch.bmm(vh.transpose(1, 2), attn).reshape(self.internal, -1)  # (I, N)
        return torch.addmm(residual, mixed_t.T, self.wo.T).add_(self.bo)

    def _mixed_out(self, vh: torch.Tensor) -> torch.Tensor:
        """Token values (H, t, d) through the output projection, per head: (H*t, C) rows for attention weights.

        ``sum_h A_h (V_h W_o,h^T)`` is then one (N, H*t) @ (H*t, C) product.  Each
        head's weights sum to one over its t tokens, so every image token's
        weights sum to H: adding ``b_o / H`` to every row adds the output bias.
        """
        u = torch.bmm(vh, self.wo_heads).reshape(-1, self.wo.shape[0])
        return u.add_(self.bo_per_head)


@dataclass
class Projection:
    """Block-0 projections with a mask prompt, kept as a product: ``weight @ keys.T + const``, (I, N).

    The mask prompt enters through its 16-channel hidden map (``keys``,
    K = 16) on top of per-image constants, so multiplying the tokens' side
    into ``weight`` first is far cheaper than forming the (I, N) result.
    """

    keys: torch.Tensor  #: (N, K)
    weight: torch.Tensor  #: (I, K)
    const: torch.Tensor  #: (I, N) per-image constants


def _token_side_weights(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-head products of (H, t, d) token vectors with a projection's (I, K) weight -> (H*t, K)."""
    heads, t, d = h.shape
    return torch.bmm(h, w.view(heads, d, -1)).reshape(heads * t, -1)


def _head_scores(qh: torch.Tensor, side) -> torch.Tensor:
    """Per-head dot products of (H, t, d) token vectors with projected image tokens -> (H, t, N)."""
    heads, t, d = qh.shape
    if isinstance(side, Projection):
        g = _token_side_weights(qh, side.weight)  # (H*t, K)
        base = torch.bmm(qh, side.const.view(heads, d, -1))  # (H, t, N)
        return torch.addmm(base.view(heads * t, -1), g, side.keys.T).view(heads, t, -1)
    return torch.bmm(qh, side.view(heads, d, -1))


def _softmax_dim1_(x: torch.Tensor) -> torch.Tensor:
    """Softmax over axis 1 of a (H, t, N) tensor, in place (faster than torch's strided kernel)."""
    x.sub_(x.amax(dim=1, keepdim=True)).exp_()
    return x.div_(x.sum(dim=1, keepdim=True))


def _norm(module) -> tuple[torch.Tensor, torch.Tensor, float]:
    return module.weight.detach(), module.bias.detach(), module.eps


def _channel_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Layer norm over the channels of a (1, C, h, w) tensor."""
    x = x - x.mean(1, keepdim=True)
    x = x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps)
    return torch.addcmul(bias[:, None, None], x, weight[:, None, None])


class FastMaskDecoder:
    """Prompt -> mask for one image embedding at a time, reusing per-image work.

    Parameters
    ----------
    sam : Sam
        A loaded model.  Its weights are read (and partly pre-multiplied)
        here, once: build a new decoder after loading other weights.
    """

    #: Token row of the IoU token (SAM 2 puts its object-score token before it).
    iou_row = 0

    def __init__(self, sam: Sam) -> None:
        dec, pe = sam.mask_decoder, sam.prompt_encoder
        self.num_mask_tokens = dec.num_mask_tokens
        with torch.inference_mode():
            self._build(dec, pe)

    def _build(self, dec, pe) -> None:
        grid = pe.get_dense_pe()[0]  # (C, h, w)
        self.grid_size = tuple(grid.shape[1:])
        pos_t = grid.flatten(1)  # (C, N) feature-major
        self.pos_tokens = pos_t.T.contiguous()  # (N, C) token-major
        self.out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], 0).detach()
        self.blocks = []
        for b in dec.transformer.layers:
            sa, ca1 = _Heads(b.self_attn), _Heads(b.cross_attn_token_to_image)
            ca2 = _Heads(b.cross_attn_image_to_token, scaled="k")
            fused = torch.cat([ca1.wk, ca1.wv, ca2.wq], 0)  # (3I, C)
            # constant part of W (x + p) + b, feature-major: keys and queries see the PE, values do not
            const = torch.cat([ca1.wk @ pos_t + ca1.bk[:, None], ca1.bv[:, None].expand(-1, pos_t.shape[1]),
                               ca2.wq @ pos_t + ca2.bq[:, None]], 0)
            self.blocks.append(
                {
                    "sa": sa, "ca1": ca1, "ca2": ca2, "skip_pe": b.skip_first_layer_pe,
                    "norms": [_norm(n) for n in (b.norm1, b.norm2, b.norm3, b.norm4)],
                    "mlp": _mlp_weights(b.mlp),
                    "fused": fused.contiguous(),
                    "const": const.contiguous(),
                }
            )
        self.final = _Heads(dec.transformer.final_attn_token_to_image)
        self.final_norm = _norm(dec.transformer.norm_final_attn)
        up = dec.output_upscaling
        c1 = up[0].weight.detach()  # (C, C/4, 2, 2) -> columns ordered (di, dj, out)
        self.c4 = c1.shape[1]
        self.up1 = (c1.permute(0, 2, 3, 1).reshape(c1.shape[0], -1).contiguous(), up[0].bias.detach().repeat(4))
        self.up_norm = _norm(up[1])
        c2 = up[3].weight.detach()  # (C/4, C/8, 2, 2)
        self.up2 = (c2.permute(0, 2, 3, 1).reshape(c2.shape[0], -1).contiguous(), up[3].bias.detach().repeat(4))
        self.hyper = dec.output_hypernetworks_mlps
        self.iou_head = dec.iou_prediction_head
        # mask prompt: dense = W3 h + b3, h the 16-channel hidden map; no mask: a learned vector
        conv = pe.mask_downscaling[-1]
        w3, b3 = conv.weight.detach().flatten(1), conv.bias.detach()  # (C, 16), (C,)
        no_mask = pe.no_mask_embed.weight.detach()[0]
        first = self.blocks[0]["fused"]  # (3I, C)
        self.dense_tokens = (w3.T.contiguous(), b3, no_mask)
        self.dense_kvq = ((first @ w3).contiguous(), (first @ b3)[:, None], (first @ no_mask)[:, None])
        ds = pe.mask_downscaling
        conv1, conv2 = ds[0], ds[3]  # (C1, 1, 2, 2), (C2, C1, 2, 2); LayerNorm2d at 1 and 4
        self.mask_path = tuple((c.weight.detach(), c.bias.detach(), _norm(n)) for c, n in ((conv1, ds[1]), (conv2, ds[4])))

    @torch.inference_mode()
    def prepare(self, embedding: torch.Tensor) -> PreparedEmbedding:
        """Per-image work, once per embedding.

        Parameters
        ----------
        embedding : torch.Tensor, shape (1, C, h, w)
            Image encoder output.
        """
        x_t = embedding[0].flatten(1)  # (C, N)
        first = self.blocks[0]
        tokens = x_t.T.contiguous()
        kvq = torch.addmm(first["const"], first["fused"], x_t)
        _, b3, no_mask = self.dense_tokens
        _, b_kvq, no_mask_kvq = self.dense_kvq
        return PreparedEmbedding(
            tokens_no_mask=tokens + no_mask,
            tokens_mask=tokens + b3,
            kvq_no_mask=kvq + no_mask_kvq,
            kvq_mask=kvq + b_kvq,
        )

    def mask_hidden(self, low_res: torch.Tensor) -> torch.Tensor:
        """The mask prompt's downscaling path up to its last 1x1 convolution.

        Parameters
        ----------
        low_res : torch.Tensor, shape (1, 4h, 4w)
            Mask logits in the low-resolution input frame (a previous
            prediction, or a user mask converted to logits).

        Returns
        -------
        torch.Tensor, shape (N, 16)
            The 16-channel hidden map, token-major (N = h*w in row-major order).

        Channel-first throughout: the layer norms over so few channels (4,
        then 16) are cheaper written out than as ``F.layer_norm`` over a last
        axis of that length.  The result is a transposed view.
        """
        x = low_res[None]  # (1, 1, 4h, 4w)
        for weight, bias, norm in self.mask_path:
            x = F.gelu(_channel_norm(F.conv2d(x, weight, bias, stride=2), *norm))
        return x[0].flatten(1).T

    @torch.inference_mode()
    def prepare_mask(self, prep: PreparedEmbedding, hidden: torch.Tensor) -> PreparedMask:
        """Block-0 inputs for one mask prompt, formed in full (work a later click then skips).

        Parameters
        ----------
        prep : PreparedEmbedding
        hidden : torch.Tensor, shape (N, 16)
            From :meth:`mask_hidden`.
        """
        keys = torch.addmm(prep.tokens_mask, hidden, self.dense_tokens[0])
        return PreparedMask(keys=keys, kvq=torch.addmm(prep.kvq_mask, self.dense_kvq[0], hidden.T))

    def _first_block_inputs(self, prep: PreparedEmbedding, hidden: torch.Tensor | PreparedMask | None):
        """Image tokens (N, C) and block-0 projections (3I, N) with the dense prompt added.

        With a mask prompt the projections stay a low-rank product on top of
        the per-image constants (rank 16: the hidden map's channels), unless
        they were formed beforehand (:meth:`prepare_mask`).
        """
        if hidden is None:
            return prep.tokens_no_mask, prep.kvq_no_mask
        if isinstance(hidden, PreparedMask):
            return hidden.keys, hidden.kvq
        keys = torch.addmm(prep.tokens_mask, hidden, self.dense_tokens[0])
        return keys, Projection(hidden, self.dense_kvq[0], prep.kvq_mask)

    @torch.inference_mode()
    def __call__(
        self,
        prep: PreparedEmbedding,
        sparse: torch.Tensor,
        mask_hidden: torch.Tensor | PreparedMask | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Decode one prompt set.

        Parameters
        ----------
        prep : PreparedEmbedding
        sparse : torch.Tensor, shape (n, C)
            Point / box tokens from the prompt encoder.
        mask_hidden : torch.Tensor, shape (N, 16), PreparedMask or None
            Mask prompt after all but the last downscaling layer, flattened
            (token-major, as :meth:`mask_hidden` returns it), or the block-0
            inputs :meth:`prepare_mask` formed from it.
        multimask : bool
            Choose among the three candidate masks (by predicted IoU) instead
            of returning the single-mask output.

        Returns
        -------
        low_res : torch.Tensor, shape (1, 256, 256)
            Logits of the returned mask (padded-input frame, 1/4 resolution).
        iou : torch.Tensor, shape (M,)
            Predicted IoU of all M candidates considered.
        index : int
            Which mask token was returned (0 single mask, 1..3 multimask).
        """
        queries, keys, point_pe = self._transformer(prep, sparse, mask_hidden)
        # Only the IoU token and the mask tokens are read after the final
        # attention, so it runs for those rows alone.
        candidates = list(range(1, self.num_mask_tokens)) if multimask else [0]
        rows = [0] + [1 + c for c in candidates]
        q = queries[rows] + point_pe[rows]
        out = queries[rows] + self.final.tokens_to_image_tm(q, keys, keys + self.pos_tokens)
        out = F.layer_norm(out, out.shape[-1:], *self.final_norm)

        iou = self.iou_head(out[0])[candidates]
        best = int(torch.argmax(iou))
        weights = self.hyper[candidates[best]](out[1 + best])  # (C/8,)
        return self._upscale(keys, weights), iou, candidates[best]

    def _transformer(self, prep: PreparedEmbedding, sparse: torch.Tensor, mask_hidden):
        """The two-way blocks: prompt tokens (t, C), image tokens (N, C) and the tokens' PE (t, C) after them.

        The output tokens come first in the token rows (:attr:`out_tokens`),
        then ``sparse``; the final token->image attention is left to the caller.
        """
        point_pe = torch.cat([self.out_tokens, sparse], dim=0)
        keys, kvq = self._first_block_inputs(prep, mask_hidden)
        queries = point_pe
        # Multiplying the tokens' side into the weights first pays while the
        # heads' token vectors are fewer than the projection's width.
        lazy = self.final.heads * point_pe.shape[0] < self.final.internal
        for i, blk in enumerate(self.blocks):
            if i > 0 and lazy:
                # few tokens: image-side products stay token-major (N, H*t)
                xp = keys + self.pos_tokens
                to_image = partial(blk["ca1"].tokens_to_image_tm, x=keys, xp=xp)
                queries = self._token_side(blk, queries, point_pe, to_image)
                keys = blk["ca2"].image_to_tokens_tm(xp, queries + point_pe, queries, residual=keys)
            else:
                if i > 0:
                    kvq = torch.addmm(blk["const"], blk["fused"], keys.T)
                k_side, v_side, q_side = _split(kvq, 3)
                to_image = partial(blk["ca1"].tokens_to_image, k_side=k_side, v_side=v_side)
                queries = self._token_side(blk, queries, point_pe, to_image)
                keys = blk["ca2"].image_to_tokens(q_side, queries + point_pe, queries, residual=keys)
            keys = F.layer_norm(keys, keys.shape[-1:], *blk["norms"][3])
        return queries, keys, point_pe

    @torch.inference_mode()
    def decode_batch(self, prep: PreparedEmbedding, sparse: torch.Tensor, *, multimask: bool = True):
        """B prompt sets without a mask prompt at once (sparse (B, n, C)); masks follow from :meth:`batch_masks`.

        Returns a :class:`~promptseg.model.batched_decoder.BatchAnswer` (predicted
        IoU (B, M) of every candidate, known before any mask is upscaled).
        """
        return batched_decoder.decode_batch(self, prep, sparse, multimask)

    def iou_scores(self, iou_tokens: torch.Tensor) -> torch.Tensor:
        """Predicted IoU of every mask token from the IoU token's output, (..., C) -> (..., num_mask_tokens)."""
        return self.iou_head(iou_tokens)

    @torch.inference_mode()
    def batch_masks(self, answer, prompts: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """(K, 4h, 4w) low-resolution logits of the candidates (``prompts[k]``, ``columns[k]``) of a batch answer."""
        return batched_decoder.batch_masks(self, answer, prompts, columns)

    def _token_side(self, blk: dict, queries, point_pe, to_image) -> torch.Tensor:
        """Self-attention, token->image attention and MLP of one block, on the prompt tokens.

        ``to_image`` maps the (t, C) token queries (with PE) to the block's
        token->image attention output.
        """
        return batched_decoder.block_token_side(blk, queries, point_pe, to_image, blk["sa"].among_tokens)

    def _upscale(self, keys: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The two stride-2 transposed convolutions, channels last, and the mask's dot product.

        keys (N, C) on the h x w grid, hypernetwork ``weights`` (C/8,) ->
        (1, 4h, 4w) mask logits.
        """
        h, w = self.grid_size
        y = torch.addmm(self.up1[1], keys, self.up1[0])  # (N, 4*C/4): columns (di, dj, channel)
        y = gelu(F.layer_norm(y.view(-1, self.c4), (self.c4,), *self.up_norm))  # rows (i, j, di, dj)
        z = gelu(torch.addmm(self.up2[1], y, self.up2[0]))  # columns (ei, ej, channel)
        m = z.view(-1, weights.shape[0]) @ weights  # (i, j, di, dj, ei, ej)
        m = m.view(h, w, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5)  # rows (i, di, ei), cols (j, dj, ej)
        return m.reshape(1, 4 * h, 4 * w)


def _split(side, parts: int) -> list:
    """Split a fused (parts*I, N) projection, computed or as a product, into its parts."""
    if isinstance(side, Projection):
        return [Projection(side.keys, w, c) for w, c in zip(side.weight.chunk(parts), side.const.chunk(parts))]
    return list(side.chunk(parts, dim=0))
