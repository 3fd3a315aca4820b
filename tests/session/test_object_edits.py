"""Whole-object edits: many objects in one step (Segment all), delete, merge, put back; each undone exactly."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.backends.random_walker import RandomWalkerBackend
from promptseg.errors import PromptsegError
from promptseg.session import AnnotationSession, ImageStack
from promptseg.session.object_edits import delete_object, merge_objects, put_back, write_objects


def _session(shape=(2, 40, 40)) -> AnnotationSession:
    return AnnotationSession(ImageStack(np.zeros(shape, np.uint8)), RandomWalkerBackend(max_pixels=4096))


def _found() -> np.ndarray:
    labels = np.zeros((2, 40, 40), np.uint32)
    labels[0, 2:10, 2:10] = 1
    labels[0, 20:30, 20:30] = 2  # overlaps the committed object below
    labels[1, 5:15, 5:15] = 1
    return labels


def test_many_objects_are_one_step_after_the_existing_ids_and_existing_objects_win():
    session = _session()
    session.objects[0, 25:35, 25:35] = 7
    session._next_label = 8
    before = session.objects.copy()
    made = write_objects(session, _found(), keep_ids=False, backend_name="segment-all", scores={1: 0.9, 2: 0.5})
    assert [o.label for o in made] == [8, 9] and [o.area for o in made] == [64 + 100, 100 - 25]
    assert made[1].score == 0.5 and session.next_label == 10
    assert (session.objects[0, 25:35, 25:35] == 7).all()  # the existing object kept its pixels
    assert (session.objects[1, 5:15, 5:15] == 8).all()
    session.undo()
    np.testing.assert_array_equal(session.objects, before)
    assert session.committed == [] and session.next_label == 8
    session.redo()
    assert sorted(np.unique(session.objects).tolist()) == [0, 7, 8, 9] and len(session.committed) == 2


def test_delete_and_merge_are_undone_exactly():
    session = _session()
    write_objects(session, _found(), keep_ids=True, backend_name="adopted")
    start = session.objects.copy()
    delete_object(session, (0,), 2)
    assert not (session.objects == 2).any() and [o.label for o in session.committed] == [1]
    session.undo()
    np.testing.assert_array_equal(session.objects, start)
    assert sorted(o.label for o in session.committed) == [1, 2]
    merge_objects(session, (0,), 1, 2)
    assert (session.objects[0, 20:30, 20:30] == 1).all() and (session.objects[1] == 1).sum() == 100
    assert [o.label for o in session.committed] == [1]
    delete_object(session, (0,), 1)  # object 1 lives on slice 1 too: its record stays
    assert [o.label for o in session.committed] == [1] and (session.objects[0] == 0).all()
    session.undo()
    session.undo()
    np.testing.assert_array_equal(session.objects, start)


def test_bad_edits_change_nothing():
    session = _session()
    write_objects(session, _found(), keep_ids=True, backend_name="adopted")
    start = session.objects.copy()
    with pytest.raises(PromptsegError, match="not on this slice"):
        delete_object(session, (1,), 2)
    with pytest.raises(PromptsegError, match="itself"):
        merge_objects(session, (0,), 1, 1)
    with pytest.raises(PromptsegError, match="shape"):
        write_objects(session, np.zeros((40, 40), np.int32), keep_ids=True, backend_name="x")
    np.testing.assert_array_equal(session.objects, start)
    assert not session.history._redo


def test_put_back_restores_a_picked_up_object():
    from promptseg.session.adopt import pick_up

    session = _session((40, 40))
    labels = np.zeros((40, 40), np.int32)
    labels[5:20, 5:20] = 3
    write_objects(session, labels, keep_ids=True, backend_name="adopted")
    session.encode_iter([()]).close()
    label, _ = pick_up(session, (), (10, 10))
    mask = session.draft.prompts.mask
    assert not session.objects.any()
    put_back(session, (), label, mask)
    np.testing.assert_array_equal(session.objects, labels)
    assert session.draft.is_empty
    session.undo()
    assert not session.objects.any() and session.draft.prompts.mask is not None
