"""Headless tracking from exported prompts: in one process, one Dask task per object, and `promptseg propagate`."""

from __future__ import annotations

import numpy as np
import pytest
from test_stack_tracker import _stack, _tiny_model
from test_stack_tracker_store import _embed

from promptseg import StackTracker
from promptseg.backends.sam2 import Sam2Backend
from promptseg.errors import PromptsegError
from promptseg.session.annotations import load_annotations
from promptseg.session.track_job import objects_from_annotations, track_labels, track_on_dask

SHAPE = (5, 40, 50)


@pytest.fixture(scope="module")
def backend():
    return Sam2Backend(_tiny_model(), name="tiny2", checkpoint_hash="test")


def _entry(label: int, z: int, points=(), labels=(), box=None, **paths) -> dict:
    prompts = {"points": [list(p) for p in points], "labels": list(labels), "box": box, "polygons": [],
               "scribbles": [], "painted": None}
    prompts.update(paths)
    return {"label": label, "slice": [z], "backend": "tiny2", "backend_id": "x", "checkpoint_hash": "test",
            "score": 0.9, "area": 10, "prompts": prompts}


def _export(*entries, shape=SHAPE) -> dict:
    """A prompts file as the annotator exports it."""
    return {"format": "promptseg-annotations", "version": 1, "image_shape": list(shape), "objects": list(entries)}


#: Object 5: a click on slice 1 and a correction (negative click) on slice 3; object 2: a box on slice 2.
PROMPTS = _export(_entry(5, 1, [(20, 18)], [1]), _entry(2, 2, box=[3, 2, 30, 20]), _entry(5, 3, [(20, 33)], [0]))


def test_objects_grouped_by_label_in_file_order():
    objects = objects_from_annotations(load_annotations(PROMPTS), 5, (40, 50))
    assert [o.obj_id for o in objects] == [5, 2]
    assert [z for z, _ in objects[0].steps] == [1, 3] and [z for z, _ in objects[1].steps] == [2]
    assert objects[0].steps[1][1].labels.tolist() == [0]
    np.testing.assert_array_equal(objects[1].steps[0][1].box, [3, 2, 30, 20])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_export(_entry(1, 7, [(5, 5)], [1])), "one slice axis of 5 slices"),
        (_export(_entry(1, 0, polygons=[[[1, 1], [1, 9], [9, 9]]])), "polygons, scribbles and painted"),
        (_export(_entry(1, 0, [(5, 5)], [1]), shape=(5, 40, 51)), "made on an image of shape"),
        (_export(), "holds no objects"),
    ],
)
def test_prompts_the_tracker_cannot_take_are_refused(data, message):
    with pytest.raises(PromptsegError, match=message):
        objects_from_annotations(load_annotations(data), 5, (40, 50))


def test_dask_task_per_object_equals_the_in_process_run(backend, tmp_path):
    distributed = pytest.importorskip("distributed")
    stack = _stack(5)
    store = _embed(stack, backend, tmp_path / "stack.zarr")
    objects = objects_from_annotations(load_annotations(PROMPTS), 5, (40, 50))
    seen = []
    local = track_labels(backend, store, objects, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)  # slices 1..4 forward, 1..0 back
    assert local.shape == SHAPE and local.dtype == np.uint32
    assert set(np.unique(local)) == {0, 2, 5}
    # the correction on slice 3 is kept: object 5's answer there is its corrected answer
    tracker = StackTracker(backend, store)
    tracker.add_prompts(1, 5, points=[(20, 18)], labels=[1])
    corrected = tracker.add_prompts(3, 5, points=[(20, 33)], labels=[0])[5].mask
    only_five = local[3] == 5
    assert np.array_equal(only_five, corrected & (local[3] != 2))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as client:
        remote = track_on_dask(backend, str(tmp_path / "stack.zarr"), objects, client)
    np.testing.assert_array_equal(remote, local)


def test_propagate_command(backend, tmp_path, monkeypatch, capsys):
    import json

    import tifffile

    from promptseg.cli import main

    stack = _stack(5)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    (tmp_path / "prompts.json").write_text(json.dumps(PROMPTS))
    monkeypatch.setattr("promptseg.cli.embed._load", lambda name, device: backend)  # the tiny model has no file form
    args = ["propagate", str(tmp_path / "stack.tif"), "--backend", "tiny", "--prompts", str(tmp_path / "prompts.json")]
    rc = main([*args, "--out", str(tmp_path / "labels.tif"), "--store", str(tmp_path / "s.zarr")])
    assert rc == 0, capsys.readouterr().err
    assert "2 objects tracked through 5 slices" in capsys.readouterr().out
    written = tifffile.imread(tmp_path / "labels.tif")
    objects = objects_from_annotations(load_annotations(PROMPTS), 5, (40, 50))
    from promptseg.store.embedding_store import EmbeddingStore

    expected = track_labels(backend, EmbeddingStore.open(tmp_path / "s.zarr", backend=backend), objects)
    np.testing.assert_array_equal(written, expected)
    # user errors: a distributed run without a store; a model that is not SAM 2.1
    assert main([*args, "--out", str(tmp_path / "l2.tif"), "--workers", "2"]) == 2
    assert "add --store DIR" in capsys.readouterr().err
    monkeypatch.setattr("promptseg.cli.embed._load", lambda name, device: __import__("promptseg").backends.load_backend("classic"))
    classic_args = [*args[:3], "classic", *args[4:]]  # another name: workers' backends are cached by name
    assert main([*classic_args, "--out", str(tmp_path / "l3.tif")]) == 2
    assert "not SAM 2.1" in capsys.readouterr().err
    assert not (tmp_path / "l2.tif").exists() and not (tmp_path / "l3.tif").exists()
