"""ImageSeries: folder walk, label files next to images or in an output folder, resume."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from promptseg.errors import ImageError
from promptseg.session.series import ImageSeries


@pytest.fixture()
def folder(tmp_path):
    for i in range(3):
        tifffile.imwrite(tmp_path / f"img{i}.tif", np.full((8, 9), i * 10 + 1, np.uint8))
    (tmp_path / "readme.txt").write_text("x")
    return tmp_path


@pytest.mark.parametrize("separate_output", [False, True])
def test_walk_save_and_resume(folder, tmp_path, separate_output):
    out = tmp_path / "labels" if separate_output else None
    series = ImageSeries(folder, output_dir=out)
    assert len(series) == 3 and series.resume_index() == 0 and series.load_labels(0) is None
    assert series.read(1)[0, 0] == 11
    labels = np.zeros((8, 9), np.int32)
    labels[2:4, 2:4] = 3
    path = series.save_labels(0, labels)
    assert path.parent == (out or folder) and path.name == "img0.labels.tif"
    np.testing.assert_array_equal(series.load_labels(0), labels)
    again = ImageSeries(folder, output_dir=out)  # label files are not images of the series
    assert len(again) == 3 and again.resume_index() == 1
    assert again.step(1, +1) == 2 and again.step(2, +1) == 2 and again.step(0, -1) == 0
    for i in (1, 2):
        again.save_labels(i, labels)
    assert again.resume_index() == 2


def test_bad_folders(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        ImageSeries(tmp_path / "nope")
    with pytest.raises(ImageError, match="holds no images"):
        ImageSeries(tmp_path)
