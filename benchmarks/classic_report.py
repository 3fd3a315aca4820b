"""The classic backend's evaluation report from ``promptseg evaluate --json`` files.

Merges the JSON files of several runs (e.g. classic, random_walker and grabcut
run as separate processes on the same ``--limit``) into one table with the
report module, then prints, per dataset, classic's NoC@90 relative to the
random walker's (only where both ran on the same targets) and classic's
NoC@85, NoC@90, NoF@90 and mIoU@1 on the tuning half (even image index) and
the held-out half (odd)::

    python benchmarks/classic_report.py RUN1.json RUN2.json ... [--datasets ../shared/datasets]

Prints figures, asserts nothing.  Numbers are read from the files, never typed.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from promptseg.eval.metrics import NOC_THRESHOLDS, Summary, noc
from promptseg.eval.report import format_table

ORDER = ["grabcut", "berkeley", "dsb2018_dev", "magnetic_tile_dev"]


def load(path: str) -> list[tuple[Summary, list[dict]]]:
    """(summary, per-target records) of every dataset/backend in one JSON file."""
    out = []
    for res in json.load(open(path))["results"]:
        d = res["summary"]
        summary = Summary(
            dataset=d["dataset"], backend=d["backend"], targets=d["targets"], skipped=d["skipped_empty"],
            max_clicks=d["max_clicks"], target_iou=d["target_iou"],
            noc={t: d.get(f"NoC@{round(t * 100)}") for t in NOC_THRESHOLDS},
            nof={t: d.get(f"NoF@{round(t * 100)}") for t in NOC_THRESHOLDS},
            miou=np.array(d["mIoU_per_click"]), miou_exact=d["mIoU_exact"],
            seconds_per_click=d["seconds_per_click"], encode_seconds=d["encode_seconds_mean"],
            predict_ms=(d["predict_ms_p50"], d["predict_ms_p95"]), simulator_ms=d["simulator_ms_per_click"],
            clicks=d["clicks"], notes=d["notes"],
        )
        out.append((summary, res["targets"]))
    return out


def _key(item) -> tuple:
    s = item[0]
    return (ORDER.index(s.dataset) if s.dataset in ORDER else len(ORDER), s.dataset, s.backend != "classic", s.backend)


def _names(targets: list[dict]) -> list[str]:
    return sorted(f"{t['image']}#{t['instance']}" for t in targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="files written by promptseg evaluate --json")
    parser.add_argument("--datasets", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"),
                        help="folder of the datasets (for the image order of the even/odd halves)")
    args = parser.parse_args()
    runs = sorted((item for path in args.json for item in load(path)), key=_key)
    print(format_table([s for s, _ in runs]))

    print("\nclassic against random_walker (NoC@90, same targets only)")
    for s, targets in runs:
        if s.backend != "classic":
            continue
        for other, other_targets in runs:
            if other.dataset == s.dataset and other.backend == "random_walker" and _names(other_targets) == _names(targets):
                a, b = s.noc[0.90], other.noc[0.90]
                print(f"  {s.dataset:18s} {s.targets:5d} targets: classic {a:.2f}, random_walker {b:.2f}, "
                      f"{100 * (1 - a / b):.0f} % fewer clicks")

    print("\nclassic by half (image index in the sorted image list: even = tuning, odd = held out): "
          "NoC@85 / NoC@90 / NoF@90 / mIoU@1")
    for s, targets in runs:
        if s.backend != "classic":
            continue
        folder = os.path.join(args.datasets, s.dataset, "images")
        if not os.path.isdir(folder):
            continue
        order = {os.path.splitext(f)[0]: k for k, f in enumerate(sorted(os.listdir(folder)))}
        halves = []
        for parity in (0, 1):
            half = [t for t in targets if order[t["image"]] % 2 == parity]
            if not half:
                halves.append("-")
                continue
            at85, at90 = ([noc(t["ious"], v, max_clicks=s.max_clicks) for t in half] for v in (0.85, 0.90))
            never = sum(1 for t in half if max(t["ious"]) < 0.90)
            first = np.mean([t["ious"][0] for t in half])
            halves.append(f"{np.mean(at85):.2f} / {np.mean(at90):.2f} / {never} / {first:.3f} ({len(half)} targets)")
        print(f"  {s.dataset:18s} {s.targets:5d} targets: tuning {halves[0]}, held-out {halves[1]}")


if __name__ == "__main__":
    main()
