"""SAM 2.1 memory propagation in a session: several objects (clicks and committed masks), re-propagation replaces."""

from __future__ import annotations

import numpy as np
import pytest

from sam2_fixture import drifting_disc_stack, tiny_tracker_model
from store_fakes import run

from promptseg.backends.sam2 import Sam2Backend
from promptseg.errors import PromptsegError
from promptseg.prompts import Prompts
from promptseg.session.memory_propagation import MemoryPropagation
from promptseg.session import AnnotationSession, ImageStack
from promptseg.session.tracked_objects import commit_tracks


@pytest.fixture(scope="module")
def backend():
    return Sam2Backend(tiny_tracker_model(), name="tiny-tracker", checkpoint_hash="test")


def _session(backend, stack=None, objects=None) -> AnnotationSession:
    return AnnotationSession(ImageStack(drifting_disc_stack() if stack is None else stack), backend, objects=objects)


def _run(memory: MemoryPropagation, starts, z: int, z_range=(0, 5)):
    """(result, steps) of one memory propagation run to the end."""
    steps, result = run(memory.run(starts, (z,), z_range))
    return result, steps


def _click(row: float, col: float) -> Prompts:
    return Prompts(np.array([[row, col]]), np.array([1]))


def test_repropagation_replaces_the_object_on_every_tracked_slice(backend) -> None:
    session = _session(backend)
    memory = MemoryPropagation(session)
    result, steps = _run(memory, {1: _click(20, 21)}, 2)
    assert [s.z for s in steps] == [3, 4, 5, 1, 0] and result.slices == [0, 1, 2, 3, 4, 5]
    commit_tracks(session, result)
    objects = session.objects
    # what an earlier, larger answer (or the user's paint) left: object 1 in a corner of every slice,
    # and object 2 beside it, which propagating object 1 must not touch
    objects[:, 0:4, 0:6] = 1
    objects[:, 36:40, 0:6] = 2
    before = objects.copy()
    again, _ = _run(memory, {1: _click(20, 27)}, 4)  # a correction on slice 4, propagated again
    commit_tracks(session, again)
    stale = 0
    for z in range(6):
        expected = again.masks[1].get(z, np.zeros((40, 50), bool)) & (before[z] != 2)
        np.testing.assert_array_equal(objects[z] == 1, expected, err_msg=f"slice {z}")  # old pixels cleared
        np.testing.assert_array_equal(objects[z] == 2, before[z] == 2)
        stale += int(((before[z] == 1) & ~expected).sum())
    assert stale > 0  # the case of the bug: old pixels outside the new masks
    assert set(memory.tracker(()).engine.tracks[1].conditioning) == {2, 4}
    session.undo()  # one step, restored exactly
    np.testing.assert_array_equal(objects, before)
    after_redo = session.redo()
    assert after_redo is not None and ((before == 1) & (objects == 0)).sum() == stale


def test_several_objects_from_clicks_and_committed_masks(backend) -> None:
    stack = drifting_disc_stack()
    rows, cols = np.mgrid[:40, :50]
    second = (rows - 8) ** 2 + (cols - 40) ** 2 < 16  # a still, smaller disc: object 1, committed on slice 2
    stack[:, second] = 200
    objects = np.zeros(stack.shape, np.int32)
    objects[2][second] = 1  # object 1, committed on slice 2 (the GUI test commits it with the Commit button)
    session = _session(backend, stack, objects)
    memory = MemoryPropagation(session)
    result, steps = _run(memory, {2: _click(20, 21), 1: session.objects[2] == 1}, 2)
    tracker = memory.tracker(())
    assert tracker.object_ids == [2, 1] and result.labels == [2, 1]
    for label in (1, 2):
        assert 2 in tracker.engine.tracks[label].conditioning
    mask_out = tracker.engine.tracks[1].conditioning[2]
    assert mask_out.from_clicks and mask_out.iou == 1.0 and mask_out.present  # the mask is the answer there
    np.testing.assert_array_equal(result.masks[1][2], second)  # kept exactly on its slice
    assert all(s.total == 5 for s in steps)
    before = session.objects.copy()
    edit = commit_tracks(session, result)
    assert set(np.unique(edit.new).tolist()) <= {0, 1, 2}
    empty = np.zeros((40, 50), bool)
    for z in result.slices:  # both replaced on every slice; object 2 (listed first) wins where they overlap
        expected = np.where(result.masks[2].get(z, empty), 2, np.where(result.masks[1].get(z, empty), 1, 0))
        np.testing.assert_array_equal(session.objects[z], expected, err_msg=f"slice {z}")
    assert len(result.masks[2]) > 1  # carried beyond its slice
    assert [o.label for o in session.committed] == [2]  # the new object recorded, object 1 kept its id
    session.undo()
    np.testing.assert_array_equal(session.objects, before)


def test_bad_starts_and_masks_are_refused(backend) -> None:
    session = _session(backend)
    memory = MemoryPropagation(session)
    with pytest.raises(PromptsegError, match="clicks, a box or a committed"):
        _run(memory, {1: Prompts()}, 2)
    with pytest.raises(PromptsegError, match="outside the range"):
        _run(memory, {1: _click(20, 21)}, 2, (3, 5))
    tracker = memory.tracker(())
    with pytest.raises(Exception, match="shape"):
        tracker.add_mask(0, 1, np.ones((10, 10), bool))
    empty = tracker.add_mask(0, 3, np.zeros((40, 50), bool))[3]
    assert not empty.mask.any()  # an empty mask: the object is absent there
    assert tracker.engine.tracks[3].pending[0].object_score.item() < 0
