"""Damaged stores: truncated, deleted or altered files and broken metadata give a StoreError that names the
slice (never a crash or a silent wrong embedding); the annotator encodes such slices live; a rerun repairs them;
a store whose folder disappears during a run fails the run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from store_fakes import ComponentBackend, iou, run

from promptseg.backends.classic import ClassicBackend
from promptseg.data import synthetic_nuclei_3d
from promptseg.errors import StoreError
from promptseg.store import EmbeddingStore, StoredBackend, embed_stack


@pytest.fixture(scope="module")
def stack():
    return synthetic_nuclei_3d((8, 48, 64), n_nuclei=3, radius_range=(6.0, 9.0), seed=5).image[:3]


@pytest.fixture(scope="module")
def classic():
    return ClassicBackend()


@pytest.fixture(scope="module")
def classic_store(tmp_path_factory, stack, classic):
    path = tmp_path_factory.mktemp("pristine") / "s.zarr"
    run(embed_stack(stack, classic, path))
    return path


@pytest.fixture()
def store_copy(tmp_path, classic_store):
    path = tmp_path / "s.zarr"
    shutil.copytree(classic_store, path)
    return path


def _ragged_chunk(path: Path, z: int) -> Path:
    return path / "ragged" / f"{z}_0" / "c" / "0"


def _truncate(file: Path, fraction: float) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.99])
def test_truncated_chunk_names_the_slice(store_copy, classic, fraction):
    _truncate(_ragged_chunk(store_copy, 1), fraction)
    store = EmbeddingStore.open(store_copy, backend=classic)
    with pytest.raises(StoreError, match=r"slice 1 of the embedding store .* is damaged: ragged/1_0/c/0 is truncated"
                                         r".*encodes this slice live.*run the same `promptseg embed` command again"):
        store.load(1)
    store.load(0), store.load(2)  # the other slices are intact


def test_truncated_chunk_never_reaches_blosc(store_copy, classic):
    """In a fresh process each time: before the check, a truncated chunk crashed 1 load in 3 (SIGSEGV, rc -11)."""
    _truncate(_ragged_chunk(store_copy, 0), 0.1)
    script = ("import sys\nfrom promptseg.backends.classic import ClassicBackend\n"
              "from promptseg.errors import StoreError\nfrom promptseg.store import EmbeddingStore\n"
              f"store = EmbeddingStore.open({str(store_copy)!r}, backend=ClassicBackend())\n"
              "try:\n    store.load(0)\nexcept StoreError:\n    sys.exit(3)\n")
    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert done.returncode == 3, done.stderr[-2000:]  # -11 was the crash


def test_old_store_without_checksums_still_refuses_a_truncated_chunk(store_copy, classic):
    shutil.rmtree(store_copy / "checksums")  # as written before checksums existed
    _truncate(_ragged_chunk(store_copy, 2), 0.1)
    store = EmbeddingStore.open(store_copy, backend=classic)
    assert store._checksums is None
    with pytest.raises(StoreError, match="slice 2 .* truncated"):
        store.load(2)
    store.load(1)


def test_deleted_and_altered_chunks(store_copy, classic):
    _ragged_chunk(store_copy, 0).unlink()
    with pytest.raises(StoreError, match="slice 0 .* ragged/0_0/c/0 is missing"):
        EmbeddingStore.open(store_copy, backend=classic).load(0)
    (store_copy / "colour_noise" / "c" / "1" / "0").unlink()  # a small fixed-size array: zarr would give 0.0
    with pytest.raises(StoreError, match="slice 1 .* changed or lost"):
        EmbeddingStore.open(store_copy, backend=classic).load(1)
    chunk = _ragged_chunk(store_copy, 2)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte altered
    chunk.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="slice 2 .* changed or lost"):
        EmbeddingStore.open(store_copy, backend=classic).load(2)


def test_damaged_metadata(store_copy, classic, stack):
    (store_copy / "ragged" / "1_0" / "zarr.json").write_text("{ not json")
    store = EmbeddingStore.open(store_copy, backend=classic)
    with pytest.raises(StoreError, match=r"slice 1 .* ragged/1_0/zarr.json cannot be read"):
        store.load(1)
    (store_copy / "zarr.json").write_text('{"zarr_format": 3, "node_type": "gro')
    with pytest.raises(StoreError, match=r"is damaged: zarr.json cannot be read.*overwrite=True") as err:
        EmbeddingStore.open(store_copy, backend=classic)
    assert "--overwrite" in err.value.cli and "overwrite=True" not in err.value.cli
    with pytest.raises(StoreError, match="is damaged"):
        run(embed_stack(stack, classic, store_copy))
    steps, store = run(embed_stack(stack, classic, store_copy, overwrite=True))
    assert len(steps) == 3 and store.load(1).image_shape == stack.shape[1:]


def test_annotator_encodes_a_damaged_slice_live(store_copy, classic, stack):
    _truncate(_ragged_chunk(store_copy, 1), 0.3)
    stored = StoredBackend.open(store_copy, classic)
    with pytest.warns(UserWarning, match="slice 1 of the embedding store .* is damaged"):
        emb = stored.encode(stack[1])
    assert (stored.hits, stored.damaged) == (0, 1)
    fresh = classic.encode(stack[1])
    point = dict(points=[np.unravel_index(np.argmax(stack[1]), stack[1].shape)], labels=[1])
    np.testing.assert_array_equal(classic.predict(emb, **point).mask, classic.predict(fresh, **point).mask)
    stored.encode(stack[0])
    assert stored.hits == 1


def test_tiled_store_encodes_a_damaged_tile_live(tmp_path):
    image = np.full((700, 700), 20, np.uint16)
    image[330:360, 40:660] = 900  # a bar across three tiles
    inner = ComponentBackend()
    path = tmp_path / "big.zarr"
    run(embed_stack(image, inner, path, tile=256, halo=32, tile_threshold=256))
    for tile in range(4, 12):  # the two rows of tiles the bar lies in (zarr would give zeros for them)
        (path / "image" / "c" / "0" / str(tile) / "0" / "0").unlink()
    stored = StoredBackend.open(path, inner)
    emb = stored.encode(image)
    with pytest.warns(UserWarning, match=r"slice 0 \(tile \d+\) .* damaged"):
        pred = stored.predict(emb, points=[(345, 60)], labels=[1])
    truth = inner.predict(inner.encode(image), points=[(345, 60)], labels=[1]).mask
    assert iou(pred.mask, truth) == 1.0 and stored.damaged >= 3 and stored.hits == 1


def test_rerun_recomputes_only_damaged_slices(store_copy, classic, stack):
    _truncate(_ragged_chunk(store_copy, 2), 0.5)
    store = EmbeddingStore.open(store_copy, backend=classic)
    assert list(store.damaged()) == [2]
    steps, store = run(embed_stack(stack, classic, store_copy))
    assert [s.z for s in steps] == [2] and steps[-1].repaired == 1 and steps[-1].skipped == 2
    assert store.damaged() == {} and store.load(2).image_shape == stack.shape[1:]


class _VanishingStore(ComponentBackend):
    """Removes the store folder while the second slice is encoded."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def encode(self, image, *, contrast_limits=None):
        if self.encodes == 1:
            shutil.rmtree(self.path)
        return super().encode(image, contrast_limits=contrast_limits)


