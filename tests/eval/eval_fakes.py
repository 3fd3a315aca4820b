"""Tiny fake backends and synthetic datasets for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from keyword_backend import KeywordBackend
from promptseg.backends.base import ImageEmbedding, Prediction


class OracleBackend(KeywordBackend):
    """Returns the bright connected part under the first positive click: the ground truth of the fake sets."""

    name = "oracle"
    backend_id = "oracle"

    def __init__(self) -> None:
        self.previous_seen: list[object] = []

    def encode(self, image, *, contrast_limits=None):
        img = np.asarray(image)
        bright = (img if img.ndim == 2 else img[..., 0]) > 100
        return ImageEmbedding(self.backend_id, bright.shape, ndi.label(bright)[0])

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        self.previous_seen.append(previous)
        parts = embedding.features
        r, c = [p for p, lab in zip(points, labels) if lab == 1][0]
        out = parts == parts[int(r), int(c)] if parts[int(r), int(c)] else np.zeros(parts.shape, bool)
        return Prediction(out, np.where(out, 1.0, -1.0).astype(np.float32), 1.0)


class EmptyBackend(OracleBackend):
    """Never finds anything."""

    name = "empty"

    def predict(self, embedding, *args, **kwargs):
        super().predict(embedding, *args, **kwargs)
        shape = embedding.image_shape
        return Prediction(np.zeros(shape, bool), np.full(shape, -1.0, np.float32), 0.0)


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_mask_dataset(root: Path, n: int = 3, *, colour: bool = True) -> Path:
    """``n`` images with one bright square each; masks 0/255 with a 128 band."""
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = 40 + 4 * i, 50
        img = rng.integers(0, 60, (h, w), dtype=np.uint8)
        img[10:30, 12 + i : 35] = 200
        mask = np.zeros((h, w), np.uint8)
        mask[10:30, 12 + i : 35] = 255
        band = ndi.binary_dilation(mask > 0, iterations=1) & ~ndi.binary_erosion(mask > 0, iterations=1)
        mask[band] = 128
        write_png(root / "images" / f"im{i}.png", np.dstack([img] * 3) if colour else img)
        write_png(root / "masks" / f"im{i}.png", mask)
    return root


def make_label_dataset(root: Path) -> Path:
    """Two grayscale images with 3 and 2 separated bright instances (uint16 labels)."""
    for name, boxes in (("a", [(2, 2), (2, 20), (20, 10)]), ("b", [(5, 5), (22, 22)])):
        img = np.full((36, 36), 20, np.uint8)
        lab = np.zeros((36, 36), np.uint16)
        for k, (r, c) in enumerate(boxes, start=1):
            img[r : r + 8, c : c + 9] = 220
            lab[r : r + 8, c : c + 9] = 10 * k
        write_png(root / "images" / f"{name}.png", img)
        write_png(root / "labels" / f"{name}.png", lab)
    return root
