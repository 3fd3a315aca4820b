"""Evaluation: the standard click protocol, its metrics, datasets and reports.

>>> from promptseg.eval import Dataset, evaluate, run_to_end, summarize  # doctest: +SKIP
>>> run = run_to_end(evaluate(backend, Dataset("../shared/datasets/grabcut"), limit=10))  # doctest: +SKIP
>>> summarize(run).noc[0.90]  # doctest: +SKIP

The command line front end is ``promptseg evaluate`` (:mod:`promptseg.cli.evaluate`).
"""

from __future__ import annotations

from .clicker import IGNORE_VALUE, Click, ClickSimulator
from .datasets import Dataset, DatasetError, Target
from .metrics import NOC_THRESHOLDS, Summary, iou, noc, summarize
from .runner import EvaluationRun, Progress, TargetResult, evaluate, run_to_end, select_targets

__all__ = [
    "IGNORE_VALUE",
    "NOC_THRESHOLDS",
    "Click",
    "ClickSimulator",
    "Dataset",
    "DatasetError",
    "EvaluationRun",
    "Progress",
    "Summary",
    "Target",
    "TargetResult",
    "evaluate",
    "iou",
    "noc",
    "run_to_end",
    "select_targets",
    "summarize",
]
