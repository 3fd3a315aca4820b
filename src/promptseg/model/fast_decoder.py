"""The per-click path: SAM's mask decoder reorganised for one prompt set at a time.

:class:`FastMaskDecoder` computes exactly the function of
:class:`~promptseg.model.mask_decoder.MaskDecoder` (same weights, same
equations) but orders the work for interactive use:

* everything that depends only on the image embedding -- the first block's
  image-side projections of ``embedding + positional encoding`` -- is
  computed once per image (:meth:`prepare`);
* the mask prompt enters the first block through its 16-channel hidden map,
  folded into those projections (``W_k (W_3 h + b_3) = (W_k W_3) h + W_k b_3``);
* attention over the 4096 image tokens is evaluated in whichever
  association order is cheaper for the current number of prompt tokens
  (``(A V) W_o`` vs ``A (V W_o)``, ``(X W_k^T) q`` vs ``X (W_k^T q)``), the
  key bias being dropped where the softmax makes it a constant;
* the upscaling convolutions run as channels-last matrix products and only
  the mask that is returned is formed and upsampled.

Only float rounding differs from the reference; the golden-fixture tests check
both paths against the official outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .sam import Sam
from .transformer import TokenAttention


@dataclass
class PreparedEmbedding:
    """Per-image constants of the first decoder block (all (N, C), N = 64*64 tokens)."""

    tokens: torch.Tensor  # (N, 256) image embedding, channels last
    k0: torch.Tensor  # (N, 128) first token->image keys of embedding + PE
    v0: torch.Tensor  # (N, 128) first token->image values of the embedding
    q0: torch.Tensor  # (N, 128) first image->token queries of embedding + PE


class _Proj:
    """Weights of one TokenAttention, split per head, as plain tensors."""

    def __init__(self, attn: TokenAttention) -> None:
        self.heads = attn.num_heads
        self.dim = attn.internal_dim // attn.num_heads
        self.scale = 1.0 / math.sqrt(self.dim)
        self.wq, self.bq = attn.q_proj.weight.detach(), attn.q_proj.bias.detach()
        self.wk, self.bk = attn.k_proj.weight.detach(), attn.k_proj.bias.detach()
        self.wv, self.bv = attn.v_proj.weight.detach(), attn.v_proj.bias.detach()
        self.wo, self.bo = attn.out_proj.weight.detach(), attn.out_proj.bias.detach()
        self.internal = attn.internal_dim

    def heads_of(self, x: torch.Tensor) -> torch.Tensor:
        """(n, internal) -> (heads, n, dim)."""
        return x.view(x.shape[0], self.heads, self.dim).transpose(0, 1)

    def tokens_to_tokens(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Plain attention among few tokens (n, C) -> (n, C)."""
        qh = self.heads_of(F.linear(q, self.wq, self.bq))
        kh = self.heads_of(F.linear(k, self.wk, self.bk))
        vh = self.heads_of(F.linear(v, self.wv, self.bv))
        out = F.scaled_dot_product_attention(qh, kh, vh, scale=self.scale)
        return F.linear(out.transpose(0, 1).reshape(q.shape[0], self.internal), self.wo, self.bo)

    def tokens_to_image(
        self, q: torch.Tensor, keys_pe: torch.Tensor, values: torch.Tensor, k_img=None, v_img=None
    ) -> torch.Tensor:
        """Tokens (t, C) attend to image tokens; keys_pe = image + PE, values = image, (N, C).

        ``k_img``/``v_img`` are the projected image keys/values (N, internal)
        when already known (first block); otherwise the cheaper association
        order is chosen.
        """
        t = q.shape[0]
        qh = self.heads_of(F.linear(q, self.wq, self.bq))  # (H, t, d)
        if k_img is None and self.heads * t < self.internal:
            # scores = q_h (W_k,h x + b_k,h): the bias term is constant per row -> dropped.
            g = torch.bmm(qh, self.wk.view(self.heads, self.dim, -1)).reshape(self.heads * t, -1)
            attn = torch.softmax((g @ keys_pe.T).view(self.heads, t, -1) * self.scale, dim=-1)
            mixed = (attn.view(self.heads * t, -1) @ values).view(self.heads, t, -1)  # (H, t, C)
            out = torch.bmm(mixed, self.wv.view(self.heads, self.dim, -1).transpose(1, 2))
            out = out + self.bv.view(self.heads, 1, self.dim)  # rows of attn sum to one
        else:
            if k_img is None:
                k_img = F.linear(keys_pe, self.wk, self.bk)
                v_img = F.linear(values, self.wv, self.bv)
            kh, vh = self.heads_of(k_img), self.heads_of(v_img)
            out = F.scaled_dot_product_attention(qh, kh, vh, scale=self.scale)
        return F.linear(out.transpose(0, 1).reshape(t, self.internal), self.wo, self.bo)

    def image_to_tokens(self, keys_pe: torch.Tensor, q_tok: torch.Tensor, v_tok: torch.Tensor, q_img=None):
        """Image tokens (N, C) attend to tokens; returns the (N, C) update."""
        t = q_tok.shape[0]
        kh = self.heads_of(F.linear(q_tok, self.wk, self.bk))  # (H, t, d)
        vh = self.heads_of(F.linear(v_tok, self.wv, self.bv))  # (H, t, d)
        cheap = self.heads * t < self.internal
        if q_img is None and cheap:
            # scores_h = (x W_q,h^T + b_q,h) k_h^T = x (W_q,h^T k_h^T) + b_q,h k_h^T
            m = torch.bmm(self.wq.view(self.heads, self.dim, -1).transpose(1, 2), kh.transpose(1, 2))
            m = m.transpose(0, 1).reshape(-1, self.heads * t)  # (C, H*t)
            c = torch.bmm(self.bq.view(self.heads, 1, self.dim), kh.transpose(1, 2)).reshape(1, -1)
            scores = torch.addmm(c, keys_pe, m).view(-1, self.heads, t)
        else:
            if q_img is None:
                q_img = F.linear(keys_pe, self.wq, self.bq)
            scores = torch.einsum("nhd,htd->nht", q_img.view(-1, self.heads, self.dim), kh)
        attn = torch.softmax(scores * self.scale, dim=-1)  # (N, H, t)
        if cheap:
            # sum_h A_h (V_h W_o,h^T): (N, H*t) @ (H*t, C)
            u = torch.bmm(vh, self.wo.view(-1, self.heads, self.dim).permute(1, 2, 0))
            return torch.addmm(self.bo, attn.reshape(attn.shape[0], -1), u.reshape(self.heads * t, -1))
        mixed = torch.einsum("nht,htd->nhd", attn, vh).reshape(attn.shape[0], self.internal)
        return F.linear(mixed, self.wo, self.bo)


