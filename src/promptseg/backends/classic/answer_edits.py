"""Clicks that correct an answer the object already had before its first click.

An object can have an answer before anyone clicks on it: a committed object
picked up again, an object of the automatic pass (*Segment all*), a painted
mask's answer, another backend's answer fed back.  Cutting afresh at the
first click throws that answer away: a negative click with no positive
click then gives an empty mask, and one on a nucleus of an automatic pass
lowered its IoU on average (DSB dev, 58 nuclei whose first correction is
negative: 0.785 -> 0.350 with the answer fed back; 0.625 with it also given
as the mask prompt).  Here every click edits that answer near itself, at
pixel level, with fine mode's edit (:func:`~.fine.edit`: the band of the
outline on the click's wrong side, within a disk around the click, is
relabelled by a small graph cut on the level between the object's colour
and its surroundings'):

- the starting answer and the clicks make the answer (a function of the
  two: without the previous answer the edits are replayed);
- the object's colour is the mean inside the starting answer, the
  background's the median of a ring ``RING`` pixels wide around it;
- the answer is the part(s) holding the positive clicks, or, before the
  first positive click, the part holding the starting answer's deepest
  pixel (a negative click there removes the whole object);
- a positive click far from the answer adds the band towards it whatever
  fine mode's test for a new part says (the object is known to be there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .fine import FineModel, edit
from .settings import ClassicSettings

__all__ = ["AnswerEdits", "RING"]

#: Width (working pixels) of the ring around the starting answer that gives the background colour.
RING = 3

Click = tuple[int, int, int]


@dataclass(frozen=True)
class AnswerEdits:
    """An answer made by editing a starting answer click by click (the ``track`` of the backend's state).

    Attributes
    ----------
    start : np.ndarray, shape (h, w), bool
        The answer before the first click (working frame).
    clicks : tuple of (row, col, label)
        The working-frame clicks applied so far, in order.
    mask : np.ndarray, shape (h, w), bool
        The answer after them.
    model : FineModel
        The object's and its surroundings' colours, from ``start``.
    anchor : (int, int)
        The starting answer's deepest pixel: the part kept before any positive click.
    score : float
        Carried over from the starting answer.
    """

    start: np.ndarray
    clicks: tuple[Click, ...]
    mask: np.ndarray
    model: FineModel
    anchor: tuple[int, int]
    score: float = 1.0

    @classmethod
    def begin(cls, lab: np.ndarray, start: np.ndarray, score: float = 1.0) -> "AnswerEdits":
        """Edits of ``start`` ((h, w) bool, not empty) on an image of working colour ``lab`` (h, w, C), no click yet."""
        ring = ndi.binary_dilation(start, iterations=RING) & ~start
        outside = lab[ring] if ring.any() else lab[~start]
        model = FineModel(colour=lab[start].mean(axis=0).astype(np.float32),
                          background=np.median(outside, axis=0).astype(np.float32), level=0.5)
        depth = ndi.distance_transform_edt(start)
        anchor = tuple(int(v) for v in np.unravel_index(int(np.argmax(depth)), start.shape))
        return cls(start=start, clicks=(), mask=start, model=model, anchor=anchor, score=score)

    def extended(self, lab: np.ndarray, noise: float, key: tuple[Click, ...],
                 settings: ClassicSettings) -> "AnswerEdits":
        """The edits after the clicks ``key`` (all of them, in order): only the new ones when they extend ours."""
        done = self if key[: len(self.clicks)] == self.clicks else dataclasses.replace(self, clicks=(), mask=self.start)
        mask = done.mask
        for k in range(len(done.clicks), len(key)):
            mask = self._edit(lab, noise, mask, key[: k + 1], settings)
        return dataclasses.replace(done, clicks=tuple(key), mask=mask)

    def _edit(self, lab: np.ndarray, noise: float, mask: np.ndarray, key: tuple[Click, ...],
              settings: ClassicSettings) -> np.ndarray:
        """The answer after the last click of ``key``, from ``mask``."""
        positives = np.array([(r, c) for r, c, label in key if label == 1], np.intp).reshape(-1, 2)
        if not len(positives):
            positives = np.array([self.anchor], np.intp)
        out = edit(lab, noise, self.model, mask, key[-1], positives, settings)
        if out is None:  # a far positive click: the object reaches there, grow towards it
            out = edit(lab, noise, self.model, mask, key[-1], positives,
                       dataclasses.replace(settings, fine_new_part=np.inf))
        return out
