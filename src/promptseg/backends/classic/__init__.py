"""The classic backend: a weight-free interactive segmenter from classical parts.

``encode`` builds everything that depends on the image alone: a working copy
(at most ``max_pixels``), CIELAB colour and gradient, watershed superpixels,
their adjacency graph with contrast-adapted boundary weights and geodesic
lengths, and a colour palette with every superpixel's soft membership.

``predict`` moves the prompts onto the superpixels, combines geodesic
proximity to the clicks, colour models relearnt from the prompts, the
previous answer and the mask prompt into a per-superpixel evidence, and
takes a graph cut (see :mod:`.head`).  Objects prompted by clicks whose
first click lies on a small, thin or faint structure that the cut floods
past are answered at pixel level instead (fine mode, :mod:`.fine`).  The
answer is always the connected part(s) holding the positive prompts
(:mod:`.parts`).  It runs in milliseconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...prompts import Prompts
from ..base import FeatureBackend, ImageEmbedding, Prediction
from .answer_edits import AnswerEdits
from .encoder import ClassicFeatures, encode_image
from .fine_region import outline_strength
from .fine_track import FineTrack, click_key, colour, follow
from .head import RegionPrompts, segment
from .refine import refine_boundary
from .parts import keep_seeded_parts
from .regions import box_pixels, coverage, path_pixels, path_superpixels, polygon_pixels
from .settings import ClassicSettings
from .superpixels import SuperpixelGraph
from .upsample import LazyLogitsPrediction, sampling_grid, upsample_logits, upsample_mask

__all__ = ["ClassicBackend", "ClassicSettings"]


@dataclass(frozen=True)
class _State:
    """``Prediction.state`` of the classic backend: the answer on the superpixels it came from.

    ``track`` holds the fine-mode decision and answer for objects prompted by
    clicks alone, or the edits of an answer the object had before its first
    click (None otherwise); ``clicked`` whether any click made the answer.
    """

    graph: object
    fraction: np.ndarray
    track: FineTrack | AnswerEdits | None = None
    clicked: bool = True


class ClassicBackend(FeatureBackend):
    """Interactive segmentation without learned weights: superpixel graph cut.

    Parameters
    ----------
    settings : ClassicSettings, optional
        Tunable constants; the defaults are the same for every kind of image.
    **overrides
        Individual settings, e.g. ``ClassicBackend(smoothness=2.0)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = rng.normal(60, 10, (64, 64)); img[20:44, 20:44] += 100
    >>> backend = ClassicBackend()
    >>> emb = backend.encode(img)
    >>> pred = backend.predict(emb, points=[(32, 32)], labels=[1])
    >>> bool(pred.mask[32, 32]), bool(pred.mask[5, 5])
    (True, False)
    """

    name = "classic"

    def __init__(self, settings: ClassicSettings | None = None, **overrides) -> None:
        base = settings or ClassicSettings()
        if overrides:
            unknown = set(overrides) - set(ClassicSettings.__dataclass_fields__)
            if unknown:
                raise TypeError(f"unknown ClassicBackend setting(s) {sorted(unknown)}; see ClassicSettings.")
            base = ClassicSettings(**{**base.__dict__, **overrides})
        if base.max_pixels < 256 or base.superpixel_area < 2:
            raise ValueError(f"ClassicBackend needs max_pixels >= 256 and superpixel_area >= 2, got {base}.")
        self.settings = base

    @property
    def backend_id(self) -> str:
        return f"classic({self.settings.identity()})"

    @property
    def evaluation_note(self) -> str:
        """Shown under evaluation tables."""
        s = self.settings
        fine = "; pixel-level fine mode for small distinct structures" if s.fine else ""
        return (f"superpixel graph cut with geodesic click priors and colour models; graph on a copy capped at "
                f"{s.max_pixels / 1e6:.2f} MP, superpixels of ~{s.superpixel_area:g} px{fine}")

    def image_features(
        self, image: np.ndarray, *, contrast_limits: Sequence[float] | None
    ) -> tuple[tuple[int, int], ClassicFeatures]:
        """Working copy, superpixels, graph weights and palette (:func:`.encoder.encode_image`)."""
        features = encode_image(image, contrast_limits=contrast_limits, settings=self.settings)
        return features.work.image_shape, features

    #: Polygons and scribbles are read as such (seeds along scribbles, negative polygons as background).
    native_prompts = frozenset({"polygons", "scribbles"})

    def answer(self, embedding: ImageEmbedding, prompts: Prompts, previous: Prediction | None) -> Prediction:
        """Segment one object from any mix of prompts (called by ``predict`` with checked prompts).

        Parameters
        ----------
        embedding : ImageEmbedding
            From :meth:`encode` of this backend.
        prompts : Prompts
            Clicks (1 object, 0 background); a box (everything outside is
            background); a rough object mask (soft prior and colour sample);
            scribbles (every superpixel they cross is a seed of their label);
            polygons (label 1 acts like a mask prompt, label 0 marks the
            inside as background).  (row, col) image pixels.
        previous : Prediction, optional
            The last answer for this object (soft prior; refined, not redone).

        Returns
        -------
        Prediction
            ``mask`` and float32 ``logits`` of shape (H, W); ``score`` is
            the mean confidence along the answer; ``state`` lets the next
            call reuse this answer as ``previous``.  For images larger than
            ``max_pixels`` the logits are the working copy's, upsampled
            bilinearly when ``logits`` is first read (``mask`` equals
            ``logits > 0`` all the same).
        """
        features: ClassicFeatures = embedding.features
        shape = embedding.image_shape
        scribble_list = list(zip(prompts.scribbles, prompts.scribble_labels.tolist()))
        polygon_list = list(zip(prompts.polygons, prompts.polygon_labels.tolist()))
        edits = self._edits(embedding, prompts, previous, scribble_list, polygon_list)
        if edits is not None:
            return _fine_answer(features, edits)
        region, forbidden = self._regions(features, prompts, scribble_list, polygon_list, previous)
        g = features.graph
        if not region.has_object_evidence:
            return _empty(shape, g.n, features)
        track, cuts = None, {}
        if self._fine_applies(prompts, scribble_list, polygon_list):
            track = self._follow(features, prompts, previous, cuts)
            if track.model is not None:
                return _fine_answer(features, track)
            if track.mask is not None:  # fine mode ended at this click: its last answer is the cut's previous one
                region = dataclasses.replace(region, previous=coverage(features, track.mask))
        if region.previous is None and len(prompts.points) in cuts:  # the cut fine mode ran to decide is this one
            work_logits, obj, score = cuts[len(prompts.points)]
        else:
            work_logits, obj, score = self._cut(features, prompts, region, forbidden, scribble_list)
        if self._keeps_mask(features, prompts, work_logits, scribble_list, polygon_list):
            return _mask_answer(features, prompts.mask, score)
        state = _State(graph=g, fraction=obj.astype(np.float32), track=track, clicked=bool(len(prompts.points)))
        return _to_image(work_logits, features, score, state)

    def _cut(self, features, prompts, region, forbidden, scribble_list):
        """Superpixel graph cut, boundary refinement, prompted parts: (h, w) logits, (n,) object, score."""
        g = features.graph
        obj, evidence = segment(features, region, self.settings)
        if self._refines(obj, g):
            pts = features.work.to_work(prompts.points)
            s = self.settings
            work_logits = refine_boundary(
                g.labels, features.work.lab, features.right, features.down, features.adjacency, g.boxes, g.size,
                g.colour, g.spread, features.colour_noise, obj, evidence,
                positive_px=pts[prompts.labels == 1], negative_px=pts[prompts.labels == 0],
                smoothness=s.pixel_smoothness, prior=s.pixel_prior, exemplar_radius=s.exemplar_radius,
                level_weight=s.level_weight,
            )
        else:
            work_logits = evidence[g.labels]
        if forbidden.any():  # outside the box, inside negative polygons: background at pixel level too
            work_logits = np.where(forbidden, np.minimum(work_logits, np.float32(-1e-3)), work_logits)
        work_logits = keep_seeded_parts(work_logits, _seed_pixels(features, prompts, scribble_list, region))
        score = float(np.tanh(np.abs(evidence[obj]).mean())) if obj.any() else 0.0
        return work_logits, obj, score

    def _fine_applies(self, prompts, scribble_list, polygon_list) -> bool:
        """Fine mode answers objects prompted by clicks alone, at least one of them positive."""
        return (self.settings.fine and prompts.box is None and prompts.mask is None and not scribble_list
                and not polygon_list and bool((prompts.labels == 1).any()))

    def _keeps_mask(self, features, prompts, work_logits, scribble_list, polygon_list) -> bool:
        """Whether a mask prompt given alone is its own answer (see ``ClassicSettings.mask_keep``)."""
        if (self.settings.mask_keep <= 0 or prompts.mask is None or len(prompts.points) or prompts.box is not None
                or scribble_list or polygon_list):
            return False
        given = features.work.mask_to_work(prompts.mask) > 0.5
        cut = work_logits > 0
        if not given.any():
            return False
        gradient = features.work.gradient
        return not cut.any() or outline_strength(given, gradient) >= self.settings.mask_keep * outline_strength(cut, gradient)

    def _edits(self, embedding, prompts, previous, scribble_list, polygon_list) -> AnswerEdits | None:
        """The edits of the answer this object had before its first click, if it had one (see :mod:`.answer_edits`).

        They apply to clicks (with or without a mask prompt) on an object
        whose previous answer was made without clicks, or by another
        backend, or is itself such edits; with a mask prompt and no previous
        answer, the answer to the mask alone (the one shown before the first
        click) is edited when the first click disagrees with it and with the
        mask (a negative click inside both, a positive one outside both); a
        seed inside the mask is cut as before, with no extra work.
        """
        if (not self.settings.edit_answers or not len(prompts.points) or prompts.box is not None
                or scribble_list or polygon_list):
            return None
        if previous is None:  # a mask prompt's own answer is corrected when the first click disagrees with both
            if prompts.mask is None:
                return None
            r, c = (int(v) for v in np.clip(np.floor(prompts.points[0] + 0.5), 0, np.array(prompts.mask.shape) - 1))
            if bool(prompts.mask[r, c]) == bool(prompts.labels[0]):
                return None  # a seed inside a mask prior (how Find similar prompts) is a cut's prompt, as before
            previous = self.answer(embedding, prompts.with_points(prompts.points[:0], prompts.labels[:0]), None)
            if bool(previous.mask[r, c]) == bool(prompts.labels[0]):
                return None
        features, state = embedding.features, previous.state
        own = isinstance(state, _State) and state.graph is features.graph
        if own and state.clicked and not isinstance(state.track, AnswerEdits):
            return None  # the usual case: an answer made by clicks is refined by the cut
        key, lab = click_key(features, prompts.points, prompts.labels), colour(features)
        if own and isinstance(state.track, AnswerEdits):
            return state.track.extended(lab, features.colour_noise, key, self.settings)
        if np.shape(previous.mask) != tuple(features.work.image_shape):
            return None
        start = features.work.mask_to_work(np.asarray(previous.mask, bool)) > 0.5
        if not start.any():
            return None
        edits = AnswerEdits.begin(lab, start, score=float(previous.score))
        return edits.extended(lab, features.colour_noise, key, self.settings)

    def _follow(self, features, prompts, previous, cuts: dict) -> FineTrack:
        """The object's fine-mode track for these clicks (see :mod:`.fine_track`).

        ``cuts`` receives, under the key ``len(points)``, the cut to all the
        clicks without a previous answer if fine mode ran it (a first click).
        """
        key = click_key(features, prompts.points, prompts.labels)
        state = previous.state if previous is not None else None
        known = state.track if isinstance(state, _State) and state.graph is features.graph else None

        def coarse(which: np.ndarray, before: np.ndarray | None) -> np.ndarray:
            """The cut's (h, w) working answer to the clicks ``which`` (indices), fed ``before`` as previous answer."""
            some = Prompts(prompts.points[which], prompts.labels[which], image_shape=features.work.image_shape)
            region, forbidden = self._regions(features, some, [], [], None)
            if before is not None:
                region = dataclasses.replace(region, previous=coverage(features, before))
            answer = self._cut(features, some, region, forbidden, [])
            if before is None and len(which) == len(prompts.points) and (np.diff(which) > 0).all():
                cuts[len(which)] = answer
            return answer[0] > 0

        return follow(features, key, known, coarse, self.settings)

    def _refines(self, obj: np.ndarray, graph: SuperpixelGraph) -> bool:
        """Whether to relabel boundary pixels: only for objects a few superpixels across.

        Superpixel boundaries follow the edges of large objects well; for
        small objects (nuclei, defects) the superpixel grain itself is the
        error, and the pixel cut pays off.
        """
        s = self.settings
        return s.refine and 0 < int(obj.sum()) <= s.refine_below

    def _regions(self, features, prompts, scribble_list, polygon_list, previous) -> RegionPrompts:
        g, work = features.graph, features.work
        pts = work.to_work(prompts.points)
        ids = g.labels[pts[:, 0], pts[:, 1]] if len(pts) else np.zeros(0, np.intp)
        positive = [ids[prompts.labels == 1]]
        negative = [ids[prompts.labels == 0]]
        for path, lab in scribble_list:
            (positive if lab == 1 else negative).append(path_superpixels(features, path))
        mask_cov = None
        if prompts.mask is not None:
            mask_cov = coverage(features, work.mask_to_work(prompts.mask))
        inside = [p for p, lab in polygon_list if lab == 1]
        outside = [p for p, lab in polygon_list if lab == 0]
        if inside:
            cov = coverage(features, polygon_pixels(features, inside))
            mask_cov = cov if mask_cov is None else np.maximum(mask_cov, cov)
        forbidden = polygon_pixels(features, outside) if outside else np.zeros(work.shape, np.float32)
        exclude = coverage(features, forbidden) if outside else None
        box_cov = None
        if prompts.box is not None:
            inside_box = box_pixels(features, prompts.box)
            box_cov = coverage(features, inside_box)
            forbidden = np.maximum(forbidden, 1.0 - inside_box)
        prev = None
        if previous is not None:
            state = previous.state
            if isinstance(state, _State) and state.graph is g:
                prev = state.fraction
            elif np.shape(previous.mask) == tuple(work.image_shape):
                prev = coverage(features, work.mask_to_work(np.asarray(previous.mask, bool)))
        region = RegionPrompts(
            positive=np.concatenate(positive).astype(np.intp),
            negative=np.concatenate(negative).astype(np.intp),
            box=box_cov,
            mask=mask_cov,
            exclude=exclude,
            previous=prev,
        )
        return region, forbidden > 0


