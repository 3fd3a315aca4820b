"""Synthetic nuclei images with known ground truth for the automatic-pass tests."""

from __future__ import annotations

import numpy as np

#: (row, col, radius) of synthetic nuclei on a 160 x 200 image.
NUCLEI = [(30, 30, 9), (30, 100, 12), (80, 60, 10), (120, 150, 14), (70, 170, 8), (130, 40, 11)]


def nuclei_image(shape=(160, 200), nuclei=NUCLEI, *, dark=False, rgb=False, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]]
    truth = np.zeros(shape, np.int32)
    img = np.full(shape, 20.0)
    for k, (r, c, rad) in enumerate(nuclei, start=1):
        inside = (rr - r) ** 2 + (cc - c) ** 2 <= rad**2
        truth[inside] = k
        img[inside] = 150 + 10 * (k % 3)
    img += rng.normal(0, 4, shape)
    if dark:
        img = 255 - img
    if rgb:
        tint = np.array([0.6, 0.3, 0.9]) if dark else np.array([1.0, 1.0, 1.0])
        img = img[..., None] * tint
    scale = 1 if dtype == np.uint8 else 200
    return np.clip(img * scale, 0, np.iinfo(dtype).max).astype(dtype), truth