def test_store_that_disappears_fails_the_run(tmp_path, stack):
    path = tmp_path / "s.zarr"
    with pytest.raises(StoreError, match=r"store folder .*s.zarr disappeared .* while slice 1 was being written"):
        run(embed_stack(stack, _VanishingStore(path), path))
    assert not (path / "zarr.json").exists()
    steps, store = run(embed_stack(stack, ComponentBackend(), path))  # the leftover does not block the next run
    assert len(steps) == 3 and store.done().all()


def test_embed_command_fails_when_the_store_disappears(tmp_path, stack, monkeypatch, capsys):
    import tifffile

    from promptseg.cli import main
    from promptseg.cli import embed as store_cli

    image = tmp_path / "stack.tif"
    tifffile.imwrite(image, stack, photometric="minisblack")
    target = tmp_path / "stack.tif.embeddings.zarr"
    monkeypatch.setattr(store_cli, "_load", lambda name, device: _VanishingStore(target))
    assert main(["embed", str(image), "--backend", "x", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "disappeared" in err and "slice 1" in err
    monkeypatch.setattr(store_cli, "_load", lambda name, device: ComponentBackend())
    assert main(["embed", str(image), "--backend", "x", "--no-progress"]) == 0
    assert "3 slices" in capsys.readouterr().out and json.loads((target / "zarr.json").read_text())
    assert main(["embed", str(image), "--backend", "x", "--no-progress", "--contrast-limits", "0", "100"]) == 2
    err = capsys.readouterr().err
    assert "contrast limits" in err and "with --overwrite" in err and "overwrite=True" not in err
