"""A deterministic, instant backend for GUI and session tests: disks around clicks."""

from __future__ import annotations

import numpy as np

from keyword_backend import KeywordBackend
from promptseg.backends.base import ImageEmbedding, Prediction

RADIUS = 5


class DiskBackend(KeywordBackend):
    """Each positive click adds a disk of radius 5, each negative one removes it; a box fills itself
    when there are no clicks; a mask prompt is taken as is.  Counts its calls."""

    name = "disks"
    backend_id = "disks:1"
    checkpoint_hash = "disk-hash"

    def __init__(self) -> None:
        self.encoded: list[tuple[int, ...]] = []
        self.calls: list[dict] = []

    def encode(self, image, *, contrast_limits=None):
        self.encoded.append(np.shape(image))
        return ImageEmbedding(self.backend_id, tuple(np.shape(image)[:2]), None)

    def respond(self, embedding, *, points=None, labels=None, box=None, mask=None, previous=None):
        self.calls.append({"points": points, "box": box, "mask": mask, "previous": previous})
        h, w = embedding.image_shape
        rr, cc = np.mgrid[:h, :w]
        out = np.zeros((h, w), bool) if mask is None else np.asarray(mask, bool).copy()
        if box is not None and points is None:
            r0, c0, r1, c1 = (int(round(v)) for v in box)
            out[r0 : r1 + 1, c0 : c1 + 1] = True
        pts = [] if points is None else np.asarray(points)
        labs = [] if labels is None else np.asarray(labels)
        for (r, c), lab in zip(pts, labs):
            disk = (rr - r) ** 2 + (cc - c) ** 2 <= RADIUS**2
            out = out | disk if lab else out & ~disk
        return Prediction(out, np.where(out, 1.0, -1.0).astype(np.float32), 1.0, state=out)
