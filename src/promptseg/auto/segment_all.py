"""``segment_all``: every object of a 2D image at once, for any backend.

SAM-family backends run SAM's automatic mask generator (:mod:`.amg`) on
their own embeddings; the classic backend (and any backend without a
batched point path that is weight-free) runs the classic pass
(:mod:`.classic_pass`).  Slices larger than the tiling threshold are worked
tile by tile with the store's tiling and joined across the seams
(:mod:`.seams`).  The function is a generator: the widget, the command line
and the tests all run the same one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Generator, Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import PromptsegError
from ..imaging import check_image
from ..store.tiled_backend import TiledBackend, slice_contrast_limits, tile_of
from ..store.tiling import DEFAULT_TILE_THRESHOLD, plan_tiling, tile_slices
from .amg import AmgSettings, generate_masks
from .classic_pass import ClassicAutoSettings, classic_objects
from .labels import paint_labels
from .prompter import point_prompter
from .seams import TileObjects, join_tiles

__all__ = ["AutoSegmentation", "SegmentAllProgress", "segment_all", "is_weight_free"]


@dataclass(frozen=True)
class SegmentAllProgress:
    """Where ``segment_all`` is: ``done`` of ``total`` steps of ``stage`` on tile ``tile`` of ``tiles``."""

    stage: str
    done: int
    total: int
    tile: int = 0
    tiles: int = 1


@dataclass(frozen=True)
class AutoSegmentation:
    """The objects of one 2D image.

    Attributes
    ----------
    labels : np.ndarray, shape (H, W), uint32
        0 background; objects 1..n, numbered by decreasing score.
    scores : np.ndarray, shape (n,), float32
        Score of label ``i + 1`` (SAM: predicted IoU; classic: contrast
        against the surroundings, in [0, 1]).
    seconds : float
        Wall time of the whole pass (encoding included).
    method : str
        ``"amg"`` or ``"classic"``.
    """

    labels: np.ndarray
    scores: np.ndarray
    seconds: float
    method: str

    @property
    def count(self) -> int:
        """Number of objects."""
        return int(len(self.scores))


def _core(backend: Any) -> Any:
    """The backend under store / tiling wrappers."""
    seen = 0
    while hasattr(backend, "inner") and seen < 8:
        backend, seen = backend.inner, seen + 1
    return backend


def is_weight_free(backend: Any) -> bool:
    """Whether ``backend`` takes the classic pass (it has no batched point path)."""
    core = _core(backend)
    return not (hasattr(core, "model") or callable(getattr(core, "point_prompter", None)))


def _settings(weight_free: bool, options: dict):
    cls = ClassicAutoSettings if weight_free else AmgSettings
    unknown = set(options) - cls.names()
    if unknown:
        kind = "the classic pass" if weight_free else "SAM's automatic mask generator"
        raise TypeError(f"unknown option(s) {sorted(unknown)} for {kind}; known: {sorted(cls.names())}.")
    return replace(cls(), **options)


def segment_all(
    backend: Backend,
    image: np.ndarray,
    *,
    embedding: ImageEmbedding | None = None,
    contrast_limits: Sequence[float] | None = None,
    tile_threshold: int | None = DEFAULT_TILE_THRESHOLD,
    **options,
) -> Generator[SegmentAllProgress, None, AutoSegmentation]:
    """Segment every object of a 2D image.

    Parameters
    ----------
    backend : Backend
        A SAM-family backend (automatic mask generator), the classic backend
        (weight-free pass), or either under a store / tiling wrapper.
    image : np.ndarray, shape (H, W) or (H, W, C)
        Grey or colour, any dtype the backends take.
    embedding : ImageEmbedding, optional
        The image's embedding when it is already known (e.g. read from an
        embedding store, tiled or not); otherwise the image is encoded here.
        Not used by the classic pass.
    contrast_limits : (low, high), optional
        Scaling of non-8-bit data for SAM-family encoders (default: robust
        percentiles of the whole slice, the same for every tile and crop).
    tile_threshold : int or None
        Slices with a longer side above this are worked tile by tile
        (None: whenever larger than a tile).
    **options
        :class:`~promptseg.auto.amg.AmgSettings` fields for SAM-family
        backends (``points_per_side=32``, ``pred_iou_thresh=0.88``, ...),
        :class:`~promptseg.auto.classic_pass.ClassicAutoSettings` fields for
        the classic backend.

    Yields
    ------
    SegmentAllProgress

    Returns
    -------
    AutoSegmentation
        Via ``StopIteration.value`` (``promptseg.eval.run_to_end`` runs it).

    Raises
    ------
    TypeError
        An option the backend's method does not have.
    ImageError
        Not a 2D grey or colour image.
    """
    start = time.perf_counter()
    arr = check_image(image)
    weight_free = is_weight_free(backend)
    settings = _settings(weight_free, options)
    shape = tuple(int(v) for v in arr.shape[:2])
    if weight_free:
        labels, scores = yield from _classic(arr, shape, settings, tile_threshold)
        method = "classic"
    else:
        labels, scores = yield from _amg(backend, arr, shape, settings, embedding, contrast_limits, tile_threshold)
        method = "amg"
    return AutoSegmentation(labels, scores, time.perf_counter() - start, method)


def _relay(gen, tile: int, tiles: int):
    """Pass a per-tile generator's progress on, tagged with the tile; return its result."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield SegmentAllProgress(p.stage, p.done, p.total, tile, tiles)


def _classic(arr, shape, settings, tile_threshold):
    tiling = plan_tiling(shape, tile=1024, threshold=tile_threshold)
    found = []
    for i in range(tiling.n_tiles):
        rs, cs = tile_slices(tiling, i)
        labels, scores = yield from _relay(classic_objects(arr[rs, cs], settings), i, tiling.n_tiles)
        found.append(TileObjects(labels, scores))
    if tiling.n_tiles == 1:
        return found[0].labels, found[0].scores
    return join_tiles(tiling, found)


def _amg(backend, arr, shape, settings, embedding, contrast_limits, tile_threshold):
    core = _core(backend)
    limits = slice_contrast_limits(arr, contrast_limits)
    if embedding is None:
        tiled = backend if isinstance(backend, TiledBackend) or backend is not core else \
            TiledBackend(core, threshold=tile_threshold)
        embedding = tiled.encode(arr, contrast_limits=limits)
    tiling = getattr(embedding.features, "tiling", None)
    if tiling is None:
        tiling = plan_tiling(shape, tile=max(shape), threshold=None)
        tile_embeddings = [embedding]
    else:
        tile_embeddings = [tile_of(embedding, i) for i in range(tiling.n_tiles)]
    if embedding.image_shape != shape:
        raise PromptsegError(f"the embedding is of an image of {embedding.image_shape}, not {shape}.")
    found = []
    for i, emb in enumerate(tile_embeddings):
        rs, cs = tile_slices(tiling, i)
        tile_image = arr[rs, cs]

        def prompter_for(crop, emb=emb, tile_image=tile_image):
            x0, y0, x1, y1 = crop
            if (x0, y0, x1, y1) == (0, 0, tile_image.shape[1], tile_image.shape[0]):
                return point_prompter(core, emb)
            return point_prompter(core, core.encode(tile_image[y0:y1, x0:x1], contrast_limits=limits))

        masks = yield from _relay(generate_masks(prompter_for, tile_image.shape[:2], settings), i, tiling.n_tiles)
        labels, scores = paint_labels(tile_image.shape[:2], masks.boxes, masks.masks, masks.iou)
        found.append(TileObjects(labels, scores))
    if len(found) == 1:
        return found[0].labels, found[0].scores
    return join_tiles(tiling, found)

