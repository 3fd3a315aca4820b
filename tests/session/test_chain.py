"""PredictionChain: each click answered once, with the answer to the clicks before it fed back."""

from __future__ import annotations

import numpy as np
from keyword_backend import KeywordBackend

from promptseg.backends.base import ImageEmbedding, Prediction
from promptseg.prompts import Prompts
from promptseg.session.chain import PredictionChain


class Recorder(KeywordBackend):
    """Answers a mask that depends on the clicks and on the answer fed back; records each call."""

    name = "recorder"
    backend_id = "recorder:1"

    def __init__(self) -> None:
        self.calls: list[tuple[int, Prediction | None]] = []

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        self.calls.append((0 if points is None else len(points), previous))
        out = np.zeros(embedding.image_shape, bool) if previous is None else previous.mask.copy()
        for (r, c), lab in zip(points if points is not None else [], labels if labels is not None else []):
            out[int(r), int(c)] = bool(lab)
        if box is not None:
            out[int(box[0]), int(box[1])] = True
        return Prediction(out, np.where(out, 1.0, -1.0).astype(np.float32), 1.0)


def _emb() -> ImageEmbedding:
    return ImageEmbedding("recorder:1", (8, 8), None)


def _clicks(*points, labels=None) -> Prompts:
    return Prompts(points=list(points), labels=labels or [1] * len(points))


def test_a_click_costs_one_predict_fed_the_last_answer() -> None:
    backend, chain, emb = Recorder(), PredictionChain(), _emb()
    first = chain.predict(backend, emb, _clicks((1, 1)))
    second = chain.predict(backend, emb, _clicks((1, 1), (2, 2)))
    assert [n for n, _ in backend.calls] == [1, 2] and backend.calls[1][1] is first
    assert second.mask[1, 1] and second.mask[2, 2]
    assert chain.predict(backend, emb, _clicks((1, 1))) is first and len(backend.calls) == 2  # undo: no predict


def test_the_mask_depends_on_the_prompts_alone() -> None:
    """A replay (fresh chain) and a chain that took a detour give the same answer."""
    backend, emb = Recorder(), _emb()
    detour = PredictionChain()
    detour.predict(backend, emb, _clicks((1, 1), (5, 5)))
    detour.predict(backend, emb, _clicks((1, 1)))
    kept = detour.predict(backend, emb, _clicks((1, 1), (3, 3), (4, 4), labels=[1, 1, 0]))
    fresh = PredictionChain().predict(backend, emb, _clicks((1, 1), (3, 3), (4, 4), labels=[1, 1, 0]))
    np.testing.assert_array_equal(kept.mask, fresh.mask)
    assert not kept.mask[5, 5] and not kept.mask[4, 4]


def test_other_prompts_restart_the_chain() -> None:
    backend, chain, emb = Recorder(), PredictionChain(), _emb()
    chain.predict(backend, emb, _clicks((1, 1)))
    boxed = Prompts(points=[(1, 1)], labels=[1], box=(6, 6, 7, 7))
    answer = chain.predict(backend, emb, boxed)
    assert backend.calls[-1] == (1, None) and answer.mask[6, 6]  # not fed the answer without the box
    assert chain.predict(backend, emb, Prompts()) is None


def test_a_click_answered_ahead_costs_nothing_when_it_comes() -> None:
    backend, chain, emb = Recorder(), PredictionChain(), _emb()
    first = chain.predict(backend, emb, _clicks((1, 1)))
    ahead = chain.look_ahead(backend, emb, _clicks((1, 1), (2, 2)))
    assert len(backend.calls) == 2 and backend.calls[-1][1] is first
    assert chain.predict(backend, emb, _clicks((1, 1), (2, 2))) is ahead and len(backend.calls) == 2
    assert chain.look_ahead(backend, emb, _clicks((3, 3), (2, 2))) is None  # clicks before it not answered
