"""``promptseg segment`` on an OME-Zarr folder: lazy, sparse zarr labels, provenance sidecar (issue 22)."""

from __future__ import annotations

import json

import pytest
from large_fakes import DISCS, write_ome_zarr

from promptseg.cli import main
from promptseg.io import read_image
from promptseg.store.sparse_labels import SparseLabels


@pytest.fixture(scope="module")
def ome_path(tmp_path_factory):
    return write_ome_zarr(tmp_path_factory.mktemp("large_cli") / "image.ome.zarr")


def test_segment_an_ome_zarr_into_sparse_labels_with_a_sidecar(ome_path, tmp_path, capsys):
    r, c, rad = DISCS[0]
    out = tmp_path / "mask.zarr"
    assert main(["segment", str(ome_path), "--backend", "classic", "--point", f"{r},{c}", "--level", "1",
                 "--out", str(out), "--value", "3"]) == 0
    printed = capsys.readouterr().out
    assert "tiles encoded" in printed and "level 1" in printed
    labels = SparseLabels.open(out)
    assert labels.label_at(r, c) == 3 and labels.label_at(r + 3 * rad, c) == 0
    assert labels.stored_chunks() <= 4  # the object's chunks only, of 16
    sidecar = json.loads((tmp_path / "mask.zarr.promptseg.json").read_text())
    assert sidecar["model"]["name"] == "classic" and sidecar["objects"][0]["label"] == 3
    assert sidecar["backend_options"]["level"] == 1 and "settings" in sidecar["backend_options"]


def test_segment_an_ome_zarr_into_a_mask_file_and_clear_errors(ome_path, tmp_path, capsys):
    r, c, _ = DISCS[1]
    out = tmp_path / "mask.tif"
    assert main(["segment", str(ome_path), "--backend", "classic", "--point", f"{r},{c}", "--out", str(out)]) == 0
    mask = read_image(out)
    assert mask.shape == (4096, 4096) and mask[int(r), int(c)] == 255
    assert (tmp_path / "mask.tif.promptseg.json").exists()
    assert main(["segment", str(ome_path), "--backend", "classic", "--point", f"{r},{c}", "--out",
                 str(tmp_path / "m2.zarr"), "--logits", str(tmp_path / "l.npy")]) == 2
    assert "--logits is not written" in capsys.readouterr().err
    assert main(["segment", str(ome_path), "--backend", "classic", "--point", "5000,10", "--out",
                 str(tmp_path / "m3.zarr")]) == 2
    assert "outside the image" in capsys.readouterr().err
    assert main(["segment", str(ome_path), "--backend", "classic", "--point", f"{r},{c}", "--out",
                 str(tmp_path / "mask.zarr"), "--level", "7"]) == 2
    assert "level 7 does not exist" in capsys.readouterr().err
    assert not (tmp_path / "m3.zarr").exists()  # a failed command leaves no empty labels behind


def test_embed_an_ome_zarr_level_then_segment_without_encoding(ome_path, tmp_path, capsys):
    from promptseg.backends import load_backend
    from promptseg.session.large import LargeImageSession
    from promptseg.store.multiscale import open_multiscale

    assert main(["embed", str(ome_path), "--backend", "classic", "--level", "2", "--store", str(tmp_path),
                 "--no-progress"]) == 0
    assert "1 tiles of level 2" in capsys.readouterr().out
    session = LargeImageSession(open_multiscale(ome_path), load_backend("classic"), level=2,
                                tile_store=tmp_path / "image.ome.zarr.tiles.zarr")
    session.click(DISCS[0][:2])
    assert session.tiles.loaded == [0] and not session.tiles.encoded


def test_segment_all_on_an_ome_zarr_writes_each_object_once_tile_by_tile(ome_path, tmp_path, capsys):
    out = tmp_path / "all.zarr"
    assert main(["segment-all", str(ome_path), "--level", "1", "--out", str(out)]) == 0
    assert "4 objects" in capsys.readouterr().out
    labels = SparseLabels.open(out)
    ids = [labels.label_at(r, c) for r, c, _ in DISCS]
    assert sorted(ids) == [1, 2, 3, 4]  # every disc found once, whichever tile owns it
    assert labels.stored_chunks() <= 8 and (tmp_path / "all.zarr.promptseg.json").exists()
    region = tmp_path / "region.zarr"
    r, c, _ = DISCS[0]
    assert main(["segment-all", str(ome_path), "--level", "1", "--out", str(region),
                 "--region", f"{r - 50},{c - 50},{r + 50},{c + 50}"]) == 0
    printed = capsys.readouterr().out
    assert int(printed.split(" tiles of level")[0].rsplit(" ", 1)[1]) < 9  # of the 9 tiles of level 1
    assert SparseLabels.open(region).label_at(r, c) == 1
    assert main(["segment-all", str(ome_path), "--out", str(tmp_path / "all.tif")]) == 2
    assert "sparse zarr labels" in capsys.readouterr().err
