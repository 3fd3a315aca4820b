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


def test_moving_past_an_untouched_image_leaves_it_to_do(folder):
    series = ImageSeries(folder)
    empty = np.zeros((8, 9), np.uint16)
    assert series.save_labels(0, empty) is None  # no objects, not marked done: nothing written
    assert not series.labels_path(0).exists()
    assert ImageSeries(folder).resume_index() == 0 and series.record(0) is None


def test_marked_done_without_objects_is_skipped_on_resume(folder):
    series = ImageSeries(folder)
    path = series.save_labels(0, np.zeros((8, 9), np.uint16), done=True)
    assert path is not None and tifffile.imread(path).max() == 0
    assert series.record(0).marked_done and series.record(0).objects == 0
    assert ImageSeries(folder).resume_index() == 1


def test_objects_removed_later_make_the_image_to_do_again(folder):
    series = ImageSeries(folder)
    labels = np.zeros((8, 9), np.int64)
    labels[1:3, 1:3], labels[5:7, 5:7] = 1, 4
    series.save_labels(0, labels)
    assert series.record(0).objects == 2 and not series.record(0).marked_done and series.resume_index() == 1
    path = series.save_labels(0, np.zeros_like(labels))  # the file exists: it must not keep stale objects
    assert path is not None and tifffile.imread(path).max() == 0
    assert series.resume_index() == 0


@pytest.mark.parametrize("value, done", [(0, False), (3, True)])
def test_label_files_of_earlier_versions(folder, value, done):
    series = ImageSeries(folder)
    labels = np.zeros((8, 9), np.uint16)
    labels[2, 2] = value
    tifffile.imwrite(series.labels_path(0), labels, compression="zlib")  # as earlier versions wrote them
    assert series.is_done(0) is done and series.record(0).objects == int(done)
    assert series.resume_index() == (1 if done else 0)


def test_unreadable_label_file_is_not_done(folder):
    series = ImageSeries(folder)
    series.labels_path(0).write_bytes(b"not a tiff")
    assert not series.is_done(0) and series.resume_index() == 0
