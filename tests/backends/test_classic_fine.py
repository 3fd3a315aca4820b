"""The classic backend's fine mode on generated parts: pits, scratches, stains, defects in pieces.

The parts are textured (vertical brushing streaks, grain, a brightness
gradient), dark or low in contrast; the defects are darker.  The invariants
are those an inspector relies on: the first click's answer stays within a
few times the defect's size, a scratch is followed along its length, every
piece clicked is kept and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from promptseg.backends.classic import ClassicBackend
from promptseg.backends.classic.fine_region import distinct_region, valley_strength
from promptseg.eval.clicker import ClickSimulator

from test_classic import simulated_clicks

SHAPE = (160, 200)
#: background level, texture, defect contrast (grey levels)
SURFACES = {"textured": (110, 5, 45), "dark": (35, 3, 20), "low-contrast": (120, 2, 14)}


def surface(seed, kind):
    """A machined part: a brightness gradient, vertical brushing streaks and fine grain, float (H, W)."""
    level, texture, _ = SURFACES[kind]
    rng = np.random.default_rng(seed)
    h, w = SHAPE
    img = np.full(SHAPE, float(level)) + np.linspace(-10, 10, w)[None, :] + np.linspace(-5, 5, h)[:, None]
    img += ndi.gaussian_filter1d(rng.normal(0, 1.5 * texture, w), 1.0)[None, :]
    return img + ndi.gaussian_filter(rng.normal(0, texture, SHAPE), 0.7)


def darken(img, defect, contrast, blur=0.6):
    soft = ndi.gaussian_filter(defect.astype(float), blur)
    return np.clip(img - contrast * soft / soft.max(), 0, 255).astype(np.uint8)


def disk(centre, radius):
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius**2


def scratch(width):
    """A gently curved scratch 1-3 px wide across the part, and its one-pixel centre line."""
    t = np.linspace(0.0, 1.0, 600)
    rows, cols = 25 + 110 * t + 12 * np.sin(np.pi * t), 30 + 140 * t
    line = np.zeros(SHAPE, bool)
    line[np.round(rows).astype(int), np.round(cols).astype(int)] = True
    if width == 1:
        return line, line
    return (line | np.roll(line, 1, axis=1) if width == 2 else ndi.binary_dilation(line)), line


def first_click(backend, img, gt):
    click = ClickSimulator(gt).next_click(np.zeros(SHAPE, bool))
    return backend.predict(backend.encode(img), points=[(click.row, click.col)], labels=[1]).mask


@pytest.fixture(scope="module")
def backend():
    return ClassicBackend()


@pytest.fixture(scope="module")
def preset():
    return ClassicBackend(fine_structures=True)


@pytest.mark.parametrize("kind", list(SURFACES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_click_on_a_pit_stays_on_the_pit(backend, kind, seed):
    radius = 3 + seed
    pit = disk((80, 100), radius)
    mask = first_click(backend, darken(surface(seed, kind), pit, SURFACES[kind][2]), pit)
    assert mask[80, 100]
    assert mask.sum() <= 4 * pit.sum(), f"{mask.sum()} px answered for a pit of {pit.sum()} px"
    assert not (mask & ~disk((80, 100), 3 * radius)).any()
    assert (mask & pit).sum() / (mask | pit).sum() > 0.4


def test_fine_mode_is_what_keeps_a_pit_on_a_dark_part():
    pit = disk((80, 100), 3)
    img = darken(surface(0, "dark"), pit, SURFACES["dark"][2])
    fine = first_click(ClassicBackend(), img, pit)
    cut = first_click(ClassicBackend(fine=False), img, pit)
    assert fine.sum() <= 4 * pit.sum() < cut.sum() / 10


@pytest.mark.parametrize("kind", list(SURFACES))
@pytest.mark.parametrize("width", [2, 3])
def test_a_scratch_is_followed_along_its_length(preset, kind, width):
    gt, line = scratch(width)
    mask = first_click(preset, darken(surface(0, kind), gt, SURFACES[kind][2]), gt)
    assert (mask & line).sum() >= 0.9 * line.sum(), "the answer stops short of the scratch's ends"
    off = mask & (ndi.distance_transform_edt(~gt) > 3)
    assert off.sum() <= 0.02 * gt.sum(), f"{off.sum()} px more than 3 px off the scratch"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_one_pixel_scratch_on_a_textured_part_is_followed(preset, seed):
    gt, line = scratch(1)
    mask = first_click(preset, darken(surface(seed, "textured"), gt, SURFACES["textured"][2]), gt)
    assert (mask & line).sum() >= 0.85 * line.sum()
    assert not (mask & (ndi.distance_transform_edt(~gt) > 3)).any()


def test_the_default_follows_a_three_pixel_scratch(backend):
    gt, line = scratch(3)
    mask = first_click(backend, darken(surface(1, "textured"), gt, SURFACES["textured"][2]), gt)
    assert (mask & line).sum() >= 0.9 * line.sum() and mask.sum() <= 1.5 * gt.sum()


@pytest.mark.parametrize("seed", [0, 2])
def test_a_stain_gives_the_stain(backend, seed):
    stain = disk((80, 100), 14)
    img = darken(surface(seed, "textured"), stain, 0.6 * SURFACES["textured"][2], blur=2.0)
    mask = first_click(backend, img, stain)
    assert mask.sum() <= 3 * stain.sum() and not (mask & ~disk((80, 100), 28)).any()
    assert (mask & stain).sum() / (mask | stain).sum() > 0.7


@pytest.mark.parametrize("kind", list(SURFACES))
def test_every_clicked_piece_of_a_defect_is_kept_and_nothing_else(backend, kind):
    centres, radii = [(40, 50), (90, 140), (130, 70)], [4, 4, 5]
    pieces = [disk(c, r) for c, r in zip(centres, radii)]
    gt = pieces[0] | pieces[1] | pieces[2]
    emb = backend.encode(darken(surface(1, kind), gt, SURFACES[kind][2]))
    pred = None
    for k in range(1, 4):
        pred = backend.predict(emb, points=centres[:k], labels=[1] * k, previous=pred)
        for piece in pieces[:k]:
            assert (pred.mask & piece).sum() >= 0.8 * piece.sum()
        assert not (pred.mask & ~ndi.binary_dilation(gt, iterations=3)).any()
        parts, n = ndi.label(pred.mask, structure=np.ones((3, 3)))
        assert n == k


def test_a_fine_answer_depends_on_the_clicks_alone(backend):
    pit = disk((80, 100), 3)
    emb = backend.encode(darken(surface(0, "dark"), pit, SURFACES["dark"][2]))
    answers = list(simulated_clicks(backend, emb, pit, 4))
    assert len(answers) >= 3 and 0 in answers[-1][1], "edits of both signs are replayed"
    for points, labels, pred in answers:
        assert pred.state.track.model is not None, "the pit is answered in fine mode"
        again = backend.predict(emb, points=points, labels=labels)  # replayed from the first click
        np.testing.assert_array_equal(again.mask, pred.mask)
        np.testing.assert_array_equal(pred.mask, pred.logits > 0)


def test_a_far_click_on_the_background_hands_the_object_to_the_cut(backend):
    pit = disk((80, 100), 3)
    emb = backend.encode(darken(surface(0, "dark"), pit, SURFACES["dark"][2]))
    first = backend.predict(emb, points=[(80, 100)], labels=[1])
    assert first.state.track.model is not None
    second = backend.predict(emb, points=[(80, 100), (80, 160)], labels=[1, 1], previous=first)
    assert second.state.track.model is None and second.mask[80, 160] and second.mask[80, 100]


def test_a_large_object_with_a_spot_under_the_click_is_the_object(backend):
    rng = np.random.default_rng(0)
    big, spot = disk((80, 100), 35), disk((80, 100), 3)
    img = np.clip(rng.normal(60, 8, SHAPE) + 120 * big - 60 * spot, 0, 255).astype(np.uint8)
    mask = backend.predict(backend.encode(img), points=[(80, 100)], labels=[1]).mask
    assert (mask & big).sum() / (mask | big).sum() > 0.95


def test_distinct_region_finds_a_dark_square_and_nothing_on_a_flat_image():
    rng = np.random.default_rng(0)
    img = rng.normal(50.0, 1.0, (64, 64, 1)).astype(np.float32)
    img[30:36, 30:36] -= 20.0
    region = distinct_region(img, (32, 32), noise=1.0)
    assert region is not None and region.mask[30:36, 30:36].all() and region.mask.sum() <= 64
    assert distinct_region(rng.normal(50.0, 1.0, (64, 64, 1)).astype(np.float32), (32, 32), noise=1.0) is None


def test_valley_strength_marks_dark_lines_across_their_direction():
    img = np.full((21, 21), 100.0)
    img[:, 10] = 60.0
    dark, angle = valley_strength(img, dark=True)
    bright, _ = valley_strength(img, dark=False)
    assert dark[10].argmax() == 10 and dark[10, 10] > 10 * max(bright[10, 10], 1e-6)
    assert abs(np.cos(angle[10, 10])) < 0.1  # the line runs along the rows: the valley's direction is across
