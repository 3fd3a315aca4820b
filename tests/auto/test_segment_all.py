"""segment_all end to end: the classic pass on synthetic nuclei, SAM's generator on a tiny model, tiles and seams."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg import segment_all
from promptseg.auto.seams import TileObjects, join_tiles
from promptseg.backends import load_backend
from promptseg.eval import run_to_end
from promptseg.store.tiling import plan_tiling

from synthetic_nuclei import NUCLEI, nuclei_image

def best_ious(labels, truth):
    out = []
    for k in range(1, truth.max() + 1):
        t = truth == k
        ids = np.unique(labels[t])
        ids = ids[ids > 0]
        out.append(max(((labels == i) & t).sum() / ((labels == i) | t).sum() for i in ids) if len(ids) else 0.0)
    return np.array(out)


@pytest.mark.parametrize("kind", ["grey", "uint16", "dark_rgb"])
def test_classic_finds_every_nucleus(kind):
    image, truth = nuclei_image(dark=kind == "dark_rgb", rgb=kind == "dark_rgb",
                                dtype=np.uint16 if kind == "uint16" else np.uint8)
    result = run_to_end(segment_all(load_backend("classic"), image))
    assert result.method == "classic"
    assert result.labels.shape == truth.shape and result.labels.dtype == np.uint32
    assert result.count == len(NUCLEI) == len(result.scores)
    assert set(np.unique(result.labels)) == set(range(result.count + 1))
    assert (best_ious(result.labels, truth) > 0.85).all()
    assert ((result.scores >= 0) & (result.scores <= 1)).all() and (np.diff(result.scores) <= 0).all()


def test_touching_nuclei_are_split():
    image, truth = nuclei_image(nuclei=[(60, 60, 15), (60, 86, 15), (120, 140, 12)])
    result = run_to_end(segment_all(load_backend("classic"), image))
    assert result.count == 3
    assert (best_ious(result.labels, truth) > 0.8).all()


def _domed_pair(gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Two domed nuclei whose centres are ``gap`` px apart (outlines merged, no neck), and a lone third one."""
    rng = np.random.default_rng(1)
    rr, cc = np.mgrid[0:160, 0:200]
    img, truth = np.full((160, 200), 20.0), np.zeros((160, 200), np.int32)
    centres = [(70, 60), (70, 60 + gap), (120, 150)]
    dist = np.stack([np.hypot(rr - r, cc - c) for r, c in centres])
    nearest = dist.argmin(axis=0)
    inside = dist.min(axis=0) <= 14
    truth[inside] = nearest[inside] + 1
    img[inside] = 70 + 130 * np.cos(np.minimum(dist.min(axis=0), 14) / 14 * np.pi / 2)[inside]  # brightest at centres
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8), truth


def test_touching_nuclei_with_no_neck_are_split_at_their_dimmer_seam():
    image, truth = _domed_pair(gap=12)
    split = run_to_end(segment_all(load_backend("classic"), image))
    assert split.count == 3 and (best_ious(split.labels, truth) > 0.8).all()
    depth_only = run_to_end(segment_all(load_backend("classic"), image, intensity_weight=0))
    assert depth_only.count == 2  # on depth alone the pair is one object


def test_progress_is_reported_and_options_are_checked():
    image, _ = nuclei_image()
    steps = []
    gen = segment_all(load_backend("classic"), image, min_area=4)
    try:
        while True:
            steps.append(next(gen))
    except StopIteration:
        pass
    assert steps and steps[-1].done == steps[-1].total
    with pytest.raises(TypeError, match="points_per_side"):
        run_to_end(segment_all(load_backend("classic"), image, points_per_side=16))
    with pytest.raises(ValueError, match="detection"):
        run_to_end(segment_all(load_backend("classic"), image, detection="nonsense"))


def test_a_constant_image_is_refused():
    from promptseg.errors import ImageError

    with pytest.raises(ImageError):
        run_to_end(segment_all(load_backend("classic"), np.full((40, 40), 7, np.uint8)))


def test_large_images_are_done_in_tiles_joined_at_the_seams():
    # a nucleus on every seam of a 2 x 2 tiling of 1024-px tiles over a 1400 x 1500 image
    nuclei = [(700, 300, 16), (300, 750, 16), (700, 750, 16), (1100, 1200, 14), (200, 200, 12)]
    image, truth = nuclei_image((1400, 1500), nuclei)
    tiled = run_to_end(segment_all(load_backend("classic"), image, tile_threshold=1024))
    assert plan_tiling((1400, 1500), tile=1024, threshold=1024).n_tiles == 4
    assert tiled.count == len(nuclei)
    assert (best_ious(tiled.labels, truth) > 0.85).all()


def test_join_tiles_merges_an_object_cut_by_a_seam_and_a_duplicate():
    tiling = plan_tiling((10, 30), tile=20, halo=3, threshold=None)
    assert tiling.origins == ((0, 0), (0, 10))
    a = np.zeros((10, 20), np.uint32)
    b = np.zeros((10, 20), np.uint32)
    a[2:6, 8:20] = 1       # cut at tile 0's right edge (image cols 8..19)
    b[2:6, 0:8] = 1        # the same object, whole in tile 1 (image cols 10..17)
    a[7:9, 12:14] = 2      # an object in the overlap seen by both tiles
    b[7:9, 2:4] = 2
    b[1:3, 15:18] = 3      # tile 1 only
    labels, scores = join_tiles(tiling, [TileObjects(a, np.array([0.6, 0.9])), TileObjects(b, np.array([0.7, 0.5, 0.8]))])
    assert labels.shape == (10, 30) and len(scores) == 3
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    cut = labels[2:6, 8:20]
    assert (cut == cut[0, 0]).all() and cut[0, 0] > 0  # one object across the seam
    assert len(np.unique(labels[7:9, 12:14])) == 1 and labels[7, 12] == 1
    assert (labels[1:3, 25:28] > 0).all()


def test_sam_family_runs_the_automatic_generator(tiny_backend):
    image, _ = nuclei_image((96, 128), [(30, 30, 10), (60, 90, 14)])
    result = run_to_end(segment_all(tiny_backend, image, points_per_side=6, pred_iou_thresh=0.0,
                                    stability_score_thresh=0.0))
    assert result.method == "amg"
    assert result.labels.shape == image.shape and result.labels.dtype == np.uint32
    assert set(np.unique(result.labels)) <= set(range(result.count + 1))
    assert len(result.scores) == result.count and (np.diff(result.scores) <= 0).all()
    with pytest.raises(TypeError, match="min_area"):
        run_to_end(segment_all(tiny_backend, image, min_area=3))


def test_sam_family_tiles_reuse_a_given_tiled_embedding(tiny_backend):
    from promptseg.store.tiled_backend import TiledBackend

    image, _ = nuclei_image((300, 200), [(60, 60, 12), (230, 120, 15)])
    tiled = TiledBackend(tiny_backend, threshold=256)  # the tiny model's tiles are 256 px
    emb = tiled.encode(image)
    assert emb.features.tiling.n_tiles == 2
    calls = []
    original = tiny_backend.encode
    tiny_backend.encode = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        result = run_to_end(segment_all(tiled, image, embedding=emb, points_per_side=4, pred_iou_thresh=0.0,
                                        stability_score_thresh=0.0))
    finally:
        del tiny_backend.encode
    assert calls == []  # no tile encoded again
    assert result.labels.shape == image.shape
