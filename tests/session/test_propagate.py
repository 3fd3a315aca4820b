"""3D propagation: prompts from the neighbour, stop criteria, z-range, undoable commit."""

from __future__ import annotations

import numpy as np
import pytest
from store_fakes import ComponentBackend, ScriptedBackend, disk, iou, run

from promptseg.errors import PromptsegError
from promptseg.prompts import Prompts
from promptseg.session import AnnotationSession, ImageStack
from promptseg.session.propagate import (
    commit_propagation, neighbour_prompts, propagate, session_embeddings, start_from_session,
)
from promptseg.store import StoredBackend, embed_stack

SHAPE = (40, 40)


def _stack(backend, radii, scores=None, centers=None):
    scores = scores or [1.0] * len(radii)
    centers = centers or [(20, 20)] * len(radii)
    return [backend.embedding(disk(SHAPE, c, r) if r else np.zeros(SHAPE, bool), s)
            for r, s, c in zip(radii, scores, centers)]


def test_neighbour_prompts_box_point_and_mask():
    mask = disk(SHAPE, (20, 15), 5)
    p = neighbour_prompts(mask)
    assert p.points.tolist() == [[20.0, 15.0]] and p.labels.tolist() == [1] and p.mask is not None
    r0, c0, r1, c1 = p.box
    assert r0 < 15 and c0 < 10 and r1 > 25 and c1 > 20 and r0 >= 0 and c0 >= 0


def test_stops_where_the_object_vanishes():
    backend = ScriptedBackend()
    embs = _stack(backend, [0, 5, 7, 8, 7, 5, 0, 5])
    steps, result = run(propagate(backend, embs, disk(SHAPE, (20, 20), 8), 3))
    assert sorted(result.masks) == [1, 2, 3, 4, 5]
    assert result.stopped == {1: "vanished", -1: "vanished"}
    assert [(s.z, s.accepted) for s in steps] == [(4, True), (5, True), (6, False), (2, True), (1, True), (0, False)]
    assert steps[-1].done == 6 and steps[0].total == 7
    # the start slice was asked first (calibration), then each slice with its neighbour's mask
    np.testing.assert_array_equal(backend.prompts[0]["mask"], disk(SHAPE, (20, 20), 8))
    np.testing.assert_array_equal(backend.prompts[2]["mask"], disk(SHAPE, (20, 20), 7))
    assert result.threshold == 0.0 and result.calibration_iou == 1.0  # the scripted answer is the start mask


def test_stops_on_low_score_and_on_a_jump():
    backend = ScriptedBackend()
    embs = _stack(backend, [8, 8, 8, 8, 8], scores=[0.2, 0.9, 0.9, 0.9, 0.9],
                  centers=[(20, 20), (20, 20), (20, 20), (20, 20), (8, 8)])
    _, result = run(propagate(backend, embs, disk(SHAPE, (20, 20), 8), 2, min_score=0.5, min_overlap=0.3))
    assert sorted(result.masks) == [1, 2, 3]
    assert result.stopped == {1: "overlap", -1: "score"}
    _, relaxed = run(propagate(backend, embs, disk(SHAPE, (20, 20), 8), 2, min_score=0.0, min_overlap=0.0))
    assert sorted(relaxed.masks) == [0, 1, 2, 3, 4] and relaxed.stopped == {1: "range", -1: "range"}


def test_stops_where_a_shrinking_object_grows_again():
    backend = ScriptedBackend()
    embs = _stack(backend, [12, 11, 12, 10, 8, 6, 5, 7, 9, 11])  # shrinks to slice 6, then creeps outwards
    steps, result = run(propagate(backend, embs, disk(SHAPE, (20, 20), 12), 2, directions=(1,)))
    assert sorted(result.masks) == [2, 3, 4, 5, 6] and result.stopped == {1: "regrew"}
    assert steps[-1].z == 7 and not steps[-1].accepted
    _, free = run(propagate(backend, embs, disk(SHAPE, (20, 20), 12), 2, directions=(1,), regrow_tolerance=None))
    assert sorted(free.masks) == list(range(2, 10))
    _, small_wobble = run(propagate(backend, embs, disk(SHAPE, (20, 20), 12), 0, z_range=(0, 2), directions=(1,)))
    assert sorted(small_wobble.masks) == [0, 1, 2]  # areas 12² -> 11² -> 12² wobble within the tolerance


