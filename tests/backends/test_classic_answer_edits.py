"""Clicks on an object that already had an answer (picked up, automatic, fed back) edit it near themselves."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from promptseg.backends import Prediction
from promptseg.backends.classic import ClassicBackend

from test_classic import disk_image


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def given(mask: np.ndarray) -> Prediction:
    """An answer from elsewhere (an automatic pass, a committed object, another backend)."""
    return Prediction(mask=mask, logits=np.where(mask, 1.0, -1.0).astype(np.float32), score=0.9)


def near(shape, point, radius):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return (rr - point[0]) ** 2 + (cc - point[1]) ** 2 <= radius**2


@pytest.fixture(scope="module")
def backend():
    return ClassicBackend()


@pytest.fixture(scope="module")
def disk():
    img, gt = disk_image(shape=(96, 96), centre=(48, 48), radius=20)
    return img, gt


def test_a_negative_click_on_a_given_answer_trims_it_near_the_click(backend, disk):
    img, gt = disk
    emb = backend.encode(img)
    too_big = ndi.binary_dilation(gt, iterations=5)  # the disk plus a 5-px rim
    click = (48, 48 + 23)  # in the rim, right of the disk
    answer = backend.predict(emb, points=[click], labels=[0], previous=given(too_big)).mask
    assert answer.any() and not answer[click]
    assert iou(answer, gt) > iou(too_big, gt)
    far = ~near(gt.shape, click, 20)
    np.testing.assert_array_equal(answer[far], too_big[far])  # edited near the click only


def test_a_positive_click_outside_a_given_answer_grows_it_there(backend, disk):
    img, gt = disk
    emb = backend.encode(img)
    too_small = ndi.binary_erosion(gt, iterations=5)
    click = (48 - 17, 48)  # between the small answer's top and the disk's edge
    answer = backend.predict(emb, points=[click], labels=[1], previous=given(too_small)).mask
    assert answer[click] and (answer & ~too_small).any()
    assert not (answer & ~ndi.binary_dilation(gt, iterations=2)).any()  # not past the disk's edge
    far = ~near(gt.shape, click, 20)
    np.testing.assert_array_equal(answer[far], too_small[far])


def test_the_answer_is_a_function_of_the_given_answer_and_the_clicks(backend, disk):
    img, gt = disk
    emb = backend.encode(img)
    start = given(ndi.binary_dilation(gt, iterations=4) & ~near(gt.shape, (48, 30), 6))
    clicks, labels = [(48, 71), (48, 30), (25, 48)], [0, 1, 0]
    previous = start
    for k in range(1, len(clicks) + 1):  # click after click, each answer fed back
        previous = backend.predict(emb, points=clicks[:k], labels=labels[:k], previous=previous)
    replayed = backend.predict(emb, points=clicks, labels=labels, previous=start)
    np.testing.assert_array_equal(previous.mask, replayed.mask)


def test_clicks_after_a_mask_prompt_edit_the_answer_shown_for_it(backend, disk):
    img, gt = disk
    emb = backend.encode(img)
    rough = np.zeros_like(gt)
    rough[30:68, 28:70] = True
    shown = backend.predict(emb, mask=rough)  # what the user sees before clicking
    click = (48, 64)  # inside the disk, 4 px from its edge: a negative click takes a bite there, nothing else
    after = backend.predict(emb, mask=rough, points=[click], labels=[0], previous=shown).mask
    assert not after[click] and after.any()
    far = ~near(gt.shape, click, 16)
    np.testing.assert_array_equal(after[far], shown.mask[far])
    replayed = backend.predict(emb, mask=rough, points=[click], labels=[0])  # as a replay from JSON asks it
    np.testing.assert_array_equal(replayed.mask, after)


def test_an_answer_made_by_clicks_is_not_edited(backend, disk):
    img, gt = disk
    emb = backend.encode(img)
    first = backend.predict(emb, points=[(48, 48)], labels=[1])
    second = backend.predict(emb, points=[(48, 48), (10, 10)], labels=[1, 0], previous=first)
    plain = ClassicBackend(edit_answers=False)
    plain_emb = plain.encode(img)
    expected = plain.predict(plain_emb, points=[(48, 48), (10, 10)], labels=[1, 0],
                             previous=plain.predict(plain_emb, points=[(48, 48)], labels=[1]))
    np.testing.assert_array_equal(second.mask, expected.mask)


def test_a_seed_inside_a_mask_prompts_answer_is_cut_as_before(disk):
    img, gt = disk
    rough = np.zeros_like(gt)
    rough[30:68, 28:70] = True  # a shape prior with a seed inside it (as find similar prompts)
    answers = []
    for backend in (ClassicBackend(), ClassicBackend(edit_answers=False)):
        answers.append(backend.predict(backend.encode(img), mask=rough, points=[(48, 48)], labels=[1]).mask)
    np.testing.assert_array_equal(*answers)


def test_an_object_given_as_a_mask_keeps_its_pixels_a_rough_mask_is_snapped(disk):
    from scipy import ndimage as ndi

    img, gt = disk
    backend, plain = ClassicBackend(), ClassicBackend(mask_keep=0)
    emb, plain_emb = backend.encode(img), plain.encode(img)
    object_mask = ndi.binary_dilation(gt)  # a committed object, its outline on the edge (1 px out)
    np.testing.assert_array_equal(backend.predict(emb, mask=object_mask).mask, object_mask)
    assert (plain.predict(plain_emb, mask=object_mask).mask != object_mask).any()  # the cut redraws it
    rough = np.zeros_like(gt)
    rough[32:66, 30:64] = True  # a square painted roughly over the disk: its outline lies off the edge
    assert iou(backend.predict(emb, mask=rough).mask, gt) > 0.95


def test_a_seed_inside_a_rough_mask_but_outside_its_answer_is_cut_as_before(disk):
    img, gt = disk
    rough = np.zeros_like(gt)
    rough[26:70, 26:70] = True  # the seed sits in the square's corner, off the disk its answer snaps to
    answers = []
    for backend in (ClassicBackend(), ClassicBackend(edit_answers=False)):
        emb = backend.encode(img)
        assert not backend.predict(emb, mask=rough).mask[29, 29]
        answers.append(backend.predict(emb, mask=rough, points=[(29, 29)], labels=[1]).mask)
    np.testing.assert_array_equal(*answers)
