"""``promptseg find-similar`` round trip on a synthetic image of repeated disks."""

from __future__ import annotations

import numpy as np
import tifffile

from promptseg.cli import main


def _disks():
    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[:100, :100]
    img = rng.normal(50, 5, (100, 100))
    masks = []
    for r, c in [(20, 20), (20, 70), (70, 25), (75, 75), (45, 48)]:
        m = (rr - r) ** 2 + (cc - c) ** 2 <= 36
        img[m] += 130
        masks.append(m)
    return np.clip(img, 0, 255).astype(np.uint8), masks


def test_cli_round_trip(tmp_path, capsys):
    img, masks = _disks()
    tifffile.imwrite(tmp_path / "img.tif", img)
    tifffile.imwrite(tmp_path / "ex.tif", masks[0].astype(np.uint8) * 255)
    out = tmp_path / "labels.tif"
    rc = main(["find-similar", str(tmp_path / "img.tif"), "--exemplar", str(tmp_path / "ex.tif"),
               "--backend", "classic", "--out", str(out), "--include-exemplars"])
    assert rc == 0
    labels = tifffile.imread(out)
    assert labels.shape == img.shape
    assert len(np.unique(labels)) == len(masks) + 1  # background, the exemplar and the 4 others
    for m in masks:
        ids, counts = np.unique(labels[m], return_counts=True)
        assert ids[np.argmax(counts)] != 0
    assert "proposals with score" in capsys.readouterr().out


def test_cli_stack_needs_exemplar_slice(tmp_path, capsys):
    img, masks = _disks()
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([img, img[::-1]]))
    tifffile.imwrite(tmp_path / "ex.tif", masks[0].astype(np.uint8))
    args = ["find-similar", str(tmp_path / "stack.tif"), "--exemplar", str(tmp_path / "ex.tif"),
            "--out", str(tmp_path / "l.tif")]
    assert main(args) == 2
    assert "--exemplar-slice" in capsys.readouterr().err
    assert main(args + ["--exemplar-slice", "0"]) == 0
    labels = tifffile.imread(tmp_path / "l.tif")
    assert labels.shape == (2, 100, 100)
    assert labels[0][masks[0]].max() == 0  # the exemplar is not proposed again
    assert len(np.unique(labels[1])) == len(masks) + 1  # every disk on the other slice


def test_cli_source_segment_all(tmp_path, capsys):
    img, masks = _disks()
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([img, img]))
    tifffile.imwrite(tmp_path / "ex.tif", masks[0].astype(np.uint8))
    out = tmp_path / "labels.tif"
    rc = main(["find-similar", str(tmp_path / "stack.tif"), "--exemplar", str(tmp_path / "ex.tif"),
               "--exemplar-slice", "0", "--source", "segment_all", "--out", str(out)])
    assert rc == 0
    labels = tifffile.imread(out)
    assert labels.shape == (2,) + img.shape
    assert len(np.unique(labels[0])) == len(masks)  # background and the 4 disks besides the exemplar
    assert len(np.unique(labels[1])) == len(masks) + 1  # every disk on the other slice
    assert not np.any(labels[0][masks[0]])
    for z in (0, 1):
        for m in masks[1:]:
            ids, counts = np.unique(labels[z][m], return_counts=True)
            assert ids[np.argmax(counts)] != 0
