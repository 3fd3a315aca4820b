"""The batched point path of the fast decoder computes the reference decoder's function."""

from __future__ import annotations

import pytest
import torch

from promptseg.model.fast_decoder import FastMaskDecoder



def _reference(model, embedding, sparse, multimask):
    pe = model.prompt_encoder
    b = sparse.shape[0]
    dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(b, -1, *pe.image_embedding_size)
    with torch.inference_mode():
        return model.mask_decoder(embedding, pe.get_dense_pe(), sparse, dense, multimask)


def _points(model, b, seed):
    gen = torch.Generator().manual_seed(seed)
    size = model.img_size
    xy = torch.rand(b, 1, 2, generator=gen) * size
    labels = torch.ones(b, 1, dtype=torch.long)
    with torch.inference_mode():
        return model.prompt_encoder.embed_points(xy, labels, pad=True)


def _setup(model, seed, n):
    """A random image embedding, n single-point prompts and a fast decoder."""
    torch.manual_seed(seed)
    pe = model.prompt_encoder
    embedding = torch.randn(1, pe.embed_dim, *pe.image_embedding_size)
    return embedding, _points(model, n, seed=seed), FastMaskDecoder(model)


@pytest.mark.parametrize("multimask", [True, False])
def test_batch_matches_the_reference_decoder(tiny_model, multimask):
    embedding, sparse, dec = _setup(tiny_model, 3, 5)
    ref_masks, ref_iou = _reference(tiny_model, embedding, sparse, multimask)
    answer = dec.decode_batch(dec.prepare(embedding), sparse, multimask=multimask)
    m = ref_iou.shape[1]
    assert answer.iou.shape == (5, m)
    torch.testing.assert_close(answer.iou, ref_iou, rtol=1e-4, atol=1e-4)
    prompts = torch.arange(5).repeat_interleave(m)
    columns = torch.arange(m).repeat(5)
    masks = dec.batch_masks(answer, prompts, columns)
    torch.testing.assert_close(masks.view(5, m, *masks.shape[-2:]), ref_masks, rtol=1e-3, atol=1e-3)


def test_chosen_candidates_only_in_any_order(tiny_model):
    embedding, sparse, dec = _setup(tiny_model, 4, 4)
    ref_masks, _ = _reference(tiny_model, embedding, sparse, True)
    answer = dec.decode_batch(dec.prepare(embedding), sparse)
    prompts, columns = torch.tensor([3, 0, 3, 2]), torch.tensor([0, 2, 2, 1])
    masks = dec.batch_masks(answer, prompts, columns)
    assert masks.shape[0] == 4
    for k in range(4):
        torch.testing.assert_close(masks[k], ref_masks[prompts[k], columns[k]], rtol=1e-3, atol=1e-3)
    assert dec.batch_masks(answer, torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long)).shape[0] == 0


def test_batch_agrees_with_the_per_click_path(tiny_model):
    """The one-prompt path returns the best candidate; the batch has it in its row."""
    embedding, sparse, dec = _setup(tiny_model, 5, 3)
    prep = dec.prepare(embedding)
    answer = dec.decode_batch(prep, sparse)
    for b in range(3):
        low_res, iou, index = dec(prep, sparse[b], None, True)
        torch.testing.assert_close(answer.iou[b], iou, rtol=1e-4, atol=1e-4)
        column = answer.candidates.index(index)
        mask = dec.batch_masks(answer, torch.tensor([b]), torch.tensor([column]))
        torch.testing.assert_close(mask, low_res, rtol=1e-3, atol=1e-3)
