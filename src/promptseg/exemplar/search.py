"""Find similar: prompt the backend wherever an object like the exemplars seems to be.

:func:`find_similar` works on one slice and :func:`find_similar_stack` on
many (each slice's embedding comes from a loader: a session's cache, a
:class:`~promptseg.store.StoredBackend`, or plain encoding).  Both are
generators that yield :class:`FindProgress` and return the proposals,
best first; scripts run them with :func:`promptseg.eval.run_to_end`-style
loops, the napari panel in a thread worker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Generator, Iterable, Sequence

import numpy as np

from ..backends.base import Backend, ImageEmbedding
from ..errors import PromptsegError
from ..eval.metrics import iou
from ..prompts import Prompts, deepest_point
from .boundary import BoundaryRule, learn_boundary
from .classic_search import lightness_image
from .from_segment_all import SOURCES, segment_all_proposals
from .filters import box_edge_fraction, merge_proposals, seed_component, suppress_duplicates
from .learned import ExemplarModel, describe_exemplars
from .pixel_search import PixelRule, learn_pixel_rule, pixel_objects
from .proposal import FindProgress, Proposal
from .shape import check_masks

__all__ = ["find_similar", "find_similar_stack", "learn_rules"]


def find_similar(
    backend: Backend,
    embedding: ImageEmbedding,
    exemplars: Sequence[np.ndarray] | np.ndarray | None = None,
    *,
    model: ExemplarModel | None = None,
    negatives: Sequence[np.ndarray] | np.ndarray | None = None,
    objects: np.ndarray | None = None,
    slice_key: tuple[int, ...] = (),
    box_scale: float | None = None,
    shape_prompt: bool = True,
    max_overlap: float = 0.5,
    max_candidates: int = 500,
    min_score: float = 0.0,
    rounds: int = 2,
    refine_boundary: bool = True,
    boundary_rule: BoundaryRule | None = None,
    pixel_search: bool = True,
    pixel_rule: PixelRule | None = None,
    source: str = "search",
    image: np.ndarray | None = None,
    auto_labels: np.ndarray | None = None,
) -> Generator[FindProgress, None, list[Proposal]]:
    """Propose every object on one slice that resembles the exemplars.

    Parameters
    ----------
    backend : Backend
        Answers one point (plus box) prompt per candidate; the classic
        backend or a SAM-family one (their embeddings are compared).
    embedding : ImageEmbedding
        The slice, encoded by ``backend``.
    exemplars : list of (H, W) bool masks, or an (H, W) label image
        Finished objects of the wanted kind on this slice.  Optional when
        ``model`` is given.
    model : ExemplarModel, optional
        A description learnt elsewhere (e.g. on another slice of a stack).
    negatives : list of (H, W) bool masks, or an (H, W) label image, optional
        Things that must not be proposed: appearance like theirs counts as
        background, and a proposal lying mostly on one is dropped.
    objects : np.ndarray, shape (H, W), int or bool, optional
        Objects already there (committed ones): never proposed again;
        proposals only take background pixels.
    slice_key : tuple of int
        Stamped on the proposals.
    box_scale : float or None
        Also prompt each candidate with a box this many times the largest
        exemplar extent around the seed (None: no box).
    shape_prompt : bool
        Also give the exemplar's shape, moved onto the seed, as a mask prompt
        (a shape prior; on DSB nuclei it doubles the proposals reaching IoU 0.9).
    max_overlap : float
        A candidate whose mask lies more than this share on known objects is dropped.
    max_candidates : int
        Prompt at most this many candidates (the strongest).
    min_score : float
        Return only proposals scoring at least this (the GUI keeps all and
        filters on display).
    rounds : int
        Search rounds: each later round looks again where no proposal lies
        yet (objects merged into one candidate region, e.g. touching ones,
        come out one per round).
    refine_boundary : bool
        Move each proposal's boundary where the exemplars draw it (classic
        backend; see :mod:`.boundary`).  The rule is learnt from the exemplars
        on this slice unless ``boundary_rule`` is given.
    boundary_rule : BoundaryRule, optional
        A rule learnt elsewhere (:func:`learn_rules`, e.g. on the
        exemplars' slice of a stack).
    source : {"search", "segment_all", "both"}
        Where candidates come from: this module's search (seeds from the
        appearance map, the backend prompted at each, pixel-level
        components); the objects of :func:`promptseg.auto.segment_all`
        ranked by appearance, shape, size and intensity against the
        exemplars (:mod:`.from_segment_all`); or both, the search's
        proposals winning duplicates.
    image : np.ndarray, shape (H, W) or (H, W, C), optional
        The slice; needed by the ``"segment_all"`` and ``"both"`` sources
        unless ``auto_labels`` is given.
    auto_labels : np.ndarray, shape (H, W), int, optional
        The automatic pass's objects on this slice, when already known.

    Yields
    ------
    FindProgress
        ``"search"`` before each round's candidates are located, ``"prompt"`` after each one.

    Returns
    -------
    list of Proposal
        Non-overlapping proposals, highest score first.

    Raises
    ------
    PromptError
        Masks of the wrong shape; no exemplar.
    PromptsegError
        A backend whose embeddings cannot be compared; an unknown ``source``;
        the ``"segment_all"`` source without ``image`` or ``auto_labels``.
    """
    shape = tuple(embedding.image_shape)
    if source not in SOURCES:
        raise PromptsegError(f"unknown find-similar source {source!r}; choose one of {', '.join(SOURCES)}.")
    if model is None:
        if exemplars is None:
            raise PromptsegError("give exemplar masks (or an ExemplarModel learnt on another slice).")
        model = describe_exemplars(embedding, exemplars, negatives)
    pos = check_masks(exemplars, shape, "exemplar")
    neg = check_masks(negatives, shape, "negative")
    excluded = np.zeros(shape, bool)
    for m in pos:
        excluded |= m
    if objects is not None:
        objects = np.asarray(objects)
        if objects.shape != shape:
            raise PromptsegError(f"objects have shape {objects.shape}; they must match the slice, {shape}.")
        excluded |= objects != 0
    negative = np.logical_or.reduce(neg) if neg else None
    key = tuple(int(k) for k in slice_key)
    low, high = model.shape.area_range()
    auto: list[Proposal] = []
    if source != "search":
        auto = yield from segment_all_proposals(
            backend, embedding, model, pos, image=image, auto_labels=auto_labels, negatives=neg, excluded=excluded,
            slice_key=key, max_overlap=max_overlap, max_candidates=max_candidates)
        if source == "segment_all":
            return [p for p in auto if p.score >= min_score]
    lightness = lightness_image(embedding) if refine_boundary or pixel_search else None
    if lightness is not None and pos and ((refine_boundary and boundary_rule is None)
                                          or (pixel_search and pixel_rule is None)):
        learnt = learn_rules(backend, embedding, model, pos, negatives=neg, box_scale=box_scale,
                             shape_prompt=shape_prompt)
        boundary_rule = learnt[0] if boundary_rule is None else boundary_rule
        pixel_rule = learnt[1] if pixel_rule is None else pixel_rule
    use_rule = refine_boundary and lightness is not None and boundary_rule is not None
    rule = (lightness, boundary_rule) if use_rule else None
    proposals: list[Proposal] = []
    covered = excluded.copy()
    budget = int(max_candidates)
    similarity_map = None
    for round_ in range(int(rounds)):
        yield FindProgress("search", round_, int(rounds), key, len(proposals))
        found = model.candidates(embedding, covered)
        similarity_map = found.similarity if similarity_map is None else similarity_map
        seeds = found.seeds[:budget]
        budget -= len(seeds)
        if not len(seeds):
            break
        new: list[Proposal] = []
        for i, seed in enumerate(seeds, start=1):
            p = _prompt(backend, embedding, model, (float(seed[0]), float(seed[1])), key, excluded, negative,
                        found.similarity, box_scale=box_scale, shape_prompt=shape_prompt, max_overlap=max_overlap,
                        area_range=(low, high), rule=rule)
            if p is not None:
                new.append(p)
            yield FindProgress("prompt", i, len(seeds), key, len(proposals) + len(new))
        proposals = suppress_duplicates(proposals + new)
        if not new or budget <= 0:
            break
        for p in proposals:  # the next round looks only where no proposal is yet
            r0, c0, r1, c1 = p.box
            covered[r0:r1, c0:c1] |= p.crop
    if pixel_search and lightness is not None and pixel_rule is not None:
        yield FindProgress("search", int(rounds), int(rounds), key, len(proposals))
        parts = pixel_objects(lightness, pixel_rule, radius=model.shape.radius, area_range=(low, high),
                              excluded=excluded)
        if similarity_map is None:
            similarity_map = model.candidates(embedding, excluded).similarity
        extra = [p for p in (_pixel_proposal(m, s, key, negative, similarity_map, model) for m, s in parts)
                 if p is not None]
        if pixel_rule.preferred:
            proposals = merge_proposals(extra, proposals)
        else:
            proposals = merge_proposals(proposals, extra)
        for i, p in enumerate(proposals):  # the backend's answer to the component's prompts, for editing
            if p.prediction is None:
                pred = backend.predict(embedding, p.prompts(shape))
                proposals[i] = replace(p, prediction=pred)
    if auto:
        proposals = merge_proposals(proposals, auto)
    return [p for p in proposals if p.score >= min_score]


def _pixel_proposal(mask, seed, key, negative, similarity, model):
    """A proposal from one pixel-level component (prompts: its deepest point and itself as mask prompt)."""
    area = int(mask.sum())
    if negative is not None and np.count_nonzero(mask & negative) > 0.3 * area:
        return None
    look = float(similarity[mask].mean()) if similarity is not None else 1.0
    score = (look * model.shape.size_score(area)) ** (1.0 / 3.0)
    template = np.argwhere(mask) - np.array([int(round(seed[0])), int(round(seed[1]))])
    return _cropped(key, mask, score, seed, None, template, None)


def _prompt(backend, embedding, model, seed, key, excluded, negative, similarity, *, box_scale, shape_prompt,
            max_overlap, area_range, rule):
    """Prompt at one seed; the proposal, or None when it is dropped."""
    pred, box, mask = _ask(backend, embedding, model, seed, box_scale, shape_prompt)
    template = model.shape.template if shape_prompt else None
    if rule is not None and mask.any():
        mask = rule[1].apply(rule[0], mask, seed)
    area = int(mask.sum())
    if area == 0:
        return None
    if np.count_nonzero(mask & excluded) > max_overlap * area:
        return None
    if negative is not None and np.count_nonzero(mask & negative) > 0.3 * area:
        return None
    mask = mask & ~excluded  # a new array: pred.mask is the backend's answer and stays as it was
    area = int(mask.sum())
    if not area_range[0] <= area <= area_range[1]:
        return None
    look = float(similarity[mask].mean()) if similarity is not None else 1.0
    size = model.shape.size_score(area)
    leak = box_edge_fraction(mask, box)
    quality = float(np.clip(pred.score, 0.0, 1.0)) if model.kind == "deep" else 1.0
    score = (look * size * quality) ** (1.0 / 3.0) * (1.0 - leak)
    return _cropped(key, mask, score, seed, box, template, pred)


def _cropped(key, mask, score, seed, box, template, pred) -> Proposal:
    """A proposal holding the bounding-box crop of a non-empty (H, W) ``mask``."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return Proposal(key, (r0, c0, r1, c1), mask[r0:r1, c0:c1].copy(), float(score), seed, box, template, pred)


