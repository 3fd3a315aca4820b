"""StackTracker on a tiny random-weight SAM 2.1 model: API, directions, corrections, gating, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2_fixture import drifting_disc_stack, tiny_tracker_model

from promptseg import StackTracker
from promptseg.errors import ImageError, PromptError
from promptseg.imaging import to_uint8_rgb
from promptseg.model.sam2.track_step import NO_OBJECT_LOGIT
from promptseg.model.sam2.tracker_engine import TrackerEngine
from promptseg.session.frame_source import StackFrames

def _tiny_model(seed: int = 0):
    """A SAM 2.1 with a 256-pixel input (16 x 16 memory grid): every step takes milliseconds."""
    return tiny_tracker_model(seed)


@pytest.fixture(scope="module")
def model():
    return _tiny_model()


def _stack(slices: int = 6, shape=(40, 50)) -> np.ndarray:
    """A bright disk drifting to the right through noisy slices, uint8."""
    return drifting_disc_stack(slices, shape)


class CountingStack:
    """A lazy (Z, H, W) array that records which slices were read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.reads = data, data.shape, data.dtype, []

    def __getitem__(self, z):
        self.reads.append(int(z))
        return self.data[z]


def test_answers_every_object_at_the_slice_size(model):
    tracker = StackTracker(model, _stack())
    first = tracker.add_prompts(1, 7, points=[(20, 18)], labels=[1])
    assert list(first) == [7]
    answer = tracker.add_prompts(3, 9, box=(10, 15, 30, 35))
    assert list(answer) == [7, 9]  # objects in order of first prompt
    for prediction in answer.values():
        assert prediction.mask.shape == prediction.logits.shape == (40, 50)
        assert prediction.logits.dtype == np.float32
        assert np.array_equal(prediction.mask, prediction.logits > 0)
    # object 7 has no answer on slice 3 yet: empty, at the no-object logit
    assert not answer[7].mask.any() and np.allclose(answer[7].logits, NO_OBJECT_LOGIT)
    assert tracker.object_ids == [7, 9]


def test_propagation_in_both_directions(model):
    tracker = StackTracker(model, _stack())
    tracker.add_prompts(1, 1, points=[(20, 18)], labels=[1])
    tracker.add_prompts(3, 2, points=[(20, 24)], labels=[1])
    forward = [(z, sorted(answers)) for z, answers in tracker.propagate()]
    assert forward == [(z, [1, 2]) for z in range(1, 6)]  # from the first prompted slice
    assert [z for z, _ in tracker.propagate(start=3, reverse=True)] == [3, 2, 1, 0]
    assert [z for z, _ in tracker.propagate(start=0, reverse=True)] == []
    assert [z for z, _ in tracker.propagate(start=1, max_slices=2)] == [1, 2, 3]
    track = tracker.engine.tracks[2]
    assert set(track.conditioning) == {3} and set(track.tracked) == {0, 1, 2, 4, 5}


def test_a_correction_becomes_a_conditioning_slice_and_survives(model):
    tracker = StackTracker(model, _stack())
    tracker.add_prompts(0, 1, points=[(20, 15)], labels=[1])
    before = {z: answers[1].logits for z, answers in tracker.propagate()}
    corrected = tracker.add_prompts(3, 1, points=[(20, 24), (5, 5)], labels=[1, 0])[1]
    assert 3 in tracker.engine.tracks[1].pending
    again = {z: answers[1].logits for z, answers in tracker.propagate()}
    track = tracker.engine.tracks[1]
    assert list(track.conditioning) == [0, 3] and 3 not in track.tracked and not track.pending
    np.testing.assert_array_equal(again[3], corrected.logits)
    np.testing.assert_array_equal(again[0], before[0])
    assert not np.array_equal(again[4], before[4])  # the slices after it are tracked anew


def test_clicks_accumulate_and_a_box_replaces(model):
    tracker = StackTracker(model, _stack())
    tracker.add_prompts(2, 1, points=[(20, 21)], labels=[1])
    tracker.add_prompts(2, 1, points=[(5, 5)], labels=[0])
    prompts = tracker.engine.tracks[1].prompts[2]
    assert prompts.labels.tolist() == [1, 0] and prompts.box is None
    tracker.add_prompts(2, 1, points=[(20, 22)], labels=[1], clear=True)
    assert tracker.engine.tracks[1].prompts[2].labels.tolist() == [1]
    tracker.add_prompts(2, 1, box=(12, 12, 28, 30))
    prompts = tracker.engine.tracks[1].prompts[2]
    assert prompts.points.shape == (0, 2) and prompts.box is not None and prompts.num_points == 2
    # (row, col) became the model's (x, y) in the 256-pixel input: col 12 of 50 -> x 61.44
    assert prompts.box.tolist() == pytest.approx([12 / 50 * 256, 12 / 40 * 256, 30 / 50 * 256, 28 / 40 * 256])


