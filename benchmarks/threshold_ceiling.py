"""How far any intensity threshold can follow the annotated outlines (an oracle bound for weight-free backends).

For each target, the best IoU with the annotation of any region a threshold
can make near it: the pixels above (or below) one of 49 levels (the 2nd to
98th percentiles of the pixels within ``--band`` px of the target), on the
grey image smoothed with sigma 0, 0.7 or 1.5, inside that band, holes
filled, keeping the connected parts that lie mostly (over half) inside the
target (an oracle choice), then grown by 0-``--grow`` px.  A target whose
best IoU is below 0.9 cannot reach NoC@90's goal by any click on a backend
that reads intensities alone unless the clicks paint its outline piece by
piece.

Targets: every target ``promptseg evaluate`` clicks on (``--dataset
magnetic_tile_dev``: one per image, all of its defect), or the
DSB dev nuclei that the classic automatic pass matches below IoU 0.9
(``--automatic``, every ``--every``-th of them)::

    python benchmarks/threshold_ceiling.py --dataset magnetic_tile_dev
    python benchmarks/threshold_ceiling.py --automatic --every 5
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "datasets"
SIGMAS = (0.0, 0.7, 1.5)
LEVELS = np.linspace(0.02, 0.98, 49)


def grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return image[..., :3].mean(axis=-1) if image.ndim == 3 else image


def best_iou(image: np.ndarray, target: np.ndarray, band_px: int, grow: int) -> float:
    """The best IoU with ``target`` of any thresholded region near it (see the module text)."""
    rows, cols = np.nonzero(target)
    reach = band_px + grow + 4  # the crop holds the band, the growth and a margin for the smoothing
    r0, c0 = max(int(rows.min()) - reach, 0), max(int(cols.min()) - reach, 0)
    box = (slice(r0, int(rows.max()) + reach + 1), slice(c0, int(cols.max()) + reach + 1))
    image, target = image[box], target[box]
    band = ndi.binary_dilation(target, iterations=band_px)
    best = 0.0
    for sigma in SIGMAS:
        x = ndi.gaussian_filter(image, sigma) if sigma else image
        for sign in (1.0, -1.0):
            values = sign * x
            for level in np.quantile(values[band], LEVELS):
                parts, n = ndi.label(ndi.binary_fill_holes(band & (values > level)))
                if n == 0:
                    continue
                ids = np.arange(1, n + 1)
                inside = ndi.sum(target, parts, ids) / ndi.sum(np.ones_like(target), parts, ids)
                keep = ids[inside > 0.5]
                if not len(keep):
                    continue
                region = np.isin(parts, keep)
                for g in range(grow + 1):
                    grown = ndi.binary_dilation(region, iterations=g) if g else region
                    best = max(best, (grown & target).sum() / (grown | target).sum())
    return float(best)


def dataset_targets(name: str):
    """The targets ``promptseg evaluate`` clicks on (a mask file's whole object, or each instance)."""
    from promptseg.eval import Dataset

    ds = Dataset(SHARED / name)
    for image_id in sorted({t.image_id for t in ds.targets}):
        image = grey(ds.load_image(image_id))
        for target, gt, _ in ds.target_masks(image_id):
            yield f"{image_id}/{target.instance}", image, gt


def automatic_targets(every: int):
    sys.path.insert(0, str(HERE))
    from bench_segment_all import _dataset_targets, quality_rows

    ds, ids = _dataset_targets("dsb2018_dev")
    n = 0
    for image_id, image, _, q, _, _, _ in quality_rows(ds, ids):
        pred, gt, table = q["pred_labels"], q["gt_labels"], q["table"]
        for g, p in q["pairs"]:
            if table[g, p] >= 0.9:
                continue
            if n % every == 0:
                yield f"{image_id}/{g}", grey(image), gt == g + 1
            n += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", help="a dataset folder name under ../shared/datasets")
    which.add_argument("--automatic", action="store_true",
                       help="DSB dev nuclei the classic automatic pass matches below IoU 0.9")
    parser.add_argument("--every", type=int, default=1, help="with --automatic: every N-th such nucleus")
    parser.add_argument("--band", type=int, default=6, help="pixels around the target the levels are read in")
    parser.add_argument("--grow", type=int, default=3, help="the region may also be grown by up to this many px")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found (the shared datasets sit beside the repository)")
        return 0
    targets = automatic_targets(args.every) if args.automatic else dataset_targets(args.dataset)
    by_kind = defaultdict(list)
    for name, image, mask in targets:
        kind = name.split("_")[0] if args.dataset else "nuclei"
        by_kind[kind].append(best_iou(image, mask, args.band, args.grow))
    rows = [(k, np.array(v)) for k, v in sorted(by_kind.items())]
    rows.append(("all", np.concatenate([v for _, v in rows])))
    print(f"best IoU of any threshold region (band {args.band} px, growth <= {args.grow} px, oracle parts)")
    for kind, v in rows:
        print(f"  {kind:10} {len(v):4d} targets  reach 0.90: {int((v >= 0.9).sum()):4d}  0.85: {int((v >= 0.85).sum()):4d}"
              f"  median best IoU {np.median(v):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
