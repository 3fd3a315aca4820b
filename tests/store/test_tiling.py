"""Tiled embeddings of large 2D images: tile layout, seamless masks, tiled stores."""

from __future__ import annotations

import numpy as np
import pytest
from store_fakes import ComponentBackend, iou, run

from promptseg.backends.base import ImageEmbedding, Prediction
from promptseg.prompts import Prompts
from promptseg.store import EmbeddingStore, StoredBackend, TiledBackend, embed_stack, plan_tiling
from promptseg.store.tiled_backend import TiledFeatures
from promptseg.store.tiling import feather_weights, tile_slices


@pytest.mark.parametrize("shape", [(700, 700), (513, 1300), (300, 2000)])
def test_every_pixel_is_deep_inside_some_tile(shape):
    tiling = plan_tiling(shape, tile=256, halo=32, threshold=256)
    assert tiling.n_tiles > 1 and tiling.tile_shape == (min(256, shape[0]), min(256, shape[1]))
    depth = np.zeros(shape)
    for i in range(tiling.n_tiles):
        rs, cs = tile_slices(tiling, i)
        assert rs.stop <= shape[0] and cs.stop <= shape[1]
        rr, cc = np.mgrid[rs, cs]
        d = np.minimum.reduce([
            np.where(rs.start > 0, rr - rs.start, 10**6), np.where(rs.stop < shape[0], rs.stop - 1 - rr, 10**6),
            np.where(cs.start > 0, cc - cs.start, 10**6), np.where(cs.stop < shape[1], cs.stop - 1 - cc, 10**6),
        ])
        depth[rs, cs] = np.maximum(depth[rs, cs], d)
    assert depth.min() >= 32  # every pixel is at least `halo` inside one tile


def test_small_images_are_not_tiled():
    assert plan_tiling((2048, 1500)).n_tiles == 1
    assert plan_tiling((2049, 1500)).n_tiles > 1
    with pytest.raises(ValueError, match="halo"):
        plan_tiling((5000, 5000), tile=1024, halo=300)


def test_feather_weights_blend_to_the_global_answer():
    """A translation-equivariant backend: blended logits equal the untiled logits exactly (a partition of unity)."""

    class Ramp:
        name, backend_id = "ramp", "ramp:1"

        def encode(self, image, *, contrast_limits=None):
            return ImageEmbedding(self.backend_id, image.shape[:2], np.asarray(image, np.float32))

        def predict(self, embedding, prompts=None, **short):
            logits = embedding.features - 50.0
            return Prediction(logits > 0, logits, 1.0)

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 100, (600, 620)).astype(np.float32)
    tiled = TiledBackend(Ramp(), tile=256, halo=32, threshold=256)
    emb = tiled.encode(image)
    assert isinstance(emb.features, TiledFeatures)
    pred = tiled.predict(emb, mask=np.ones(image.shape, bool))  # the mask reaches every tile
    assert len(pred.state.tiles) == emb.features.tiling.n_tiles
    np.testing.assert_allclose(pred.logits, image - 50.0, atol=1e-3)
    weights = feather_weights(emb.features.tiling, 0)
    assert weights.max() == 1.0 and 0 < weights.min() < 0.05


def _bar_image():
    image = np.full((700, 700), 20, np.uint16)
    image[330:360, 40:660] = 900  # a bar across three tiles
    image[100:140, 100:140] = 900  # a small object inside one tile
    return image


def test_masks_are_seamless_across_tile_borders():
    image = _bar_image()
    inner = ComponentBackend()
    tiled = TiledBackend(inner, tile=256, halo=32, threshold=256)
    emb = tiled.encode(image)
    pred = tiled.predict(emb, points=[(345, 60)], labels=[1])
    truth = inner.predict(inner.encode(image), points=[(345, 60)], labels=[1]).mask
    assert iou(pred.mask, truth) == 1.0  # no seam, no cut at tile borders
    assert len(pred.state.tiles) >= 3
    small = tiled.predict(emb, points=[(120, 120)], labels=[1])
    assert len(small.state.tiles) == 1 and small.mask.sum() == 40 * 40  # one tile when it holds the object


def test_tiled_sam_predicts_full_size(tiny_backend):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 560), dtype=np.uint8)
    tiled = TiledBackend(tiny_backend, halo=32, threshold=256)  # tiny SAM's input is 256 px
    emb = tiled.encode(image)
    assert emb.features.tiling.n_tiles > 1
    pred = tiled.predict(emb, points=[(150, 280)], labels=[1])
    assert pred.mask.shape == pred.logits.shape == image.shape
    again = tiled.predict(emb, points=[(150, 280), (140, 300)], labels=[1, 1], previous=pred)
    assert again.mask.shape == image.shape


def test_tiled_store_round_trip(tmp_path):
    image = _bar_image()
    inner = ComponentBackend()
    steps, store = run(embed_stack(image, inner, tmp_path / "big.zarr", tile=256, halo=32, tile_threshold=256))
    assert store.metadata.tiling.n_tiles == 16
    assert [s.tiles_done for s in steps] == list(range(1, 17))  # progress after every tile, not only per slice
    assert [s.slice_complete for s in steps] == [False] * 15 + [True] and steps[-1].done == 1
    assert store._arrays["image"].shape == (1, 16, 256, 256)
    reopened = EmbeddingStore.open(tmp_path / "big.zarr", backend=inner)
    emb = reopened.load(0)
    assert isinstance(emb.features, TiledFeatures) and "tiles" not in emb.cache  # tiles are read on first use
    stored = StoredBackend(inner, reopened)
    pred = stored.predict(stored.encode(image), points=[(345, 600)], labels=[1])
    assert stored.hits == 1
    truth = inner.predict(inner.encode(image), points=[(345, 600)], labels=[1]).mask
    assert iou(pred.mask, truth) == 1.0


