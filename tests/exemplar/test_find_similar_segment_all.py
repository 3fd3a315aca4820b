"""find_similar(source="segment_all"): the automatic pass's objects, ranked by the exemplars (synthetic scenes)."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.auto import segment_all
from promptseg.backends.classic import ClassicBackend
from promptseg.errors import PromptsegError
from promptseg.eval import run_to_end
from promptseg.exemplar import find_similar, find_similar_stack, describe_exemplars
from promptseg.exemplar.descriptors import ObjectDescriptors, likeness, tolerances

DISKS = [(20, 20), (20, 70), (20, 120), (75, 20), (130, 20), (130, 120)]
OVALS = [(75, 70), (75, 120), (130, 70)]  # centres of ellipses of semi-axes 5 (rows) and 9 (columns)


def scene(seed: int = 0):
    """A 150x150 gray image: bright disks of radius 7 and ovals as bright and as large as them; their masks."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:150, :150]
    img = rng.normal(40, 4, (150, 150))
    disks = [(rr - r) ** 2 + (cc - c) ** 2 <= 49 for r, c in DISKS]
    ovals = [((rr - r) / 5.0) ** 2 + ((cc - c) / 9.0) ** 2 <= 1.0 for r, c in OVALS]
    for m in disks + ovals:
        img[m] += 150
    return np.clip(img, 0, 255).astype(np.uint8), disks, ovals


def iou(a, b):
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


def matching(proposals, masks, shape):
    """For each proposal, the index of the mask it matches (IoU >= 0.5), or None."""
    out = []
    for p in proposals:
        m = p.mask(shape)
        hits = [i for i, t in enumerate(masks) if iou(m, t) >= 0.5]
        out.append(hits[0] if hits else None)
    return out


@pytest.fixture(scope="module")
def backend():
    return ClassicBackend()


@pytest.fixture(scope="module")
def encoded(backend):
    img, disks, ovals = scene()
    return img, backend.encode(img), disks, ovals


def test_candidates_are_the_automatic_pass_objects(backend, encoded):
    img, emb, disks, ovals = encoded
    auto = run_to_end(segment_all(backend, img)).labels
    objects = [auto == v for v in np.unique(auto) if v != 0]
    found = run_to_end(find_similar(backend, emb, [disks[0]], source="segment_all", image=img))
    assert found
    for p in found:  # each proposal is one of the pass's objects, pixel for pixel (none lies on the exemplar)
        assert any(np.array_equal(p.mask(img.shape), o) for o in objects)
        assert p.prediction is not None and p.prediction.mask.shape == img.shape
    # given labels are used as they are: an object of them that the image does not hold is proposed
    labels = np.zeros(img.shape, np.int32)
    labels[60:75, 95:110] = 1  # a 15 x 15 square of plain background
    again = run_to_end(find_similar(backend, emb, [disks[0]], source="segment_all", auto_labels=labels))
    assert len(again) == 1 and np.array_equal(again[0].mask(img.shape), labels == 1)


def test_objects_like_the_exemplar_rank_first(backend, encoded):
    img, emb, disks, ovals = encoded
    found = run_to_end(find_similar(backend, emb, [disks[0]], source="segment_all", image=img))
    disk_hits = matching(found, disks, img.shape)
    oval_hits = matching(found, ovals, img.shape)
    others = len(disks) - 1
    assert sorted(disk_hits[:others]) == list(range(1, len(disks)))  # every other disk, before anything else
    assert sum(h is not None for h in oval_hits) == len(ovals)  # the ovals are candidates too, ranked lower
    assert max(p.score for p, h in zip(found, oval_hits) if h is not None) < min(p.score for p in found[:others])
    assert min(p.score for p in found[:others]) >= 0.5  # shown at the default threshold