def test_an_absent_object_gets_an_empty_mask():
    model = _tiny_model()
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(-1e4)  # never present
    tracker = StackTracker(model, _stack(3))
    answer = tracker.add_prompts(0, 1, points=[(20, 15)], labels=[1])[1]
    assert not answer.mask.any()
    for _, answers in tracker.propagate():
        assert not answers[1].mask.any() and np.allclose(answers[1].logits, NO_OBJECT_LOGIT)
    track = tracker.engine.tracks[1]
    torch.testing.assert_close(track.tracked[2].pointer, model.no_obj_ptr)  # the fixed no-object pointer


def test_slices_are_read_once_and_few_features_are_kept(model):
    stack = CountingStack(_stack())
    tracker = StackTracker(model, stack, cache_frames=2)
    tracker.add_prompts(2, 1, points=[(20, 21)], labels=[1])
    assert stack.reads == [2]
    list(tracker.propagate())
    assert stack.reads == [2, 3, 4, 5]
    assert len(tracker.frames._cache) == 2 and tracker.frames.encoded == 4


def test_evicted_memories_are_encoded_again_exactly(model):
    frames = StackFrames(model, _stack(12), cache_frames=1)
    answers = []
    for cached in (16, 6):
        engine = TrackerEngine(model, 12, frames.features, cached_memories=cached)
        engine.add_prompts(0, 1, torch.tensor([[80.0, 128.0]]), [1])
        list(engine.propagate())
        kept = [t for t, out in engine.tracks[1].tracked.items() if out.memory is not None]
        assert len(kept) == min(cached, 11)
        # a correction on slice 3 needs the memories of slices 1 and 2, evicted with a cache of 6
        answers.append(engine.add_prompts(3, 1, torch.tensor([[10.0, 10.0]]), [0])[1].low_res)
    torch.testing.assert_close(answers[0], answers[1], rtol=0, atol=0)


def test_non_uint8_stacks_share_one_contrast_and_blank_slices_are_allowed(model):
    stack = (_stack(4).astype(np.uint16) * 200) + 1000
    stack[3] = 5000  # a constant slice at the end
    frames = StackFrames(model, stack)
    low, high = frames.contrast_limits
    assert low >= 1000 and high <= 220 * 200 + 1000
    np.testing.assert_array_equal(frames.rgb(1), to_uint8_rgb(stack[1], contrast_limits=(low, high)))
    assert not frames.rgb(3).any()


def test_bad_inputs(model):
    with pytest.raises(ImageError, match="must be"):
        StackTracker(model, np.zeros((40, 50), np.uint8))
    with pytest.raises(TypeError, match="SAM 2.1"):
        StackTracker(object(), _stack())
    tracker = StackTracker(model, _stack())
    with pytest.raises(PromptError, match="no prompts"):
        next(tracker.propagate())
    with pytest.raises(PromptError, match="outside"):
        tracker.add_prompts(0, 1, points=[(45, 10)], labels=[1])
    with pytest.raises(PromptError, match="labels"):
        tracker.add_prompts(0, 1, points=[(5, 10)], labels=[2])
    with pytest.raises(IndexError, match="outside the stack"):
        tracker.add_prompts(6, 1, points=[(5, 10)], labels=[1])


def test_reset_forgets_objects(model):
    tracker = StackTracker(model, _stack())
    tracker.add_prompts(0, 1, points=[(20, 15)], labels=[1])
    tracker.reset()
    assert tracker.object_ids == []
    with pytest.raises(PromptError):
        next(tracker.propagate())


