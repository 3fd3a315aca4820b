"""How much time the click simulator itself costs per click.

For targets of the shared datasets (or synthetic ones when ``../shared`` is
absent) the simulator places 10 clicks against a sequence of imperfect
predictions (the ground truth eroded, dilated, shifted and sprinkled with
false positives) and scores each with IoU.  It reports milliseconds per
click for: the evaluator as shipped (error-region crops, OpenCV's exact
distance transform when installed), crops with SciPy's transform, and the
whole frame with SciPy's transform (the plain implementation of the
protocol).  All three place identical clicks.

Run: ``OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_eval_overhead.py [--targets 30]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from promptseg.eval import ClickSimulator, Dataset, select_targets
from promptseg.eval import clicker as clicker_module

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
DATASETS = ("grabcut", "berkeley", "dsb2018_dev", "magnetic_tile_dev")


def predictions(gt: np.ndarray, rng: np.random.Generator, n: int = 10) -> list[np.ndarray]:
    """A plausible sequence of predictions: empty, then errors that shrink."""
    preds = [np.zeros_like(gt)]
    for k in range(1, n):
        r = max(1, 6 - k)
        base = ndi.binary_erosion(gt, iterations=r) if k % 2 else ndi.binary_dilation(gt, iterations=r)
        noise = rng.random(gt.shape) < 0.002 / k
        preds.append(np.roll(base, k % 3, axis=1) | ndi.binary_dilation(noise, iterations=2))
    return preds


def time_variant(cases, *, crop: bool, use_cv2: bool, repeat: int) -> tuple[float, list]:
    """Milliseconds per click (next_click + iou; best of ``repeat`` passes) and the clicks placed."""
    clicker_module._CV2 = None if use_cv2 else False
    best = float("inf")
    for _ in range(repeat):
        clicks, seconds, count = [], 0.0, 0
        for gt, ignore, preds in cases:
            sim = ClickSimulator(gt, ignore=ignore, crop=crop)
            for pred in preds:
                t0 = time.perf_counter()
                click = sim.next_click(pred)
                sim.iou(pred)
                seconds += time.perf_counter() - t0
                count += 1
                clicks.append(None if click is None else (click.row, click.col, click.is_positive))
        best = min(best, 1e3 * seconds / max(count, 1))
    clicker_module._CV2 = None
    return best, clicks


def load_cases(name: str, limit: int, rng: np.random.Generator):
    root = SHARED / name
    if root.is_dir():
        ds = Dataset(root)
        cases = []
        for target in select_targets(ds.targets, limit):
            (_, gt, ignore), = ds.target_masks(target.image_id, [target])
            cases.append((gt, ignore, predictions(gt, rng)))
        return cases, ds.load_annotation(ds.targets[0].image_id).shape
    cases = []
    for _ in range(limit):  # synthetic stand-in: one disk per 480 x 320 frame
        yy, xx = np.mgrid[:320, :480]
        gt = (yy - rng.integers(80, 240)) ** 2 + (xx - rng.integers(80, 400)) ** 2 < rng.integers(20, 70) ** 2
        cases.append((gt, None, predictions(gt, rng)))
    return cases, (320, 480)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=30, help="targets per dataset (evenly spaced)")
    parser.add_argument("--repeat", type=int, default=3, help="passes per variant; the fastest is reported")
    args = parser.parse_args()
    try:
        import cv2  # noqa: F401

        have_cv2 = True
    except ImportError:
        have_cv2 = False
    print(f"simulator overhead, ms per click (next click + IoU), 10 clicks per target, best of {args.repeat}; OpenCV: {have_cv2}")
    print(f"{'dataset':<18} {'targets':>7} {'1st image':>10} {'shipped':>9} {'crop+scipy':>11} {'full+scipy':>11} {'same clicks':>12}")
    for name in DATASETS:
        rng = np.random.default_rng(0)
        cases, shape = load_cases(name, args.targets, rng)
        shipped, a = time_variant(cases, crop=True, use_cv2=True, repeat=args.repeat)
        cropped, b = time_variant(cases, crop=True, use_cv2=False, repeat=args.repeat)
        full, c = time_variant(cases, crop=False, use_cv2=False, repeat=args.repeat)
        size = f"{shape[0]}x{shape[1]}"
        print(f"{name:<18} {len(cases):>7} {size:>10} {shipped:>9.2f} {cropped:>11.2f} {full:>11.2f} {str(a == b == c):>12}")


if __name__ == "__main__":
    main()
