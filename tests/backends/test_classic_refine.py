"""The classic backend's boundary refinement: click levels and the pixel cut on small objects."""

from __future__ import annotations

import numpy as np

from promptseg.backends.classic import ClassicBackend
from promptseg.backends.classic.refine import _level_votes


def _ramp():
    """One row of 9 pixels whose grey level rises from background (0) to object (80) colour."""
    lab = np.zeros((1, 9, 3), np.float32)
    lab[0, :, 0] = np.arange(9) * 10.0
    labels = np.zeros((1, 9), np.intp)
    mu_f = np.array([[80.0, 0.0, 0.0]])
    mu_b = np.array([[0.0, 0.0, 0.0]])
    rows, cols = np.zeros(9, np.intp), np.arange(9)
    return rows, cols, lab[0].astype(np.float64), lab, labels, mu_f, mu_b


def test_positive_click_votes_for_pixels_at_least_as_object_like():
    rows, cols, colours, lab, labels, mu_f, mu_b = _ramp()
    votes = _level_votes(rows, cols, colours, lab, labels, mu_f, mu_b, np.array([[0, 4]]), np.zeros((0, 2), int), 10.0)
    np.testing.assert_array_equal(votes, [0, 0, 0, 0, 1, 1, 1, 1, 1])


def test_negative_click_votes_within_radius_only():
    rows, cols, colours, lab, labels, mu_f, mu_b = _ramp()
    votes = _level_votes(rows, cols, colours, lab, labels, mu_f, mu_b, np.zeros((0, 2), int), np.array([[0, 5]]), 3.0)
    np.testing.assert_array_equal(votes, [0, 0, -1, -1, -1, -1, 0, 0, 0])


def test_both_clicks_cancel_where_they_disagree():
    rows, cols, colours, lab, labels, mu_f, mu_b = _ramp()
    votes = _level_votes(rows, cols, colours, lab, labels, mu_f, mu_b, np.array([[0, 3]]), np.array([[0, 5]]), 10.0)
    np.testing.assert_array_equal(votes, [-1, -1, -1, 0, 0, 0, 1, 1, 1])


def test_negative_rim_click_trims_a_blurry_blob():
    """On a blurred disk a negative click on the rim removes the rim around it, not just the clicked pixel."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[:80, :80]
    disk = ((rr - 40) ** 2 + (cc - 40) ** 2 <= 12**2).astype(float)
    img = (ndi.gaussian_filter(disk, 3.0) * 120 + 40 + rng.normal(0, 2, disk.shape)).clip(0, 255).astype(np.uint8)
    with_levels, without = ClassicBackend(), ClassicBackend(level_weight=0.0)
    first = with_levels.predict(with_levels.encode(img), points=[(40, 40)], labels=[1])
    rim = (int(np.nonzero(first.mask[:, 40])[0].min()) + 2, 40)  # just inside the top of the first answer
    areas = []
    for backend in (with_levels, without):
        emb = backend.encode(img)
        prev = backend.predict(emb, points=[(40, 40)], labels=[1])
        pred = backend.predict(emb, points=[(40, 40), rim], labels=[1, 0], previous=prev)
        assert not pred.mask[rim] and pred.mask[40, 40]
        areas.append(int(pred.mask[: 40].sum()))
    assert areas[0] < areas[1]
