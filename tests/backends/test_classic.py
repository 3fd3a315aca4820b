"""The classic backend on small synthetic images: prompt kinds, dtypes, invariants."""

from __future__ import annotations

import numpy as np
import pytest

from promptseg.backends import ImageEmbedding, Prediction, load_backend
from promptseg.backends.classic import ClassicBackend
from promptseg.errors import EmbeddingError, ImageError, PromptError


def disk_image(shape=(96, 96), centre=(48, 48), radius=20, *, dtype=np.uint8, seed=0, rgb=False):
    """A bright disk on a noisy dark background, and its mask."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    disk = (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius**2
    img = rng.normal(60, 12, shape) + 110 * disk
    if rgb:
        img = np.stack([img, img * 0.6, 255 - img], axis=-1)
    if dtype == np.uint16:
        img = img * 200
    elif dtype == np.float32:
        img = img / 255.0
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        img = np.clip(img, info.min, info.max)
    return img.astype(dtype), disk


def simulated_clicks(backend, embedding, gt, clicks):
    """Yield (points, labels, prediction) along the standard simulator's clicks on ``gt``, previous answer fed back."""
    from promptseg.eval.clicker import ClickSimulator

    sim, points, labels, previous = ClickSimulator(gt), [], [], None
    for _ in range(clicks):
        click = sim.next_click(np.zeros(gt.shape, bool) if previous is None else previous.mask)
        if click is None:
            return
        points.append((click.row, click.col))
        labels.append(click.label)
        previous = backend.predict(embedding, points=points, labels=labels, previous=previous)
        yield list(points), list(labels), previous


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def backend():
    return ClassicBackend()


@pytest.fixture(scope="module")
def disk(backend):
    img, gt = disk_image()
    return backend.encode(img), gt


def test_registered_as_builtin():
    assert isinstance(load_backend("classic"), ClassicBackend)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("rgb", [False, True])
def test_click_on_disk_gives_disk(backend, dtype, rgb):
    img, gt = disk_image(dtype=dtype, rgb=rgb)
    emb = backend.encode(img)
    pred = backend.predict(emb, points=[(48, 48)], labels=[1])
    assert iou(pred.mask, gt) > 0.9


def test_prediction_invariants(backend, disk):
    emb, gt = disk
    pred = backend.predict(emb, points=[(48, 48)], labels=[1])
    assert isinstance(emb, ImageEmbedding) and isinstance(pred, Prediction)
    assert pred.mask.shape == gt.shape and pred.mask.dtype == bool
    assert pred.logits.dtype == np.float32 and pred.logits.shape == gt.shape
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    assert 0.0 <= pred.score <= 1.0
    assert emb.backend_id == backend.backend_id


def test_box_around_disk_gives_disk(backend, disk):
    emb, gt = disk
    pred = backend.predict(emb, box=(24, 24, 72, 72))
    assert iou(pred.mask, gt) > 0.9


def test_scribble_inside_gives_object(backend, disk):
    emb, gt = disk
    scribble = np.array([[40.0, 40.0], [50.0, 55.0], [56.0, 44.0]])
    pred = backend.predict(emb, scribbles=[scribble], scribble_labels=[1])
    assert iou(pred.mask, gt) > 0.9


def test_polygon_gives_object(backend, disk):
    emb, gt = disk
    angles = np.linspace(0, 2 * np.pi, 9)[:-1]
    rough = np.stack([48 + 17 * np.sin(angles), 48 + 17 * np.cos(angles)], axis=1)  # an octagon inside the disk
    pred = backend.predict(emb, polygons=[rough])
    assert iou(pred.mask, gt) > 0.9


def test_mask_prompt_gives_object(backend, disk):
    emb, gt = disk
    rough = np.zeros_like(gt)
    rough[32:66, 30:64] = True  # a square roughly over the disk
    pred = backend.predict(emb, mask=rough)
    assert iou(pred.mask, gt) > 0.9


def test_negative_click_removes_wrongly_included_region(backend):
    # two overlapping disks of slightly different brightness: a click on one takes both,
    # a negative click on the other removes it
    rng = np.random.default_rng(1)
    rr, cc = np.mgrid[:96, :128]
    left = (rr - 48) ** 2 + (cc - 40) ** 2 <= 22**2
    right = ((rr - 48) ** 2 + (cc - 80) ** 2 <= 22**2) & ~left
    img = (rng.normal(60, 10, (96, 128)) + 120 * left + 100 * right).clip(0, 255).astype(np.uint8)
    emb = backend.encode(img)
    first = backend.predict(emb, points=[(48, 40)], labels=[1])
    assert first.mask[right].mean() > 0.9, "one click takes both disks"
    second = backend.predict(emb, points=[(48, 40), (48, 90)], labels=[1, 0], previous=first)
    assert second.mask[right].mean() < 0.05 and iou(second.mask, left) > 0.95


