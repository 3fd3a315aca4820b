"""StackTracker on the SAM 2.1 *backend*: slices encoded by the backend or read from an embedding store agree."""

from __future__ import annotations

import numpy as np
import pytest
from test_stack_tracker import _stack, _tiny_model

from promptseg import StackTracker
from promptseg.backends.sam2 import Sam2Backend
from promptseg.errors import StoreError
from promptseg.session.embedded_frames import BackendFrames, StoreFrames
from promptseg.session.frame_source import StackFrames
from promptseg.store import embed_stack
from promptseg.store.embedding_store import EmbeddingStore


@pytest.fixture(scope="module")
def backend():
    return Sam2Backend(_tiny_model(), name="tiny2", checkpoint_hash="test")


def _embed(stack, backend, path, dtype="float32") -> EmbeddingStore:
    gen = embed_stack(stack, backend, path, dtype=dtype)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _tracks(tracker: StackTracker) -> dict[tuple[str, int, int], np.ndarray]:
    """Prompt two objects, propagate both ways, correct, propagate again; every answer's logits."""
    out = {}
    for obj, answer in tracker.add_prompts(2, 1, points=[(20, 21)], labels=[1]).items():
        out["click", 2, obj] = answer.logits
    for obj, answer in tracker.add_prompts(2, 2, box=(5, 2, 30, 20)).items():
        out["box", 2, obj] = answer.logits
    for reverse in (False, True):
        for z, answers in tracker.propagate(start=2, reverse=reverse):
            for obj, answer in answers.items():
                out[f"pass{int(reverse)}", z, obj] = answer.logits
    for obj, answer in tracker.add_prompts(4, 1, points=[(20, 33)], labels=[0]).items():
        out["fix", 4, obj] = answer.logits
    for z, answers in tracker.propagate(start=2):
        for obj, answer in answers.items():
            out["again", z, obj] = answer.logits
    return out


def test_store_backed_tracks_equal_on_demand_ones(backend, tmp_path):
    stack = _stack(5)
    live = StackTracker(backend, stack)
    assert isinstance(live.frames, BackendFrames)
    store = _embed(stack, backend, tmp_path / "stack.zarr")
    stored = StackTracker(backend, store)
    assert isinstance(stored.frames, StoreFrames) and stored.slice_shape == (40, 50) and stored.num_slices == 5
    expected, got = _tracks(live), _tracks(stored)
    assert list(expected) == list(got)
    for key, logits in expected.items():  # the same numbers up to float rounding of the kernels' memory layouts
        np.testing.assert_allclose(got[key], logits, rtol=0, atol=1e-4, err_msg=str(key))
        assert np.mean((got[key] > 0) == (logits > 0)) > 0.999, key
    # the answers are not all the same mask (the test would pass on a broken reader otherwise)
    assert len({got[key].tobytes() for key in got}) > 8
    assert any((got[key] > 0).any() for key in got)


def test_store_opened_without_backend_and_errors(backend, tmp_path):
    stack = _stack(4)
    _embed(stack, backend, tmp_path / "s.zarr")
    bare = EmbeddingStore.open(tmp_path / "s.zarr")
    tracker = StackTracker(backend, bare)  # opened again with the backend that reads it
    tracker.add_prompts(0, 1, points=[(20, 15)], labels=[1])
    assert len(list(tracker.propagate(max_slices=1))) == 2
    with pytest.raises(TypeError, match="backend that wrote them"):
        StackTracker(backend.model, bare)
    store = EmbeddingStore.open(tmp_path / "s.zarr", backend=backend, writable=True)
    store.forget(1)
    tracker = StackTracker(backend, store)
    tracker.add_prompts(0, 1, points=[(20, 15)], labels=[1])
    with pytest.raises(StoreError, match="promptseg embed"):
        list(tracker.propagate())


def test_model_keeps_the_video_loader_frames(backend):
    """With the bare model, frames are prepared as the official video loader does (the golden tests' path)."""
    assert isinstance(StackTracker(backend.model, _stack()).frames, StackFrames)
    assert isinstance(StackTracker(backend, _stack()).frames, BackendFrames)
