"""Find similar, measured: proposals' precision / recall and the clicks a user still needs.

Prints figures, asserts nothing.  Per image, the ground-truth instance of
median area is the exemplar; the other instances are the targets.

Click accounting (per image; the same simulator and protocol as
``promptseg evaluate``: NoC@90, at most 20 clicks per object):

* from scratch: the sum of NoC@90 over every instance, exemplar included;
* with find similar: the exemplar's own NoC@90 (the user still makes it),
  plus 1 click on "accept all" (when anything is shown), plus 1 reject click
  per shown proposal that matches no target (IoU < 0.5), plus, per target
  matched by a proposal (IoU >= 0.5, one-to-one, best IoU first): 0 clicks
  when IoU >= 0.9, else 1 click to pick it for editing and the correction
  clicks the simulator places starting from the proposal (its seed, box and
  shape prior stay as prompts, the proposal is the previous mask), counted until
  IoU >= 0.9 (20 when never reached); plus NoC@90 from scratch for every
  target no proposal matches.

For one-object masks (magnetic_tile_dev) the instances are the 8-connected
components of at least 10 pixels (the masks hold specks of 1 pixel that are
no defects); only images with at least 2 such components are used.

"Shown" means score >= threshold; figures are printed for several thresholds.

Run (two cores shared: nice it)::

    nice -n 10 python benchmarks/bench_find_similar.py [--images 8] [--datasets dsb2018_dev magnetic_tile_dev]

``--source segment_all`` ranks the objects of the automatic pass instead of
searching (``both`` merges the two).

``--backend mobile_sam_vit_t`` (any registry name or checkpoint path) measures
a SAM-family backend instead of ``classic``; its weights are downloaded once.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from promptseg.backends import load_backend
from promptseg.eval import ClickSimulator, Dataset
from promptseg.eval.runner import run_to_end, select_targets
from promptseg.exemplar import find_similar

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
DEFAULT_THRESHOLD = 0.5
MAX_CLICKS, TARGET = 20, 0.90
#: Connected components of a one-object mask smaller than this (specks of 1-9 pixels in magnetic_tile masks) are not instances.
MIN_COMPONENT = 10


def instances(dataset: Dataset, image_id: str) -> list[np.ndarray]:
    """Instance masks: label ids, or connected components (8-connected, at least MIN_COMPONENT pixels) of a one-object mask."""
    ann = dataset.load_annotation(image_id)
    if dataset.kind == "labels":
        return [ann == v for v in np.unique(ann) if v != 0]
    obj = (ann != 0) & (ann != 128)
    lab, n = ndi.label(obj, structure=np.ones((3, 3)))
    parts = [lab == i for i in range(1, n + 1)]
    return [m for m in parts if m.sum() >= MIN_COMPONENT]


def clicks_to_target(backend, emb, gt, *, points=(), labels=(), box=None, mask=None, start=None, previous=None) -> int:
    """Simulated clicks until IoU >= TARGET (MAX_CLICKS when never), from ``start`` (default empty)."""
    sim = ClickSimulator(gt)
    pred = np.zeros(gt.shape, bool) if start is None else start
    pts, labs = list(points), list(labels)
    for k in range(1, MAX_CLICKS + 1):
        click = sim.next_click(pred)
        if click is None:
            return k - 1 if start is not None and sim.iou(pred) >= TARGET else MAX_CLICKS
        pts.append((click.row, click.col))
        labs.append(click.label)
        previous = backend.predict(emb, points=pts, labels=labs, box=box, mask=mask, previous=previous)
        pred = previous.mask
        if sim.iou(pred) >= TARGET:
            return k
    return MAX_CLICKS


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    return inter / max(np.count_nonzero(a | b), 1)


def image_record(backend, dataset, image_id, scratch_cache=None, **options):
    """Everything threshold-independent for one image."""
    masks = instances(dataset, image_id)
    if len(masks) < 2:
        return None
    image = dataset.load_image(image_id)
    emb = backend.encode(image)
    areas = [int(m.sum()) for m in masks]
    ex = int(np.argsort(areas, kind="stable")[(len(areas) - 1) // 2])
    targets = [m for i, m in enumerate(masks) if i != ex]
    t0 = time.perf_counter()
    if options.get("source", "search") != "search":
        options = dict(options, image=image)
    proposals = run_to_end(find_similar(backend, emb, [masks[ex]], **options))
    find_s = time.perf_counter() - t0
    key = f"{dataset.name}/{image_id}/{backend.backend_id}"
    if scratch_cache is not None and key in scratch_cache:
        scratch = scratch_cache[key]
    else:
        scratch = [clicks_to_target(backend, emb, m) for m in masks]
        if scratch_cache is not None:
            scratch_cache[key] = scratch
    shape = masks[0].shape
    props = []
    for p in proposals:
        full = p.mask(shape)
        ious = np.array([iou(full, t) for t in targets])
        props.append({"score": p.score, "ious": ious, "proposal": p, "mask": full})
    corrections: dict[tuple[int, int], int] = {}
    return {"id": image_id, "emb": emb, "targets": targets, "scratch_ex": scratch[ex],
            "scratch": [s for i, s in enumerate(scratch) if i != ex], "props": props, "corrections": corrections,
            "find_s": find_s}


def evaluate_threshold(backend, rec, threshold):
    """Matches, precision/recall counts and clicks for one image at one threshold."""
    shown = [i for i, p in enumerate(rec["props"]) if p["score"] >= threshold]
    pairs = sorted(((rec["props"][i]["ious"][t], i, t) for i in shown for t in range(len(rec["targets"]))
                    if rec["props"][i]["ious"][t] >= 0.5), reverse=True)
    used_p, used_t, matches = set(), set(), []
    for v, i, t in pairs:
        if i not in used_p and t not in used_t:
            used_p.add(i), used_t.add(t), matches.append((i, t, v))
    clicks = rec["scratch_ex"] + (1 if shown else 0) + (len(shown) - len(matches))
    edits = 0
    for i, t, v in matches:
        if v >= TARGET:
            continue
        edits += 1
        if (i, t) not in rec["corrections"]:
            p = rec["props"][i]["proposal"]
            rec["corrections"][(i, t)] = clicks_to_target(
                backend, rec["emb"], rec["targets"][t], points=[p.seed], labels=[1], box=p.prompt_box,
                mask=p.prompt_mask(rec["targets"][t].shape), start=rec["props"][i]["mask"], previous=p.prediction)
        clicks += 1 + rec["corrections"][(i, t)]
    clicks += sum(s for t, s in enumerate(rec["scratch"]) if t not in used_t)
    return len(shown), len(matches), clicks, edits, sum(v >= TARGET for _, _, v in matches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["dsb2018_dev", "magnetic_tile_dev"])
    ap.add_argument("--images", type=int, default=8, help="images per dataset, evenly spaced over the sorted ids")
    ap.add_argument("--held-out", type=int, default=0, metavar="N",
                    help="measure instead N images evenly spaced among those --images leaves out")
    ap.add_argument("--root", type=Path, default=SHARED)
    ap.add_argument("--box-scale", type=float, default=None, help="find_similar box_scale (default: no box)")
    ap.add_argument("--no-shape-prompt", action="store_true", help="prompt with the point only (no exemplar shape)")
    ap.add_argument("--no-pixel-search", action="store_true", help="backend proposals only (no lightness threshold)")
    ap.add_argument("--source", choices=("search", "segment_all", "both"), default="search",
                    help="find_similar candidate source: its own search, the segment-all pass, or both merged")
    ap.add_argument("--scratch-cache", type=Path, help="JSON file keeping the from-scratch clicks between runs")
    ap.add_argument("--backend", default="classic",
                    help="backend name, registry model or checkpoint path (default classic; SAM-family backends are "
                         "searched by pooled features, without the lightness threshold)")
    args = ap.parse_args()
    backend = load_backend(args.backend)
    options = {"box_scale": args.box_scale, "shape_prompt": not args.no_shape_prompt,
               "pixel_search": not args.no_pixel_search, "source": args.source}
    cache = json.loads(args.scratch_cache.read_text()) if args.scratch_cache and args.scratch_cache.exists() else None
    if args.scratch_cache and cache is None:
        cache = {}
    print(f"find_similar options: {options}")
    print("click accounting: see the module docstring (exemplar's own NoC@90 counted in both totals)")
    for name in args.datasets:
        dataset = Dataset(args.root / name)
        ids = sorted({t.image_id for t in dataset.targets})
        if dataset.kind == "masks":  # only images whose mask has >= 2 connected components
            ids = [i for i in ids if len(instances(dataset, i)) >= 2]
        picked = select_targets(ids, args.images)
        if args.held_out:
            picked = select_targets([i for i in ids if i not in set(picked)], args.held_out)
        t0 = time.perf_counter()
        records = [r for r in (image_record(backend, dataset, i, cache, **options) for i in picked) if r is not None]
        if args.scratch_cache:
            args.scratch_cache.write_text(json.dumps(cache))
        n_targets = sum(len(r["targets"]) for r in records)
        scratch = sum(r["scratch_ex"] + sum(r["scratch"]) for r in records)
        which = f"held out from {args.images}" if args.held_out else "evenly spaced"
        print(f"\n{name}: {len(records)} images (of {len(ids)} eligible, {which}), {n_targets} targets "
              f"besides the exemplars, {n_targets + len(records)} instances")
        print(f"  find-similar time per image: {np.mean([r['find_s'] for r in records]):.2f} s (mean)")
        print(f"  from scratch: {scratch / len(records):.1f} clicks per image (NoC@90 summed over instances)")
        print("  threshold  shown  matched  IoU>=.9  precision  recall  clicks/image  vs scratch  "
              "(without edit clicks)")
        for th in THRESHOLDS:
            shown = matched = clicks = edits = good = 0
            for r in records:
                s, m, c, e, g = evaluate_threshold(backend, r, th)
                shown, matched, clicks, edits, good = shown + s, matched + m, clicks + c, edits + e, good + g
            prec = matched / shown if shown else float("nan")
            mark = " (default)" if th == DEFAULT_THRESHOLD else ""
            print(f"  {th:9.2f}  {shown:5d}  {matched:7d}  {good:7d}  {prec:9.3f}  {matched / max(n_targets, 1):6.3f}  "
                  f"{clicks / len(records):12.1f}  {100 * (clicks - scratch) / scratch:+9.1f} %  "
                  f"{100 * (clicks - edits - scratch) / scratch:+9.1f} %{mark}")
        print(f"  wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