def _seed_pixels(features: ClassicFeatures, prompts, scribble_list, region: RegionPrompts) -> np.ndarray:
    """Working pixels (S, 2) that the object's parts must hold: positive clicks and scribbles, else the anchors."""
    pts = features.work.to_work(prompts.points)[prompts.labels == 1]
    seeds = [pts] + [path_pixels(features, path) for path, lab in scribble_list if lab == 1]
    if sum(len(x) for x in seeds) == 0:
        anchors = region.anchors(features.graph.n)
        return np.argwhere(np.isin(features.graph.labels, anchors))
    return np.concatenate(seeds).astype(np.intp)


def _fine_answer(features: ClassicFeatures, track: FineTrack | AnswerEdits) -> Prediction:
    """A fine-mode or edited answer: its working mask as +-1 logits, at the image's size."""
    fraction = coverage(features, track.mask)
    logits = np.where(track.mask, np.float32(1.0), np.float32(-1.0))
    return _to_image(logits, features, track.score, _State(graph=features.graph, fraction=fraction, track=track))


def _mask_answer(features: ClassicFeatures, mask: np.ndarray, score: float) -> Prediction:
    """A mask prompt kept as its own answer: the same pixels, +-1 logits, made without clicks."""
    mask = np.asarray(mask, bool)
    fraction = coverage(features, features.work.mask_to_work(mask))
    logits = np.where(mask, np.float32(1.0), np.float32(-1.0))
    return Prediction(mask=mask.copy(), logits=logits, score=score,
                      state=_State(graph=features.graph, fraction=fraction, clicked=False))


def _to_image(work_logits: np.ndarray, features: ClassicFeatures, score: float, state: _State) -> Prediction:
    """Working-frame (h, w) logits -> image-frame prediction.

    On a reduced working copy the mask is the bilinearly upsampled logits'
    sign, made without building the full logits, which are computed only if
    ``Prediction.logits`` is read (see :mod:`.upsample`).
    """
    work = features.work
    if work.factor == 1:
        logits = np.ascontiguousarray(work_logits, dtype=np.float32)
        return Prediction(mask=logits > 0, logits=logits, score=score, state=state)
    grid = sampling_grid(work.shape, work.image_shape, work.factor)
    mask = upsample_mask(work_logits, grid)
    return LazyLogitsPrediction(mask=mask, logits=lambda: upsample_logits(work_logits, grid), score=score, state=state)


def _empty(shape: tuple[int, int], n: int, features: ClassicFeatures) -> Prediction:
    """All background: no prompt says where the object is."""
    return LazyLogitsPrediction(mask=np.zeros(shape, bool), logits=lambda: np.full(shape, -1.0, np.float32),
                                score=0.0, state=_State(graph=features.graph, fraction=np.zeros(n, np.float32)))
