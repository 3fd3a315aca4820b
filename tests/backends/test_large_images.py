"""Large images: the classic backend refuses to work on a copy reduced so far that objects vanish, and the
tiled path (what `promptseg segment` and the store use) answers them at any size with memory of a few tiles."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.backends.classic import ClassicBackend, features
from promptseg.errors import ImageError
from promptseg.imaging import robust_limits, to_uint8_rgb
from promptseg.store import TiledBackend


def _disc_image(n: int, radius: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.normal(1000, 20, (n, n)).astype(np.float32)
    rr, cc = np.ogrid[:n, :n]
    disc = (rr - n // 2 - 0.3) ** 2 + (cc - n // 2 - 0.3) ** 2 <= radius**2
    image[disc] += 3000
    return image.astype(np.uint16), disc


def test_classic_refuses_reductions_beyond_the_limit(monkeypatch):
    """The same check that refuses a 5100 x 5100 image at the defaults, forced down to a CI-sized image."""
    monkeypatch.setattr(features, "MAX_REDUCTION", 2)
    image, _ = _disc_image(120, 6)
    backend = ClassicBackend(max_pixels=1000)  # 120 x 120 -> a copy reduced 4 x 4
    with pytest.raises(ImageError, match=r"120 x 120 pixels is too large for the classic backend in one piece: .*"
                                         r"reduced 4 x 4.*TiledBackend"):
        backend.encode(image)
    tiled = TiledBackend(backend, tile=60, halo=8, threshold=60)  # 60 x 60 tiles: reduced 2 x 2
    pred = tiled.predict(tiled.encode(image), points=[(60, 60)], labels=[1])
    assert pred.mask.shape == image.shape and pred.mask[60, 60]


def test_classic_default_limit_is_checked_before_any_copy():
    huge = np.broadcast_to(np.uint16(7), (6000, 6000))  # no memory behind it: a copy would be 72 MB or more
    with pytest.raises(ImageError, match="6000 x 6000 pixels is too large"):
        ClassicBackend().encode(huge)


def test_tiled_answer_is_right_where_the_reduced_copy_fails(monkeypatch):
    """2400 x 2400 at the defaults is reduced 4 x 4 and a 316-pixel disc drowns (the mask took 2.3 M pixels);
    in 1024 tiles (reduced 2 x 2), one tile answers it."""
    image, disc = _disc_image(2400, 10)
    backend = ClassicBackend()
    tiled = TiledBackend(backend, lazy=True)
    emb = tiled.encode(image)
    pred = tiled.predict(emb, points=[(1200, 1200)], labels=[1])
    assert 0.8 < pred.area / disc.sum() < 1.25 and pred.mask[1200, 1200]
    assert len(emb.cache["tiles"]) == 1 and len(pred.state.tiles) == 1
    np.testing.assert_array_equal(pred.logits > 0, pred.mask)  # full logits built on demand agree


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_robust_limits_equal_numpy_percentiles(dtype):
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    low, high = (info.min // 2, info.max // 2) if info.min < 0 else (info.min, info.max)  # numpy's int16 b - a wraps
    for shape in [(7,), (31, 17), (64, 48, 3), (2, 1)]:
        data = rng.integers(low, high, shape, endpoint=True).astype(dtype)
        for view in (data, data[::2], data[..., ::-1]):
            for q in [(0.5, 99.5), (0, 100), (50, 50.5), (12.5, 87.5)]:
                assert robust_limits(view, q) == tuple(float(v) for v in np.percentile(view, q))


def test_scaling_is_unchanged_by_the_histogram_percentiles():
    image = np.random.default_rng(4).integers(0, 4096, (50, 60)).astype(np.uint16)
    low, high = np.percentile(image, (0.5, 99.5))
    expected = np.clip((image.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low)) + 0.5,
                       0, 255).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8_rgb(image)[..., 0], expected)