def test_answers_have_small_holes_filled(model):
    tracker = StackTracker(model, _stack(), fill_hole_area=8)
    tracker.add_prompts(1, 1, points=[(20, 18)], labels=[1])
    out = tracker.engine.tracks[1].pending[1]
    holes = torch.full_like(out.low_res, 5.0, device="cpu")
    holes[0, 0, 10:12, 10:12] = -3.0  # a 4-pixel hole in the 64 x 64 low-resolution mask
    holes[0, 0, 30:33, 30:33] = -3.0  # a 9-pixel one
    out.low_res = holes
    answer = tracker.engine.results(1)[1].low_res[0, 0]
    assert (answer[10:12, 10:12] > 0).all() and (answer[30:33, 30:33] < 0).all()
    assert (out.low_res[0, 0, 10:12, 10:12] < 0).all()  # the stored answer is not changed
    unfilled = StackTracker(model, _stack(), fill_hole_area=0)
    unfilled.engine.tracks = tracker.engine.tracks
    assert (unfilled.engine.results(1)[1].low_res[0, 0, 10:12, 10:12] < 0).all()


class Delegating:
    """A FrameSource that is not an array (as a store of embeddings would be)."""

    def __init__(self, frames: StackFrames) -> None:
        self.inner, self.num_frames, self.frame_shape, self.calls = frames, frames.num_frames, frames.frame_shape, []

    def features(self, z):
        self.calls.append(z)
        return self.inner.features(z)


def test_a_frame_source_is_used_as_it_is(model):
    source = Delegating(StackFrames(model, _stack(3)))
    tracker = StackTracker(model, source)
    assert tracker.frames is source and tracker.slice_shape == (40, 50)
    direct = StackTracker(model, _stack(3))
    for t in (tracker, direct):
        t.add_prompts(0, 1, points=[(20, 15)], labels=[1])
    ours = [a[1].logits for _, a in tracker.propagate()]
    expected = [a[1].logits for _, a in direct.propagate()]
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)
    assert sorted(set(source.calls)) == [0, 1, 2]


def test_tracked_slices_keep_only_the_chosen_mask(model):
    """Each tracked slice keeps one 256 x 256-class logits map, not a view holding all three candidates."""
    tracker = StackTracker(model, _stack())
    tracker.add_prompts(0, 1, points=[(20, 15)], labels=[1])
    list(tracker.propagate())
    outputs = list(tracker.engine.tracks[1].tracked.values()) + list(tracker.engine.tracks[1].conditioning.values())
    assert len(outputs) == 6
    for out in outputs:
        assert out.low_res.untyped_storage().nbytes() == out.low_res.numel() * out.low_res.element_size()


def test_a_mask_is_the_answer_and_a_conditioning_slice(model):
    tracker = StackTracker(model, _stack())
    rows, cols = np.mgrid[:40, :50]
    disc = (rows - 20) ** 2 + (cols - 18) ** 2 < 64  # the disc on slice 1
    tracker.add_prompts(1, 4, points=[(20, 18)], labels=[1])
    answer = tracker.add_mask(1, 4, disc)[4]  # replaces the clicks there (official add_new_mask)
    assert 1 not in tracker.engine.tracks[4].prompts
    out = tracker.engine.tracks[4].pending[1]
    assert out.from_clicks and out.iou == 1.0 and out.object_score.item() == 10.0
    assert answer.score == 1.0 and (answer.mask & disc).sum() / (answer.mask | disc).sum() > 0.9
    assert sorted(z for z, _ in tracker.propagate()) == [1, 2, 3, 4, 5]
    assert set(tracker.engine.tracks[4].conditioning) == {1}
    np.testing.assert_array_equal(tracker.answers(1)[4].mask, answer.mask)
    # an empty mask: the object is absent there, its pointer the no-object pointer
    tracker.add_mask(0, 5, np.zeros((40, 50), bool))
    empty = tracker.engine.tracks[5].pending[0]
    assert not empty.present and torch.equal(empty.pointer, model.no_obj_ptr)
    with pytest.raises(PromptError, match="shape"):
        tracker.add_mask(0, 5, disc[:10])


def test_propagating_some_objects_leaves_the_others(model):
    tracker = StackTracker(model, _stack())
    tracker.add_prompts(1, 1, points=[(20, 18)], labels=[1])
    tracker.add_prompts(1, 2, points=[(20, 24)], labels=[1])
    answers = [sorted(a) for _, a in tracker.propagate(obj_ids=[2])]
    assert answers == [[2]] * 5
    assert not tracker.engine.tracks[1].tracked and set(tracker.engine.tracks[2].tracked) == {2, 3, 4, 5}
    with pytest.raises(PromptError, match="no prompts"):
        next(tracker.propagate(obj_ids=[3]))
