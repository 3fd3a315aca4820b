"""From the working copy back to the image: bilinear logits and the mask they threshold to.

A working pixel (r, c) covers an image block of ``factor x factor`` pixels;
image pixel (R, C) samples the working logits bilinearly at working
coordinates ``((R + 0.5) / factor - 0.5, (C + 0.5) / factor - 0.5)``.

Building the full (H, W) float32 logits of a 16-megapixel image costs
hundreds of milliseconds, so the mask is made without them: away from the
object's outline all four working pixels of a bilinear sample agree in sign
and the image pixel takes that sign (a block copy); only the pixels whose
four samples disagree are blended, with the very same float32 arithmetic as
:func:`upsample_logits`, so that ``mask == upsample_logits(...) > 0`` holds
exactly.  The logits themselves are computed only when somebody asks (see
:class:`LazyLogitsPrediction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..base import Prediction

__all__ = ["SamplingGrid", "sampling_grid", "upsample_logits", "upsample_mask", "LazyLogitsPrediction"]


@dataclass(frozen=True)
class SamplingGrid:
    """Where every image row and column samples the working copy.

    Attributes
    ----------
    r0, r1 : np.ndarray, shape (H,), intp
        Working rows above / below image row R (``r1 = min(r0 + 1, h - 1)``).
    fr : np.ndarray, shape (H,), float32
        Weight of ``r1`` (0 .. 1).
    c0, c1 : np.ndarray, shape (W,), intp
        Working columns left / right of image column C.
    fc : np.ndarray, shape (W,), float32
        Weight of ``c1``.
    """

    r0: np.ndarray
    r1: np.ndarray
    fr: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    fc: np.ndarray


def _axis(n_image: int, n_work: int, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip((np.arange(n_image) + 0.5) / factor - 0.5, 0, n_work - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_work - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def sampling_grid(work_shape: tuple[int, int], image_shape: tuple[int, int], factor: int) -> SamplingGrid:
    """The bilinear sampling positions of an (H, W) image on its (h, w) working copy."""
    r0, r1, fr = _axis(image_shape[0], work_shape[0], factor)
    c0, c1, fc = _axis(image_shape[1], work_shape[1], factor)
    return SamplingGrid(r0=r0, r1=r1, fr=fr, c0=c0, c1=c1, fc=fc)


def _blend(a00, a01, a10, a11, fr, fc):
    """Bilinear blend; the one formula both the full logits and the outline pixels use."""
    top = a00 * (1 - fc) + a01 * fc
    bottom = a10 * (1 - fc) + a11 * fc
    return top * (1 - fr) + bottom * fr


def upsample_logits(work_logits: np.ndarray, grid: SamplingGrid) -> np.ndarray:
    """Bilinear (h, w) -> (H, W) float32 logits."""
    lg = np.asarray(work_logits, dtype=np.float32)
    top_rows, bottom_rows = lg[grid.r0], lg[grid.r1]
    out = _blend(top_rows[:, grid.c0], top_rows[:, grid.c1], bottom_rows[:, grid.c0], bottom_rows[:, grid.c1],
                 grid.fr[:, None], grid.fc[None, :])
    return out.astype(np.float32, copy=False)


def upsample_mask(work_logits: np.ndarray, grid: SamplingGrid) -> np.ndarray:
    """``upsample_logits(work_logits, grid) > 0`` without building the full logits, shape (H, W), bool."""
    lg = np.asarray(work_logits, dtype=np.float32)
    h, w = lg.shape
    sign = lg > 0
    full = sign[:, grid.c0][grid.r0]  # the sign of the top-left sample; right wherever all four agree
    # image rows / columns sampling each working row / column (r0 and c0 are non-decreasing)
    row_counts = np.bincount(grid.r0, minlength=h)
    col_counts = np.bincount(grid.c0, minlength=w)
    below = np.concatenate([sign[1:], sign[-1:]], axis=0)
    right = np.concatenate([sign[:, 1:], sign[:, -1:]], axis=1)
    diagonal = np.concatenate([right[1:], right[-1:]], axis=0)
    mixed = (sign != below) | (sign != right) | (sign != diagonal)
    mixed &= (row_counts > 0)[:, None] & (col_counts > 0)[None, :]
    mr, mc = np.nonzero(mixed)
    if mr.size == 0:
        return full
    row_start = np.concatenate([[0], np.cumsum(row_counts)[:-1]])
    col_start = np.concatenate([[0], np.cumsum(col_counts)[:-1]])
    oi = np.arange(int(row_counts.max()))
    oj = np.arange(int(col_counts.max()))
    rows = row_start[mr][:, None, None] + oi[None, :, None]
    cols = col_start[mc][:, None, None] + oj[None, None, :]
    valid = (oi[None, :, None] < row_counts[mr][:, None, None]) & (oj[None, None, :] < col_counts[mc][:, None, None])
    rows, cols = np.broadcast_to(rows, valid.shape)[valid], np.broadcast_to(cols, valid.shape)[valid]
    r0, r1, c0, c1 = grid.r0[rows], grid.r1[rows], grid.c0[cols], grid.c1[cols]
    values = _blend(lg[r0, c0], lg[r0, c1], lg[r1, c0], lg[r1, c1], grid.fr[rows], grid.fc[cols])
    full[rows, cols] = values > 0
    return full


class LazyLogitsPrediction(Prediction):
    """A :class:`~promptseg.backends.base.Prediction` whose ``logits`` are built on first access.

    ``logits`` may be given as an array (used as is) or as a function of no
    arguments returning the (H, W) float32 array; the function runs once, the
    first time ``logits`` is read, and its result is kept.  Everything else
    behaves like a plain ``Prediction``.
    """

    @property
    def logits(self) -> np.ndarray:  # type: ignore[override]
        value = self.__dict__["_logits"]
        if callable(value):
            value = value()
            self.__dict__["_logits"] = value
        return value

    @logits.setter
    def logits(self, value: np.ndarray | Callable[[], np.ndarray]) -> None:
        self.__dict__["_logits"] = value
