"""Synthetic microscopy-like images with ground truth, for demos, tests and benchmarks.

Pure numpy/scipy: no napari, no torch. Every function is deterministic for a
given ``seed`` and returns the image *and* its instance labels, so a test or a
benchmark can simulate clicks against the truth it was drawn from.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from scipy import ndimage

__all__ = ["SyntheticSample", "synthetic_nuclei_2d", "synthetic_nuclei_3d"]

_BACKGROUND_LEVEL = 300.0  # photon counts of the background
_BRIGHTNESS_RANGE = (1200.0, 3500.0)  # photon counts added inside a nucleus
_READ_NOISE = 25.0  # camera read noise, counts (standard deviation)
_MAX_ATTEMPTS_PER_NUCLEUS = 50


class SyntheticSample(NamedTuple):
    """An image and the instance labels it was drawn from.

    Attributes
    ----------
    image : np.ndarray, uint16
        The noisy, blurred image; shape as requested, axes (row, col) or
        (plane, row, col).
    labels : np.ndarray, int32
        Same shape as ``image``; 0 is background, 1..N one nucleus each.
    """

    image: np.ndarray
    labels: np.ndarray


#: The end of both generators' Parameters and their Returns section ({what}: image or stack).
_NOISE_SEED_RETURNS = """noise : float
        Scale of the shot and read noise; 0 gives a clean (still blurred) {what}.
    seed : int
        Seed of the random generator; the same seed gives the same sample.

    Returns
    -------
    SyntheticSample
        ``(image, labels)``: uint16 image and int32 labels, both of ``shape``."""


def _document(what: str):
    """Fill ``{noise_seed_returns}`` in a generator's docstring."""

    def fill(func):
        func.__doc__ = func.__doc__.replace("{noise_seed_returns}", _NOISE_SEED_RETURNS.format(what=what))
        return func

    return fill


@_document("image")
def synthetic_nuclei_2d(
    shape: Sequence[int] = (256, 256),
    *,
    n_nuclei: int = 24,
    radius_range: tuple[float, float] = (7.0, 14.0),
    noise: float = 1.0,
    seed: int = 0,
) -> SyntheticSample:
    """Blobby, textured nuclei on an unevenly lit, noisy background (2D, uint16).

    Parameters
    ----------
    shape : (int, int)
        Image size (rows, cols).
    n_nuclei : int
        Nuclei to place; fewer are placed when the image is too crowded
        (nuclei never overlap).
    radius_range : (float, float)
        Range of the semi-axes of the elliptical nuclei, in pixels.
    {noise_seed_returns}

    Examples
    --------
    >>> image, labels = synthetic_nuclei_2d((64, 64), n_nuclei=3, seed=1)
    >>> image.dtype, labels.max()
    (dtype('uint16'), np.int32(3))
    """
    return _synthetic_nuclei(
        _check_shape(shape, 2), n_nuclei, radius_range, noise, seed, z_ratio=1.0, blur=(1.2, 1.2)
    )


@_document("stack")
def synthetic_nuclei_3d(
    shape: Sequence[int] = (32, 256, 256),
    *,
    n_nuclei: int = 40,
    radius_range: tuple[float, float] = (7.0, 13.0),
    anisotropy: float = 2.0,
    noise: float = 1.0,
    seed: int = 0,
) -> SyntheticSample:
    """A stack of ellipsoidal nuclei, as from a confocal microscope (3D, uint16).

    Parameters
    ----------
    shape : (int, int, int)
        Stack size (planes, rows, cols).
    n_nuclei : int
        Nuclei to place; fewer are placed when the stack is too crowded.
    radius_range : (float, float)
        Range of the in-plane semi-axes, in pixels.
    anisotropy : float
        Plane spacing divided by pixel size; the semi-axis along the planes is
        the in-plane radius divided by this. Show the stack with
        ``scale=(anisotropy, 1, 1)`` to see round nuclei.
    {noise_seed_returns}

    Examples
    --------
    >>> image, labels = synthetic_nuclei_3d((8, 64, 64), n_nuclei=2, seed=1)
    >>> image.shape, labels.max()
    ((8, 64, 64), np.int32(2))
    """
    if not anisotropy > 0:
        raise ValueError(f"anisotropy must be positive, got {anisotropy!r}")
    blur = (1.2 / anisotropy, 1.2, 1.2)
    return _synthetic_nuclei(
        _check_shape(shape, 3), n_nuclei, radius_range, noise, seed, z_ratio=1.0 / anisotropy, blur=blur
    )