def test_untiled_store_answers_without_the_tiling_wrapper(tmp_path, monkeypatch):
    """A click on an untiled slice goes from the store straight to the model; a tiled slice goes through tiling."""
    image = _bar_image()[:200, :200]
    inner = ComponentBackend()
    _, store = run(embed_stack(image, inner, tmp_path / "small.zarr"))
    stored = StoredBackend(inner, store)
    emb = stored.encode(image)
    assert stored.hits == 1 and not isinstance(emb.features, TiledFeatures)
    prompts = Prompts(points=[(120, 120)], labels=[1], image_shape=image.shape)
    seen = []
    monkeypatch.setattr(TiledBackend, "answer", lambda *a: seen.append("tiled"))
    monkeypatch.setattr(ComponentBackend, "answer", lambda self, e, p, prev: seen.append(p) or "answer")
    assert stored.predict(emb, prompts) == "answer" and seen == [prompts]  # the same value, unchanged
    big = StoredBackend(inner, run(embed_stack(_bar_image(), inner, tmp_path / "big.zarr", tile=256, halo=32,
                                               tile_threshold=256))[1])
    big.predict(big.encode(_bar_image()), Prompts(points=[(120, 120)], labels=[1]))
    assert seen[-1] == "tiled"


def test_native_prompts_on_tiled_and_untiled_slices():
    """Scribbles/polygons go natively to an inner backend that takes them; on tiles they join the mask prompt."""
    from promptseg.backends.base import native_prompts
    from promptseg.errors import PromptError
    from promptseg.prompts import polygon_mask

    class TakesPolygons(ComponentBackend):
        native_prompts = frozenset({"polygons"})
        seen: list = []

        def answer(self, embedding, prompts, previous):
            self.seen.append(prompts.polygons or None)
            if prompts.polygons:
                drawn = polygon_mask(prompts.polygons[0], embedding.image_shape)
                mask = drawn if prompts.mask is None else prompts.mask | drawn
                prompts = Prompts(prompts.points, prompts.labels, prompts.box, mask=mask)
            return super().answer(embedding, prompts.on_image(embedding.image_shape), previous)

    image = _bar_image()
    inner = TakesPolygons()
    square = np.array([[110, 110], [110, 130], [130, 130], [130, 110]], float)
    untiled = TiledBackend(inner, tile=256, halo=32, threshold=1024)
    assert "polygons" in native_prompts(untiled) and "scribbles" not in native_prompts(untiled)
    pred = untiled.predict(untiled.encode(image), polygons=[square])
    assert inner.seen[-1] is not None and pred.mask.sum() == 40 * 40
    tiled = TiledBackend(inner, tile=256, halo=32, threshold=256)
    emb = tiled.encode(image)
    pred = tiled.predict(emb, polygons=[square])
    assert inner.seen[-1] is None and pred.mask.sum() == 40 * 40  # the polygon reached the tile as mask pixels
    with pytest.raises(PromptError, match="negative polygons"):
        tiled.predict(emb, polygons=[square], polygon_labels=[0])
    pred = tiled.predict(emb, scribbles=[square])  # the inner backend has no scribbles: they come as mask pixels
    assert inner.seen[-1] is None and pred.mask.sum() == 40 * 40


def test_lazy_tiles_are_encoded_only_where_prompts_need_them():
    image = _bar_image()
    inner = ComponentBackend()
    tiled = TiledBackend(inner, tile=256, halo=32, threshold=256, lazy=True)
    emb = tiled.encode(image)
    assert inner.encodes == 0 and emb.features.tiling.n_tiles == 16
    small = tiled.predict(emb, points=[(120, 120)], labels=[1])
    assert inner.encodes == 1 and small.mask.sum() == 40 * 40
    bar = tiled.predict(emb, points=[(345, 60)], labels=[1])
    truth = inner.predict(inner.encode(image), points=[(345, 60)], labels=[1]).mask
    assert iou(bar.mask, truth) == 1.0 and inner.encodes - 1 < 16  # the bar's row of tiles, not all 16


def test_blend_window_covers_only_the_asked_tiles():
    from promptseg.store.blend import OUTSIDE_LOGIT, TileBlend

    tiling = plan_tiling((700, 700), tile=256, halo=32, threshold=256)
    blend = TileBlend(tiling)
    blend.add(5, np.full((256, 256), 2.0, np.float32))
    assert blend.total.shape == (256, 256)
    blend.add(6, np.full((256, 256), -1.0, np.float32))
    rs, cs = blend.window
    assert (rs.stop - rs.start, cs.stop - cs.start) == (256, 148 + 256) and blend.total.size < 700 * 700 / 2
    logits = blend.logits()
    assert logits[0, 0] == 2.0 and logits[0, -1] == -1.0 and logits.dtype == np.float32
    inside = blend[tile_slices(tiling, 5)]
    assert inside.shape == (256, 256) and inside[:, :100].all()
    assert not blend[tile_slices(tiling, 15)].any()  # outside the window: background
    assert OUTSIDE_LOGIT < 0
