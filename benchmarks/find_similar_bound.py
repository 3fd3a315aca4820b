"""How far any lightness-threshold proposal can take find-similar: an oracle bound.

For every instance of the images ``bench_find_similar.py`` uses, the best
IoU that a connected component of ``lightness >= t`` can reach, with ``t``
chosen per instance *knowing the ground truth* (every level in the
instance's range; lightness is CIE L*, negated where objects are darker than
the background; the component overlapping the instance most, in the
instance's box grown by 4 px).  A proposal method built on one threshold per
object, however it picks the level, cannot beat that.

The bound then assumes the best case for find similar: every instance whose
oracle IoU reaches 0.9 is proposed perfectly (0 clicks), one click accepts
them, and every other instance costs its from-scratch clicks.  The
from-scratch clicks are read from a ``--scratch-cache`` file written by
``bench_find_similar.py`` (same images, classic backend)::

    nice -n 10 python benchmarks/bench_find_similar.py --images 10 --datasets dsb2018_dev --scratch-cache scratch.json
    python benchmarks/find_similar_bound.py --images 10 --scratch-cache scratch.json [--smoothing] [--split]

Prints, per image, the instances, the share whose oracle IoU reaches 0.9,
the from-scratch clicks and the bound, and the total change.
``--smoothing`` lets the oracle also pick, per instance, one of a few
outline clean-ups of the component (dilation or closing by 1 px, a Gaussian
blur of the mask re-thresholded, the convex hull), with at most 60 levels
per instance (quantiles); the per-image bound is then the one with
clean-ups.  ``--split`` lets it also pick one part of the component split
by a watershed on its distance transform (peaks at least 3 px apart), or
that part or the component grown by 1 px: touching objects a single level
merges, and outlines drawn a pixel outside the level.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab
from skimage.feature import peak_local_max
from skimage.morphology import convex_hull_image, disk
from skimage.segmentation import watershed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_find_similar import SHARED, TARGET, instances  # noqa: E402

from promptseg.backends.classic import ClassicBackend  # noqa: E402
from promptseg.eval import Dataset  # noqa: E402
from promptseg.eval.runner import select_targets  # noqa: E402

MARGIN = 4


def lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* of an RGB(A) image, or the gray values of a one-channel one."""
    if image.ndim == 3 and image.shape[-1] >= 3:
        return rgb2lab(image[..., :3])[..., 0]
    return np.asarray(image, np.float64).squeeze()


#: Levels tried per instance with --smoothing (quantiles of its values).
SMOOTHED_LEVELS = 60


def _cleanups(pred: np.ndarray):
    """The component and the outline clean-ups ``--smoothing`` lets the oracle choose from."""
    yield pred
    yield ndi.binary_dilation(pred, disk(1))
    yield ndi.binary_fill_holes(ndi.binary_closing(pred, disk(1)))
    for sigma in (1.0, 2.0):
        blurred = ndi.gaussian_filter(pred.astype(np.float64), sigma)
        for level in (0.3, 0.5):
            yield blurred >= level
    if pred.sum() > 3:
        yield convex_hull_image(pred)


def _split_parts(pred: np.ndarray):
    """The component, each watershed part of it, and each of those grown by 1 px (``--split``)."""
    parts = [pred]
    depth = ndi.distance_transform_edt(pred)
    if depth.max() > 1.5:
        peaks = peak_local_max(ndi.gaussian_filter(depth, 1.0), min_distance=3, labels=pred.astype(int),
                               exclude_border=False)
        if len(peaks) > 1:
            markers = np.zeros(pred.shape, int)
            markers[peaks[:, 0], peaks[:, 1]] = np.arange(1, len(peaks) + 1)
            split = watershed(-depth, markers, mask=pred)
            parts += [split == k for k in range(1, len(peaks) + 1)]
    for part in parts:
        yield part
        yield ndi.binary_dilation(part)


def oracle_threshold_iou(values: np.ndarray, gt: np.ndarray, *, smoothing: bool = False,
                         split: bool = False) -> float:
    """Best IoU with ``gt`` of a component of ``values >= t`` (maybe cleaned up or split), levels t inside ``gt``."""
    rows, cols = np.nonzero(gt)
    sl = (slice(max(rows.min() - MARGIN, 0), rows.max() + MARGIN + 1),
          slice(max(cols.min() - MARGIN, 0), cols.max() + MARGIN + 1))
    vals, truth = values[sl], gt[sl]
    levels = np.unique(vals[truth])
    if smoothing and len(levels) > SMOOTHED_LEVELS:
        levels = np.quantile(vals[truth], np.linspace(0, 1, SMOOTHED_LEVELS))
    best = 0.0
    for t in levels:
        comp, _ = ndi.label(vals >= t)
        ids, counts = np.unique(comp[truth & (comp > 0)], return_counts=True)
        if not len(ids):
            continue
        pred = comp == ids[np.argmax(counts)]
        candidates = list(_cleanups(pred)) if smoothing else [pred]
        if split:
            candidates += list(_split_parts(pred))
        for candidate in candidates:
            best = max(best, np.count_nonzero(candidate & truth) / np.count_nonzero(candidate | truth))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["dsb2018_dev"])
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--root", type=Path, default=SHARED)
    ap.add_argument("--scratch-cache", type=Path, required=True, help="written by bench_find_similar.py")
    ap.add_argument("--smoothing", action="store_true", help="the oracle may also clean up each outline")
    ap.add_argument("--split", action="store_true",
                    help="the oracle may also split the component (watershed) or grow it by 1 px")
    args = ap.parse_args()
    cache = json.loads(args.scratch_cache.read_text())
    backend_id = ClassicBackend().backend_id
    for name in args.datasets:
        dataset = Dataset(args.root / name)
        ids = sorted({t.image_id for t in dataset.targets})
        if dataset.kind == "masks":
            ids = [i for i in ids if len(instances(dataset, i)) >= 2]
        total_scratch = total_bound = 0
        print(f"{name}: image  instances  oracle IoU>=0.9  scratch clicks  bound  change")
        for image_id in select_targets(ids, args.images):
            key = f"{dataset.name}/{image_id}/{backend_id}"
            if key not in cache:
                print(f"  {image_id}: no from-scratch clicks in {args.scratch_cache} (run bench_find_similar.py first)")
                continue
            masks = instances(dataset, image_id)
            values = lightness(dataset.load_image(image_id))
            inside = np.logical_or.reduce(masks)
            if values[inside].mean() < values[~inside].mean():
                values = -values
            reach = np.array([oracle_threshold_iou(values, m, smoothing=args.smoothing, split=args.split) >= TARGET
                              for m in masks])
            scratch = np.asarray(cache[key])
            bound = int(scratch[~reach].sum()) + 1
            total_scratch, total_bound = total_scratch + int(scratch.sum()), total_bound + bound
            print(f"  {image_id[:16]:16s} {len(masks):9d}  {reach.mean():15.2f}  {scratch.sum():14d}  {bound:5d}  "
                  f"{100 * (bound - scratch.sum()) / scratch.sum():+6.1f} %", flush=True)
        if total_scratch:
            print(f"  all: scratch {total_scratch} clicks, bound {total_bound}: "
                  f"{100 * (total_bound - total_scratch) / total_scratch:+.1f} %")


if __name__ == "__main__":
    main()
