"""Correction clicks on objects the superpixel cut answers with a weak outline (``local_edit``).

Generated gray parts with an uneven stain: a large, slightly darker region
whose rim is blurred over many pixels, so no edge says where it ends.  The
invariants: a correction click changes the answer only near itself, the
band it claims lies on its wrong side, next to it, and not nearer to a click
of the other label; clicked pixels keep their labels; the answer is a
function of the clicks alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from promptseg.backends.classic import ClassicBackend, ClassicSettings
from promptseg.backends.classic.local_edit import merge_cut
from promptseg.eval.clicker import ClickSimulator

SETTINGS = ClassicSettings()


def reach(d: float, s: ClassicSettings = SETTINGS) -> float:
    """Farthest pixel (from the click) a click ``d`` pixels off the answer may change."""
    return max(s.cut_window * d + s.cut_margin, s.cut_band_radius * d) + 1.5


def rect(shape, r0, r1, c0, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def test_a_positive_click_adds_a_band_next_to_it_and_changes_nothing_far_away():
    mask = rect((120, 160), 20, 100, 20, 80)
    cut = rect((120, 160), 0, 120, 0, 160)  # a flooding cut: only its labels near the click may be taken
    click = (60, 90, 1)  # 11 px right of the answer
    out = merge_cut(mask, cut, click, np.array([[60, 50], [60, 90]]), np.zeros((0, 2), int), SETTINGS)
    rr, cc = np.mgrid[:120, :160]
    far = np.hypot(rr - 60, cc - 90) > reach(11.0)
    assert (out[far] == mask[far]).all()
    assert out[60, 80:100].all()  # the band between the answer and the click, and as far beyond
    assert mask[out].sum() == mask.sum()  # nothing of the answer lost
    assert ndi.label(out, np.ones((3, 3)))[1] == 1


def test_the_band_stops_halfway_to_a_click_of_the_other_label():
    mask = rect((100, 100), 30, 70, 10, 40)
    cut = mask.copy()
    negative = np.array([[50, 62]])
    out = merge_cut(mask, cut, (50, 50, 1), np.array([[50, 20], [50, 50]]), negative, SETTINGS)
    assert out[50, 50] and not out[50, 62]
    added = out & ~mask
    rr, cc = np.nonzero(added)
    assert (np.hypot(rr - 50, cc - 50) < np.hypot(rr - 50, cc - 62)).all()


def test_a_negative_click_cuts_near_itself_and_keeps_the_positive_clicks():
    mask = rect((100, 140), 20, 80, 20, 120)
    positives = np.array([[50, 30]])
    out = merge_cut(mask, mask, (50, 100, 0), positives, positives, SETTINGS)
    assert not out[50, 100] and out[50, 30]
    assert not (out & ~mask).any()
    rr, cc = np.nonzero(mask & ~out)
    assert np.hypot(rr - 50, cc - 100).max() <= reach(20.0)


def stain(seed):
    """A gray textured part with a large uneven stain (rim blurred over ~8 px), uint8 (H, W), and the stain."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:180, :240]
    shape = (rr - 80) ** 2 / 45.0**2 + (cc - 110) ** 2 / 70.0**2 + 0.25 * np.sin(cc / 9.0) * np.cos(rr / 13.0) <= 1
    img = 120 + ndi.gaussian_filter(rng.normal(0, 9, rr.shape), 1.0) - 10 * ndi.gaussian_filter(shape * 1.0, 8.0)
    return np.clip(img, 0, 255).astype(np.uint8), shape


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corrections_on_an_uneven_stain_are_local_and_a_function_of_the_clicks(seed):
    img, gt = stain(seed)
    backend = ClassicBackend()
    emb = backend.encode(img)
    sim = ClickSimulator(gt)
    pred, previous, points, labels, edited = np.zeros(gt.shape, bool), None, [], [], 0
    rr, cc = np.mgrid[: gt.shape[0], : gt.shape[1]]
    for _ in range(8):
        click = sim.next_click(pred)
        if click is None:
            break
        points.append((click.row, click.col))
        labels.append(click.label)
        answer = backend.predict(emb, points=points, labels=labels, previous=previous)
        track = answer.state.track
        if previous is not None and track.cut_edits and pred[click.row, click.col] != bool(click.label):
            edited += 1
            wrong = pred if click.label == 0 else ~pred
            d = ndi.distance_transform_edt(np.pad(wrong, 1, constant_values=True))[1:-1, 1:-1][click.row, click.col]
            far = np.hypot(rr - click.row, cc - click.col) > reach(d + 1.0)
            assert (answer.mask[far] == pred[far]).all()
        assert answer.mask[tuple(np.array(points)[np.array(labels) == 1].T)].all()
        again = backend.predict(emb, points=points, labels=labels)  # no previous answer: replayed
        assert (again.mask == answer.mask).all()
        pred, previous = answer.mask, answer
    assert edited >= 2, "the stain's outline should be weak enough for local edits"


def test_local_edits_can_be_turned_off():
    img, gt = stain(0)
    backend = ClassicBackend(cut_edit=False)
    emb = backend.encode(img)
    click = ClickSimulator(gt).next_click(np.zeros(gt.shape, bool))
    first = backend.predict(emb, points=[(click.row, click.col)], labels=[1])
    assert not first.state.track.cut_edits
