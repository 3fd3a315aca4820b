"""Existing labels as a starting point: adopted with their ids, corrected by picking one up (issue 22 item 4)."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.backends.random_walker import RandomWalkerBackend
from promptseg.errors import PromptsegError
from promptseg.session import AnnotationSession, ImageStack
from promptseg.session.adopt import adopt_labels, pick_up


def _image() -> np.ndarray:
    img = np.full((64, 64), 20, np.uint8)
    img[8:28, 8:28] = 200  # object A
    img[36:60, 30:58] = 200  # object B
    return img


def _session(**kw) -> AnnotationSession:
    session = AnnotationSession(ImageStack(_image()), RandomWalkerBackend(max_pixels=4096), **kw)
    for _ in session.encode_iter([()]):
        pass
    return session


def _other_tool() -> np.ndarray:
    labels = np.zeros((64, 64), np.int32)
    labels[8:28, 8:28] = 5
    labels[36:60, 30:46] = 9  # B only half found
    return labels


def test_labels_are_adopted_with_their_ids_and_new_objects_come_after():
    session = _session()
    made = adopt_labels(session, _other_tool())
    assert [o.label for o in made] == [5, 9] and [o.area for o in made] == [400, 384]
    np.testing.assert_array_equal(session.objects, _other_tool())
    assert session.next_label == 10 and [o.label for o in session.committed] == [5, 9]
    session.undo()  # one step: every adopted object goes
    assert not session.objects.any() and session.committed == [] and session.next_label == 5
    session.redo()
    np.testing.assert_array_equal(session.objects, _other_tool())
    assert [o.label for o in session.committed] == [5, 9]


def test_labels_already_in_the_objects_array_are_adopted_in_place():
    session = _session(objects=_other_tool())
    made = adopt_labels(session)
    assert [o.label for o in made] == [5, 9] and session.next_label == 10
    np.testing.assert_array_equal(session.objects, _other_tool())


def test_a_picked_up_object_is_corrected_by_clicks_and_keeps_its_id():
    session = _session()
    adopt_labels(session, _other_tool())
    label, pred = pick_up(session, (), (40, 35))
    assert label == 9 and pred is not None
    assert not (session.objects == 9).any()  # out of the array while it is edited
    np.testing.assert_array_equal(session.draft.prompts.mask, _other_tool() == 9)  # its mask is the starting prompt
    session.set_prompts((), session.draft.prompts.with_click((50, 52), 1))  # the part the other tool missed
    obj = session.commit(label=label)
    assert obj.label == 9 and (session.objects[36:60, 46:58] == 9).mean() > 0.9
    assert (session.objects == 5).sum() == 400  # the other object untouched
    session.undo()  # the commit
    session.undo()  # the click
    session.undo()  # the pick-up: the object is back as it was
    np.testing.assert_array_equal(session.objects, _other_tool())


def test_bad_labels_and_picks_are_refused_without_changes():
    session = _session()
    with pytest.raises(PromptsegError, match="shape"):
        adopt_labels(session, np.zeros((10, 10), np.int32))
    with pytest.raises(PromptsegError, match="integers"):
        adopt_labels(session, np.zeros((64, 64), np.float32))
    with pytest.raises(PromptsegError, match="negative"):
        adopt_labels(session, -np.ones((64, 64), np.int32))
    assert session.committed == [] and not session.objects.any()
    adopt_labels(session, _other_tool())
    with pytest.raises(PromptsegError, match="no object"):
        pick_up(session, (), (2, 2))
    session.set_prompts((), session.draft.prompts.with_click((12, 12), 1))
    with pytest.raises(PromptsegError, match="commit or clear"):
        pick_up(session, (), (40, 35))
    np.testing.assert_array_equal(session.objects, _other_tool())