def learn_rules(backend: Backend, embedding: ImageEmbedding, model: ExemplarModel, exemplars: Sequence[np.ndarray],
                *, negatives: Sequence[np.ndarray] = (), box_scale: float | None = None,
                shape_prompt: bool = True) -> tuple[BoundaryRule | None, PixelRule | None]:
    """The boundary rule and the pixel threshold learnt from the exemplars (None for either that does not apply).

    The pixel rule is marked ``preferred`` when its components reproduce
    the exemplars better (mean IoU) than the backend's answers at them,
    boundary rule applied (its fit counts off the share of the
    ``negatives``, (H, W) bool masks, it calls object).  Both are None for
    backends without a lightness image (SAM family).
    """
    lightness = lightness_image(embedding)
    if lightness is None or not len(exemplars):
        return None, None
    seeds, answers = _exemplar_answers(backend, embedding, model, exemplars, box_scale, shape_prompt)
    boundary = learn_boundary(lightness, answers, list(exemplars), seeds)
    if boundary is not None:
        answers = [boundary.apply(lightness, a, s) for a, s in zip(answers, seeds)]
    backend_fit = float(np.mean([iou(a, e) for a, e in zip(answers, exemplars)]))
    pixel = learn_pixel_rule(lightness, exemplars, negatives)
    if pixel is not None:
        pixel = replace(pixel, preferred=pixel.fit > backend_fit)
    return boundary, pixel


