"""Per-target and per-dataset figures of the standard click protocol.

NoC@t, NoF@t and mIoU@k are defined as in the literature (see
``docs/evaluation.md``): NoC@t is the 1-based index of the first click whose
IoU reaches t, ``max_clicks`` when it never does; NoF@t counts the targets
that never reach t; mIoU@k averages the IoU after click k over targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import PromptError

__all__ = ["iou", "noc", "Summary", "summarize", "NOC_THRESHOLDS"]

#: IoU thresholds reported as NoC@85 / NoC@90 / NoC@95.
NOC_THRESHOLDS = (0.85, 0.90, 0.95)


def iou(pred: np.ndarray, gt: np.ndarray, *, ignore: np.ndarray | None = None) -> float:
    """Intersection over union of two masks over the non-ignored pixels.

    Parameters
    ----------
    pred, gt : np.ndarray, shape (H, W), bool
        Prediction and ground truth in the same (row, col) frame.
    ignore : np.ndarray, shape (H, W), bool, optional
        Pixels left out of both intersection and union.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both masks are empty on the counted pixels.

    Raises
    ------
    PromptError
        If the shapes differ.

    Examples
    --------
    >>> a = np.array([[1, 1, 0, 0]], bool); b = np.array([[0, 1, 1, 0]], bool)
    >>> iou(a, b)
    0.3333333333333333
    """
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape or (ignore is not None and np.shape(ignore) != gt.shape):
        raise PromptError(
            f"masks must have one shape: prediction {pred.shape}, ground truth {gt.shape}"
            + ("" if ignore is None else f", ignore {np.shape(ignore)}")
            + "."
        )
    if ignore is not None:
        keep = ~np.asarray(ignore, dtype=bool)
        pred, gt = pred & keep, gt & keep
    inter = np.count_nonzero(pred & gt)
    union = np.count_nonzero(pred) + np.count_nonzero(gt) - inter
    return 1.0 if union == 0 else float(inter / union)


def noc(ious: Sequence[float], threshold: float, *, max_clicks: int = 20) -> int:
    """Number of clicks to reach ``threshold``: the 1-based index of the first IoU >= it.

    Parameters
    ----------
    ious : sequence of float
        IoU after click 1, 2, ... (possibly fewer than ``max_clicks`` when the
        run stopped early).
    threshold : float
        Target IoU, e.g. 0.90.
    max_clicks : int
        Returned when the threshold is never reached within ``max_clicks``.

    Examples
    --------
    >>> noc([0.5, 0.86, 0.93], 0.90)
    3
    >>> noc([0.5, 0.6], 0.90, max_clicks=20)
    20
    """
    for k, value in enumerate(ious[:max_clicks], start=1):
        if value >= threshold:
            return k
    return max_clicks


@dataclass
class Summary:
    """Figures of one backend on one dataset.

    Attributes
    ----------
    dataset, backend : str
        Names shown in tables.
    targets : int
        Number of evaluated targets (objects).
    skipped : int
        Targets skipped because their mask was empty.
    noc, nof : dict[float, float | int | None]
        Mean NoC and number of failures per threshold in ``NOC_THRESHOLDS``;
        ``None`` for thresholds above the run's stopping IoU (not measured).
    miou : np.ndarray, shape (max_clicks,)
        Mean IoU after clicks 1..max_clicks; after a target stops (target
        IoU reached, or nothing left to correct) its last IoU is carried
        forward.
    miou_exact : bool
        True when no target stopped at the target IoU (target 1.0, or every
        target used all clicks): ``miou`` is then the full-run curve of the
        protocol (a perfect mask leaves nothing to click, so it is final).
    seconds_per_click : float
        Wall time of the whole run (loading, encoding, clicks) / clicks made.
    encode_seconds : float
        Mean encode time per image.
    predict_ms : (float, float)
        Median and 95th percentile of one ``predict`` call, in milliseconds.
    simulator_ms : float
        Mean time the simulator itself spends per click (next click and IoU).
    clicks : int
        Total clicks made.
    notes : list of str
        Caveats printed under the table (working resolution, limits, skips).
    """

    dataset: str
    backend: str
    targets: int
    skipped: int
    max_clicks: int
    target_iou: float
    noc: dict = field(default_factory=dict)
    nof: dict = field(default_factory=dict)
    miou: np.ndarray = field(default_factory=lambda: np.zeros(0))
    miou_exact: bool = False
    seconds_per_click: float = float("nan")
    encode_seconds: float = float("nan")
    predict_ms: tuple[float, float] = (float("nan"), float("nan"))
    simulator_ms: float = float("nan")
    clicks: int = 0
    notes: list = field(default_factory=list)

    def miou_at(self, k: int) -> float:
        """Mean IoU after click ``k`` (1-based), NaN when not measured."""
        return float(self.miou[k - 1]) if 1 <= k <= len(self.miou) else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready view (keys such as ``"NoC@90"``)."""
        out = {
            "dataset": self.dataset,
            "backend": self.backend,
            "targets": self.targets,
            "skipped_empty": self.skipped,
            "max_clicks": self.max_clicks,
            "target_iou": self.target_iou,
            "clicks": self.clicks,
            "seconds_per_click": self.seconds_per_click,
            "encode_seconds_mean": self.encode_seconds,
            "predict_ms_p50": self.predict_ms[0],
            "predict_ms_p95": self.predict_ms[1],
            "simulator_ms_per_click": self.simulator_ms,
            "mIoU_per_click": [float(v) for v in self.miou],
            "mIoU_exact": self.miou_exact,
            "notes": list(self.notes),
        }
        for t in NOC_THRESHOLDS:
            out[f"NoC@{round(t * 100)}"] = self.noc.get(t)
            out[f"NoF@{round(t * 100)}"] = self.nof.get(t)
        return out