def test_exemplars_and_committed_objects_are_not_proposed(backend, encoded):
    img, emb, disks, ovals = encoded
    committed = np.zeros(img.shape, np.int32)
    committed[disks[1]] = 1
    committed[ovals[0]] = 2
    found = run_to_end(find_similar(backend, emb, [disks[0]], objects=committed, source="segment_all", image=img))
    known = disks[0] | (committed != 0)
    assert found
    assert all(not np.any(p.mask(img.shape) & known) for p in found)
    assert sorted(h for h in matching(found, disks, img.shape) if h is not None) == list(range(2, len(disks)))


def test_a_rejected_oval_pushes_the_other_ovals_down(backend, encoded):
    img, emb, disks, ovals = encoded
    before = run_to_end(find_similar(backend, emb, [disks[0]], source="segment_all", image=img))
    after = run_to_end(find_similar(backend, emb, [disks[0]], negatives=[ovals[0]], source="segment_all", image=img))

    def scores(found, masks):
        return {h: p.score for p, h in zip(found, matching(found, masks, img.shape)) if h is not None}

    ovals_before, ovals_after = scores(before, ovals), scores(after, ovals)
    assert min(ovals_before.values()) >= 0.5  # shown before: oval enough to pass for disks
    assert 0 not in ovals_after  # the rejected one itself is gone
    for i in (1, 2):
        assert ovals_after[i] < 0.6 * ovals_before[i] and ovals_after[i] < 0.5
    disks_before, disks_after = scores(before, disks), scores(after, disks)
    assert len(disks_after) == len(disks_before) == len(disks) - 1
    assert min(disks_after.values()) >= 0.5 > max(ovals_after.values())  # the exemplar's kind stays shown


def test_both_sources_merge_without_duplicates(backend, encoded):
    img, emb, disks, ovals = encoded
    found = run_to_end(find_similar(backend, emb, [disks[0]], source="both", image=img))
    masks = [p.mask(img.shape) for p in found]
    assert all(iou(a, b) <= 0.3 for i, a in enumerate(masks) for b in masks[i + 1:])
    assert sorted(h for h in matching(found, disks, img.shape) if h is not None) == list(range(1, len(disks)))


def test_stack_passes_each_slice_image(backend):
    img, disks, _ = scene()
    stack = np.stack([img, np.roll(img, 3, axis=1)])
    model = describe_exemplars(backend.encode(stack[0]), [disks[0]])
    found = run_to_end(find_similar_stack(backend, lambda k: backend.encode(stack[k]), [(0,), (1,)], model,
                                          exemplar_slice=(0,), exemplars=[disks[0]], images=lambda k: stack[k],
                                          source="segment_all"))
    assert {p.slice_key for p in found} == {(0,), (1,)}
    on_second = [p for p in found if p.slice_key == (1,) and p.score >= 0.5]
    shifted = [np.roll(d, 3, axis=1) for d in disks]
    assert len({h for h in matching(on_second, shifted, img.shape) if h is not None}) == len(disks)


def test_bad_source_and_missing_image_raise(backend, encoded):
    img, emb, disks, _ = encoded
    with pytest.raises(PromptsegError, match="unknown find-similar source"):
        next(find_similar(backend, emb, [disks[0]], source="everything"))
    with pytest.raises(PromptsegError, match="needs the slice's image"):
        next(find_similar(backend, emb, [disks[0]], source="segment_all"))
    with pytest.raises(PromptsegError, match="must be the encoded slice"):
        next(find_similar(backend, emb, [disks[0]], source="segment_all", image=img[:100]))


def test_likeness_of_descriptors():
    shape = (40, 40)
    rr, cc = np.mgrid[:40, :40]
    disk = (rr - 10) ** 2 + (cc - 10) ** 2 <= 25
    same = (rr - 28) ** 2 + (cc - 28) ** 2 <= 25
    bar = (abs(rr - 30) <= 1) & (abs(cc - 12) <= 9)
    tol = tolerances(0.7, None)
    refs = ObjectDescriptors.from_masks([disk])
    found = ObjectDescriptors.from_masks([same, bar])
    like = likeness(found, refs, tol)
    assert like[0] > 0.95 and like[1] < 0.2
    assert np.array_equal(likeness(found, ObjectDescriptors.from_masks([]), tol), np.zeros(2))
    assert shape == disk.shape
