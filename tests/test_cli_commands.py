"""The ``promptseg`` command line: segment and models."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from promptseg.cli import main


@pytest.fixture()
def tiny_checkpoint(tmp_path, tiny_model):
    path = tmp_path / "tiny_sam.pth"
    torch.save(tiny_model.state_dict(), path)
    return path


@pytest.fixture()
def image_file(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, (3, 40, 50)).astype(np.uint16)  # a small 16-bit stack
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, img, photometric="minisblack")
    return path


def test_segment_writes_mask_and_logits(tmp_path, tiny_checkpoint, image_file, capsys):
    out, logits = tmp_path / "mask.tif", tmp_path / "logits.npy"
    rc = main(["segment", str(image_file), "--slice", "1", "--backend", str(tiny_checkpoint),
               "--point", "20,25", "--point", "5,5,0", "--box", "2,3,35,45", "--out", str(out), "--logits", str(logits)])
    assert rc == 0
    mask = tifffile.imread(out)
    lg = np.load(logits)
    assert mask.shape == lg.shape == (40, 50)
    np.testing.assert_array_equal(mask == 255, lg > 0)
    assert "object pixels" in capsys.readouterr().out


def test_segment_reports_user_errors(tmp_path, tiny_checkpoint, image_file, capsys):
    rc = main(["segment", str(image_file), "--backend", str(tiny_checkpoint), "--point", "1,1", "--out", str(tmp_path / "m.tif")])
    assert rc == 2  # a 3D stack without --slice
    assert "--slice" in capsys.readouterr().err
    rc = main(["segment", str(image_file), "--slice", "0", "--backend", str(tiny_checkpoint),
               "--point", "100,1", "--out", str(tmp_path / "m.tif")])
    assert rc == 2
    assert "outside the image" in capsys.readouterr().err
    rc = main(["segment", str(image_file), "--slice", "0", "--backend", "no_such_model", "--point", "1,1",
               "--out", str(tmp_path / "m.tif")])
    assert rc == 2
    assert "promptseg models" in capsys.readouterr().err


def test_bad_point_syntax_is_an_argparse_error(image_file, tmp_path):
    with pytest.raises(SystemExit):
        main(["segment", str(image_file), "--backend", "x", "--point", "1;2", "--out", str(tmp_path / "m.tif")])


def test_models_lists_registry(tmp_path, capsys):
    assert main(["models", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("sam_vit_b", "sam_vit_h", "mobile_sam_vit_t", "micro_sam_vit_b_lm"):
        assert name in out
    assert str(tmp_path) in out
