"""Images larger than memory: OME-Zarr/dask pyramids, tiles encoded on demand, labels written sparsely (issue 22)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import zarr
from large_fakes import DISCS, SIZE, CountingStore, pyramid, write_ome_zarr
from store_fakes import ComponentBackend

from promptseg.errors import ImageError, PromptError, PromptsegError
from promptseg.session.large import LargeImageSession
from promptseg.store.multiscale import open_multiscale
from promptseg.store.sparse_labels import SparseLabels
from promptseg.store.tiling import tile_slices

TILE = dict(tile=512, halo=64)


@pytest.fixture(scope="module")
def ome_path(tmp_path_factory):
    return write_ome_zarr(tmp_path_factory.mktemp("large") / "image.ome.zarr")


def disc_mask(rows: slice, cols: slice, disc) -> np.ndarray:
    r, c, rad = disc
    rr, cc = np.mgrid[rows, cols]
    return (rr - r) ** 2 + (cc - c) ** 2 < rad ** 2


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_ome_zarr_groups_open_lazily_with_their_levels(tmp_path, zarr_format):
    image = open_multiscale(write_ome_zarr(tmp_path / "img.zarr", zarr_format=zarr_format))
    assert image.n_levels == 3 and image.shape == (SIZE, SIZE) and image.level_shape(2) == (SIZE // 4, SIZE // 4)
    assert image.factor(1) == (2.0, 2.0)
    assert isinstance(image.levels[0], zarr.Array)  # nothing read: still the zarr array
    np.testing.assert_array_equal(image.read(1, slice(200, 300), slice(250, 350)), pyramid()[1][200:300, 250:350])


def test_dask_and_array_lists_and_bad_inputs(tmp_path):
    da = pytest.importorskip("dask.array")
    levels = [da.from_array(p, chunks=512) for p in pyramid()]
    image = open_multiscale(levels)
    assert image.n_levels == 3 and image.read(2, slice(0, 4), slice(0, 4)).shape == (4, 4)
    with pytest.raises(ImageError, match="full resolution first"):
        open_multiscale(pyramid()[::-1])
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    group.create_array("a", shape=(8, 8), dtype="uint8")
    with pytest.raises(ImageError, match="no OME-Zarr 'multiscales'.*arrays: a"):
        open_multiscale(tmp_path / "plain.zarr")
    with pytest.raises(ImageError, match="not found"):
        open_multiscale(tmp_path / "missing.zarr")


def test_level_and_full_resolution_frames_are_inverse():
    image = open_multiscale(pyramid())
    pts = np.array([[0.0, 0.0], [1234.5, 17.0], [4095.0, 4095.0]])
    for level in range(3):
        np.testing.assert_allclose(image.to_full(image.to_level(pts, level), level), pts)
    # pixel 0 of level 2 covers full-resolution pixels 0..3: its centre is 1.5
    np.testing.assert_allclose(image.to_full([[0, 0]], 2), [[1.5, 1.5]])


def assert_disc_labelled(labels: SparseLabels, label: int, disc, level: int) -> int:
    """Check that ``label`` covers ``disc`` as level ``level`` sees it; returns its area."""
    f = 2 ** level
    r, c, rad = disc
    rows = slice(int(max(r - rad - 2 * f, 0)), int(min(r + rad + 2 * f, SIZE)))
    cols = slice(int(max(c - rad - 2 * f, 0)), int(min(c + rad + 2 * f, SIZE)))
    got = labels.read(rows, cols) == label
    # exact at full resolution; at level l the mask is that level's pixels, each f x f at full resolution
    differ = got != disc_mask(rows, cols, disc)
    assert differ.sum() <= (0 if level == 0 else 2 * np.pi * rad * f), (level, label, differ.sum())
    return int(got.sum())


@pytest.mark.parametrize("level", [0, 1, 2])
def test_clicks_land_on_the_right_full_resolution_pixels_at_every_level(ome_path, level):
    session = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), level=level, **TILE)
    f = 2 ** level
    for label, disc in enumerate(DISCS, start=1):
        session.click(disc[:2])
        obj = session.commit()
        assert obj.label == label
        np.testing.assert_allclose(obj.prompts.points, [disc[:2]], atol=f)  # recorded at full resolution
        assert_disc_labelled(session.labels, label, disc, level) == obj.area
    total = sum(int((session.labels.read(slice(0, SIZE), slice(0, SIZE)) == i).sum()) for i in (1, 2, 3, 4))
    assert total == sum(o.area for o in session.committed)  # nothing written outside the objects


def test_the_working_level_changes_between_objects_and_keeps_them(ome_path):
    backend = ComponentBackend()
    session = LargeImageSession(open_multiscale(ome_path), backend, **TILE)
    session.click(DISCS[0][:2])
    first = session.commit()
    session.click(DISCS[1][:2])
    with pytest.raises(PromptsegError, match=r"commit it \(C\) or clear it \(Shift-C\)"):
        session.set_level(2)  # an object is being drawn: refused, nothing lost
    assert session.level == 0 and len(session.prompts.points) == 1 and session.prediction is not None
    session.clear()
    with pytest.raises(ImageError, match=r"level 3 does not exist \(levels 0 to 2\)"):
        session.set_level(3)
    session.set_level(2)
    assert session.level == 2 and session.factor == (4.0, 4.0) and session.prompts.is_empty
    encodes = backend.encodes
    session.click(DISCS[1][:2])  # full-resolution (row, col), answered on 1/4-resolution tiles
    assert session.window.level == 2 and backend.encodes > encodes
    second = session.commit()
    np.testing.assert_allclose(second.prompts.points, [DISCS[1][:2]], atol=4)
    assert assert_disc_labelled(session.labels, 2, DISCS[1], 2) == second.area
    assert assert_disc_labelled(session.labels, 1, DISCS[0], 0) == first.area  # the level-0 object is untouched
    session.pick_up(DISCS[0][:2])  # an object being corrected is the current object too
    with pytest.raises(PromptsegError, match="before changing the level"):
        session.set_level(0)
    session.clear()
    session.set_level(0)  # back: level 0's tiles were kept, nothing is encoded again
    encodes = backend.encodes
    session.click((DISCS[0][0], DISCS[0][1] + 10))
    assert backend.encodes == encodes and session.window.level == 0
    session.clear()
    assert session.undo_commit() == 2 and session.labels.label_at(*DISCS[1][:2]) == 0  # commits' undo kept
    assert session.labels.label_at(*DISCS[0][:2]) == 1 and [o.label for o in session.committed] == [1]


def test_only_the_chunks_under_the_needed_tiles_are_read(ome_path):
    store = CountingStore(zarr.storage.LocalStore(str(ome_path), read_only=True))
    session = LargeImageSession(open_multiscale(store), ComponentBackend(), contrast_limits=(0, 4000), **TILE)
    store.keys_read.clear()
    r, c, _ = DISCS[1]
    session.click((r, c))
    session.commit()
    encoded = session.tiles.encoded
    assert 1 <= len(encoded) <= 2  # the disc lies inside one tile (plus one neighbour where it nears an edge)
    allowed = set()
    for index in encoded:
        rs, cs = tile_slices(session.tiles.tiling, index)
        allowed |= {(i, j) for i in range(rs.start // 256, (rs.stop - 1) // 256 + 1)
                    for j in range(cs.start // 256, (cs.stop - 1) // 256 + 1)}
    read = store.chunks_read("0")
    assert read and read <= allowed, sorted(read - allowed)
    assert not store.chunks_read("1") and not store.chunks_read("2")
    assert len(read) < (SIZE // 256) ** 2 / 20  # a few tiles of a 256-chunk image


def test_labels_are_written_sparsely_and_memory_stays_small(ome_path, tmp_path):
    labels = SparseLabels.create((SIZE, SIZE), tmp_path / "labels.zarr", chunks=512)
    session = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), labels=labels, **TILE)
    tracemalloc.start()
    for disc in DISCS:
        session.click(disc[:2])
        session.commit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full_labels = SIZE * SIZE * 4
    assert peak < full_labels / 2, f"peak {peak / 2**20:.0f} MiB"  # not even half a full-size label array
    touched = {(int(r) // 512, int(c) // 512) for r, c, _ in DISCS}
    stored = sorted(p.relative_to(labels.path / "c").as_posix() for p in (labels.path / "c").rglob("*") if p.is_file())
    assert len(stored) == labels.stored_chunks()
    assert len(touched) <= len(stored) <= 2 * len(touched), stored  # a disc may straddle a chunk border
    reopened = SparseLabels.open(tmp_path / "labels.zarr")
    assert reopened.max_label() == 4 and reopened.label_at(*DISCS[2][:2]) == 3


def test_existing_labels_are_adopted_and_an_object_is_corrected_by_picking_it_up(ome_path):
    labels = SparseLabels.create((SIZE, SIZE))
    r, c, rad = DISCS[0]
    rows, cols = slice(int(r - rad), int(r + rad)), slice(int(c - rad), int(c + rad))
    old = disc_mask(rows, cols, (r, c, rad * 0.6)).astype(np.int32) * 7  # another tool's, too small, id 7
    labels.array[rows, cols] = old
    session = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), labels=labels, **TILE)
    assert session.next_label == 8  # ids kept: new objects come after them
    with pytest.raises(PromptsegError, match="no object"):
        session.pick_up((10.0, 10.0))
    pred = session.pick_up((r, c))
    assert pred is not None and pred.mask[session.to_window([(r, c)]).astype(int)[0][0], :].any()
    window_rows, window_cols = session.window.slices()  # level 0: window frame = full resolution minus origin
    assert pred.mask[rows.start - window_rows.start:rows.stop - window_rows.start,
                     cols.start - window_cols.start:cols.stop - window_cols.start][old == 7].all()  # starts from it
    assert session.labels.label_at(r, c) == 0  # out of the labels while it is being edited
    session.clear()
    np.testing.assert_array_equal(session.labels.read(rows, cols), old)  # clear puts it back unchanged
    session.pick_up((r, c))
    session.click((r + 0.8 * rad, c))  # a positive click on the part the other tool missed
    obj = session.commit()
    assert obj.label == 7
    got = session.labels.read(slice(0, 1024), slice(0, 1024)) == 7
    assert got.sum() == int(disc_mask(slice(0, 1024), slice(0, 1024), DISCS[0]).sum())
    assert session.undo_commit() == 7
    np.testing.assert_array_equal(session.labels.read(rows, cols), old)


def test_prompts_outside_the_window_or_image_are_refused_and_lose_nothing(ome_path):
    session = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), **TILE)
    session.click(DISCS[0][:2])
    session.commit()
    session.click(DISCS[2][:2])
    with pytest.raises(PromptError, match="outside the region of the current object"):
        session.click(DISCS[1][:2])
    with pytest.raises(PromptError, match="outside the image"):
        session.click((SIZE + 10.0, 5.0))
    assert len(session.prompts.points) == 1 and session.prediction is not None
    assert session.labels.label_at(*DISCS[0][:2]) == 1


def test_tile_store_serves_tiles_a_second_session_would_encode(ome_path, tmp_path):
    backend = ComponentBackend()
    first = LargeImageSession(open_multiscale(ome_path), backend, tile_store=tmp_path / "tiles.zarr", **TILE)
    first.click(DISCS[1][:2])
    assert first.tiles.encoded and not first.tiles.loaded
    second = LargeImageSession(open_multiscale(ome_path), backend, tile_store=tmp_path / "tiles.zarr", **TILE)
    pred = second.click(DISCS[1][:2])
    assert second.tiles.loaded == first.tiles.encoded and not second.tiles.encoded
    assert pred.area == first.prediction.area


def test_a_level_of_one_tile_shares_the_tile_store_with_the_others(ome_path, tmp_path):
    # level 2 (1024 px) is one 1024-px tile, without a halo; the store still records the halo asked for
    store = tmp_path / "tiles.zarr"
    session = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), tile_store=store, tile=1024, halo=64)
    session.click(DISCS[0][:2])
    session.commit()
    session.set_level(2)
    session.click(DISCS[1][:2])
    assert session.window.level == 2 and session.tiles.encoded
    again = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), tile_store=store, tile=1024, halo=64,
                              level=2)
    again.click(DISCS[1][:2])
    assert again.tiles.loaded and not again.tiles.encoded


def test_provenance_sidecar_is_read_by_the_prompts_import_and_replays_the_labels(ome_path, tmp_path):
    from promptseg.session import load_annotations

    labels = SparseLabels.create((SIZE, SIZE), tmp_path / "labels.zarr")
    session = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), labels=labels, level=1, **TILE)
    for disc in DISCS[:2]:
        session.click(disc[:2])
        session.click((disc[0] + 2 * disc[2], disc[1]), 0)
        session.commit()
    sidecar = session.write_provenance()
    assert sidecar.name == "labels.zarr.promptseg.json"
    data = __import__("json").loads(sidecar.read_text())
    assert data["model"] == {"name": "components", "backend_id": "components:1", "checkpoint_hash": "none"}
    assert data["backend_options"]["level"] == 1 and data["backend_options"]["tile"] == 512
    assert all("time" in o for o in data["objects"])
    recorded = load_annotations(sidecar)
    assert recorded.image_shape == (SIZE, SIZE) and [o.label for o in recorded.objects] == [1, 2]
    np.testing.assert_allclose(recorded.objects[0].prompts.points[0], DISCS[0][:2], atol=2)  # full resolution
    again = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), level=1, **TILE)
    assert again.replay(recorded.objects) == []
    box = (slice(0, SIZE), slice(0, SIZE))
    np.testing.assert_array_equal(again.labels.read(*box, step=4), labels.read(*box, step=4))
    assert again.labels.label_at(*DISCS[1][:2]) == 2


@pytest.mark.parametrize("use_dask", [False, True])
def test_embed_level_fills_the_tile_store_a_session_then_reads(ome_path, tmp_path, use_dask):
    from promptseg.store.embed_level import embed_level

    client = None
    if use_dask:
        distributed = pytest.importorskip("distributed")
        client = distributed.Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None)
    try:
        backend = ComponentBackend()
        session = LargeImageSession(open_multiscale(ome_path), backend, level=2, **TILE)
        wanted = session.tiles.window(session.image.to_level([DISCS[0][:2]], 2)[0]).tiles
        progress = list(embed_level(ome_path, backend, tmp_path / "tiles.zarr", level=2, tiles=wanted,
                                    client=client, **TILE))
    finally:
        if client is not None:
            client.close()
    assert [p.done for p in progress] == list(range(1, len(wanted) + 1))
    later = LargeImageSession(open_multiscale(ome_path), ComponentBackend(), level=2,
                              tile_store=tmp_path / "tiles.zarr", **TILE)
    later.click(DISCS[0][:2])
    assert later.tiles.loaded and not later.tiles.encoded
