"""SAM 2.1 tracking against the official SAM2VideoPredictor (../shared/fixtures/sam2/small_hiera).

Both scenarios of ``video_prompts.json`` are replayed through
:class:`promptseg.StackTracker` on the fixture's JPEG-decoded frames (our
own resize to 1024 x 1024; frames 0 and 9 are checked byte for byte against
the official loader's).  Tolerances from the fixture README: logits within
1e-4 and >= 99.9 % sign agreement on every result frame of both scenarios.
The fixture was made with ``add_all_frames_to_correct_as_cond`` on and
without hole filling (``fill_hole_area=0``).
"""

from __future__ import annotations


import numpy as np
import pytest

from promptseg import StackTracker
from promptseg.model.sam2.frame_input import resize_bicubic_u8

from sam2_fixture import fixture_model, golden_case

pytestmark = pytest.mark.slow

ATOL = 1e-4
MIN_SIGN_AGREEMENT = 0.999


def _rc(points_xy):
    """The fixture's (x, y) as napari (row, col)."""
    return [(y, x) for x, y in points_xy]


def _replay(tracker: StackTracker, operations: list[dict]) -> tuple[dict, dict]:
    """Run one scenario; results by fixture name (objects stacked in order) and object scores."""
    results, scores = {}, {}
    for op in operations:
        if op["op"] == "reset_state":
            tracker.reset()
        elif op["op"] == "add_new_points_or_box":
            box = None
            if "box_xyxy" in op:
                x0, y0, x1, y1 = op["box_xyxy"]
                box = (y0, x0, y1, x1)
            points = _rc(op["points_xy"]) if "points_xy" in op else None
            answer = tracker.add_prompts(op["frame_idx"], op["obj_id"], points=points, labels=op.get("labels"), box=box)
            results[op["result"]] = np.stack([p.logits for p in answer.values()])
        else:
            stem = op["results"].replace("<frame>", "")
            for z, answer in tracker.propagate(start=op.get("start_frame_idx"), reverse=op.get("reverse", False)):
                results[f"{stem}{z:02d}"] = np.stack([p.logits for p in answer.values()])
                for index, track in enumerate(tracker.engine.tracks.values()):
                    scores[f"{stem}objscore__{index}__{z:02d}"] = float(track.latest(z).object_score)
    return results, scores


@pytest.fixture(scope="module")
def golden(shared_dir):
    return golden_case(shared_dir, "video")


@pytest.fixture(scope="module")
def replayed(shared_dir, golden):
    arrays, operations = golden
    tracker = StackTracker(fixture_model(shared_dir), arrays["frames"], fill_hole_area=0)
    results, scores = {}, {}
    for scenario in ("A", "B"):
        got, got_scores = _replay(tracker, operations[scenario])
        results.update(got)
        scores.update(got_scores)
    return results, scores


def test_frames_0_and_9_resized_as_the_official_loader(golden):
    arrays, _ = golden
    for index, z in enumerate((0, 9)):
        ours = resize_bicubic_u8(arrays["frames"][z], (1024, 1024))
        np.testing.assert_array_equal(ours, arrays["frames_resized_0_and_9"][index])


def test_every_result_frame_of_both_scenarios(golden, replayed):
    arrays, _ = golden
    results, _ = replayed
    expected = sorted(k for k in arrays if k.startswith(("A_", "B_")) and "objscore" not in k)
    assert sorted(results) == expected  # 3 prompt answers + 30 propagated frames
    for name in expected:
        ours, official = results[name], arrays[name]
        assert ours.shape == official.shape, name
        np.testing.assert_allclose(ours, official, atol=ATOL, rtol=0, err_msg=name)
        agreement = np.mean((ours > 0) == (official > 0))
        assert agreement >= MIN_SIGN_AGREEMENT, f"{name}: sign agreement {agreement:.5f}"


def test_object_scores(golden, replayed):
    arrays, _ = golden
    _, scores = replayed
    expected = [k for k in arrays if "objscore" in k]
    assert len(expected) == 30 and set(expected) <= set(scores)
    for name in expected:
        assert scores[name] == pytest.approx(float(arrays[name].ravel()[0]), abs=ATOL), name


def test_correction_is_kept_by_repropagation(replayed):
    results, _ = replayed
    # the corrected object 1 on frame 6 after re-propagation is the correction's answer itself
    np.testing.assert_array_equal(results["A_after_correction__06"][0], results["A_correct_obj1_f06"][0])
    # and later frames follow it rather than the first propagation
    for z in (7, 8, 9):
        change = np.abs(results[f"A_after_correction__{z:02d}"][0] - results[f"A_forward__{z:02d}"][0]).max()
        assert change > 10 * ATOL, f"frame {z} did not change after the correction"
    # frames before the first prompt's frame are unchanged for the other object's first frame
    np.testing.assert_array_equal(results["A_after_correction__00"], results["A_forward__00"])
