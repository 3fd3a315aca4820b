"""Synthetic sample images: deterministic, well-formed, and truthful labels."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.data import synthetic_nuclei_2d, synthetic_nuclei_3d

SMALL = {
    "2d": lambda **kw: synthetic_nuclei_2d((64, 80), n_nuclei=5, **kw),
    "3d": lambda **kw: synthetic_nuclei_3d((12, 64, 80), n_nuclei=5, **kw),
}


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_shapes_dtypes_and_ids(kind: str) -> None:
    image, labels = SMALL[kind]()
    assert image.dtype == np.uint16 and labels.dtype == np.int32
    assert image.shape == labels.shape == ((64, 80) if kind == "2d" else (12, 64, 80))
    ids = np.unique(labels)
    np.testing.assert_array_equal(ids, np.arange(len(ids)))  # 0 plus consecutive ids
    assert labels.max() >= 1


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_same_seed_same_sample_other_seed_other_sample(kind: str) -> None:
    a, b, c = SMALL[kind](seed=3), SMALL[kind](seed=3), SMALL[kind](seed=4)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_every_nucleus_is_brighter_than_background(kind: str) -> None:
    image, labels = SMALL[kind](noise=0.0)
    background = np.median(image[labels == 0])
    for label in range(1, labels.max() + 1):
        assert np.median(image[labels == label]) > 2 * background


def test_default_sizes() -> None:
    assert synthetic_nuclei_2d().image.shape == (256, 256)
    assert synthetic_nuclei_3d(n_nuclei=1).image.shape == (32, 256, 256)


def test_crowded_image_places_fewer_nuclei_without_overlap() -> None:
    _, labels = synthetic_nuclei_2d((32, 32), n_nuclei=50, radius_range=(6, 8))
    assert 1 <= labels.max() < 50


@pytest.mark.parametrize(
    "kwargs",
    [{"shape": (64,)}, {"shape": (4, 64)}, {"n_nuclei": -1}, {"radius_range": (5, 2)}, {"noise": -1.0}],
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        synthetic_nuclei_2d(**kwargs)


def test_3d_rejects_bad_anisotropy() -> None:
    with pytest.raises(ValueError, match="anisotropy"):
        synthetic_nuclei_3d((8, 32, 32), anisotropy=0)
