"""``promptseg evaluate``: NoC / mIoU tables of backends on labelled folders.

The project's ``promptseg`` entry point adds this sub-command with
:func:`add_evaluate_parser` and runs it with :func:`run_evaluate`; until then
``python -m promptseg.cli.evaluate DATASET_DIR... --backend NAME`` does the same.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import PromptsegError
from ..eval.datasets import Dataset
from ..eval.metrics import summarize
from ..eval.report import format_table, plot_curves, write_json
from ..eval.runner import evaluate, select_targets
from .options import fraction, positive_int

__all__ = ["add_evaluate_parser", "run_evaluate", "main"]

DESCRIPTION = (
    "Simulate clicks with the standard protocol of the interactive-segmentation literature "
    "(next click at the centre of the largest error) and report NoC@85/90, NoF@90, mIoU@k, "
    "seconds per click, encode and predict times per dataset and backend."
)


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("datasets", nargs="+", metavar="DATASET_DIR",
                        help="folders with images/ and masks/ (0/255, 128 ignore) or labels/ (instance ids)")
    parser.add_argument("--backend", action="append", required=True, metavar="NAME_OR_PATH",
                        help="backend name (random_walker, grabcut, a registry name) or checkpoint path; repeatable")
    parser.add_argument("--max-clicks", type=positive_int, default=20, help="clicks per target at most (default 20)")
    parser.add_argument("--target-iou", type=fraction, default=0.90,
                        help="stop a target at this IoU (default 0.90; 0.95 adds NoC@95; 1 runs all clicks)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="evaluate N targets per dataset, evenly spaced (default: all)")
    parser.add_argument("--no-feedback", dest="feedback", action="store_false",
                        help="do not pass the previous prediction to the backend")
    parser.add_argument("--device", default=None, help="torch device for SAM backends (default: cuda if available)")
    parser.add_argument("--json", dest="json_path", default=None, metavar="OUT.json",
                        help="write per-target clicks and IoU per click")
    parser.add_argument("--plot", dest="plot_path", default=None, metavar="OUT.png",
                        help="draw mIoU against clicks, one panel per dataset")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    return parser


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to a ``promptseg`` argument parser.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The sub-parser; its defaults route to :func:`run_evaluate` via
        ``args.func``.
    """
    parser = subparsers.add_parser("evaluate", help="measure backends with the standard click protocol",
                                   description=DESCRIPTION)
    _configure(parser)
    parser.set_defaults(func=run_evaluate)
    return parser


def run_evaluate(args: argparse.Namespace) -> int:
    """Run every backend on every dataset, print the table, write JSON and plot.

    Returns
    -------
    int
        0 on success, 2 for a problem the user can fix (bad folder, unknown
        backend, missing optional dependency); the message goes to stderr.
    """
    from ..backends import load_backend

    try:
        datasets = [Dataset(path) for path in args.datasets]
        backends = [load_backend(name, device=args.device) for name in args.backend]
        runs = []
        for dataset in datasets:
            for backend in backends:
                runs.append(_run_one(backend, dataset, args))
                summary = summarize(runs[-1])
                print(f"{summary.dataset} / {summary.backend}: {summary.targets} targets, "
                      f"mIoU@5 {summary.miou_at(5):.3f}, {runs[-1].wall_seconds:.0f} s", file=sys.stderr)
        summaries = [summarize(r) for r in runs]
        print(format_table(summaries))
        if args.json_path:
            settings = {"datasets": [str(d.root) for d in datasets], "backends": list(args.backend),
                        "max_clicks": args.max_clicks, "target_iou": args.target_iou, "limit": args.limit,
                        "feedback": args.feedback}
            print(f"wrote {write_json(args.json_path, runs, summaries, settings)}", file=sys.stderr)
        if args.plot_path:
            print(f"wrote {plot_curves(args.plot_path, summaries)}", file=sys.stderr)
    except (PromptsegError, ImportError, OSError) as err:
        print(f"promptseg evaluate: error: {err}", file=sys.stderr)
        return 2
    return 0


def _run_one(backend, dataset: Dataset, args: argparse.Namespace):
    generator = evaluate(backend, dataset, max_clicks=args.max_clicks, target_iou=args.target_iou,
                         feedback=args.feedback, limit=args.limit)
    bar = None
    if args.progress:
        from tqdm import tqdm

        total = len(select_targets(dataset.targets, args.limit))
        bar = tqdm(desc=f"{getattr(backend, 'name', 'backend')} on {dataset.name}", total=total, unit="target",
                   file=sys.stderr)
    try:
        while True:
            try:
                progress = next(generator)
            except StopIteration as stop:
                return stop.value
            if bar is not None:
                bar.set_postfix_str(f"{progress.target}: {progress.clicks} clicks, IoU {progress.iou:.2f}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m promptseg.cli.evaluate``."""
    parser = _configure(argparse.ArgumentParser(prog="promptseg evaluate", description=DESCRIPTION))
    return run_evaluate(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
