"""find_similar on synthetic images with repeated shapes (disks and squares on noise)."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.backends.classic import ClassicBackend
from promptseg.errors import PromptError, PromptsegError
from promptseg.exemplar import (FindProgress, accept_proposals, describe_exemplars, find_similar,
                                find_similar_stack, proposals_to_labels)
from promptseg.session import AnnotationSession, ImageStack

DISKS = [(20, 20), (20, 60), (20, 100), (60, 30), (60, 90), (100, 20), (100, 60), (100, 100)]
SQUARES = [(60, 60), (85, 45)]


def scene(seed: int = 0, *, squares: bool = False):
    """A 120x120 gray image with bright disks of radius 7 (and dark-gray squares), and their masks."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:120, :120]
    img = rng.normal(50, 6, (120, 120))
    disks = []
    for r, c in DISKS:
        m = (rr - r) ** 2 + (cc - c) ** 2 <= 49
        img[m] += 120
        disks.append(m)
    sq = []
    if squares:
        for r, c in SQUARES:
            m = (abs(rr - r) <= 6) & (abs(cc - c) <= 6)
            img[m] = rng.normal(120, 6, m.sum())
            sq.append(m)
    return np.clip(img, 0, 255).astype(np.uint8), disks, sq


def run(gen):
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return stop.value, events


def best_iou(mask, targets):
    return max(np.count_nonzero(mask & t) / np.count_nonzero(mask | t) for t in targets)


@pytest.fixture(scope="module")
def backend():
    return ClassicBackend()


def test_one_exemplar_finds_the_other_disks(backend):
    img, disks, _ = scene()
    emb = backend.encode(img)
    proposals, events = run(find_similar(backend, emb, [disks[0]]))
    good = [p for p in proposals if best_iou(p.mask(img.shape), disks[1:]) >= 0.5]
    assert len(good) == len(proposals) == len(disks) - 1
    assert all(0.0 <= p.score <= 1.0 for p in proposals)
    assert [p.score for p in proposals] == sorted((p.score for p in proposals), reverse=True)
    # progress: a search stage and one "prompt" event per candidate, counting up to its total
    assert all(isinstance(e, FindProgress) for e in events)
    prompts = [e for e in events if e.stage == "prompt"]
    assert prompts and prompts[-1].done == prompts[-1].total and events[0].stage == "search"


def test_proposal_reproduces_from_its_prompts(backend):
    img, disks, _ = scene()
    emb = backend.encode(img)
    proposals, _ = run(find_similar(backend, emb, [disks[0]]))
    p = proposals[0]
    again = backend.predict(emb, p.prompts(img.shape)).mask
    assert best_iou(p.mask(img.shape), [again]) > 0.95


def test_negative_example_suppresses_a_kind(backend):
    img, disks, squares = scene(1, squares=True)
    emb = backend.encode(img)
    everything, _ = run(find_similar(backend, emb, [disks[0], squares[0]]))
    assert any(best_iou(p.mask(img.shape), squares[1:]) >= 0.5 for p in everything)
    only_disks, _ = run(find_similar(backend, emb, [disks[0]], negatives=[squares[0]]))
    assert not any(best_iou(p.mask(img.shape), squares) >= 0.3 for p in only_disks)
    assert sum(best_iou(p.mask(img.shape), disks[1:]) >= 0.5 for p in only_disks) >= len(disks) - 2


def test_existing_objects_are_not_proposed_again(backend):
    img, disks, _ = scene()
    emb = backend.encode(img)
    objects = np.zeros(img.shape, np.int32)
    for i in (1, 2, 3):
        objects[disks[i]] = i
    proposals, _ = run(find_similar(backend, emb, [disks[0]], objects=objects))
    for p in proposals:
        m = p.mask(img.shape)
        assert not (m & (objects > 0)).any() and not (m & disks[0]).any()
    assert len(proposals) == len(disks) - 4


def test_bad_input_raises_actionable_errors(backend):
    img, disks, _ = scene()
    emb = backend.encode(img)
    with pytest.raises(PromptError, match="must match the slice"):
        describe_exemplars(emb, [np.ones((10, 10), bool)])
    with pytest.raises(PromptError, match="at least one exemplar"):
        describe_exemplars(emb, [np.zeros(img.shape, bool)])
    from promptseg.backends.random_walker import RandomWalkerBackend

    rw = RandomWalkerBackend()
    with pytest.raises(PromptsegError, match="classic backend or a SAM"):
        describe_exemplars(rw.encode(img), [disks[0]])


def test_accept_commits_undoable_objects(backend):
    img, disks, _ = scene()
    objects = np.zeros(img.shape, np.int32)
    objects[disks[0]] = 7  # an object the user made before
    session = AnnotationSession(ImageStack(img), backend, objects=objects)
    emb = backend.encode(img)
    proposals, _ = run(find_similar(backend, emb, [disks[0]], objects=session.objects))
    made = accept_proposals(session, proposals[:3])
    assert [o.label for o in made] == [8, 9, 10]
    assert set(np.unique(session.objects)) == {0, 7, 8, 9, 10}
    session.undo()
    assert set(np.unique(session.objects)) == {0, 7, 8, 9}
    for _ in range(2):
        session.undo()
    assert set(np.unique(session.objects)) == {0, 7} and (session.objects[disks[0]] == 7).all()
    session.redo()
    assert 8 in session.objects


def test_labels_and_stack_search(backend):
    img0, disks, _ = scene(0)
    img1, _, _ = scene(3)
    stack = np.stack([img0, img1])
    cache = {}

    def embeddings(key):
        if key not in cache:
            cache[key] = backend.encode(stack[key])
        return cache[key]

    model = describe_exemplars(embeddings((0,)), [disks[0]])
    proposals, events = run(find_similar_stack(backend, embeddings, [(0,), (1,)], model, exemplar_slice=(0,),
                                               exemplars=[disks[0]]))
    by_slice = {k: [p for p in proposals if p.slice_key == k] for k in [(0,), (1,)]}
    assert len(by_slice[(0,)]) == len(disks) - 1  # the exemplar itself is not proposed
    assert len(by_slice[(1,)]) == len(disks)
    assert {e.slice_key for e in events if e.stage == "encode"} == {(0,), (1,)}
    labels = proposals_to_labels(proposals, stack.shape)
    assert labels.shape == stack.shape and labels.max() == len(proposals)
    assert len(np.unique(labels[1])) == len(disks) + 1


def test_boundary_rule_learnt_from_the_exemplar(backend):
    """Annotations drawn wider than the bright core (blurred disks): proposals follow the exemplar's convention."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(5)
    rr, cc = np.mgrid[:120, :120]
    core = np.zeros((120, 120))
    drawn = []
    for r, c in DISKS:
        core[(rr - r) ** 2 + (cc - c) ** 2 <= 36] = 140
        drawn.append((rr - r) ** 2 + (cc - c) ** 2 <= 64)
    img = np.clip(ndi.gaussian_filter(core, 2.0) + 50 + rng.normal(0, 3, core.shape), 0, 255).astype(np.uint8)
    emb = backend.encode(img)

    def mean_iou(refine):
        props, _ = run(find_similar(backend, emb, [drawn[0]], refine_boundary=refine, min_score=0.5,
                                    pixel_search=False))
        return np.mean([best_iou(p.mask(img.shape), drawn[1:]) for p in props]), len(props)

    plain, n_plain = mean_iou(False)
    refined, n_refined = mean_iou(True)
    assert n_plain == n_refined == len(DISKS) - 1
    assert refined > plain + 0.03
