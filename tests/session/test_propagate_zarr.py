"""`promptseg propagate` on a zarr stack and an OME-Zarr image: read slice by slice, never whole (issue 22)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_stack_tracker import _stack
from test_track_job import PROMPTS, backend  # noqa: F401 - the module's tiny SAM 2.1 backend fixture

from promptseg.session.annotations import load_annotations
from promptseg.session.track_job import objects_from_annotations, track_labels

zarr = pytest.importorskip("zarr")


def _write_zarr(path, stack, *, ome: bool):
    """``stack`` (Z, H, W) one chunk per slice: a plain zarr array, or an OME-Zarr (1, 1, Z, H, W) image."""
    if not ome:
        arr = zarr.create_array(str(path), shape=stack.shape, chunks=(1, *stack.shape[1:]), dtype=stack.dtype)
        arr[:] = stack
        return
    group = zarr.open_group(str(path), mode="w")
    arr = group.create_array("0", shape=(1, 1, *stack.shape), chunks=(1, 1, 1, *stack.shape[1:]), dtype=stack.dtype)
    arr[0, 0] = stack
    axes = [{"name": n} for n in "tczyx"]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * 5}]}]}]}


@pytest.mark.parametrize("ome", [False, True])
def test_propagate_reads_a_zarr_stack_one_slice_at_a_time(backend, tmp_path, monkeypatch, capsys, ome):  # noqa: F811
    import tifffile

    from promptseg.cli import main

    stack = _stack(5)
    _write_zarr(tmp_path / "stack.zarr", stack, ome=ome)
    (tmp_path / "prompts.json").write_text(json.dumps(PROMPTS))
    events: list[str] = []  # chunk reads of the stack and encodes, in order
    get = zarr.storage.LocalStore.get

    async def counting_get(self, key, prototype=None, byte_range=None):
        if "/c/" in f"/{key}":
            events.append(f"read {key}")
        return await get(self, key, prototype, byte_range)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", counting_get)
    encode = backend.encode

    def counting_encode(image, **kwargs):
        events.append("encode")
        return encode(image, **kwargs)

    monkeypatch.setattr(backend, "encode", counting_encode)
    monkeypatch.setattr("promptseg.cli.embed._load", lambda name, device: backend)
    rc = main(["propagate", str(tmp_path / "stack.zarr"), "--backend", "tiny", "--prompts",
               str(tmp_path / "prompts.json"), "--out", str(tmp_path / "labels.tif")])
    assert rc == 0, capsys.readouterr().err
    assert "2 objects tracked through 5 slices" in capsys.readouterr().out
    reads = [e for e in events if e != "encode"]
    first_encode = events.index("encode")
    # slices are read as the tracker reaches them, not all before it starts
    assert any(e.startswith("read") for e in events[first_encode:])
    assert len(set(events[:first_encode]) - {"encode"}) < 5
    assert len(reads) <= 5 * 3  # the contrast sample and each slice's encodes (the tracker keeps a few frames)
    objects = objects_from_annotations(load_annotations(PROMPTS), 5, (40, 50))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "labels.tif"), track_labels(backend, stack, objects))


def test_a_zarr_group_without_multiscales_is_refused_with_what_to_do(backend, tmp_path, capsys):  # noqa: F811
    from promptseg.cli import main

    zarr.open_group(str(tmp_path / "g.zarr"), mode="w").create_array("raw", shape=(3, 8, 8), dtype="uint8")
    (tmp_path / "prompts.json").write_text(json.dumps(PROMPTS))
    rc = main(["propagate", str(tmp_path / "g.zarr"), "--backend", "tiny", "--prompts", str(tmp_path / "prompts.json"),
               "--out", str(tmp_path / "labels.tif")])
    assert rc == 2 and "open one of its arrays instead (arrays: raw)" in capsys.readouterr().err
