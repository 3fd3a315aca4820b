"""The per-click path: SAM's mask decoder reorganised for one prompt set at a time.

:class:`FastMaskDecoder` computes exactly the function of
:class:`~promptseg.model.mask_decoder.MaskDecoder` (same weights, same
equations) but orders the work for interactive use:

* what depends only on the image embedding -- the first block's image-side
  projections of ``embedding + positional encoding`` -- is computed once per
  image (:meth:`FastMaskDecoder.prepare`);
* the mask prompt enters the first block through its 16-channel hidden map,
  folded into those projections (``W_k (W_3 h + b_3) = (W_k W_3) h + W_k b_3``);
* positional-encoding terms of later projections are per-model constants
  (``(x + p) W^T = x W^T + p W^T``), and every linear map applied to the same
  image tokens is one fused matrix product (keys, values, queries, and the
  first upscaling convolution);
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

import torch
import torch.nn.functional as F

from .sam import Sam
from .transformer import TokenAttention


@dataclass
class PreparedEmbedding:
    """Per-image constants of the first decoder block, channels last, N = 64*64 tokens."""

    tokens: torch.Tensor  #: (N, C) image embedding
    k0: torch.Tensor  #: (N, I) first token->image keys of embedding + PE
    v0: torch.Tensor  #: (N, I) first token->image values of the embedding
    q0: torch.Tensor  #: (N, I) first image->token queries of embedding + PE


class _Heads:
    """One TokenAttention's weights as plain tensors, with head bookkeeping."""

    def __init__(self, attn: TokenAttention) -> None:
        self.heads = attn.num_heads
        self.internal = attn.internal_dim
        self.dim = self.internal // self.heads
        self.scale = 1.0 / math.sqrt(self.dim)
        self.wq, self.bq = attn.q_proj.weight.detach(), attn.q_proj.bias.detach()
        self.wk, self.bk = attn.k_proj.weight.detach(), attn.k_proj.bias.detach()
        self.wv, self.bv = attn.v_proj.weight.detach(), attn.v_proj.bias.detach()
        self.wo, self.bo = attn.out_proj.weight.detach(), attn.out_proj.bias.detach()

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(n, I) -> (heads, n, d)."""
        return x.view(x.shape[0], self.heads, self.dim).transpose(0, 1)

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        """(heads, n, d) -> (n, I)."""
        return x.transpose(0, 1).reshape(x.shape[1], self.internal)

    def among_tokens(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention among the few prompt tokens, (t, C) -> (t, C)."""
        qh = self.split(F.linear(q, self.wq, self.bq))
        kh = self.split(F.linear(k, self.wk, self.bk))
        vh = self.split(F.linear(v, self.wv, self.bv))
        attn = torch.softmax(torch.bmm(qh, kh.transpose(1, 2)) * self.scale, dim=-1)
        return F.linear(self.merge(torch.bmm(attn, vh)), self.wo, self.bo)

    def tokens_to_image(self, q: torch.Tensor, k_img: torch.Tensor, v_img: torch.Tensor) -> torch.Tensor:
        """Tokens (t, C) attend to projected image keys / values (N, I) -> (t, C)."""
        qh = self.split(F.linear(q, self.wq, self.bq))  # (H, t, d)
        kh = k_img.view(-1, self.heads, self.dim).permute(1, 2, 0)  # (H, d, N)
        attn = torch.softmax(torch.bmm(qh, kh) * self.scale, dim=-1)  # (H, t, N)
        out = torch.bmm(attn, self.split(v_img))  # (H, t, d)
        return F.linear(self.merge(out), self.wo, self.bo)

    def image_to_tokens(self, q_img: torch.Tensor, k_tok: torch.Tensor, v_tok: torch.Tensor) -> torch.Tensor:
        """Image tokens with projected queries (N, I) attend to tokens (t, C) -> (N, C) update."""
        t = k_tok.shape[0]
        kh = self.split(F.linear(k_tok, self.wk, self.bk))  # (H, t, d)
        vh = self.split(F.linear(v_tok, self.wv, self.bv))  # (H, t, d)
        scores = torch.bmm(self.split(q_img), kh.transpose(1, 2))  # (H, N, t)
        attn = torch.softmax(scores * self.scale, dim=-1)
        if self.heads * t < self.internal:
            # sum_h A_h (V_h W_o,h^T): one (N, H*t) @ (H*t, C) product
            u = torch.bmm(vh, self.wo.view(-1, self.heads, self.dim).permute(1, 2, 0))  # (H, t, C)
            flat = attn.transpose(0, 1).reshape(attn.shape[1], self.heads * t)
            return torch.addmm(self.bo, flat, u.reshape(self.heads * t, -1))
        return F.linear(self.merge(torch.bmm(attn, vh)), self.wo, self.bo)


