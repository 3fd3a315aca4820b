"""The previous prediction fed back, deterministically.

Clicks are answered one at a time with the prediction of the clicks before
them fed back as ``previous`` (SAM's iterative refinement).  So that the mask
is a function of the prompts alone — the same after undo, redo or a replay
from JSON as when it was first drawn — the chain is defined as:
``p0 = predict(other prompts)`` when there are no clicks, otherwise
``p_k = predict(other prompts + first k clicks, previous=p_{k-1})`` with
``p_0 = None``.  The chain is memoised, so adding a click costs one
``predict`` and removing the last one costs none.

A click can also be answered *ahead* (:meth:`PredictionChain.look_ahead`):
while the pointer rests over a spot, or between a button's press and its
release, the answer to "the current prompts plus a click here" is computed and
kept; when that very click arrives, adding it costs no ``predict``.  The
answer kept is the one the chain would compute (same prompts, same
``previous``), so looking ahead never changes a mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.base import Backend, ImageEmbedding, Prediction
from ..prompts import Prompts


@dataclass(frozen=True)
class _Ahead:
    """One click answered before it was made: ``prediction`` for ``points``/``labels`` fed ``previous``."""

    embedding: ImageEmbedding
    base: Prompts  # its clicks are not compared: the prompts other than clicks
    points: np.ndarray  # (k, 2): the clicks so far and the one looked ahead
    labels: np.ndarray  # (k,)
    previous: Prediction | None
    prediction: Prediction

    def answers(self, embedding: ImageEmbedding, base: Prompts, points: np.ndarray, labels: np.ndarray,
                previous: Prediction | None) -> bool:
        return (
            embedding is self.embedding
            and previous is self.previous
            and np.array_equal(points, self.points)
            and np.array_equal(labels, self.labels)
            and base.same_but_clicks(self.base)
        )


class PredictionChain:
    """Memoised predictions of one object on one embedding."""

    def __init__(self) -> None:
        self._ahead: _Ahead | None = None  # survives reset: it names its own embedding and prompts
        self.reset()

    def reset(self) -> None:
        self._embedding: ImageEmbedding | None = None
        self._base: Prompts | None = None  # the prompts other than clicks are its (clicks ignored)
        self._points = np.zeros((0, 2))
        self._labels = np.zeros(0, dtype=np.int64)
        self._preds: list[Prediction] = []  # _preds[k - 1] answers the first k clicks (or the base alone)

    def predict(self, backend: Backend, embedding: ImageEmbedding, prompts: Prompts) -> Prediction | None:
        """The mask for ``prompts`` (None when there are none)."""
        if prompts.is_empty:
            return None
        base = prompts
        if embedding is not self._embedding or self._base is None or not base.same_but_clicks(self._base):
            self.reset()
            self._embedding, self._base = embedding, base
        n = len(prompts.points)
        if n == 0:
            if not self._preds or len(self._points):
                self._preds = [backend.predict(embedding, prompts)]
                self._points, self._labels = prompts.points, prompts.labels
            return self._preds[0]
        keep = _common_prefix(self._points, self._labels, prompts.points, prompts.labels)
        if len(self._points) == 0:
            keep = 0  # a base-only prediction is not a click prefix
        del self._preds[keep:]
        previous = self._preds[-1] if self._preds else None
        for k in range(keep + 1, n + 1):
            points, labels = prompts.points[:k], prompts.labels[:k]
            ahead = self._ahead
            if ahead is not None and ahead.answers(embedding, base, points, labels, previous):
                previous, self._ahead = ahead.prediction, None
            else:
                clicks = prompts if k == n else prompts.with_points(points, labels)
                previous = backend.predict(embedding, clicks, previous=previous)
            self._preds.append(previous)
        self._points, self._labels = prompts.points, prompts.labels
        return self._preds[n - 1]

    def look_ahead(self, backend: Backend, embedding: ImageEmbedding, prompts: Prompts) -> Prediction | None:
        """Answer ``prompts`` now, for a later :meth:`predict` of them, when they add one click to the chain.

        Parameters
        ----------
        prompts : Prompts
            The prompts a click would make: its last click is the new one;
            the ones before it are none or the clicks the chain answered last
            (otherwise the click's ``previous`` is unknown and nothing is done).

        Returns
        -------
        Prediction or None
            The answer kept (one at a time), or None when the chain cannot
            tell the click's ``previous``.
        """
        base = prompts
        n = len(prompts.points) - 1
        if n < 0:
            return None
        previous = None
        if n:
            known = (
                embedding is self._embedding
                and self._base is not None
                and base.same_but_clicks(self._base)
                and len(self._preds) == n
                and np.array_equal(self._points, prompts.points[:n])
                and np.array_equal(self._labels, prompts.labels[:n])
            )
            if not known:
                return None
            previous = self._preds[-1]
        points, labels = prompts.points, prompts.labels
        ahead = self._ahead
        if ahead is not None and ahead.answers(embedding, base, points, labels, previous):
            return ahead.prediction
        pred = backend.predict(embedding, prompts, previous=previous)
        self._ahead = _Ahead(embedding, base, points, labels, previous, pred)
        return pred


def _common_prefix(pa: np.ndarray, la: np.ndarray, pb: np.ndarray, lb: np.ndarray) -> int:
    n = min(len(pa), len(pb))
    same = np.all(pa[:n] == pb[:n], axis=1) & (la[:n] == lb[:n])
    return int(np.argmin(same)) if not same.all() else n
