"""Reports of evaluation runs: a text table, a JSON file and an mIoU-per-click plot."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

from .metrics import NOC_THRESHOLDS, Summary
from .runner import EvaluationRun

__all__ = ["format_table", "write_json", "plot_curves"]

CARRY_NOTE = (
    "mIoU@k: a target that reached the target IoU before click k keeps its last IoU "
    "(run with --target-iou 1 for the full-run curve of the protocol)"
)


def _num(value: float | int | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_table(summaries: Sequence[Summary]) -> str:
    """A Markdown table, one row per dataset and backend, followed by notes.

    Columns: targets, NoC@85, NoC@90 (NoC@95 when measured), NoF@90,
    mIoU@1/3/5, seconds per click, mean encode seconds per image, predict
    milliseconds (median / 95th percentile) and the simulator's own
    milliseconds per click.
    """
    with95 = any(s.noc.get(0.95) is not None for s in summaries)
    head = ["dataset", "backend", "targets", "NoC@85", "NoC@90"] + (["NoC@95"] if with95 else [])
    head += ["NoF@90", "mIoU@1", "mIoU@3", "mIoU@5", "SPC s", "encode s", "predict ms p50/p95", "sim ms"]
    rows = []
    for s in summaries:
        row = [s.dataset, s.backend, str(s.targets), _num(s.noc.get(0.85)), _num(s.noc.get(0.90))]
        row += [_num(s.noc.get(0.95))] if with95 else []
        row += [_num(s.nof.get(0.90)), _num(s.miou_at(1), 3), _num(s.miou_at(3), 3), _num(s.miou_at(5), 3)]
        row += [_num(s.seconds_per_click, 3), _num(s.encode_seconds, 3)]
        row += [f"{_num(s.predict_ms[0], 1)} / {_num(s.predict_ms[1], 1)}", _num(s.simulator_ms, 2)]
        rows.append(row)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    fmt = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    lines = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows]
    notes: list[str] = []
    for s in summaries:
        notes.extend(n for n in s.notes if n not in notes)
    if any(not s.miou_exact for s in summaries if s.targets):
        notes.append(CARRY_NOTE)
    if summaries:
        s0 = summaries[0]
        notes.append(f"max {s0.max_clicks} clicks, stop at IoU {s0.target_iou:g}; NoC = {s0.max_clicks} when never reached")
    return "\n".join(lines + [f"- {n}" for n in notes])


def write_json(path: str | os.PathLike, runs: Sequence[EvaluationRun], summaries: Sequence[Summary], settings: dict) -> Path:
    """Write settings, per-dataset summaries and per-target clicks and IoU curves.

    The file holds ``{"settings": ..., "results": [{"summary": ...,
    "targets": [{"image", "instance", "clicks": [[row, col, label], ...],
    "ious": [...], "predict_ms": [...]}, ...]}, ...]}``; clicks are (row, col)
    image pixels, label 1 positive and 0 negative.
    """
    path = Path(path)
    payload = {
        "settings": settings,
        "results": [
            {"summary": s.to_dict(), "encode_seconds": r.encode_seconds, "wall_seconds": r.wall_seconds,
             "targets": [t.to_dict() for t in r.targets]}
            for r, s in zip(runs, summaries)
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, allow_nan=True))
    return path


def plot_curves(path: str | os.PathLike, summaries: Sequence[Summary]) -> Path:
    """Draw mIoU against the number of clicks: one panel per dataset, one curve per backend.

    Raises
    ------
    ImportError
        If matplotlib is missing (``pip install napari-promptseg[eval]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install napari-promptseg[eval]") from err
    datasets = list(dict.fromkeys(s.dataset for s in summaries))
    cols = min(len(datasets), 4) or 1
    nrows = math.ceil(len(datasets) / cols) or 1
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False, sharey=True)
    backends = list(dict.fromkeys(s.backend for s in summaries))
    colours = {b: f"C{i % 10}" for i, b in enumerate(backends)}
    for ax, name in zip(axes.flat, datasets):
        for s in (s for s in summaries if s.dataset == name and s.targets):
            clicks = range(1, len(s.miou) + 1)
            label = f"{s.backend} (NoC@90 {_num(s.noc.get(0.90))})"
            ax.plot(clicks, s.miou, marker="o", markersize=3, color=colours[s.backend], label=label)
        targets = max((s.targets for s in summaries if s.dataset == name), default=0)
        ax.set_title(f"{name} ({targets} targets)")
        for t in NOC_THRESHOLDS[:2]:
            ax.axhline(t, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlabel("clicks")
        last = max((s.max_clicks for s in summaries), default=20)
        ax.set_xlim(1, last)
        ax.set_xticks(sorted({1, *range(5, last + 1, 5), last}))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax in axes[:, 0]:
        ax.set_ylabel("mIoU")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    if any(not s.miou_exact for s in summaries if s.targets):
        fig.text(0.5, 0.005, "after reaching the target IoU a target keeps its last IoU", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
