"""AnnotationSession with a tiny random-weight SAM: predict, commit, undo, 3D, JSON."""

from __future__ import annotations

import numpy as np
import pytest

from keyword_backend import KeywordBackend
from promptseg.data import synthetic_nuclei_2d, synthetic_nuclei_3d
from promptseg.errors import PromptsegError
from promptseg.prompts import Prompts
from promptseg.session import (
    AnnotationSession, ImageStack, load_annotations, replay_iter, save_annotations, to_json,
)


class FakeBackend(KeywordBackend):
    """Predicts a disk of radius 5 around every positive click (minus around negative ones)."""

    name = "fake"
    backend_id = "fake:1"
    checkpoint_hash = "h1"

    def __init__(self) -> None:
        self.calls = []

    def encode(self, image, *, contrast_limits=None):
        from promptseg.backends.base import ImageEmbedding

        return ImageEmbedding(self.backend_id, image.shape[:2], np.asarray(image, np.float32))

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        from promptseg.backends.base import Prediction

        self.calls.append((None if points is None else len(points), previous is not None))
        h, w = embedding.image_shape
        rr, cc = np.mgrid[:h, :w]
        out = np.zeros((h, w), bool) if mask is None else mask.copy()
        for (r, c), lab in zip(points if points is not None else [], labels if labels is not None else []):
            disk = (rr - r) ** 2 + (cc - c) ** 2 <= 25
            out = out | disk if lab else out & ~disk
        if box is not None:
            r0, c0, r1, c1 = (int(v) for v in box)
            out[r0 : r1 + 1, c0 : c1 + 1] |= points is None
        logits = np.where(out, 1.0, -1.0).astype(np.float32)
        return Prediction(out, logits, 0.9, state=out)


def _session(shape=(64, 64), backend=None):
    img = synthetic_nuclei_2d(shape, n_nuclei=4, seed=1).image if len(shape) == 2 else \
        synthetic_nuclei_3d(shape, n_nuclei=4, seed=1).image
    session = AnnotationSession(ImageStack(img), backend or FakeBackend())
    return session


def _click(*pts, labels=None) -> Prompts:
    return Prompts(points=list(pts), labels=labels or [1] * len(pts))


def test_prediction_waits_for_embedding() -> None:
    s = _session()
    assert s.set_prompts((), _click((20, 20))) is None
    assert s.waiting_for == ()
    for _ in s.encode_iter([()]):
        pass
    assert s.waiting_for is None and s.refresh().area > 0


def test_prediction_equals_backend_for_one_click(tiny_backend) -> None:
    s = _session(backend=tiny_backend)
    for _ in s.encode_iter([()]):
        pass
    pred = s.set_prompts((), _click((30, 30)))
    expected = tiny_backend.predict(s.embedding(()), points=[(30, 30)], labels=[1])
    np.testing.assert_array_equal(pred.mask, expected.mask)
    np.testing.assert_allclose(pred.logits, expected.logits, atol=1e-5)


def test_previous_prediction_is_fed_back_once_per_click() -> None:
    backend = FakeBackend()
    s = _session(backend=backend)
    list(s.encode_iter([()]))
    s.set_prompts((), _click((20, 20)))
    s.set_prompts((), _click((20, 20), (40, 40), labels=[1, 0]))
    assert backend.calls == [(1, False), (2, True)]
    s.undo()  # back to one click: memoised, no new predict
    assert len(backend.calls) == 2 and s.prediction.area > 0