def _ask(backend, embedding, model, seed, box_scale, shape_prompt):
    """Prompt the backend at ``seed`` as every candidate is: (prediction, box prompt, its part holding the seed)."""
    shape = tuple(embedding.image_shape)
    box = model.shape.prompt_box(seed, shape, box_scale) if box_scale else None
    prior = model.shape.template_mask(seed, shape) if shape_prompt else None
    pred = backend.predict(embedding, Prompts(points=[seed], labels=[1], box=box, mask=prior, image_shape=shape))
    return pred, box, seed_component(np.asarray(pred.mask, bool), seed)


def _exemplar_answers(backend, embedding, model, exemplars, box_scale, shape_prompt):
    """The backend prompted at each exemplar's deepest point as candidates are: (seeds, answers)."""
    seeds = [deepest_point(ex) for ex in exemplars]
    return seeds, [_ask(backend, embedding, model, seed, box_scale, shape_prompt)[2] for seed in seeds]


def find_similar_stack(
    backend: Backend,
    embeddings: Callable[[tuple[int, ...]], ImageEmbedding],
    slice_keys: Iterable[Sequence[int]],
    model: ExemplarModel,
    *,
    objects: np.ndarray | None = None,
    exemplar_slice: Sequence[int] | None = None,
    exemplars: Sequence[np.ndarray] | np.ndarray | None = None,
    images: Callable[[tuple[int, ...]], np.ndarray] | None = None,
    **options,
) -> Generator[FindProgress, None, list[Proposal]]:
    """Run :func:`find_similar` on every slice of ``slice_keys`` with one exemplar model.

    Parameters
    ----------
    backend : Backend
    embeddings : callable
        Slice key -> its embedding (encoding or loading it from a store on demand).
    slice_keys : iterable of tuple of int
        The slices to search, e.g. ``[(z,) for z in range(Z)]``.
    model : ExemplarModel
        From :func:`describe_exemplars` on the exemplars' slice.
    objects : np.ndarray, shape (*leading, H, W), optional
        The whole objects array; each slice's plane is excluded there.
    exemplar_slice, exemplars : optional
        The exemplars' slice and masks, so that they are not proposed again
        (and to learn the boundary rule used on every slice).
    images : callable, optional
        Slice key -> its (H, W) or (H, W, C) image, for the ``"segment_all"``
        and ``"both"`` sources.
    **options
        Passed to :func:`find_similar` (``negatives`` apply only on ``exemplar_slice``).

    Yields
    ------
    FindProgress
        ``"encode"`` before a slice's embedding is fetched, then the slice's own progress.

    Returns
    -------
    list of Proposal
        All slices' proposals, highest score first.
    """
    keys = [tuple(int(i) for i in k) for k in slice_keys]
    home = None if exemplar_slice is None else tuple(int(i) for i in exemplar_slice)
    negatives = options.pop("negatives", None)
    wanted = (options.get("refine_boundary", True) and "boundary_rule" not in options) or \
        (options.get("pixel_search", True) and "pixel_rule" not in options)
    if home is not None and exemplars is not None and wanted:
        yield FindProgress("encode", 0, len(keys), home, 0)
        masks = check_masks(exemplars, tuple(embeddings(home).image_shape), "exemplar")
        shape = tuple(embeddings(home).image_shape)
        boundary, pixel = learn_rules(backend, embeddings(home), model, masks,
                                      negatives=check_masks(negatives, shape, "negative"),
                                      box_scale=options.get("box_scale"), shape_prompt=options.get("shape_prompt", True))
        options.setdefault("boundary_rule", boundary)
        options.setdefault("pixel_rule", pixel)
    out: list[Proposal] = []
    for done, key in enumerate(keys):
        yield FindProgress("encode", done, len(keys), key, len(out))
        emb = embeddings(key)
        plane = None if objects is None else np.asarray(objects[key])
        here = key == home
        if images is not None:
            options["image"] = images(key)
        found = yield from find_similar(backend, emb, exemplars if here else None, model=model,
                                        negatives=negatives if here else None, objects=plane, slice_key=key, **options)
        out.extend(found)
    yield FindProgress("encode", len(keys), len(keys), keys[-1] if keys else (), len(out))
    return sorted(out, key=lambda p: -p.score)
