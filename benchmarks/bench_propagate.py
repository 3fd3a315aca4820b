"""3D propagation quality: one committed slice per nucleus, carried through synthetic stacks.

For every nucleus of :func:`promptseg.data.synthetic_nuclei_3d` (one stack
per seed), its ground-truth mask on its largest slice is the committed
start; :func:`propagate` carries it up and down.  Printed per stack (and per
nucleus with ``--verbose``): IoU over the nucleus's own slices (a slice it
was not carried to counts 0) and over every slice it or the propagation
touches (extra slices count 0 too), why it stopped, the calibrated
threshold, and seconds per propagated slice; then the mean over all nuclei
of all stacks.

    nice -n 19 python benchmarks/bench_propagate.py --backend classic --seeds 0 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np


def _backend(name: str):
    if name == "classic":
        from promptseg.backends.classic import ClassicBackend

        return ClassicBackend()
    from promptseg.backends import load_backend

    return load_backend(name, progress=False)


def _stack(args, backend, seed: int):
    from promptseg.data import synthetic_nuclei_3d

    image, labels = synthetic_nuclei_3d(args.shape, n_nuclei=args.nuclei, radius_range=tuple(args.radius),
                                        anisotropy=args.anisotropy, seed=seed)
    t0 = time.perf_counter()
    embeddings = [backend.encode(plane) for plane in image]
    return labels, embeddings, (time.perf_counter() - t0) / len(image)


def _nucleus(backend, embeddings, labels, obj: int, kw: dict):
    from promptseg.session.propagate import propagate

    zs = np.flatnonzero((labels == obj).any(axis=(1, 2)))
    start = int(zs[np.argmax([(labels[z] == obj).sum() for z in zs])])
    t0 = time.perf_counter()
    gen = propagate(backend, embeddings, labels[start] == obj, start, **kw)
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        result = stop.value
    seconds = (time.perf_counter() - t0) / max(len(steps), 1)

    def iou(z: int) -> float:
        g = labels[z] == obj
        p = result.masks.get(z, np.zeros_like(g))
        union = (g | p).sum()
        return float((g & p).sum() / union) if union else 1.0

    own = float(np.mean([iou(z) for z in zs]))
    touched = float(np.mean([iou(z) for z in sorted(set(zs) | set(result.masks))]))
    return zs, start, result, own, touched, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="classic")
    parser.add_argument("--shape", type=int, nargs=3, default=(40, 256, 256), metavar=("Z", "H", "W"))
    parser.add_argument("--nuclei", type=int, default=8)
    parser.add_argument("--radius", type=float, nargs=2, default=(16.0, 24.0))
    parser.add_argument("--anisotropy", type=float, default=1.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one synthetic stack per seed")
    parser.add_argument("--min-score", type=float, default=0.0)
    parser.add_argument("--min-overlap", type=float, default=None, help="default: propagate()'s")
    parser.add_argument("--end-fraction", type=float, default=None, help="default: propagate()'s; <= 0 disables")
    parser.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                        help="use the backend's own masks (no threshold calibrated on the start slice)")
    parser.add_argument("--verbose", action="store_true", help="one line per nucleus")
    args = parser.parse_args()

    backend = _backend(args.backend)
    kw = {"min_score": args.min_score, "calibrate": args.calibrate}
    if args.min_overlap is not None:
        kw["min_overlap"] = args.min_overlap
    if args.end_fraction is not None:
        kw["end_fraction"] = args.end_fraction if args.end_fraction > 0 else None
    print(f"stacks {tuple(args.shape)} anisotropy {args.anisotropy}, radii {args.radius}, {args.nuclei} nuclei, "
          f"seeds {args.seeds}, backend {backend.name}, {kw}")
    own, touched, per_slice, encode, stops, thresholds, stacks = [], [], [], [], Counter(), [], []
    for seed in args.seeds:
        labels, embeddings, enc = _stack(args, backend, seed)
        encode.append(enc)
        seed_own, seed_touched = [], []
        for obj in range(1, int(labels.max()) + 1):
            zs, start, result, o, t, sec = _nucleus(backend, embeddings, labels, obj, kw)
            seed_own.append(o)
            seed_touched.append(t)
            per_slice.append(sec)
            stops.update(result.stopped.values())
            thresholds.append(result.threshold)
            if args.verbose:
                lo, hi = result.z_range
                print(f"    nucleus {obj:2d}: slices {zs.min()}-{zs.max()} (start {start}), carried to {lo}-{hi}, "
                      f"stopped {result.stopped[-1]}/{result.stopped[1]}, threshold {result.threshold:+.2f}: "
                      f"IoU {o:.3f} over its slices, {t:.3f} over all touched")
        print(f"  seed {seed}: {len(seed_own)} nuclei, mean IoU over their slices {np.mean(seed_own):.3f} "
              f"(worst {np.min(seed_own):.3f}), over all touched slices {np.mean(seed_touched):.3f}")
        own += seed_own
        stacks.append(float(np.mean(seed_own)))
        touched += seed_touched
    print(f"mean IoU over the nuclei's slices {np.mean(own):.3f} over {len(own)} nuclei of {len(args.seeds)} stacks "
          f"(worst nucleus {np.min(own):.3f}, worst stack {min(stacks):.3f}); "
          f"over all touched slices {np.mean(touched):.3f}")
    print(f"stopped: {dict(stops)}; calibrated thresholds {np.min(thresholds):+.2f}..{np.max(thresholds):+.2f}; "
          f"{1000 * np.mean(per_slice):.0f} ms per propagated slice (prediction only); "
          f"encoding {np.mean(encode):.2f} s per slice")


if __name__ == "__main__":
    main()
