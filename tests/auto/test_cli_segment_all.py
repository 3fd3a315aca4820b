"""``promptseg segment-all`` on an image, a stack, one slice and a folder."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from promptseg.cli import main

from synthetic_nuclei import NUCLEI, nuclei_image


def test_one_image_to_uint32_tiff(tmp_path, capsys):
    image, _ = nuclei_image()
    tifffile.imwrite(tmp_path / "cells.tif", image)
    assert main(["segment-all", str(tmp_path / "cells.tif"), "--backend", "classic", "--out", str(tmp_path / "l.tif")]) == 0
    labels = tifffile.imread(tmp_path / "l.tif")
    assert labels.dtype == np.uint32 and labels.shape == image.shape and labels.max() == len(NUCLEI)
    assert f"{len(NUCLEI)} objects" in capsys.readouterr().out


def test_a_stack_gives_a_labels_stack_and_slice_picks_one(tmp_path):
    first, _ = nuclei_image()
    second, _ = nuclei_image(nuclei=NUCLEI[:3], seed=1)
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([first, second]))
    assert main(["segment-all", str(tmp_path / "stack.tif"), "--out", str(tmp_path / "all.tif")]) == 0
    labels = tifffile.imread(tmp_path / "all.tif")
    assert labels.shape == (2, *first.shape)
    assert labels[0].max() == len(NUCLEI) and labels[1].max() == 3
    assert main(["segment-all", str(tmp_path / "stack.tif"), "--slice", "1", "--out", str(tmp_path / "one.png")]) == 0
    one = np.asarray(__import__("skimage.io", fromlist=["imread"]).imread(tmp_path / "one.png"))
    assert one.shape == first.shape and one.max() == 3


def test_a_folder_gives_one_labels_image_per_input(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(2):
        tifffile.imwrite(src / f"img{k}.tif", nuclei_image(seed=k)[0])
    assert main(["segment-all", str(src), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0_labels.tif", "img1_labels.tif"]


@pytest.mark.parametrize("extra,message", [(["--out", "x.jpg"], "tif"), (["--slice", "0", "--out", "x.tif"], "not a stack")])
def test_mistakes_are_explained(tmp_path, capsys, extra, message):
    tifffile.imwrite(tmp_path / "cells.tif", nuclei_image()[0])
    extra = [str(tmp_path / e) if e.startswith("x.") else e for e in extra]
    assert main(["segment-all", str(tmp_path / "cells.tif"), *extra]) == 2
    assert message in capsys.readouterr().err