def test_negative_scribble_and_polygon(backend, disk):
    emb, gt = disk
    neg_polygon = np.array([[20.0, 48.0], [48.0, 76.0], [76.0, 48.0], [48.0, 60.0]])
    pred = backend.predict(emb, points=[(48, 36)], labels=[1], polygons=[neg_polygon], polygon_labels=[0])
    assert not pred.mask[48, 66]
    pred = backend.predict(emb, points=[(48, 48)], labels=[1], scribbles=[np.array([[5.0, 5.0], [5.0, 90.0]])],
                           scribble_labels=[0])
    assert iou(pred.mask, gt) > 0.9


def test_previous_answer_is_refined_not_redone(backend, disk):
    emb, gt = disk
    first = backend.predict(emb, points=[(48, 48)], labels=[1])
    again = backend.predict(emb, points=[(48, 48)], labels=[1], previous=first)
    assert iou(first.mask, again.mask) > 0.95
    from_mask = backend.predict(emb, points=[(48, 48)], labels=[1],
                                previous=Prediction(mask=first.mask, logits=first.logits, score=1.0))
    assert iou(from_mask.mask, gt) > 0.9


def test_only_negative_clicks_give_empty_mask(backend, disk):
    emb, _ = disk
    pred = backend.predict(emb, points=[(5, 5)], labels=[0])
    assert not pred.mask.any() and pred.logits.dtype == np.float32


def test_large_image_is_reduced_and_answered_at_full_size():
    backend = ClassicBackend(max_pixels=4096)
    img, gt = disk_image(shape=(300, 200), centre=(150, 100), radius=60)
    emb = backend.encode(img)
    assert emb.features.work.factor > 1
    pred = backend.predict(emb, points=[(150, 100)], labels=[1])
    assert pred.mask.shape == (300, 200)
    assert iou(pred.mask, gt) > 0.85


@pytest.mark.slow
def test_4096_image_encodes():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4096, (4096, 4096), dtype=np.uint16)
    img[1000:2000, 1000:2000] += 20000
    backend = ClassicBackend()
    emb = backend.encode(img)
    pred = backend.predict(emb, points=[(1500, 1500)], labels=[1])
    assert pred.mask.shape == (4096, 4096) and pred.mask[1500, 1500]


def test_errors(backend, disk):
    emb, _ = disk
    with pytest.raises(EmbeddingError):
        backend.predict(None, points=[(1, 1)])
    with pytest.raises(EmbeddingError):
        ClassicBackend(smoothness=3.0).predict(emb, points=[(1, 1)])
    with pytest.raises(PromptError):
        backend.predict(emb)
    with pytest.raises(PromptError):
        backend.predict(emb, points=[(500, 1)])
    with pytest.raises(PromptError):
        backend.predict(emb, scribbles=[np.zeros((3, 3))])
    with pytest.raises(PromptError):
        backend.predict(emb, polygons=[np.array([[1.0, 1.0], [2.0, 2.0]])], polygon_labels=[2])
    with pytest.raises(ImageError):
        backend.encode(np.full((32, 32), 7, np.uint8))
    with pytest.raises(ImageError):
        backend.encode(np.zeros((4, 32, 32)))
    with pytest.raises(TypeError):
        ClassicBackend(no_such_setting=1)


def test_tiny_image(backend):
    img, gt = disk_image(shape=(64, 64), centre=(32, 32), radius=14)
    pred = backend.predict(backend.encode(img), points=[(32, 32)], labels=[1])
    assert iou(pred.mask, gt) > 0.85


def _blobs(seed):
    """Six bright disks on a noisy background (the first one is returned as the object)."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:96, :96]
    img = rng.normal(60, 12, (96, 96))
    first = None
    for _ in range(6):
        r, c, rad = rng.integers(15, 80), rng.integers(15, 80), rng.integers(5, 10)
        disk = (rr - r) ** 2 + (cc - c) ** 2 <= rad**2
        img += 100 * disk
        first = disk if first is None else first
    return np.clip(img, 0, 255).astype(np.uint8), first


def _parts(mask):
    from scipy import ndimage as ndi

    return ndi.label(mask, structure=np.ones((3, 3)))


def test_a_negative_click_leaves_no_detached_fragment(backend):
    # issue 16 item 6: the pixel refinement used to leave a piece cut off by the negative click
    img, _ = _blobs(6)
    emb = backend.encode(img)
    first = backend.predict(emb, points=[(28, 63)], labels=[1])
    pred = backend.predict(emb, points=[(28, 63), (36, 73)], labels=[1, 0], previous=first)
    labels, n = _parts(pred.mask)
    assert pred.mask[28, 63] and n == 1
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)


@pytest.mark.parametrize("seed", [2, 9, 11, 14, 19])
def test_every_part_holds_a_positive_click(backend, seed):
    img, gt = _blobs(seed)
    for points, labels, pred in simulated_clicks(backend, backend.encode(img), gt, 8):
        parts, n = _parts(pred.mask)
        held = {parts[r, c] for (r, c), lab in zip(points, labels) if lab == 1} - {0}
        assert len(held) == n, f"{n - len(held)} part(s) without a positive click after {points} {labels}"
