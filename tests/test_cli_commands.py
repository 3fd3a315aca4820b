"""The ``promptseg`` command line: segment and models."""

from __future__ import annotations

import re

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


def _disc_image(path, n=2400, radius=10):
    """A 16-bit noisy image larger than the tiling threshold (2048) with one small bright disc in the middle."""
    rng = np.random.default_rng(0)
    image = rng.normal(1000, 20, (n, n)).astype(np.float32)
    rr, cc = np.ogrid[:n, :n]
    disc = (rr - n // 2 - 0.3) ** 2 + (cc - n // 2 - 0.3) ** 2 <= radius**2
    image[disc] += 3000
    tifffile.imwrite(path, image.astype(np.uint16))
    return disc


def test_segment_large_image_in_tiles(tmp_path, capsys):
    """Whole, the classic backend works on a 4x reduced copy where the disc is a few pixels and the mask takes
    millions of pixels (2,284,938 before tiling); in tiles the disc is found at (nearly) full resolution."""
    disc = _disc_image(tmp_path / "big.tif")
    out = tmp_path / "mask.png"
    assert main(["segment", str(tmp_path / "big.tif"), "--backend", "classic", "--point", "1200,1200",
                 "--out", str(out)]) == 0
    from skimage import io as skio

    mask = skio.imread(out) == 255
    assert mask.shape == disc.shape and 0.8 < mask.sum() / disc.sum() < 1.25 and mask[1200, 1200]
    assert "(1 of 9 tiles)" in capsys.readouterr().out  # only the tile holding the click was encoded


def test_segment_refuses_bad_command_lines(tmp_path, image_file, capsys):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.random.default_rng(1).integers(0, 4000, (40, 50)).astype(np.uint16))
    base = ["--backend", "classic", "--out", str(tmp_path / "m.tif")]
    cases = [
        (["segment", str(tmp_path), "--point", "1,1", *base], "is a folder, not an image file"),
        (["segment", str(plain), "--slice", "5", "--point", "1,1", *base],
         "--slice 5: .* is a single 2D image of 40 x 50 pixels, not a stack; leave out --slice"),
        (["segment", str(image_file), "--slice", "3", "--point", "1,1", *base], r"outside the stack of 3 slices \(0 to 2\)"),
        (["segment", str(plain), "--point", "1,1", "--backend", "classic", "--out", str(tmp_path / "o.xyz")],
         r"--out .*o.xyz: cannot write a mask as .xyz; end the name with one of .tif, .tiff, .png, .bmp"),
        (["segment", str(plain), "--point", "-5,3", *base], r"point \(row=-5, col=3\) lies outside the image"),
        (["segment", str(plain), "--box", "-5,-3,-5,20", *base], "does not overlap the image"),
        (["segment", str(plain), "--box", "10,10,10,10", *base], "has zero height and width"),
        (["segment", str(plain), "--contrast-limits", "5", "5", "--point", "1,1", *base],
         "--contrast-limits 5 5: LOW must be below HIGH"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert re.search(message, err), (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "o.xyz").exists() and not (tmp_path / "m.tif").exists()


def test_embed_refuses_equal_contrast_limits_before_creating_a_store(tmp_path, image_file, capsys):
    rc = main(["embed", str(image_file), "--backend", "classic", "--contrast-limits", "5", "5", "--no-progress"])
    assert rc == 2 and "--contrast-limits 5 5: LOW must be below HIGH" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.embeddings.zarr"))
