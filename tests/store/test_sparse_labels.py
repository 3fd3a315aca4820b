"""Sparse labels' undo records: about one bit per painted pixel, exact undo over mixed old ids (issue 22)."""

from __future__ import annotations

import numpy as np

from promptseg.store.sparse_labels import SparseLabels


def _record_bytes(paint) -> int:
    return sum(p.bits.nbytes + np.asarray(p.old).nbytes for p in paint.parts)


def test_a_paint_on_background_keeps_one_bit_per_pixel_and_undoes_exactly():
    labels = SparseLabels.create((4096, 4096), chunks=1024)
    mask = np.zeros((1500, 1500), bool)
    mask[100:1400, 50:1450] = True
    paint = labels.paint(mask, (300, 300), (2.0, 2.0), 7)  # a level-1 mask painted at full resolution
    assert paint.area == 1300 * 1400 * 4
    assert _record_bytes(paint) < paint.area / 8 * 1.5  # an index per pixel would be 64x more
    assert labels.label_at(2 * 300 + 2 * 100, 2 * 300 + 2 * 50) == 7
    labels.undo(paint)
    assert labels.stored_chunks() == 0 or not np.asarray(labels.array[:]).any()


def test_overwriting_mixed_ids_and_erasing_are_undone_exactly():
    labels = SparseLabels.create((2048, 2048), chunks=512)
    rng = np.random.default_rng(0)
    first = rng.random((2048, 2048)) < 0.3
    labels.paint(first, (0, 0), (1.0, 1.0), 1)
    second = np.zeros((2048, 2048), bool)
    second[::3, ::2] = True
    labels.paint(second, (0, 0), (1.0, 1.0), 2)
    before = np.asarray(labels.array[:]).copy()
    over = np.zeros((2048, 2048), bool)
    over[200:1800, 300:1700] = True
    paint = labels.paint(over, (0, 0), (1.0, 1.0), 5, overwrite=True)
    assert (np.asarray(labels.array[200:1800, 300:1700]) == 5).all()
    erase = labels.erase(2, slice(0, 2048), slice(0, 2048))
    assert not (np.asarray(labels.array[:]) == 2).any()
    labels.undo(erase)
    labels.undo(paint)
    np.testing.assert_array_equal(np.asarray(labels.array[:]), before)