def summarize(run) -> Summary:
    """Reduce a :class:`~promptseg.eval.runner.EvaluationRun` to its table row.

    Parameters
    ----------
    run : EvaluationRun
        Per-target IoU curves and timings of one backend on one dataset.

    Returns
    -------
    Summary
    """
    n, max_clicks = len(run.targets), run.max_clicks
    summary = Summary(
        dataset=run.dataset,
        backend=run.backend,
        targets=n,
        skipped=run.skipped,
        max_clicks=max_clicks,
        target_iou=run.target_iou,
        notes=list(run.notes),
    )
    if n == 0:
        return summary
    curves = np.array([_carry_forward(t.ious, max_clicks) for t in run.targets])
    for t in NOC_THRESHOLDS:
        if t <= run.target_iou + 1e-9:
            counts = [noc(r.ious, t, max_clicks=max_clicks) for r in run.targets]
            summary.noc[t] = float(np.mean(counts))
            summary.nof[t] = int(sum(max(r.ious, default=0.0) < t for r in run.targets))
        else:
            summary.noc[t] = summary.nof[t] = None
    summary.miou = curves.mean(axis=0)
    summary.miou_exact = run.target_iou >= 1.0 or all(len(r.ious) == max_clicks for r in run.targets)
    summary.clicks = int(sum(len(r.ious) for r in run.targets))
    summary.seconds_per_click = run.wall_seconds / max(summary.clicks, 1)
    summary.encode_seconds = float(np.mean(run.encode_seconds)) if run.encode_seconds else float("nan")
    predict = np.concatenate([r.predict_seconds for r in run.targets]) * 1e3
    if predict.size:
        summary.predict_ms = (float(np.percentile(predict, 50)), float(np.percentile(predict, 95)))
    simulate = np.concatenate([r.simulator_seconds for r in run.targets]) * 1e3
    if simulate.size:
        summary.simulator_ms = float(simulate.mean())
    return summary


def _carry_forward(ious: Sequence[float], length: int) -> np.ndarray:
    """IoU curve of exactly ``length`` clicks: the last value repeated after a stop."""
    curve = np.zeros(length)
    values = np.asarray(ious[:length], dtype=float)
    curve[: len(values)] = values
    if 0 < len(values) < length:
        curve[len(values) :] = values[-1]
    return curve
