"""embed_stack on Dask, slice sources (TIFF, OME-TIFF, zarr, folders) and the `promptseg embed` command."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
import zarr
from store_fakes import ComponentBackend, run

from promptseg.cli import main
from promptseg.errors import ImageError
from promptseg.store import EmbeddingStore, embed_stack, expand_inputs, open_source, store_path_for
from promptseg.store.sources import n_slices


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(0)
    return rng.integers(0, 1000, (5, 24, 32)).astype(np.uint16)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0") as c:
        yield c


def test_dask_client_matches_local(tmp_path, stack, cluster):
    from distributed import Client

    backend = ComponentBackend()
    with Client(cluster) as client:
        steps, store = run(embed_stack(stack, backend, tmp_path / "d.zarr", client=client))
    assert sorted(s.z for s in steps) == list(range(5)) and store.done().all()
    _, local = run(embed_stack(stack, backend, tmp_path / "l.zarr"))
    for z in range(5):
        np.testing.assert_array_equal(store.read_arrays(z)["image"], local.read_arrays(z)["image"])


def test_dask_scheduler_address_with_sam(tmp_path, stack, cluster, tiny_backend):
    steps, store = run(embed_stack(stack[:3], tiny_backend, tmp_path / "s.zarr", scheduler=cluster.scheduler_address))
    assert len(steps) == 3 and steps[-1].slices_per_second > 0
    emb = store.load(2)
    ref = tiny_backend.encode(stack[2]).features.embedding
    assert torch.allclose(emb.features.embedding, ref, atol=1e-2 * float(ref.abs().max()))


def test_dask_resumes_too(tmp_path, stack, cluster):
    backend = ComponentBackend()
    job = embed_stack(stack, backend, tmp_path / "d.zarr", scheduler=cluster.scheduler_address)
    next(job)
    job.close()
    steps, store = run(embed_stack(stack, backend, tmp_path / "d.zarr", scheduler=cluster.scheduler_address))
    assert 1 <= len(steps) <= 4 and steps[0].skipped == 5 - len(steps) and store.done().all()


def test_sources(tmp_path, stack):
    tifffile.imwrite(tmp_path / "pages.tif", stack, photometric="minisblack")
    hyper = np.stack([stack, stack + 1])  # (C, Z, Y, X) as OME: 10 slices
    tifffile.imwrite(tmp_path / "ome.ome.tif", hyper, ome=True, metadata={"axes": "CZYX"}, photometric="minisblack")
    rgb = np.zeros((3, 24, 32, 3), np.uint8)
    rgb[1, 5:10, 5:10] = 200
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    zarr.create_array(str(tmp_path / "arr.zarr"), shape=stack.shape, chunks=(1, 24, 32), dtype="uint16")[:] = stack

    pages = open_source(tmp_path / "pages.tif")
    assert n_slices(pages) == 5 and not pages.rgb
    np.testing.assert_array_equal(pages.read(3), stack[3])
    ome = open_source(tmp_path / "ome.ome.tif")
    assert n_slices(ome) == 10
    np.testing.assert_array_equal(ome.read(7), stack[2] + 1)
    colour = open_source(tmp_path / "rgb.tif")
    assert colour.rgb and n_slices(colour) == 3 and colour.read(1).shape == (24, 32, 3)
    arr = open_source(tmp_path / "arr.zarr")
    np.testing.assert_array_equal(arr.read(4), stack[4])
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).read(1), stack[1])  # workers re-open by path
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pages)).read(1), stack[1])

    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"img{i}.tif", stack[i])
    (folder / "notes.txt").write_text("not an image")
    assert [s.name for s in expand_inputs([folder])] == ["img0.tif", "img1.tif"]
    with pytest.raises(ImageError, match="not found"):
        expand_inputs([tmp_path / "missing.tif"])
    with pytest.raises(ImageError, match="zarr group"):
        zarr.open_group(str(tmp_path / "grp.zarr"), mode="w").create_array("a", shape=(4, 4), dtype="uint8")
        open_source(tmp_path / "grp.zarr")


@pytest.fixture()
def tiny_checkpoint(tmp_path, tiny_model):
    path = tmp_path / "tiny_sam.pth"
    torch.save(tiny_model.state_dict(), path)
    return path


def test_embed_command(tmp_path, stack, tiny_checkpoint, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", stack[:3], photometric="minisblack")
    tifffile.imwrite(folder / "b.tif", stack[3], photometric="minisblack")
    out = tmp_path / "stores"
    args = ["embed", str(folder), "--backend", str(tiny_checkpoint), "--store", str(out), "--no-progress"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "a.tif: 3 slices in" in text and "slices/s" in text and "b.tif: 1 slices" in text
    store = EmbeddingStore.open(store_path_for(folder / "a.tif", out))
    assert store.done().all() and store.metadata.dtype == "float16"
    assert main(args) == 0
    assert "all 3 slices already in" in capsys.readouterr().out
    tifffile.imwrite(folder / "a.tif", stack[1:4], photometric="minisblack")  # the image changed
    assert main(args) == 2
    assert "other image data" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--dtype", "float32"]) == 0
    assert EmbeddingStore.open(store_path_for(folder / "a.tif", out)).metadata.dtype == "float32"


def test_embed_command_refuses_unstorable_backend(tmp_path, stack, capsys):
    tifffile.imwrite(tmp_path / "a.tif", stack[:2], photometric="minisblack")
    assert main(["embed", str(tmp_path / "a.tif"), "--backend", "random_walker", "--no-progress"]) == 2
    assert "cannot write its embeddings to a store" in capsys.readouterr().err


def test_local_cluster_starts_without_dashboard_warnings():
    """Our own LocalCluster has no dashboard: no 'port 8787 is already in use' warning when another one runs."""
    import socket
    import warnings

    pytest.importorskip("distributed")
    from promptseg.store import start_client

    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 8787))  # as a second dashboard would find it
        blocker.listen(1)
    except OSError:
        pass  # already taken by someone else: just as good
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = start_client(workers=1, processes=False)
            try:
                assert client.submit(sum, [1, 2]).result() == 3
            finally:
                cluster = client.cluster
                client.close()
                cluster.close()
    finally:
        blocker.close()
    assert not [w for w in caught if "port" in str(w.message).lower() or "dashboard" in str(w.message).lower()]