class PreparingBackend(FakeBackend):
    """Records what it was asked to prepare and what the next prediction was given."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared = []
        self.previous = []

    def prepare_feedback(self, embedding, previous) -> None:
        self.prepared.append(previous)

    def predict(self, embedding, *args, previous=None, **kwargs):
        self.previous.append(previous)
        return super().predict(embedding, *args, previous=previous, **kwargs)


def test_feedback_is_prepared_with_the_answer_the_next_click_gets() -> None:
    backend = PreparingBackend()
    s = _session(backend=backend)
    s.set_prompts((), _click((20, 20)))
    assert not s.prepare_feedback()  # nothing shown yet: the embedding is not ready
    list(s.encode_iter([()]))
    s.set_prompts((), Prompts(box=(10, 10, 30, 30)))
    assert s.prediction is not None and not s.prepare_feedback()  # a box alone: the first click starts afresh
    s.set_prompts((), _click((20, 20)))
    assert s.prepare_feedback() and backend.prepared == [s.prediction]
    s.set_prompts((), _click((20, 20), (40, 40), labels=[1, 0]))
    assert backend.previous[-1] is backend.prepared[0]
    assert not _session().prepare_feedback()  # backends without it are not asked
    scribbled = Prompts(points=[(20, 20)], labels=[1], scribbles=[np.array([(15.0, 15.0), (25.0, 25.0)])])
    s.set_prompts((), scribbled)
    assert s.prediction is not None and not s.prepare_feedback()  # the rasterised scribble is the mask prompt
    assert len(backend.prepared) == 1


def test_a_click_answered_ahead_costs_no_predict_and_gives_the_same_answer() -> None:
    backend = PreparingBackend()
    s = _session(backend=backend)
    assert not s.look_ahead((), Prompts().with_click((20, 20), 1))  # not encoded yet
    list(s.encode_iter([()]))
    assert s.look_ahead((), Prompts().with_click((20.25, 19.5), 1))  # the first click of an object
    assert len(backend.calls) == 1 and s.prediction is None and not s.history.can_undo
    first = s.set_prompts((), _click((20.25, 19.5)))
    assert len(backend.calls) == 1 and first.area > 0
    assert s.look_ahead((), s.draft.prompts.with_click((22, 24), 0))  # a negative second click: fed the first answer
    assert backend.previous[-1] is first
    second = s.set_prompts((), _click((20.25, 19.5), (22, 24), labels=[1, 0]))
    assert len(backend.calls) == 2 and not second.mask[22, 24]
    fresh = FakeBackend().predict(s.embedding(()), points=[(20.25, 19.5), (22, 24)], labels=[1, 0], previous=first)
    np.testing.assert_array_equal(second.mask, fresh.mask)


def test_sam_clicks_answered_ahead_match_the_backend(tiny_backend) -> None:
    s = _session(backend=tiny_backend)
    list(s.encode_iter([()]))
    emb = s.embedding(())
    assert s.look_ahead((), Prompts().with_click((30, 30), 1))
    first = s.set_prompts((), _click((30, 30)))
    assert s.prepare_feedback() and s.look_ahead((), s.draft.prompts.with_click((12.5, 40), 0))
    second = s.set_prompts((), _click((30, 30), (12.5, 40), labels=[1, 0]))
    expected_first = tiny_backend.predict(emb, points=[(30, 30)], labels=[1])
    expected = tiny_backend.predict(emb, points=[(30, 30), (12.5, 40)], labels=[1, 0], previous=expected_first)
    np.testing.assert_array_equal(first.mask, expected_first.mask)
    np.testing.assert_allclose(second.logits, expected.logits, atol=1e-4)


def test_a_click_elsewhere_or_with_the_other_label_is_predicted_as_usual() -> None:
    backend = FakeBackend()
    s = _session(backend=backend)
    list(s.encode_iter([()]))
    s.look_ahead((), Prompts().with_click((20, 20), 1))
    s.set_prompts((), _click((20, 21)))
    s.look_ahead((), s.draft.prompts.with_click((40, 40), 1))
    s.set_prompts((), _click((20, 21), (40, 40), labels=[1, 0]))
    assert backend.calls == [(1, False), (1, False), (2, True), (2, True)]
    assert not s.prediction.mask[40, 40]


def test_look_ahead_needs_the_prompts_whose_answer_is_shown() -> None:
    backend = FakeBackend()
    s = _session(backend=backend)
    list(s.encode_iter([()]))
    s.set_prompts((), _click((20, 20)))
    assert not s.look_ahead((), _click((30, 30)).with_click((40, 40), 1))  # those clicks were never answered
    assert not s.look_ahead((), s.draft.prompts.with_click((70, 20), 1))  # off the image
    assert s.look_ahead((), Prompts(box=(10, 10, 30, 30)).with_click((20, 20), 1))  # a new object's first click
    assert len(backend.calls) == 2 and s.prediction.area > 0


def test_commit_ids_never_overwrite() -> None:
    s = _session()
    list(s.encode_iter([()]))
    for i, (r, c) in enumerate([(20, 20), (24, 24), (50, 50)], start=1):
        s.set_prompts((), _click((r, c)))
        obj = s.commit()
        assert obj.label == i and s.draft.is_empty
    assert sorted(np.unique(s.objects)) == [0, 1, 2, 3]
    assert (s.objects == 1).sum() == s.committed[0].area  # object 2 did not take object 1's pixels
    assert s.committed[1].area < s.committed[0].area


def test_commit_with_overwrite() -> None:
    s = _session()
    list(s.encode_iter([()]))
    s.set_prompts((), _click((20, 20)))
    s.commit()
    s.set_prompts((), _click((22, 22)))
    s.commit(overwrite=True)
    assert s.objects[20, 20] == 2


def test_commit_errors_are_actionable() -> None:
    s = _session()
    with pytest.raises(PromptsegError, match="click"):
        s.commit()
    s.set_prompts((), _click((20, 20)))
    with pytest.raises(PromptsegError, match="encoded"):
        s.commit()


def test_undo_redo_sequence() -> None:
    s = _session()
    list(s.encode_iter([()]))
    s.set_prompts((), _click((20, 20)))
    s.set_prompts((), _click((20, 20), (22, 30)))
    s.commit()
    s.set_prompts((), _click((50, 50)))
    s.clear()
    assert s.draft.is_empty
    s.undo()  # clear undone
    assert len(s.draft.prompts.points) == 1
    s.undo()  # the click on object 2 undone
    assert s.draft.is_empty
    snapshot = s.objects.copy()
    s.undo()  # commit undone: object gone, its prompts back
    assert s.objects.max() == 0 and len(s.draft.prompts.points) == 2 and s.prediction is not None
    s.redo()
    np.testing.assert_array_equal(s.objects, snapshot)
    assert s.draft.is_empty and [o.label for o in s.committed] == [1]
    s.undo()
    s.undo()
    assert len(s.draft.prompts.points) == 1
    s.set_prompts((), _click((20, 20), (10, 10)))  # a new step forgets the redo stack
    assert s.redo() is None
    s.commit()
    assert s.committed[-1].label == 1  # the undone id is reused


def test_3d_slices_are_independent() -> None:
    s = _session((8, 48, 48))
    list(s.encode_iter([(2,), (3,)]))
    assert len(s.cache) == 2
    s.set_prompts((2,), _click((20, 20)))
    s.commit()
    s.set_prompts((3,), _click((20, 20)))
    s.commit()
    assert (s.objects[2] == 1).any() and (s.objects[3] == 2).any()
    assert not (s.objects[[0, 1, 4, 5, 6, 7]] > 0).any()
    assert s.committed[0].slice_key == (2,)
    assert s.image.neighbours((0,), 2) == [(1,), (2,)]


def test_rgb_stack_slices() -> None:
    data = np.zeros((3, 32, 40, 3), np.uint8)
    stack = ImageStack(data, rgb=True)
    assert stack.label_shape == (3, 32, 40) and stack.plane((1,)).shape == (32, 40, 3)


def test_json_round_trip_reproduces_objects(tmp_path, tiny_backend) -> None:
    s = _session(backend=tiny_backend)
    list(s.encode_iter([()]))
    s.set_prompts((), _click((20, 20), (30, 30), labels=[1, 0]))
    s.commit(overwrite=True)  # random weights: masks may cover anything
    s.set_prompts((), Prompts(box=(40, 40, 60, 60), polygons=[np.array([(45, 45), (45, 55), (55, 50)])]))
    s.commit(overwrite=True)
    path = save_annotations(tmp_path / "a.json", s)
    data = to_json(s)
    assert data["objects"][0]["checkpoint_hash"] == "test" and data["objects"][0]["backend"] == "tiny"
    loaded = load_annotations(path)
    assert [o.label for o in loaded.objects] == [1, 2]
    fresh = _session(backend=tiny_backend)
    warnings = None
    gen = replay_iter(fresh, loaded, overwrite=True)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        warnings = stop.value
    assert warnings == []
    np.testing.assert_array_equal(fresh.objects, s.objects)


def test_load_rejects_other_files(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "something"}')
    with pytest.raises(PromptsegError, match="not a promptseg"):
        load_annotations(path)