def test_z_range_and_direction():
    backend = ScriptedBackend()
    embs = _stack(backend, [8] * 10)
    _, result = run(propagate(backend, embs, disk(SHAPE, (20, 20), 8), 5, z_range=(3, 7), directions=(1,)))
    assert sorted(result.masks) == [5, 6, 7] and result.z_range == (5, 7)
    with pytest.raises(PromptsegError, match="outside the propagation range"):
        run(propagate(backend, embs, disk(SHAPE, (20, 20), 8), 9, z_range=(3, 7)))
    with pytest.raises(PromptsegError, match="non-empty"):
        run(propagate(backend, embs, np.zeros(SHAPE, bool), 5))
    with pytest.raises(PromptsegError, match="z_range"):
        run(propagate(backend, embs.__getitem__, disk(SHAPE, (20, 20), 8), 5))


def _ball_stack():
    zz, rr, cc = np.mgrid[:12, :40, :40]
    ball = ((zz - 6) / 4.5) ** 2 + ((rr - 20) / 12.0) ** 2 + ((cc - 20) / 12.0) ** 2 <= 1
    other = ((zz - 6) / 6.0) ** 2 + ((rr - 5) / 3.0) ** 2 + ((cc - 5) / 3.0) ** 2 <= 1
    return np.where(ball | other, 800, 10).astype(np.uint16), ball


def test_propagation_from_a_store_and_undo(tmp_path):
    image, ball = _ball_stack()
    backend = ComponentBackend()
    _, store = run(embed_stack(image, backend, tmp_path / "s.zarr"))
    steps, result = run(propagate(backend, store, ball[6], 6))
    assert sorted(result.masks) == list(np.flatnonzero(ball.any(axis=(1, 2))))
    assert all(iou(result.masks[z], ball[z]) == 1.0 for z in result.masks)

    session = AnnotationSession(ImageStack(image), StoredBackend(backend, store))
    with pytest.raises(PromptsegError, match="nothing to propagate"):
        start_from_session(session)
    for _ in session.encode_iter([(6,)]):
        pass
    session.set_prompts((6,), Prompts(points=[(20, 20)], labels=[1]))
    key, mask = start_from_session(session)
    assert key == (6,) and np.array_equal(mask, ball[6])
    edit = commit_propagation(session, result)
    assert session.objects.max() == 1 and np.array_equal(session.objects == 1, ball)
    assert session.draft.is_empty and len(session.committed) == 1 and edit.new == 1
    session.undo()
    assert session.objects.max() == 0 and not session.committed
    assert session.draft.slice_key == (6,)  # the prompts are back
    session.redo()
    assert np.array_equal(session.objects == 1, ball)


def test_extends_a_committed_object_without_touching_others():
    image, ball = _ball_stack()
    backend = ComponentBackend()
    session = AnnotationSession(ImageStack(image), backend)
    for _ in session.encode_iter([(6,)]):
        pass
    session.set_prompts((6,), Prompts(points=[(20, 20)], labels=[1]))
    obj = session.commit()
    session.objects[5, 20, 20] = 7  # another object in the way
    key, start = start_from_session(session, label=obj.label, slice_key=(6,))
    with pytest.raises(PromptsegError, match="not on slice"):
        start_from_session(session, label=obj.label, slice_key=(0,))
    _, result = run(propagate(backend, session_embeddings(session), start, 6, z_range=(0, 11)))
    commit_propagation(session, result, label=obj.label)
    assert session.objects[5, 20, 20] == 7 and (session.objects == obj.label).sum() == ball.sum() - 1
    assert len(session.committed) == 1 and session.next_label == 2
    session.undo()
    assert np.array_equal(session.objects == obj.label, ball & (np.arange(12) == 6)[:, None, None])
    assert session.next_label == 2
