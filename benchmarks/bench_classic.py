"""Speed of the classic backend: encode seconds per megapixel, predict p50 / p95.

Prints figures, asserts nothing.  Run at a quiet moment with two threads::

    OMP_NUM_THREADS=2 python benchmarks/bench_classic.py [--sizes 256 512 1024 2048 4096] [--clicks 20]
        [--datasets magnetic_tile_dev] [--per-dataset 10] [--fine-structures]

``encode`` is timed (median of up to 7 runs) on synthetic images (smooth blobs plus noise, RGB and
16-bit grayscale) of several sizes; ``predict`` on the click sequences the
standard simulator produces for a blob, with the previous answer fed back,
and, when ``../shared/datasets`` is present, on images of the shared
datasets.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from promptseg.backends.classic import ClassicBackend
from promptseg.eval.clicker import ClickSimulator


def synthetic(size: int, *, rgb: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (size, size) image with a few smooth blobs and noise, and the mask of the largest blob."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:size, :size].astype(np.float32) / size
    img = np.zeros((size, size), np.float32)
    gt = None
    for k, (r, c, rad) in enumerate([(0.5, 0.5, 0.22), (0.2, 0.25, 0.1), (0.75, 0.8, 0.12)]):
        blob = (rr - r) ** 2 + (cc - c) ** 2 <= rad**2
        img += (0.5 + 0.2 * k) * blob
        if gt is None:
            gt = blob
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    if rgb:
        out = np.clip(np.stack([img, 0.6 * img + 0.2, 1 - img], axis=-1) * 200 + 20, 0, 255).astype(np.uint8)
    else:
        out = np.clip(img * 30000 + 5000, 0, 65535).astype(np.uint16)
    return out, gt


def timed_encode(backend: ClassicBackend, img: np.ndarray):
    """Median encode seconds over up to 7 runs (as many as fit in about a second), and the embedding."""
    times = []
    while True:
        t0 = time.perf_counter()
        emb = backend.encode(img)
        times.append(time.perf_counter() - t0)
        if len(times) >= 7 or sum(times) > 1.0:
            return float(np.median(times)), emb


def click_run(backend: ClassicBackend, embedding, gt: np.ndarray, clicks: int, last: list | None = None,
              fine: list | None = None) -> list[float]:
    """Predict times (s) along a simulated click sequence with feedback.

    The last prediction goes to ``last``; whether each click was answered
    in fine mode is appended to ``fine``.
    """
    sim = ClickSimulator(gt)
    pred = np.zeros(gt.shape, bool)
    pts, labs, prev, times = [], [], None, []
    for _ in range(clicks):
        click = sim.next_click(pred)
        if click is None:
            break
        pts.append((click.row, click.col))
        labs.append(click.label)
        t0 = time.perf_counter()
        prev = backend.predict(embedding, points=pts, labels=labs, previous=prev)
        times.append(time.perf_counter() - t0)
        pred = prev.mask
        if fine is not None:
            track = getattr(prev.state, "track", None)
            fine.append(track is not None and track.model is not None)
    if last is not None:
        last.append(prev)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
    parser.add_argument("--per-dataset", type=int, default=10, help="images per shared dataset for predict timings")
    parser.add_argument("--datasets", nargs="+", default=["grabcut", "berkeley", "dsb2018_dev", "magnetic_tile_dev"],
                        help="shared datasets to time clicks on")
    parser.add_argument("--fine-structures", action="store_true", help="time the fine_structures preset")
    args = parser.parse_args()
    backend = ClassicBackend(**({"fine_structures": True} if args.fine_structures else {}))
    print(f"classic backend {backend.backend_id}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("predict: mask included; logits ms: reading Prediction.logits once (built on first read for images "
          "larger than the working copy)")
    print(f"{'image':>22} {'MP':>6} {'encode s':>9} {'s/MP':>6} {'predict p50 ms':>15} {'p95 ms':>7} {'logits ms':>9}")
    for size in args.sizes:
        for rgb in (True, False):
            img, gt = synthetic(size, rgb=rgb)
            backend.encode(img[:64, :64])  # warm-up (imports, caches)
            enc, emb = timed_encode(backend, img)
            last: list = []
            times = click_run(backend, emb, gt, args.clicks, last)
            t0 = time.perf_counter()
            _ = last[0].logits if last else None
            logits_ms = (time.perf_counter() - t0) * 1e3
            mp = size * size / 1e6
            kind = "RGB uint8" if rgb else "gray uint16"
            print(f"{f'{size}x{size} {kind}':>22} {mp:6.2f} {enc:9.2f} {enc / mp:6.2f} "
                  f"{np.percentile(times, 50) * 1e3:15.1f} {np.percentile(times, 95) * 1e3:7.1f} {logits_ms:9.1f}")
            del emb
    if os.path.isdir(args.shared):
        from promptseg.eval.datasets import Dataset

        for name in args.datasets:
            root = os.path.join(args.shared, name)
            if not os.path.isdir(root):
                continue
            ds = Dataset(root)
            every = sorted({t.image_id for t in ds.targets})
            ids = every[:: max(1, len(every) // args.per_dataset)][: args.per_dataset]
            enc_per_mp, times, fine = [], [], []
            for image_id in ids:
                img = ds.load_image(image_id)
                t0 = time.perf_counter()
                emb = backend.encode(img)
                enc_per_mp.append((time.perf_counter() - t0) / (img.shape[0] * img.shape[1] / 1e6))
                wanted = [t for t in ds.targets if t.image_id == image_id][:3]
                for _, gt, _ in ds.target_masks(image_id, wanted):
                    times += click_run(backend, emb, gt, args.clicks, fine=fine)
            print(f"{name:>22} encode {np.median(enc_per_mp):.2f} s/MP (median of {len(ids)} images); predict "
                  f"p50 {np.percentile(times, 50) * 1e3:.1f} ms, p95 {np.percentile(times, 95) * 1e3:.1f} ms "
                  f"over {len(times)} clicks")
            if any(fine):
                in_fine = np.array(times)[np.array(fine)]
                print(f"{'':>22} of which {len(in_fine)} in fine mode: p50 {np.percentile(in_fine, 50) * 1e3:.1f} ms, "
                      f"p95 {np.percentile(in_fine, 95) * 1e3:.1f} ms")
    else:
        print(f"(shared datasets not found at {args.shared}; dataset timings skipped)")


if __name__ == "__main__":
    main()