def _norm(module) -> tuple[torch.Tensor, torch.Tensor, float]:
    return module.weight.detach(), module.bias.detach(), module.eps


class FastMaskDecoder:
    """Prompt -> mask for one image embedding at a time, reusing per-image work.

    Parameters
    ----------
    sam : Sam
        A loaded model; its weights are referenced, not copied.
    """

    def __init__(self, sam: Sam) -> None:
        dec, pe = sam.mask_decoder, sam.prompt_encoder
        self.num_mask_tokens = dec.num_mask_tokens
        with torch.inference_mode():
            self._build(dec, pe)

    def _build(self, dec, pe) -> None:
        grid = pe.get_dense_pe()[0]  # (C, h, w)
        self.grid_size = tuple(grid.shape[1:])
        self.pos = pos = grid.flatten(1).T.contiguous()  # (N, C)
        self.out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], 0).detach()
        self.blocks = []
        for b in dec.transformer.layers:
            sa, ca1, ca2 = _Heads(b.self_attn), _Heads(b.cross_attn_token_to_image), _Heads(b.cross_attn_image_to_token)
            fused = torch.cat([ca1.wk, ca1.wv, ca2.wq], 0)
            fused_bias = torch.cat([torch.zeros_like(ca1.bk), ca1.bv, torch.zeros_like(ca2.bq)])
            self.blocks.append(
                {
                    "sa": sa, "ca1": ca1, "ca2": ca2, "skip_pe": b.skip_first_layer_pe,
                    "norms": [_norm(n) for n in (b.norm1, b.norm2, b.norm3, b.norm4)],
                    "mlp": (b.mlp.lin1.weight.detach(), b.mlp.lin1.bias.detach(),
                            b.mlp.lin2.weight.detach(), b.mlp.lin2.bias.detach()),
                    "fused": (fused.T.contiguous(), fused_bias),
                    "pos_k": F.linear(pos, ca1.wk, ca1.bk),
                    "pos_q": F.linear(pos, ca2.wq, ca2.bq),
                }
            )
        self.final = fin = _Heads(dec.transformer.final_attn_token_to_image)
        self.final_norm = _norm(dec.transformer.norm_final_attn)
        up = dec.output_upscaling
        c1 = up[0].weight.detach()  # (C, C/4, 2, 2) -> columns ordered (di, dj, out)
        up1 = c1.permute(0, 2, 3, 1).reshape(c1.shape[0], -1)
        self.c4 = c1.shape[1]
        self.final_fused = (
            torch.cat([fin.wk.T, fin.wv.T, up1], 1).contiguous(),
            torch.cat([torch.zeros_like(fin.bk), fin.bv, up[0].bias.detach().repeat(4)]),
        )
        self.final_pos_k = F.linear(pos, fin.wk, fin.bk)
        self.up_norm = _norm(up[1])
        c2 = up[3].weight.detach()  # (C/4, C/8, 2, 2)
        self.up2 = (c2.permute(0, 2, 3, 1).reshape(c2.shape[0], -1).contiguous(), up[3].bias.detach().repeat(4))
        self.hyper = dec.output_hypernetworks_mlps
        self.iou_head = dec.iou_prediction_head
        # mask prompt: dense = h W3^T + b3 with h the 16-channel hidden map
        conv = pe.mask_downscaling[-1]
        w3, b3 = conv.weight.detach().flatten(1), conv.bias.detach()  # (C, 16), (C,)
        no_mask = pe.no_mask_embed.weight.detach()[0]
        first = self.blocks[0]
        self.dense = {"src": (w3.T.contiguous(), b3, no_mask)}
        for name, w in (("k", first["ca1"].wk), ("v", first["ca1"].wv), ("q", first["ca2"].wq)):
            self.dense[name] = ((w @ w3).T.contiguous(), w @ b3, w @ no_mask)

    @torch.inference_mode()
    def prepare(self, embedding: torch.Tensor) -> PreparedEmbedding:
        """Per-image work, once per embedding.

        Parameters
        ----------
        embedding : torch.Tensor, shape (1, C, h, w)
            Image encoder output.
        """
        x = embedding[0].flatten(1).T.contiguous()  # (N, C)
        first = self.blocks[0]
        ca1, ca2 = first["ca1"], first["ca2"]
        return PreparedEmbedding(
            tokens=x,
            k0=F.linear(x, ca1.wk) + first["pos_k"],
            v0=F.linear(x, ca1.wv, ca1.bv),
            q0=F.linear(x, ca2.wq) + first["pos_q"],
        )

    def _first_block_inputs(self, prep: PreparedEmbedding, hidden: torch.Tensor | None):
        """Image tokens and block-0 projections with the dense prompt added."""
        base = {"src": prep.tokens, "k": prep.k0, "v": prep.v0, "q": prep.q0}
        out = {}
        for name, (w_h, b_h, no_mask) in self.dense.items():
            if hidden is None:
                out[name] = base[name] + no_mask
            else:
                out[name] = torch.addmm(base[name] + b_h, hidden, w_h)
        return out["src"], out["k"], out["v"], out["q"]

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
            Logits of the returned mask (padded-input frame, 1/4 resolution).
        iou : torch.Tensor, shape (M,)
            Predicted IoU of all M candidates considered.
        index : int
            Which mask token was returned (0 single mask, 1..3 multimask).
        """
        point_pe = torch.cat([self.out_tokens, sparse], dim=0)
        keys, k_img, v_img, q_img = self._first_block_inputs(prep, mask_hidden)
        queries = point_pe
        for i, blk in enumerate(self.blocks):
            if i > 0:
                w, b = blk["fused"]
                proj = torch.addmm(b, keys, w)
                internal = blk["ca1"].internal
                k_img = proj[:, :internal] + blk["pos_k"]
                v_img = proj[:, internal : 2 * internal]
                q_img = proj[:, 2 * internal :] + blk["pos_q"]
            queries = self._token_side(blk, queries, point_pe, k_img, v_img)
            update = blk["ca2"].image_to_tokens(q_img, queries + point_pe, queries)
            keys = F.layer_norm(keys + update, keys.shape[-1:], *blk["norms"][3])
        w, b = self.final_fused
        proj = torch.addmm(b, keys, w)
        internal = self.final.internal
        k_img = proj[:, :internal] + self.final_pos_k
        v_img = proj[:, internal : 2 * internal]
        queries = queries + self.final.tokens_to_image(queries + point_pe, k_img, v_img)
        queries = F.layer_norm(queries, queries.shape[-1:], *self.final_norm)

        iou = self.iou_head(queries[0])
        candidates = list(range(1, self.num_mask_tokens)) if multimask else [0]
        iou = iou[candidates]
        index = candidates[int(torch.argmax(iou))]
        weights = self.hyper[index](queries[1 + index])  # (C/8,)
        return self._upscale(proj[:, 2 * internal :], weights), iou, index

    def _token_side(self, blk: dict, queries, point_pe, k_img, v_img) -> torch.Tensor:
        """Self-attention, token->image attention and MLP of one block, on the prompt tokens."""
        norms = blk["norms"]
        if blk["skip_pe"]:
            queries = blk["sa"].among_tokens(queries, queries, queries)
        else:
            q = queries + point_pe
            queries = queries + blk["sa"].among_tokens(q, q, queries)
        queries = F.layer_norm(queries, queries.shape[-1:], *norms[0])
        queries = queries + blk["ca1"].tokens_to_image(queries + point_pe, k_img, v_img)
        queries = F.layer_norm(queries, queries.shape[-1:], *norms[1])
        w1, b1, w2, b2 = blk["mlp"]
        queries = queries + F.linear(F.relu(F.linear(queries, w1, b1)), w2, b2)
        return F.layer_norm(queries, queries.shape[-1:], *norms[2])

    def _upscale(self, up1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Finish the upscaling from the first transposed convolution's output.

        up1 (N, 4*C/4), columns (di, dj, channel), on the h x w grid ->
        (1, 4h, 4w) logits of the mask with hypernetwork ``weights`` (C/8,).
        """
        h, w = self.grid_size
        y = F.layer_norm(up1.unflatten(1, (4, self.c4)), (self.c4,), *self.up_norm)
        y = F.gelu(y).view(-1, self.c4)  # rows (i, j, di, dj)
        z = F.gelu(torch.addmm(self.up2[1], y, self.up2[0]))  # columns (ei, ej, channel)
        m = z.view(-1, weights.shape[0]) @ weights  # (i, j, di, dj, ei, ej)
        m = m.view(h, w, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5)  # rows (i, di, ei), cols (j, dj, ej)
        return m.reshape(1, 4 * h, 4 * w)
