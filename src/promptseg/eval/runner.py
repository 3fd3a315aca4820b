"""Running the click protocol of one backend over one dataset.

:func:`evaluate` is a generator: it yields a :class:`Progress` after every
target and returns the :class:`EvaluationRun` (scripts and tests call
:func:`run_to_end`; the CLI wraps it in a progress bar, a GUI would wrap it
in a thread worker).  Works with any object that has the backend
``encode`` / ``predict`` API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generator, Sequence, TypeVar

import numpy as np

from ..backends.base import Backend, Prediction
from ..errors import PromptsegError
from ..prompts import Prompts
from .clicker import Click, ClickSimulator
from .datasets import Dataset, Target

__all__ = ["EvaluationRun", "Progress", "TargetResult", "evaluate", "run_to_end", "select_targets"]

T = TypeVar("T")


@dataclass
class TargetResult:
    """The clicks and IoU curve of one target.

    Attributes
    ----------
    target : Target
        Which object of which image.
    clicks : list of Click
        The simulated clicks, in order, (row, col) image pixels.
    ious : list of float
        IoU after each click (over the non-ignored pixels).
    predict_seconds : list of float
        Wall time of each ``backend.predict`` call.
    simulator_seconds : list of float
        Time the simulator spent per click (placing it and scoring the mask).
    """

    target: Target
    clicks: list[Click] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)
    simulator_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "image": self.target.image_id,
            "instance": self.target.instance,
            "clicks": [[c.row, c.col, c.label] for c in self.clicks],
            "ious": [round(v, 6) for v in self.ious],
            "predict_ms": [round(s * 1e3, 3) for s in self.predict_seconds],
        }


@dataclass
class EvaluationRun:
    """Everything measured for one backend on one dataset."""

    dataset: str
    backend: str
    max_clicks: int
    target_iou: float
    feedback: bool
    targets: list[TargetResult] = field(default_factory=list)
    skipped: int = 0
    total_targets: int = 0
    encode_seconds: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    """Reported after each target: ``done`` of ``total`` targets finished."""

    done: int
    total: int
    dataset: str
    backend: str
    target: str
    clicks: int
    iou: float


def select_targets(targets: Sequence[T], limit: int | None) -> list[T]:
    """``limit`` targets evenly spaced over ``targets`` (all of them when ``limit`` is None).

    Even spacing keeps a limited run representative: on an instance dataset
    the first N targets would all come from the first image.

    Raises
    ------
    ValueError
        If ``limit`` is smaller than 1.
    """
    if limit is None or limit >= len(targets):
        return list(targets)
    if limit < 1:
        raise ValueError(f"limit must be a positive number of targets, got {limit}.")
    picks = np.unique(np.round(np.linspace(0, len(targets) - 1, limit)).astype(int))
    return [targets[i] for i in picks]


def evaluate(
    backend: Backend,
    dataset: Dataset,
    *,
    max_clicks: int = 20,
    target_iou: float = 0.90,
    feedback: bool = True,
    limit: int | None = None,
) -> Generator[Progress, None, EvaluationRun]:
    """Simulate clicks on every target of ``dataset`` with ``backend``.

    Each image is encoded once; each target starts from an empty
    prediction and gets clicks until its IoU reaches ``target_iou`` or
    ``max_clicks`` clicks were made.

    Parameters
    ----------
    backend : Backend
        Anything with ``encode(image)`` and ``predict(embedding, points=,
        labels=, previous=)``.
    dataset : Dataset
        The images and targets.
    max_clicks : int
        Clicks per target at most (20 in the literature).
    target_iou : float
        Stop a target at this IoU; 1.0 runs every target to ``max_clicks``
        (or to a perfect mask), which gives the exact mIoU@k curve.
    feedback : bool
        Pass the previous prediction to ``predict(previous=...)``.
    limit : int, optional
        Evaluate only this many targets, evenly spaced over the dataset.

    Yields
    ------
    Progress
        After each target.

    Returns
    -------
    EvaluationRun
        Via ``StopIteration.value``; see :func:`run_to_end`.

    Raises
    ------
    ValueError
        For ``max_clicks`` < 1 or ``target_iou`` outside (0, 1].
    PromptsegError
        When the backend fails on an image or returns a mask of the wrong
        shape (the message names the image).
    """
    if int(max_clicks) != max_clicks or max_clicks < 1:
        raise ValueError(f"max_clicks must be a positive integer, got {max_clicks}.")
    if not 0.0 < target_iou <= 1.0:
        raise ValueError(f"target_iou must be in (0, 1], got {target_iou}; use 1.0 to run every click.")
    start = time.perf_counter()
    name = str(getattr(backend, "name", type(backend).__name__))
    chosen = select_targets(dataset.targets, limit)
    run = EvaluationRun(
        dataset=dataset.name,
        backend=name,
        max_clicks=int(max_clicks),
        target_iou=float(target_iou),
        feedback=feedback,
        skipped=len(dataset.skipped),
        total_targets=len(dataset.targets),
    )
    note = getattr(backend, "evaluation_note", None)
    if note:
        run.notes.append(f"backend {name}: {note}")
    if len(chosen) < len(dataset.targets):
        run.notes.append(f"dataset {dataset.name}: {len(chosen)} of {len(dataset.targets)} targets (--limit, evenly spaced)")
    if dataset.skipped:
        run.notes.append(f"dataset {dataset.name}: {len(dataset.skipped)} image(s) with an empty mask skipped")
    by_image: dict[str, list[Target]] = {}
    for t in chosen:
        by_image.setdefault(t.image_id, []).append(t)
    done = 0
    for image_id, wanted in by_image.items():
        image = dataset.load_image(image_id)
        t0 = time.perf_counter()
        try:
            embedding = backend.encode(image)
        except PromptsegError as err:
            raise type(err)(f"{dataset.name}/{image_id}: {err}") from err
        run.encode_seconds.append(time.perf_counter() - t0)
        for target, gt, ignore in dataset.target_masks(image_id, wanted):
            result = _click_target(backend, embedding, target, gt, ignore, run, f"{dataset.name}/{image_id}")
            run.targets.append(result)
            done += 1
            yield Progress(done, len(chosen), dataset.name, name, target.name, len(result.ious), result.ious[-1] if result.ious else 0.0)
    run.wall_seconds = time.perf_counter() - start
    return run


def _click_target(backend, embedding, target: Target, gt, ignore, run: EvaluationRun, where: str) -> TargetResult:
    """One target: clicks until the target IoU or the click budget is reached."""
    result = TargetResult(target)
    sim = ClickSimulator(gt, ignore=ignore)
    pred = np.zeros(sim.shape, dtype=bool)
    previous: Prediction | None = None
    points: list[tuple[int, int]] = []
    labels: list[int] = []
    for _ in range(run.max_clicks):
        t0 = time.perf_counter()
        click = sim.next_click(pred)
        t_click = time.perf_counter() - t0
        if click is None:
            break
        points.append((click.row, click.col))
        labels.append(click.label)
        t0 = time.perf_counter()
        prompts = Prompts(points=points, labels=labels)
        prediction = backend.predict(embedding, prompts, previous=previous if run.feedback else None)
        result.predict_seconds.append(time.perf_counter() - t0)
        pred = np.asarray(prediction.mask, dtype=bool)
        if pred.shape != sim.shape:
            raise PromptsegError(
                f"{where}: backend {run.backend!r} returned a mask of shape {pred.shape} for an image of "
                f"{sim.shape}; predict() must answer in the image's (H, W) frame."
            )
        t0 = time.perf_counter()
        score = sim.iou(pred)
        result.simulator_seconds.append(t_click + time.perf_counter() - t0)
        result.clicks.append(click)
        result.ious.append(score)
        previous = prediction
        if score >= run.target_iou:
            break
    return result


def run_to_end(generator: Generator[object, None, T]) -> T:
    """Exhaust a progress generator and return its result.

    Examples
    --------
    >>> def work():
    ...     yield 1
    ...     return "done"
    >>> run_to_end(work())
    'done'
    """
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return stop.value
