"""The pixel-level threshold search of find_similar: learning the threshold, splitting touching objects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from promptseg.backends.classic import ClassicBackend
from promptseg.exemplar import find_similar
from promptseg.exemplar.pixel_search import learn_pixel_rule, pixel_objects


def blurred_disks(centres, radius=6, seed=0):
    """A 100x140 float image of blurred bright disks on a noisy dark background, and the disks' masks."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:100, :140]
    core = np.zeros((100, 140))
    masks = []
    for r, c in centres:
        m = (rr - r) ** 2 + (cc - c) ** 2 <= radius**2
        core[m] = 120
        masks.append(m)
    img = ndi.gaussian_filter(core, 1.0) + 40 + rng.normal(0, 2, core.shape)
    return img, masks


def iou(a, b):
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def test_rule_reproduces_the_exemplar_and_finds_the_others():
    centres = [(20, 20), (20, 60), (60, 100), (75, 30)]
    img, masks = blurred_disks(centres)
    rule = learn_pixel_rule(img, [masks[0]])
    assert rule is not None and rule.sign == 1.0 and rule.fit > 0.9
    found = pixel_objects(img, rule, radius=6.0, area_range=(20, 600), excluded=masks[0])
    assert len(found) == len(centres) - 1
    for m, _ in found:
        assert max(iou(m, t) for t in masks[1:]) > 0.85 and not (m & masks[0]).any()


def test_dark_objects_get_the_other_side():
    img, masks = blurred_disks([(30, 30), (30, 90)])
    rule = learn_pixel_rule(255 - img, [masks[0]])
    assert rule is not None and rule.sign == -1.0
    found = pixel_objects(255 - img, rule, radius=6.0, area_range=(20, 600), excluded=masks[0])
    assert len(found) == 1 and iou(found[0][0], masks[1]) > 0.85


def test_touching_objects_are_split():
    img, masks = blurred_disks([(50, 40), (50, 51), (50, 100)])  # the first two overlap
    rule = learn_pixel_rule(img, [masks[2]])
    found = pixel_objects(img, rule, radius=6.0, area_range=(20, 600), excluded=masks[2])
    assert len(found) == 2
    seeds_cols = sorted(s[1] for _, s in found)
    assert seeds_cols[0] < 45.5 < seeds_cols[1]


def test_negative_example_raises_the_threshold():
    img, masks = blurred_disks([(30, 30), (30, 90), (75, 60)])
    img[masks[2]] = 130 + np.random.default_rng(1).normal(0, 2, masks[2].sum())  # a dimmer kind
    plain = learn_pixel_rule(img, [masks[0]])
    strict = learn_pixel_rule(img, [masks[0]], [masks[2]])
    assert plain.foreground(img)[masks[2]].mean() > 0.9
    assert strict.foreground(img)[masks[2]].mean() < 0.1
    assert strict.foreground(img)[masks[1]].mean() > 0.6  # the wanted kind, narrowed by the higher level


def test_dimmer_objects_of_the_kind_are_found_too_unless_negative_examples_say_otherwise():
    img, masks = blurred_disks([(30, 30), (30, 90), (75, 60), (75, 110)])
    for m in masks[2:]:  # two nuclei of the same shape at 30 % of the contrast
        img[m] = 40 + 0.3 * (img[m] - 40)
    rule = learn_pixel_rule(img, [masks[0]])
    assert rule.foreground(img)[masks[2]].mean() < 0.1  # below the exemplar's level
    found = pixel_objects(img, rule, radius=6.0, area_range=(20, 600), excluded=masks[0])
    assert len(found) == 3
    for target in masks[1:]:
        assert max(iou(m, target) for m, _ in found) > 0.7
    strict = learn_pixel_rule(img, [masks[0]], [masks[2]])  # one dim nucleus rejected: the others are not wanted
    found = pixel_objects(img, strict, radius=6.0, area_range=(20, 600), excluded=masks[0] | masks[2])
    assert len(found) == 1 and iou(found[0][0], masks[1]) > 0.85


def test_no_rule_without_contrast():
    assert learn_pixel_rule(np.full((40, 40), 7.0), [np.pad(np.ones((5, 5), bool), ((10, 25), (10, 25)))]) is None
    assert learn_pixel_rule(np.zeros((40, 40)), []) is None


@pytest.mark.parametrize("pixel_search", [False, True])
def test_pixel_proposals_carry_prompts_and_a_prediction(pixel_search):
    backend = ClassicBackend()
    img, masks = blurred_disks([(20, 20), (20, 60), (60, 100), (75, 30)])
    emb = backend.encode(np.clip(img, 0, 255).astype(np.uint8))
    gen = find_similar(backend, emb, [masks[0]], pixel_search=pixel_search)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            proposals = stop.value
            break
    assert len(proposals) == 3
    for p in proposals:
        assert p.prediction is not None and p.prediction.mask.shape == img.shape
        assert p.prompt_mask(img.shape) is not None
        assert max(iou(p.mask(img.shape), t) for t in masks[1:]) > 0.7


def test_no_rule_when_lightness_does_not_reproduce_the_exemplar():
    rng = np.random.default_rng(3)
    img = rng.normal(100, 20, (60, 60))  # texture only: the exemplar is as bright as its surroundings
    ex = np.zeros((60, 60), bool)
    ex[20:30, 20:30] = True
    img[ex] += 3
    assert learn_pixel_rule(img, [ex]) is None


def test_local_boundary_rule_when_one_threshold_cannot_draw_all_exemplars():
    """Bright and dim blurred disks, drawn wider than their cores: one level cannot fit both exemplars."""
    import dataclasses

    rng = np.random.default_rng(5)
    rr, cc = np.mgrid[:100, :140]
    core = np.zeros((100, 140))
    drawn = []
    for (r, c), v in zip([(25, 25), (25, 70), (25, 115), (70, 25), (70, 70), (70, 115)], [140] * 3 + [60] * 3):
        core[(rr - r) ** 2 + (cc - c) ** 2 <= 36] = v
        drawn.append((rr - r) ** 2 + (cc - c) ** 2 <= 64)
    img = ndi.gaussian_filter(core, 2.0) + 50 + rng.normal(0, 2, core.shape)
    rule = learn_pixel_rule(img, [drawn[0], drawn[3]])
    assert rule is not None and rule.boundary is not None
    known = drawn[0] | drawn[3]

    def mean_best_iou(r):
        found = pixel_objects(img, r, radius=8.0, area_range=(20, 1000), excluded=known)
        assert len(found) == 4
        return np.mean([max(iou(m, t) for t in drawn) for m, _ in found])

    assert mean_best_iou(rule) > mean_best_iou(dataclasses.replace(rule, boundary=None)) + 0.03