def _check_shape(shape: Sequence[int], ndim: int) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != ndim or min(shape) < 8:
        raise ValueError(f"shape must be {ndim} sizes of at least 8 pixels each, got {shape}")
    return shape


def _synthetic_nuclei(
    shape: tuple[int, ...],
    n_nuclei: int,
    radius_range: tuple[float, float],
    noise: float,
    seed: int,
    *,
    z_ratio: float,
    blur: tuple[float, ...],
) -> SyntheticSample:
    r_min, r_max = (float(r) for r in radius_range)
    if not 1.0 <= r_min <= r_max:
        raise ValueError(f"radius_range must be (min, max) with 1 <= min <= max, got {radius_range!r}")
    if n_nuclei < 0:
        raise ValueError(f"n_nuclei must be >= 0, got {n_nuclei!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")

    rng = np.random.default_rng(seed)
    labels = _place_ellipsoids(shape, n_nuclei, (r_min, r_max), z_ratio, rng)

    # Nuclei: a random brightness each, modulated by a smooth chromatin texture.
    brightness = np.concatenate([[0.0], rng.uniform(*_BRIGHTNESS_RANGE, size=labels.max())])
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=2.0)
    texture /= texture.std() or 1.0
    signal = brightness[labels] * (1.0 + 0.15 * texture)

    # Background: uneven illumination, brighter towards one corner.
    ramps = np.meshgrid(*(np.linspace(0.0, 1.0, s) for s in shape[-2:]), indexing="ij")
    signal += _BACKGROUND_LEVEL * (0.8 + 0.4 * (ramps[0] + ramps[1]) / 2.0)
    signal = ndimage.gaussian_filter(signal, sigma=blur)

    if noise > 0:
        shot = rng.poisson(signal) - signal
        signal = signal + noise * (shot + rng.normal(0.0, _READ_NOISE, size=shape))
    image = np.clip(np.rint(signal), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return SyntheticSample(image=image, labels=labels)


def _place_ellipsoids(
    shape: tuple[int, ...],
    n_nuclei: int,
    radius_range: tuple[float, float],
    z_ratio: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Non-overlapping ellipses (2D) or ellipsoids (3D), rotated in the (row, col) plane."""
    labels = np.zeros(shape, dtype=np.int32)
    placed = 0
    for _ in range(n_nuclei * _MAX_ATTEMPTS_PER_NUCLEUS):
        if placed == n_nuclei:
            break
        radii = rng.uniform(*radius_range, size=2)
        # Semi-axes per array axis; a 3D nucleus is flatter along the planes.
        semi = np.array(([min(radii) * z_ratio] if len(shape) == 3 else []) + list(radii))
        center = np.array([rng.uniform(0, s - 1) for s in shape])
        angle = rng.uniform(0.0, np.pi)
        inside, box = _ellipsoid_in_box(shape, center, semi, angle)
        if not inside.any() or labels[box][inside].any():
            continue  # outside the image, or overlapping a nucleus already placed
        placed += 1
        labels[box][inside] = placed
    return labels


def _ellipsoid_in_box(
    shape: tuple[int, ...], center: np.ndarray, semi: np.ndarray, angle: float
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Boolean mask of one ellipsoid inside its bounding box (clipped to the image), and the box."""
    extent = np.ceil(semi.max()) + 1  # rotation can move the in-plane extent up to the longest axis
    lo = np.maximum(np.floor(center - extent), 0).astype(int)
    hi = np.minimum(np.ceil(center + extent) + 1, shape).astype(int)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grids = np.meshgrid(*(np.arange(a, b) - c for a, b, c in zip(lo, hi, center)), indexing="ij", sparse=True)
    rows, cols = grids[-2], grids[-1]
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * rows + sin * cols) / semi[-2]
    v = (-sin * rows + cos * cols) / semi[-1]
    dist = u**2 + v**2
    if len(shape) == 3:
        dist = dist + (grids[0] / semi[0]) ** 2
    return dist <= 1.0, box
