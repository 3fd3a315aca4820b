"""The previous prediction fed back, deterministically.

Clicks are answered one at a time with the prediction of the clicks before
them fed back as ``previous`` (SAM's iterative refinement).  So that the mask
is a function of the prompts alone — the same after undo, redo or a replay
from JSON as when it was first drawn — the chain is defined as:
``p0 = predict(other prompts)`` when there are no clicks, otherwise
``p_k = predict(other prompts + first k clicks, previous=p_{k-1})`` with
``p_0 = None``.  The chain is memoised, so adding a click costs one
``predict`` and removing the last one costs none.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..backends.base import Backend, ImageEmbedding, Prediction
from .object_prompts import ObjectPrompts


class PredictionChain:
    """Memoised predictions of one object on one embedding."""

    def __init__(self) -> None:
        self._embedding: ImageEmbedding | None = None
        self._base: ObjectPrompts | None = None  # the prompts other than clicks
        self._points = np.zeros((0, 2))
        self._labels = np.zeros(0, dtype=np.int64)
        self._preds: list[Prediction] = []  # _preds[k - 1] answers the first k clicks (or the base alone)

    def reset(self) -> None:
        self.__init__()

    def predict(self, backend: Backend, embedding: ImageEmbedding, prompts: ObjectPrompts) -> Prediction | None:
        """The mask for ``prompts`` (None when there are none)."""
        if prompts.is_empty:
            return None
        base = replace(prompts, points=np.zeros((0, 2)), labels=np.zeros(0, dtype=np.int64))
        if embedding is not self._embedding or self._base is None or not base.same_as(self._base):
            self.reset()
            self._embedding, self._base = embedding, base
        shape = embedding.image_shape
        base_kwargs = base.predict_kwargs(shape, backend)
        n = len(prompts.points)
        if n == 0:
            if not self._preds or len(self._points):
                self._preds = [backend.predict(embedding, **base_kwargs)]
                self._points, self._labels = prompts.points, prompts.labels
            return self._preds[0]
        keep = _common_prefix(self._points, self._labels, prompts.points, prompts.labels)
        if len(self._points) == 0:
            keep = 0  # a base-only prediction is not a click prefix
        del self._preds[keep:]
        previous = self._preds[-1] if self._preds else None
        for k in range(keep + 1, n + 1):
            kwargs: dict[str, Any] = dict(base_kwargs, points=prompts.points[:k], labels=prompts.labels[:k])
            previous = backend.predict(embedding, previous=previous, **kwargs)
            self._preds.append(previous)
        self._points, self._labels = prompts.points, prompts.labels
        return self._preds[n - 1]


def _common_prefix(pa: np.ndarray, la: np.ndarray, pb: np.ndarray, lb: np.ndarray) -> int:
    n = min(len(pa), len(pb))
    same = np.all(pa[:n] == pb[:n], axis=1) & (la[:n] == lb[:n])
    return int(np.argmin(same)) if not same.all() else n
