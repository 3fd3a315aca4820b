"""3D propagation quality: one committed slice per nucleus, carried through a synthetic stack.

For every nucleus of :func:`promptseg.data.synthetic_nuclei_3d`, its
ground-truth mask on its largest slice is the committed start; :func:`propagate`
carries it up and down.  Printed per nucleus and on average: IoU over the
nucleus's own slices (a slice it was not carried to counts 0) and over every
slice it or the propagation touches (extra slices count 0 too), where it
stopped and why, and seconds per propagated slice.

    nice -n 19 python benchmarks/bench_propagate.py --backend classic
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _backend(name: str):
    if name == "classic":
        from promptseg.backends.classic import ClassicBackend

        return ClassicBackend()
    from promptseg.backends import load_backend

    return load_backend(name, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="classic")
    parser.add_argument("--shape", type=int, nargs=3, default=(40, 256, 256), metavar=("Z", "H", "W"))
    parser.add_argument("--nuclei", type=int, default=8)
    parser.add_argument("--radius", type=float, nargs=2, default=(16.0, 24.0))
    parser.add_argument("--anisotropy", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-score", type=float, default=0.0)
    parser.add_argument("--min-overlap", type=float, default=None, help="default: propagate()'s")
    args = parser.parse_args()

    from promptseg.data import synthetic_nuclei_3d
    from promptseg.session.propagate import propagate

    image, labels = synthetic_nuclei_3d(args.shape, n_nuclei=args.nuclei, radius_range=tuple(args.radius),
                                        anisotropy=args.anisotropy, seed=args.seed)
    backend = _backend(args.backend)
    cache: dict[int, object] = {}
    encode_s = 0.0

    def embedding(z: int):
        nonlocal encode_s
        if z not in cache:
            t0 = time.perf_counter()
            cache[z] = backend.encode(image[z])
            encode_s += time.perf_counter() - t0
        return cache[z]

    kw = {"min_score": args.min_score}
    if args.min_overlap is not None:
        kw["min_overlap"] = args.min_overlap
    print(f"stack {image.shape} anisotropy {args.anisotropy}, radii {args.radius}, backend {backend.name}, {kw}")
    own, touched, per_slice = [], [], []
    for obj in range(1, int(labels.max()) + 1):
        zs = np.flatnonzero((labels == obj).any(axis=(1, 2)))
        start = int(zs[np.argmax([(labels[z] == obj).sum() for z in zs])])
        t0, enc0 = time.perf_counter(), encode_s
        gen = propagate(backend, embedding, labels[start] == obj, start, z_range=(0, image.shape[0] - 1), **kw)
        steps = []
        try:
            while True:
                steps.append(next(gen))
        except StopIteration as stop:
            result = stop.value
        predict_s = time.perf_counter() - t0 - (encode_s - enc0)
        per_slice.append(predict_s / max(len(steps), 1))

        def iou(z: int) -> float:
            g = labels[z] == obj
            p = result.masks.get(z, np.zeros_like(g))
            union = (g | p).sum()
            return float((g & p).sum() / union) if union else 1.0

        own.append(np.mean([iou(z) for z in zs]))
        touched.append(np.mean([iou(z) for z in sorted(set(zs) | set(result.masks))]))
        lo, hi = result.z_range
        print(f"  nucleus {obj:2d}: slices {zs.min()}-{zs.max()} (start {start}), carried to {lo}-{hi}, "
              f"stopped {result.stopped[-1]}/{result.stopped[1]}: mean IoU {own[-1]:.3f} over its slices, "
              f"{touched[-1]:.3f} over all touched")
    print(f"mean IoU over the nuclei's slices {np.mean(own):.3f} (worst {np.min(own):.3f}); "
          f"over all touched slices {np.mean(touched):.3f}; {1000 * np.mean(per_slice):.0f} ms per propagated "
          f"slice (prediction only; encoding {encode_s / max(len(cache), 1):.2f} s per slice)")


if __name__ == "__main__":
    main()