class FastMaskDecoder:
    """Prompt -> mask for one image embedding at a time, reusing per-image work.

    Parameters
    ----------
    sam : Sam
        A loaded model; its weights are referenced, not copied.
    """

    def __init__(self, sam: Sam) -> None:
        dec = sam.mask_decoder
        pe = sam.prompt_encoder
        self.num_mask_tokens = dec.num_mask_tokens
        with torch.inference_mode():
            grid = pe.get_dense_pe()[0]  # (C, h, w)
        self.grid_size = tuple(grid.shape[1:])
        self.pos = grid.flatten(1).T.contiguous()  # (N, C)
        self.out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], 0).detach()
        layers = dec.transformer.layers
        self.blocks = [
            (
                _Proj(b.self_attn),
                _Proj(b.cross_attn_token_to_image),
                _Proj(b.cross_attn_image_to_token),
                [(n.weight.detach(), n.bias.detach(), n.eps) for n in (b.norm1, b.norm2, b.norm3, b.norm4)],
                (b.mlp.lin1.weight.detach(), b.mlp.lin1.bias.detach(), b.mlp.lin2.weight.detach(), b.mlp.lin2.bias.detach()),
                b.skip_first_layer_pe,
            )
            for b in layers
        ]
        self.final = _Proj(dec.transformer.final_attn_token_to_image)
        nf = dec.transformer.norm_final_attn
        self.final_norm = (nf.weight.detach(), nf.bias.detach(), nf.eps)
        # mask prompt: dense = h W3^T + b3, h the 16-channel hidden map
        conv = pe.mask_downscaling[-1]
        w3 = conv.weight.detach().flatten(1)  # (C, 16)
        b3 = conv.bias.detach()
        no_mask = pe.no_mask_embed.weight.detach()[0]
        self.w3, self.b3, self.no_mask = w3, b3, no_mask
        first = self.blocks[0]
        ca1, ca2 = first[1], first[2]
        self.fold = {
            # projection -> (W @ W3, W @ b3, W @ no_mask) for the dense term of block 0
            name: (w @ w3, w @ b3, w @ no_mask)
            for name, w in (("k", ca1.wk), ("v", ca1.wv), ("q", ca2.wq))
        }
        up = dec.output_upscaling
        c1 = up[0].weight.detach()  # (C, C/4, 2, 2)
        self.up1_w = c1.permute(0, 2, 3, 1).reshape(c1.shape[0], -1).contiguous()  # (C, 4*C/4)
        self.up1_b = up[0].bias.detach().repeat(4)
        self.up_norm = (up[1].weight.detach(), up[1].bias.detach(), up[1].eps)
        c2 = up[3].weight.detach()  # (C/4, C/8, 2, 2)
        self.up2_w = c2.permute(0, 2, 3, 1).reshape(c2.shape[0], -1).contiguous()  # (C/4, 4*C/8)
        self.up2_b = up[3].bias.detach().repeat(4)
        self.hyper = dec.output_hypernetworks_mlps
        self.iou_head = dec.iou_prediction_head

    @torch.inference_mode()
    def prepare(self, embedding: torch.Tensor) -> PreparedEmbedding:
        """Per-image work, once per embedding.

        Parameters
        ----------
        embedding : torch.Tensor, shape (1, C, h, w)
            Image encoder output.
        """
        x = embedding[0].flatten(1).T.contiguous()  # (N, C)
        xp = x + self.pos
        ca1, ca2 = self.blocks[0][1], self.blocks[0][2]
        return PreparedEmbedding(
            tokens=x,
            k0=F.linear(xp, ca1.wk, ca1.bk),
            v0=F.linear(x, ca1.wv, ca1.bv),
            q0=F.linear(xp, ca2.wq, ca2.bq),
        )

    def _dense_terms(self, prep: PreparedEmbedding, hidden: torch.Tensor | None):
        """src tokens and block-0 projections with the dense prompt added."""
        if hidden is None:
            src = prep.tokens + self.no_mask
            k = prep.k0 + self.fold["k"][2]
            v = prep.v0 + self.fold["v"][2]
            q = prep.q0 + self.fold["q"][2]
        else:
            src = torch.addmm(prep.tokens + self.b3, hidden, self.w3.T)
            k = torch.addmm(prep.k0 + self.fold["k"][1], hidden, self.fold["k"][0].T)
            v = torch.addmm(prep.v0 + self.fold["v"][1], hidden, self.fold["v"][0].T)
            q = torch.addmm(prep.q0 + self.fold["q"][1], hidden, self.fold["q"][0].T)
        return src, k, v, q

    @torch.inference_mode()
    def __call__(
        self,
        prep: PreparedEmbedding,
        sparse: torch.Tensor,
        mask_hidden: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Decode one prompt set.

        Parameters
        ----------
        prep : PreparedEmbedding
        sparse : torch.Tensor, shape (n, C)
            Point / box tokens from the prompt encoder.
        mask_hidden : torch.Tensor, shape (N, 16), or None
            Mask prompt after all but the last downscaling layer, channels last.
        multimask : bool
            Choose among the three candidate masks (by predicted IoU) instead
            of returning the single-mask output.

        Returns
        -------
        low_res : torch.Tensor, shape (1, 256, 256)
            Logits of the returned mask in the padded input frame / 4.
        iou : torch.Tensor, shape (M,)
            Predicted IoU of all M candidates considered.
        index : int
            Which candidate was returned (0 single mask, 1..3 multimask).
        """
        point_pe = torch.cat([self.out_tokens, sparse], dim=0)
        src, k0, v0, q0 = self._dense_terms(prep, mask_hidden)
        queries, keys = point_pe, src
        for i, (sa, ca1, ca2, norms, mlp, skip_pe) in enumerate(self.blocks):
            if skip_pe:
                queries = sa.tokens_to_tokens(queries, queries, queries)
            else:
                q = queries + point_pe
                queries = queries + sa.tokens_to_tokens(q, q, queries)
            queries = F.layer_norm(queries, queries.shape[-1:], *norms[0])
            first = i == 0
            keys_pe = None if first else keys + self.pos
            queries = queries + ca1.tokens_to_image(
                queries + point_pe, keys_pe, keys, *((k0, v0) if first else (None, None))
            )
            queries = F.layer_norm(queries, queries.shape[-1:], *norms[1])
            hidden = F.relu(F.linear(queries, mlp[0], mlp[1]))
            queries = F.layer_norm(queries + F.linear(hidden, mlp[2], mlp[3]), queries.shape[-1:], *norms[2])
            update = ca2.image_to_tokens(keys_pe, queries + point_pe, queries, q_img=q0 if first else None)
            keys = F.layer_norm(keys + update, keys.shape[-1:], *norms[3])
        queries = queries + self.final.tokens_to_image(queries + point_pe, keys + self.pos, keys)
        queries = F.layer_norm(queries, queries.shape[-1:], *self.final_norm)

        iou = self.iou_head(queries[0])
        candidates = range(1, self.num_mask_tokens) if multimask else range(0, 1)
        iou = iou[list(candidates)]
        index = candidates[int(torch.argmax(iou))]
        weights = self.hyper[index](queries[1 + index])  # (C/8,)
        return self._upscale(keys, weights), iou, index

    def _upscale(self, keys: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Two stride-2 transposed convolutions, channels last, then the mask's dot product.

        keys (N, C) on the h x w grid -> (1, 4h, 4w) logits.
        """
        h, w = self.grid_size
        y = torch.addmm(self.up1_b, keys, self.up1_w)  # (N, 4*C4): [i, j][di, dj, o]
        c4 = self.up_norm[0].shape[0]
        y = F.gelu(F.layer_norm(y.view(-1, c4), (c4,), *self.up_norm))
        z = F.gelu(torch.addmm(self.up2_b, y, self.up2_w))  # (N*4, 4*C8): [i, j, di, dj][ei, ej, o]
        c8 = weights.shape[0]
        m = z.view(-1, c8) @ weights  # [i, j, di, dj, ei, ej]
        m = m.view(h, w, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5)  # rows (i, di, ei), cols (j, dj, ej)
        return m.reshape(1, 4 * h, 4 * w)
