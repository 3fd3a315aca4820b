"""Which objects are answered in fine mode, and their answers click after click.

An object's mode is decided at its first positive click (see :mod:`.fine`)
and kept by every later answer (``Prediction.state``).  A fine answer is a
function of the clicks alone: when the previous answer was made for all
clicks but the last, only the last click's edit runs; otherwise (no previous
answer, an undo, another object) the first click's region is found again and
every later click's edit replayed.

Objects that the superpixel cut answers at the first click with a weak
outline (no edge says where they end) are followed the same way: each later
click edits the answer near itself (:mod:`.local_edit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .encoder import ClassicFeatures
from .fine import FineModel, edit, takes_region
from .features import WorkingImage
from .fine_region import distinct_region, outline_strength
from .local_edit import merge_cut
from .settings import ClassicSettings

__all__ = ["FineTrack", "click_key", "colour", "follow"]

Click = tuple[int, int, int]


@dataclass(frozen=True)
class FineTrack:
    """The fine-mode part of an answer's state.

    Attributes
    ----------
    clicks : tuple of (row, col, label)
        The working-frame clicks the answer was made for.
    model : FineModel or None
        The object's colours in fine mode; None when the superpixel cut
        answers this object.
    mask : np.ndarray, shape (h, w), bool, or None
        The fine answer in the working frame; with ``model`` None, the last
        fine answer before a click ended fine mode (the cut's previous
        answer), if there was one.
    score : float
        How distinct the first region was (0 .. 1).
    cut_edits : bool
        The superpixel cut answered the first click with a weak outline:
        later clicks edit its answer locally (:mod:`.local_edit`); ``model``
        is then a neutral placeholder and ``mask`` the edited answer (None
        after the first click, whose answer is the cut's own).
    """

    clicks: tuple[Click, ...]
    model: FineModel | None = None
    mask: np.ndarray | None = None
    score: float = 0.0
    cut_edits: bool = False


def click_key(features: ClassicFeatures, points: np.ndarray, labels: np.ndarray) -> tuple[Click, ...]:
    """The clicks as working-frame (row, col, label) triples."""
    pts = features.work.to_work(points)
    return tuple((int(r), int(c), int(lab)) for (r, c), lab in zip(pts, labels))


def follow(features: ClassicFeatures, key: tuple[Click, ...], previous: FineTrack | None,
           coarse: Callable[[np.ndarray, np.ndarray | None], np.ndarray], settings: ClassicSettings) -> FineTrack:
    """The fine-mode decision and answer for the clicks ``key`` (at least one positive).

    Parameters
    ----------
    features : ClassicFeatures
    key : tuple of (row, col, label)
        All clicks, in order.
    previous : FineTrack or None
        The previous answer's track, if any.
    coarse : callable
        ``coarse(which, before)``: the superpixel answer (h, w) bool to the
        clicks of indices ``which`` with ``before`` as the previous answer.
    settings : ClassicSettings

    Returns
    -------
    FineTrack
        ``model`` None when the superpixel cut answers this object.
    """
    lab = colour(features)
    positives = np.array([(r, c) for r, c, lab_ in key if lab_ == 1], np.intp)
    if previous is not None and previous.clicks and previous.clicks == key[:-1]:
        if previous.cut_edits:
            before = previous.mask if previous.mask is not None else coarse(np.arange(len(key) - 1), None)
            return _cut_step(before, key, len(key) - 1, positives, coarse, settings, previous.score)
        if previous.model is None:
            return FineTrack(clicks=key)
        mask = _step(lab, features.colour_noise, previous.model, previous.mask, key, len(key) - 1, positives, coarse,
                     settings)
        if mask is None:
            return FineTrack(clicks=key, mask=previous.mask)
        return FineTrack(clicks=key, model=previous.model, mask=mask, score=previous.score)
    first = next(k for k, click in enumerate(key) if click[2] == 1)
    cut = coarse(np.array([first]), None)
    largest = np.inf if settings.fine_structures else cut.sum() / settings.fine_min_ratio
    region = distinct_region(lab, key[first][:2], noise=features.colour_noise, lines=settings.fine_structures,
                             max_area=largest)
    if not takes_region(region, cut, features.work.gradient, settings):
        if not settings.cut_edit or not _weak_outline(cut, features.work, settings.cut_edit_below):
            return FineTrack(clicks=key)
        if len(key) == first + 1:
            return FineTrack(clicks=key, cut_edits=True)
        track = FineTrack(clicks=key[: first + 1], cut_edits=True)
        mask = coarse(np.arange(first + 1), None)
        for k in range(first + 1, len(key)):
            track = _cut_step(mask, key[: k + 1], k, positives[: _positives_until(key, k)], coarse, settings, 0.0)
            mask = track.mask
        return track
    model, mask = FineModel.of(region), region.mask
    for k in range(len(key)):
        if k != first:
            last, mask = mask, _step(lab, features.colour_noise, model, mask, key, k,
                                     positives[: _positives_until(key, k)], coarse, settings)
            if mask is None:
                return FineTrack(clicks=key, mask=last)
    return FineTrack(clicks=key, model=model, mask=mask, score=float(np.tanh(region.score / 10.0)))


def _step(lab: np.ndarray, noise: float, model: FineModel, mask: np.ndarray, key: tuple[Click, ...], k: int,
          positives: np.ndarray, coarse: Callable, settings: ClassicSettings) -> np.ndarray | None:
    """The answer after click k, (h, w) bool, or None when fine mode ends.

    The superpixel cut to the clicks so far, fed the fine answer, is taken
    when it stays near it (at most ``fine_hybrid`` times its area) and holds
    every positive click: on a small object with a sharp outline it
    converges in fewer clicks than the local edits.  Otherwise the click
    edits the fine answer (:func:`~.fine.edit`).
    """
    if settings.fine_hybrid > 0:
        cut = coarse(np.arange(k + 1), mask)
        if cut.sum() <= settings.fine_hybrid * max(int(mask.sum()), 1) and cut[positives[:, 0], positives[:, 1]].all():
            return cut
    return edit(lab, noise, model, mask, key[k], positives, settings)


def _cut_step(mask: np.ndarray, key: tuple[Click, ...], k: int, positives: np.ndarray, coarse: Callable,
              settings: ClassicSettings, score: float) -> FineTrack:
    """The track after click k of an object the superpixel cut answers: the click edits locally (:mod:`.local_edit`)."""
    cut = coarse(np.arange(k + 1), mask)
    label = key[k][2]
    opposite = np.array([(r, c) for r, c, lab in key[:k] if lab != label], np.intp).reshape(-1, 2)
    out = merge_cut(mask, cut, key[k], positives, opposite, settings)
    return FineTrack(clicks=key, model=_NEUTRAL, mask=out, score=score, cut_edits=True)


_NEUTRAL = FineModel(colour=np.zeros(1, np.float32), background=np.zeros(1, np.float32), level=0.5)


def _weak_outline(mask: np.ndarray, work: WorkingImage, below: float) -> bool:
    """Whether the outline of ``mask`` is less than ``below`` times sharper than the image's median gradient."""
    return outline_strength(mask, work.gradient) < below * max(work.median_gradient, 1e-6)


def _positives_until(key: tuple[Click, ...], k: int) -> int:
    """Number of positive clicks among the first k + 1."""
    return sum(1 for click in key[: k + 1] if click[2] == 1)


def colour(features: ClassicFeatures) -> np.ndarray:
    """Working colour as fine mode reads it: (h, w, 1) lightness for gray images, Lab otherwise."""
    lab = features.work.lab
    return lab[..., :1] if features.work.is_gray else lab
