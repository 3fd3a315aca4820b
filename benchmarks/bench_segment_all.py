"""Automatic segmentation ("segment all"): speed against SAM's official generator, quality, clicks saved.

Three measurements, each printed as a table::

    python benchmarks/bench_segment_all.py speed [--models vit_t hiera_t] [--repeats 2] [--threads N]
        [--points-per-side N] [--reference /tmp/ref_sam2] [--official-python PYTHON]
    python benchmarks/bench_segment_all.py quality [--datasets dsb2018_dev magnetic_tile_dev]
    python benchmarks/bench_segment_all.py clicks [--scratch-cache FILE] [--images N]

**speed**: one 768 x 1024 RGB image (``bench_engine.make_image``), a
random-weight model (the same weights for both), ``promptseg.segment_all``
against the official generator with its defaults, encoding included, each run
in its own process, alternating.  ``--models`` picks the models (default
vit_t only):

- ``vit_t``: ``SamBackend`` against the official ``SamAutomaticMaskGenerator``.
  The official code is imported from ``PYTHONPATH`` (``pip install --no-deps
  --target DIR segment-anything segment-anything-hq``); its torchvision
  imports are served by the PIL resize shim of ``bench_engine``.
- ``hiera_t``: full-size SAM 2.1 tiny built by our builder and saved as an
  official-layout checkpoint ``{"model": state dict}``, ``Sam2Backend``
  against the official ``SAM2AutomaticMaskGenerator`` (sam2 1.1.0, installed
  apart in ``--reference``, default /tmp/ref_sam2, as for
  ``bench_sam2_engine.py``; put on the official worker's ``PYTHONPATH``
  only).  Its transforms are served by ``bench_sam2_shim.py``.  SAM 2.1's
  generator keeps predicted IoUs above 0.8 (SAM's: 0.88), so ours is given
  ``pred_iou_thresh=0.8`` in that case.

Both official generators' ``batched_nms`` / ``box_area`` are a plain-torch
greedy NMS, unless a real torchvision is importable (``--official-python``
runs the official worker with another interpreter, e.g. a throwaway venv that
has one).  A random-weight model's predicted IoUs are low, so the default
filters keep almost nothing; the run is repeated with both filters off (every
candidate formed, scored and NMS-ed), which is the heaviest case.  Both
implementations' objects are compared (F1 of their masks matched at IoU >
0.5).  ``--points-per-side`` changes the grid of both generators (for a quick
check of the script; the default is the generators' 32).

**quality**: the classic pass and a plain scikit-image reference (Otsu +
distance-transform watershed, ``segment_all_quality.reference_pass``) on
every image of each dataset; DSB images with an even index in the sorted
image list were used to tune the classic pass, odd ones were not.

**clicks**: the click account of ``segment_all_clicks`` on DSB (classic
backend for the pass, the corrections and the from-scratch clicks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
from bench_sam2_engine import _official_importable  # noqa: E402

SHARED = HERE.parents[2] / "shared" / "datasets"

#: Filter settings of the speed runs: the official generator's defaults, and every candidate kept.
SPEED_CASES = {"defaults": {}, "no filters": {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}}
#: Per model, what makes our defaults the official generator's (SAM 2.1's keeps predicted IoUs above 0.8, SAM's 0.88).
OFFICIAL_DEFAULTS = {"vit_t": {}, "hiera_t": {"pred_iou_thresh": 0.8}}


# ---------------------------------------------------------------- speed
def _nms_shim() -> None:
    """``torchvision.ops.boxes.batched_nms`` / ``box_area`` in plain torch when torchvision is a shim."""
    import types

    import torch

    tv = sys.modules.get("torchvision")
    if tv is None or hasattr(tv, "__file__"):
        return  # a real torchvision (imported, or left for the official code to import)
    boxes_mod = sys.modules.get("torchvision.ops.boxes")
    if boxes_mod is None:  # bench_sam2_shim serves the transforms only
        ops, boxes_mod = types.ModuleType("torchvision.ops"), types.ModuleType("torchvision.ops.boxes")
        tv.ops, ops.boxes = ops, boxes_mod
        sys.modules.update({"torchvision.ops": ops, "torchvision.ops.boxes": boxes_mod})

    def box_area(b):
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])

    def batched_nms(boxes, scores, idxs, iou_threshold):
        order = torch.argsort(scores, descending=True)
        b = boxes[order].to(torch.float64)
        area = box_area(b)
        lt = torch.maximum(b[:, None, :2], b[None, :, :2])
        rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
        iou = inter / (area[:, None] + area[None, :] - inter)
        same = idxs[order][:, None] == idxs[order][None, :]
        alive = torch.ones(len(order), dtype=torch.bool)
        for i in range(len(order)):
            if alive[i]:
                alive[i + 1:] &= ~((iou[i, i + 1:] > iou_threshold) & same[i, i + 1:])
        return order[alive]

    boxes_mod.batched_nms, boxes_mod.box_area = batched_nms, box_area


def _our_backend(model: str, weights: Path):
    import torch

    if model == "vit_t":
        from promptseg.backends.sam import SamBackend
        from promptseg.model.build import build_sam

        sam = build_sam("vit_t")
        sam.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return SamBackend(sam, name="random-vit_t")
    from promptseg.backends.sam2 import Sam2Backend
    from promptseg.model.sam2.load import load_sam2

    sam2, loaded = load_sam2(weights)
    return Sam2Backend(sam2, name=f"random-{model}", architecture=loaded.architecture)


def _official_generator(model: str, weights: Path, options: dict):
    import torch

    if model == "vit_t":
        from bench_engine import _official_vit_t, _torchvision_shim

        _torchvision_shim()
        _nms_shim()
        from segment_anything import SamAutomaticMaskGenerator

        sam = _official_vit_t()
        sam.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return SamAutomaticMaskGenerator(sam.eval(), **options)
    from bench_sam2_engine import OfficialSession  # installs bench_sam2_shim, builds the official model

    sam2 = OfficialSession(weights, model).model
    _nms_shim()
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    return SAM2AutomaticMaskGenerator(sam2, **options)


def speed_worker(impl: str, weights: Path, options: dict, out: Path, threads: int | None = None,
                 model: str = "vit_t") -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)

    from bench_engine import make_image

    image = make_image()
    if impl == "ours":
        from promptseg.auto import segment_all
        from promptseg.eval import run_to_end

        backend = _our_backend(model, weights)
        t = time.perf_counter()
        result = run_to_end(segment_all(backend, image, **options))
        seconds = time.perf_counter() - t
        labels = result.labels
    else:
        generator = _official_generator(model, weights, options)
        t = time.perf_counter()
        records = generator.generate(image)
        seconds = time.perf_counter() - t
        from promptseg.auto.labels import paint_labels

        boxes = np.array([[r["bbox"][0], r["bbox"][1], r["bbox"][0] + r["bbox"][2], r["bbox"][1] + r["bbox"][3]]
                          for r in records], np.int64).reshape(-1, 4)
        masks = [r["segmentation"][y0:y1 + 1, x0:x1 + 1] for r, (x0, y0, x1, y1) in zip(records, boxes)]
        labels, _ = paint_labels(image.shape[:2], boxes, masks, np.array([r["predicted_iou"] for r in records]))
    np.save(out, labels)
    return {"seconds": seconds, "objects": int(labels.max()), "threads": torch.get_num_threads()}


def _save_weights(model: str, path: Path) -> None:
    """Random weights, seed 0: vit_t as a plain state dict, SAM 2.1 in the official layout ``{"model": ...}``."""
    import torch

    torch.manual_seed(0)
    if model == "vit_t":
        from promptseg.model.build import build_sam

        torch.save(build_sam("vit_t").state_dict(), path)
    else:
        from promptseg.model.sam2.build import build_sam2

        torch.save({"model": build_sam2(model).state_dict()}, path)


def run_speed(args) -> None:
    import torch

    print(f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}; one 768x1024 RGB image, random weights, encoding included"
          + (f"; {args.points_per_side} points per side" if args.points_per_side else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            if model != "vit_t" and not args.official_python and not _official_importable(args.reference):
                print(f"{model}: official sam2 not importable from {args.reference}: skipped")
                continue
            weights = Path(tmp) / f"{model}.pt"
            _save_weights(model, weights)
            for case, options in SPEED_CASES.items():
                options = {**OFFICIAL_DEFAULTS[model], **options}
                if args.points_per_side:
                    options["points_per_side"] = args.points_per_side
                if not _speed_case(model, case, options, weights, Path(tmp), args):
                    return


def _speed_case(model: str, case: str, options: dict, weights: Path, tmp: Path, args) -> bool:
    """Alternating runs of one model and filter setting; prints its row (False: a worker failed)."""
    from segment_all_quality import quality, summarise

    times = {"ours": [], "official": []}
    counts = {}
    for r in range(args.repeats):
        for impl in ("ours", "official"):
            env = dict(os.environ)
            if impl == "official" and model != "vit_t":
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.reference, str(HERE.parent),
                                                                  env.get("PYTHONPATH")]))
            python = args.official_python if impl == "official" and args.official_python else sys.executable
            cmd = [python, str(HERE), "speed-worker", impl, str(weights), json.dumps(options), str(tmp / f"{impl}.npy"),
                   str(args.threads or 0), "--model", model]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"{model} {case}/{impl} failed:\n{done.stderr[-3000:]}")
                return False
            row = json.loads(done.stdout.strip().splitlines()[-1])
            times[impl].append(row["seconds"])
            counts[impl] = row["objects"]
    agree = summarise([quality(np.load(tmp / "ours.npy"), np.load(tmp / "official.npy"))])
    same = "both found none" if agree["pred"] == agree["gt"] == 0 else f"F1 {agree['f1']:.3f}"
    ours, ref = min(times["ours"]), min(times["official"])
    print(f"{model:7} {case:11}: ours {ours:6.2f} s ({counts['ours']} objects)  official {ref:6.2f} s "
          f"({counts['official']} objects)  ours/official {ours / ref:.2f}x  "
          f"[all runs: ours {', '.join(f'{t:.2f}' for t in times['ours'])}; "
          f"official {', '.join(f'{t:.2f}' for t in times['official'])}]  "
          f"objects matched at IoU>0.5: {same}", flush=True)
    return True


# -------------------------------------------------------------- quality
def _dataset_targets(name: str):
    from promptseg.eval import Dataset

    ds = Dataset(SHARED / name)
    ids = sorted({t.image_id for t in ds.targets} | set(ds.skipped))
    return ds, ids


def _gt_labels(ds, image_id: str) -> np.ndarray:
    from bench_find_similar import instances

    out = np.zeros(ds.load_image(image_id).shape[:2], np.int32)
    for k, m in enumerate(instances(ds, image_id), start=1):
        out[m] = k
    return out


def quality_rows(ds, ids, **options):
    from promptseg.auto import segment_all
    from promptseg.backends import load_backend
    from promptseg.eval import run_to_end
    from segment_all_quality import quality, reference_pass

    backend = load_backend("classic")
    for image_id in ids:
        image, gt = ds.load_image(image_id), _gt_labels(ds, image_id)
        t = time.perf_counter()
        result = run_to_end(segment_all(backend, image, **options))
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        ref = reference_pass(image)
        ref_s = time.perf_counter() - t
        yield image_id, image, result, quality(result.labels, gt), ours_s, quality(ref, gt), ref_s


def _line(label: str, rows: list, seconds: list) -> str:
    from segment_all_quality import summarise

    s = summarise(rows)
    return (f"  {label:28} {s['images']:3d} img {s['gt']:5d} obj  P {s['precision']:.3f}  R {s['recall']:.3f}  "
            f"F1 {s['f1']:.3f}  IoU>=0.9 {s['at90']:.3f}  {np.mean(seconds):.3f} s/img")


def run_quality(args) -> None:
    for name in args.datasets:
        ds, ids = _dataset_targets(name)
        ids = ids[: args.images] if args.images else ids
        rows = {"ours": {"tuned": [], "held": []}, "ref": {"tuned": [], "held": []}}
        secs = {"ours": {"tuned": [], "held": []}, "ref": {"tuned": [], "held": []}}
        for k, (image_id, _, _, q, ours_s, r, ref_s) in enumerate(quality_rows(ds, ids)):
            half = "tuned" if (name == "dsb2018_dev" and k % 2 == 0) else "held"
            rows["ours"][half].append(q), rows["ref"][half].append(r)
            secs["ours"][half].append(ours_s), secs["ref"][half].append(ref_s)
        print(f"{name} ({len(ids)} images)")
        halves = [("tuned", "even index (tuning half)"), ("held", "odd index (held out)")] \
            if name == "dsb2018_dev" else [("held", "all (not tuned on)")]
        for impl, label in (("ours", "classic pass"), ("ref", "Otsu + watershed")):
            for half, what in halves:
                print(_line(f"{label}, {what}", rows[impl][half], secs[impl][half]))
            if name == "dsb2018_dev":
                print(_line(f"{label}, all", rows[impl]["tuned"] + rows[impl]["held"],
                            secs[impl]["tuned"] + secs[impl]["held"]))


# --------------------------------------------------------------- clicks
def run_clicks(args) -> None:
    from promptseg.backends import load_backend
    from segment_all_clicks import image_clicks, load_cache, save_cache, scratch_clicks

    ds, ids = _dataset_targets("dsb2018_dev")
    ids = ids[: args.images] if args.images else ids
    backend = load_backend("classic")
    cache = load_cache(args.scratch_cache)
    totals = {"tuned": [], "held": []}
    per_image = []
    for k, (image_id, image, result, q, ours_s, _, _) in enumerate(quality_rows(ds, ids)):
        emb = backend.encode(image)
        scratch = scratch_clicks(backend, ds, image_id, emb, cache)
        save_cache(args.scratch_cache, cache)
        c = image_clicks(backend, emb, q, scratch, mask_prompt=args.mask_prompt, pick_up=args.pick_up)
        c.update(id=image_id, seconds=ours_s, tp=q["tp"], gt=q["gt"], pred=q["pred"], at90=q["at90"])
        totals["tuned" if k % 2 == 0 else "held"].append(c)
        per_image.append(c)
        print(f"  {image_id[:8]}  {q['gt']:4d} nuclei  scratch {c['scratch']:5d}  auto {c['auto']:5d} "
              f"({100 * (c['auto'] - c['scratch']) / max(c['scratch'], 1):+6.1f} %)  false {c['false']:3d}  "
              f"edited {c['edited']:3d} ({c['corrections']} clicks)  missed {c['missed']} clicks", flush=True)
    for half, rows in (("even index (tuned on)", totals["tuned"]), ("odd index (not tuned on)", totals["held"]),
                       ("all", per_image)):
        if not rows:
            continue
        scratch = sum(r["scratch"] for r in rows)
        auto = sum(r["auto"] for r in rows)
        pick = sum(r["auto_pick"] for r in rows)
        tp, gt, pred = (sum(r[key] for r in rows) for key in ("tp", "gt", "pred"))
        p, rc = tp / max(pred, 1), tp / max(gt, 1)
        print(f"{half:26}: {len(rows)} images, {gt} nuclei; clicks per image: scratch {scratch / len(rows):.1f}, "
              f"with the pass {auto / len(rows):.1f} ({100 * (auto - scratch) / scratch:+.1f} %; "
              f"{100 * (pick - scratch) / scratch:+.1f} % with a pick-up click per edited object); "
              f"P {p:.3f} R {rc:.3f} F1 {2 * p * rc / max(p + rc, 1e-12):.3f} "
              f"IoU>=0.9 {sum(r['at90'] for r in rows) / gt:.3f}; "
              f"{np.mean([r['seconds'] for r in rows]):.3f} s per image")
    if args.json:
        args.json.write_text(json.dumps(per_image, indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--official-python", help="interpreter for the official worker (e.g. a venv with torchvision)")
    p.add_argument("--threads", type=int, help="torch threads in both workers (default: torch's own)")
    p.add_argument("--models", nargs="+", default=["vit_t"], choices=list(OFFICIAL_DEFAULTS))
    p.add_argument("--reference", default="/tmp/ref_sam2", help="folder holding the official sam2 install (hiera_t)")
    p.add_argument("--points-per-side", type=int, help="grid of both generators (default: theirs, 32)")
    p = sub.add_parser("quality")
    p.add_argument("--datasets", nargs="+", default=["dsb2018_dev", "magnetic_tile_dev"])
    p.add_argument("--images", type=int, help="only the first N images (sorted ids)")
    p = sub.add_parser("clicks")
    p.add_argument("--scratch-cache", type=Path, help="JSON file keeping the from-scratch clicks between runs")
    p.add_argument("--images", type=int, help="only the first N images (sorted ids)")
    p.add_argument("--json", type=Path, help="write the per-image accounts")
    p.add_argument("--mask-prompt", action="store_true",
                   help="corrections also get the automatic mask as their mask prompt (default: as previous only)")
    p.add_argument("--pick-up", action="store_true",
                   help="corrections as the widget's pick-up makes them: the mask's own answer shown, then clicks with "
                        "the mask as prompt and no previous answer at the first click")
    p = sub.add_parser("speed-worker")
    p.add_argument("impl")
    p.add_argument("weights", type=Path)
    p.add_argument("options")
    p.add_argument("out", type=Path)
    p.add_argument("threads", type=int, nargs="?", default=0)
    p.add_argument("--model", default="vit_t", choices=list(OFFICIAL_DEFAULTS))
    args = parser.parse_args(argv)
    if args.what == "speed-worker":
        print(json.dumps(speed_worker(args.impl, args.weights, json.loads(args.options), args.out, args.threads,
                                      args.model)))
    else:
        {"speed": run_speed, "quality": run_quality, "clicks": run_clicks}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
