"""SAM 2.1 tracking side by side with the official ``SAM2VideoPredictor`` (sam2 1.1.0): agreement, speed, FLOPs, memory.

Full-size random-weight models (weights built once by our builder, saved as
an official-layout checkpoint ``{"model": state dict}`` and loaded by both
implementations), a synthetic clip of ``--frames`` frames (480 x 640, two
drifting textured discs) saved as JPEG quality 95; both implementations read
the same decoded frames (the official one from the folder, ours from PIL's
decode of the same files).  The scenario: a positive click for object 1 and
a box for object 2 on frame 0, propagation forward, a negative correction
click for object 1 on frame 4, propagation forward again; both run with
``add_all_frames_to_correct_as_cond`` and no hole filling (the official
filling needs sam2's CUDA extension; it warns and skips it).  ``--scenario
masks`` starts object 2 from its disc's mask and corrects object 1 with a
mask (the official ``add_new_mask``, ours ``StackTracker.add_mask``).

Printed per model and implementation: seconds per frame per object of each
propagation pass (wall time of the pass / (frames x objects); the frame
encodes are inside) with the float32 matmul rate measured just before it (the
machine may be shared: seconds x rate compares passes run under different
loads), peak RSS, and for ours the sign agreement of the
logits with the official ones on every result frame.  Then the FLOPs of one
tracked frame of one object at full memory (frame 7: a conditioning frame +
6 recent frames + pointers), split into memory attention and the rest,
counted by ``torch.utils.flop_counter`` (attention products included), and
our time for it against the float32 matrix-multiply rate measured in the
same process (the "floor").  ``--rss-slices`` adds runs of ours on 512 x 512
stacks with 3 objects (one process per length) to show how peak RSS grows
with the number of slices.

Each run is its own process; the implementations alternate.  The official
code is installed apart and never imported by the package::

    SAM2_BUILD_CUDA=0 pip install --no-deps --target /tmp/ref_sam2 sam2==1.1.0 \\
        hydra-core omegaconf==2.3.0 iopath antlr4-python3-runtime==4.9.3

Usage::

    python benchmarks/bench_track.py [--models hiera_t hiera_b+] [--frames 8] [--rounds 1]
        [--scenario clicks|masks] [--threads N] [--reference /tmp/ref_sam2] [--rss-slices 4 8 16] [--json out.json]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import peak_rss_mb  # noqa: E402
from bench_sam2_engine import CONFIG, _official_importable, matmul_gflops  # noqa: E402

HERE = Path(__file__).resolve()
SHAPE = (480, 640)
#: Disc centres (row, col) on frame 0, their drift per frame and radius.
DISCS = (((170.0, 200.0), (4.0, 9.0), 70), ((300.0, 450.0), (-3.0, -6.0), 60))


def make_frames(count: int, shape=SHAPE, discs=DISCS, seed: int = 0) -> np.ndarray:
    """(count, H, W, 3) uint8: a smooth textured background and drifting textured discs."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rr, cc = np.mgrid[0:h, 0:w]
    base = 70 + 30 * np.sin(rr / 37.0)[..., None] * np.cos(cc / 53.0)[..., None] * np.ones(3)
    frames = []
    for t in range(count):
        img = base + rng.normal(0, 5, base.shape)
        for k, ((r0, c0), (dr, dc), rad) in enumerate(discs):
            r, c = r0 + dr * t, c0 + dc * t
            inside = (rr - r) ** 2 + (cc - c) ** 2 < rad**2
            colour = np.array([200, 120, 60]) if k % 2 == 0 else np.array([60, 170, 210])
            img[inside] = colour + 25 * np.sin((rr[inside] - r) / 7.0)[:, None]
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def disc_mask(t: int, k: int, scale: float = 1.0, shape=SHAPE, discs=DISCS) -> np.ndarray:
    """(H, W) bool: disc ``k`` of :func:`make_frames` on frame ``t`` (its radius times ``scale``)."""
    (r0, c0), (dr, dc), rad = discs[k]
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (rr - r0 - dr * t) ** 2 + (cc - c0 - dc * t) ** 2 < (rad * scale) ** 2


def scenario(frames: int, discs=DISCS, kind: str = "clicks"):
    """The prompts, in (row, col): (frame, obj, points, labels, box) steps, ("mask", frame, obj, mask) steps
    and 'propagate' markers.

    The correction is on the middle frame (frame 4 of 8).  ``kind`` "masks":
    object 2 starts from its disc's mask (``add_new_mask``) and the
    correction of object 1 is a mask too (its disc shrunk to 70 %).
    """
    middle = frames // 2
    (r1, c1), (dr1, dc1), rad1 = discs[0]
    (r2, c2), _, rad2 = discs[1]
    edge = (r1 + dr1 * middle, c1 + dc1 * middle + 0.8 * rad1)
    if kind == "masks":
        return [(0, 1, [(r1, c1)], [1], None), ("mask", 0, 2, disc_mask(0, 1)), "propagate",
                ("mask", middle, 1, disc_mask(middle, 0, 0.7)), "propagate"]
    return [
        (0, 1, [(r1, c1)], [1], None),
        (0, 2, None, None, (r2 - rad2 - 5, c2 - rad2 - 5, r2 + rad2 + 5, c2 + rad2 + 5)),
        "propagate",
        (middle, 1, [edge], [0], None),
        "propagate",
    ]


def _decoded(folder: Path) -> np.ndarray:
    from PIL import Image

    names = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in names])


def _signs(results: list[np.ndarray]) -> np.ndarray:
    return np.packbits(np.concatenate([r.ravel() > 0 for r in results]))


def _attention_flop_formula() -> None:
    """Count scaled_dot_product_attention on the CPU (torch's counter has no formula for it)."""
    import torch
    from torch.utils.flop_counter import register_flop_formula

    @register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
    def _sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        b, h, n, d = query_shape
        return 2 * b * h * n * key_shape[2] * (d + value_shape[3])


# --------------------------------------------------------------------- workers
def run_ours(weights: Path, arch: str, folder: Path, out: Path, kind: str = "clicks") -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from promptseg import StackTracker
    from promptseg.model.runtime import tune_allocator
    from promptseg.model.sam2.load import load_sam2

    tune_allocator()
    rate = matmul_gflops()
    model, loaded = load_sam2(weights)
    if loaded.architecture != arch:
        raise SystemExit(f"expected {arch}, the file holds {loaded.architecture}")
    frames = _decoded(folder)
    tracker = StackTracker(model, frames, fill_hole_area=0)
    results, passes, rates = [], [], []
    for step in scenario(len(frames), kind=kind):
        if step == "propagate":
            rates.append(matmul_gflops(1024, 3))
            t, count = time.perf_counter(), 0
            for _, answers in tracker.propagate():
                results.append(np.stack([p.logits for p in answers.values()]))
                count += 1
            passes.append((time.perf_counter() - t) / (count * len(tracker.object_ids)))
        elif step[0] == "mask":
            _, z, obj, mask = step
            answers = tracker.add_mask(z, obj, mask)
            results.append(np.stack([p.logits for p in answers.values()]))
        else:
            z, obj, points, labels, box = step
            answers = tracker.add_prompts(z, obj, points=points, labels=labels, box=box)
            results.append(np.stack([p.logits for p in answers.values()]))
    np.save(out, _signs(results))
    peak = peak_rss_mb()
    flops, step_s = _one_tracked_frame(tracker, frames.shape[0] - 1, FlopCounterMode)
    return {"passes": passes, "pass_matmul_gflops": rates, "peak_rss_mb": peak, "flops": flops, "step_s": step_s,
            "matmul_gflops": rate}


def _one_tracked_frame(tracker, frame: int, counter_mode) -> tuple[dict, float]:
    """FLOPs and time of tracking one object on ``frame`` (features cached; memory attention apart)."""
    import torch

    from promptseg.model.sam2.track_step import decode, encode_memory

    _attention_flop_formula()
    engine, model = tracker.engine, tracker.model
    track = engine.tracks[1]
    features = tracker.frames.features(frame)

    def step():
        image = engine._conditioned(track, frame, features, False)
        out = decode(model, image, features, None, None)
        encode_memory(model, features, out, 0)

    with torch.inference_mode():
        step()
        t = time.perf_counter()
        step()
        seconds = time.perf_counter() - t
        with counter_mode(display=False) as total:
            step()
        with counter_mode(display=False) as attention:
            engine._conditioned(track, frame, features, False)
    return {"total": int(total.get_total_flops()), "memory_attention": int(attention.get_total_flops())}, seconds


def run_official(weights: Path, arch: str, folder: Path, out: Path, kind: str = "clicks") -> dict:
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    rate = matmul_gflops()
    predictor = build_sam2_video_predictor(
        f"configs/sam2.1/{CONFIG[arch]}.yaml", str(weights), device="cpu",
        hydra_overrides_extra=["++model.add_all_frames_to_correct_as_cond=true"],
    )
    state = predictor.init_state(str(folder))
    results, passes, rates = [], [], []
    with torch.inference_mode():
        for step in scenario(state["num_frames"], kind=kind):
            if step == "propagate":
                rates.append(matmul_gflops(1024, 3))
                t, count = time.perf_counter(), 0
                for _, obj_ids, masks in predictor.propagate_in_video(state):
                    results.append(masks[:, 0].numpy())
                    count += 1
                passes.append((time.perf_counter() - t) / (count * len(obj_ids)))
            elif step[0] == "mask":
                _, z, obj, mask = step
                _, _, masks = predictor.add_new_mask(state, frame_idx=z, obj_id=obj, mask=mask)
                results.append(masks[:, 0].numpy())
            else:
                z, obj, points, labels, box = step
                xy = None if points is None else np.array(points, dtype=np.float32)[:, ::-1].copy()
                box_xy = None if box is None else np.array([box[1], box[0], box[3], box[2]], dtype=np.float32)
                _, _, masks = predictor.add_new_points_or_box(
                    state, frame_idx=z, obj_id=obj, points=xy, labels=labels, box=box_xy,
                    clear_old_points=box is not None,
                )
                results.append(masks[:, 0].numpy())
    np.save(out, _signs(results))
    return {"passes": passes, "pass_matmul_gflops": rates, "peak_rss_mb": peak_rss_mb(), "matmul_gflops": rate}


def run_rss(weights: Path, slices: int, every: int = 10) -> dict:
    """Ours on a (slices, 512, 512) stack with 3 objects clicked on slice 0, tracked to the end."""
    from promptseg import StackTracker
    from promptseg.model.runtime import tune_allocator
    from promptseg.model.sam2.load import load_sam2

    tune_allocator()
    discs = (((150.0, 150.0), (2.0, 3.0), 50), ((350.0, 330.0), (-2.0, -1.0), 45), ((120.0, 400.0), (3.0, -2.0), 40))
    stack = make_frames(slices, shape=(512, 512), discs=discs, seed=1)
    model, _ = load_sam2(weights)
    start_rss = peak_rss_mb()
    tracker = StackTracker(model, stack)
    for obj, ((r, c), _, _) in enumerate(discs, start=1):
        tracker.add_prompts(0, obj, points=[(r, c)], labels=[1])
    t = time.perf_counter()
    for done, _ in enumerate(tracker.propagate(), start=1):
        if done % every == 0 or done == slices:
            # progress on stderr (passed through by the driver): a run stopped early still says something
            print(f"rss progress: {done}/{slices} slices, RSS now {current_rss_mb():.0f} MB, peak {peak_rss_mb():.0f} MB, "
                  f"{(time.perf_counter() - t) / done:.2f} s per slice, {time.strftime('%H:%M:%S')}",
                  file=sys.stderr, flush=True)
    return {"slices": slices, "peak_rss_mb": peak_rss_mb(), "after_load_mb": start_rss,
            "s_per_slice": (time.perf_counter() - t) / slices}


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc; NaN elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------------- driver
def _worker(args_list: list[str], impl: str, reference: str | None, threads: int) -> dict | None:
    env = dict(os.environ)
    if impl == "official":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [reference, str(HERE.parent), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(HERE), "--threads", str(threads), "--worker", impl, *args_list]
    # the RSS runs are long: their progress lines (stderr) go straight through
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if impl == "rss" else subprocess.PIPE,
                         text=True, env=env)
    if out.returncode != 0:
        print(f"{impl} {args_list[:1]} failed" + (f":\n{out.stderr[-3000:]}" if out.stderr else " (its stderr is above)"))
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _agreement(ours: Path, official: Path, shapes: list[tuple[int, ...]]) -> list[float]:
    a, b = np.unpackbits(np.load(ours)), np.unpackbits(np.load(official))
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(float((a[start : start + size] == b[start : start + size]).mean()))
        start += size
    return out


def _result_shapes(frames: int) -> list[tuple[int, ...]]:
    """Shapes of the saved results in scenario order: answers and propagated frames."""
    shapes: list[tuple[int, ...]] = [(1, *SHAPE), (2, *SHAPE)]
    shapes += [(2, *SHAPE)] * frames + [(2, *SHAPE)] + [(2, *SHAPE)] * frames
    return shapes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["hiera_t", "hiera_b+"], choices=list(CONFIG),
                        help="models of the side-by-side runs (none: only the --rss-slices runs)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--scenario", choices=["clicks", "masks"], default="clicks",
                        help="masks: object 2 starts from a mask and the correction is a mask (add_new_mask)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating ours/official runs per model")
    parser.add_argument("--reference", default="/tmp/ref_sam2", help="folder holding the official sam2 install")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--rss-slices", type=int, nargs="*", default=[], help="stack lengths for the RSS runs (hiera_t)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in every worker (default: torch's)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        impl, *rest = args.worker
        if impl == "rss":
            print(json.dumps(run_rss(Path(rest[0]), int(rest[1]))))
        else:
            fn = run_ours if impl == "ours" else run_official
            print(json.dumps(fn(Path(rest[1]), rest[0], Path(rest[2]), Path(rest[3]), rest[4])))
        return 0

    import torch
    from PIL import Image

    from promptseg.model.sam2.build import build_sam2

    reference = None if args.no_reference else args.reference
    impls = ["ours"] + (["official"] if reference and _official_importable(reference) else [])
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}, float32 matmul {matmul_gflops():.0f} GFLOP/s")
    if len(impls) == 1:
        print("(official sam2 not importable: only ours is measured)")
    report: dict = {"track": [], "rss": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "frames"
        folder.mkdir()
        for t, frame in enumerate(make_frames(args.frames)):
            Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=95)
        for arch in args.models:
            torch.manual_seed(0)
            weights = Path(tmp) / f"{arch}.pt"
            torch.save({"model": build_sam2(arch).state_dict()}, weights)
            for r in range(args.rounds):
                for impl in impls if r % 2 == 0 else impls[::-1]:
                    signs = Path(tmp) / f"{arch}-{impl}-{r}.npy"
                    result = _worker([arch, str(weights), str(folder), str(signs), args.scenario], impl, reference,
                                     args.threads)
                    if result is not None:
                        report["track"].append({"model": arch, "impl": impl, "round": r, **result})
                ours, official = (Path(tmp) / f"{arch}-{i}-{r}.npy" for i in ("ours", "official"))
                row = next((x for x in report["track"] if (x["model"], x["impl"], x["round"]) == (arch, "ours", r)), None)
                if row is not None and official.exists():
                    row["agreement"] = _agreement(ours, official, _result_shapes(args.frames))
            _print_model(arch, [row for row in report["track"] if row["model"] == arch])
        if args.rss_slices:
            torch.manual_seed(0)
            weights = Path(tmp) / "rss_hiera_t.pt"
            torch.save({"model": build_sam2("hiera_t").state_dict()}, weights)
            for slices in args.rss_slices:
                result = _worker([str(weights), str(slices)], "rss", reference, args.threads)
                if result is not None:
                    report["rss"].append(result)
                    print(f"rss hiera_t {slices:4d} slices x 512^2, 3 objects: peak RSS {result['peak_rss_mb']:.0f} MB "
                          f"(after loading the model {result['after_load_mb']:.0f} MB), "
                          f"{result['s_per_slice']:.2f} s per slice")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def _print_model(arch: str, rows: list[dict]) -> None:
    for row in rows:
        passes = ", ".join(f"{p:.2f} s at {g:.0f} GFLOP/s" for p, g in zip(row["passes"], row["pass_matmul_gflops"]))
        print(f"{arch:9} {row['impl']:9} round {row['round']}: s/frame/object per pass [{passes}], "
              f"peak RSS {row['peak_rss_mb']:.0f} MB, matmul {row['matmul_gflops']:.0f} GFLOP/s")
        if "agreement" in row:
            agree = row["agreement"]
            print(f"    sign agreement with the official logits: min {100 * min(agree):.3f} % over "
                  f"{len(agree)} results (per result: {' '.join(f'{100 * a:.2f}' for a in agree)})")
        if "flops" in row:
            fl = row["flops"]
            floor = fl["total"] / (row["matmul_gflops"] * 1e9)
            print(f"    one tracked frame, one object: {fl['total'] / 1e9:.0f} GFLOP "
                  f"(memory attention {fl['memory_attention'] / 1e9:.0f}); ours {row['step_s']:.2f} s, "
                  f"matmul floor {floor:.2f} s, ratio {row['step_s'] / floor:.2f}")
    ours = [r for r in rows if r["impl"] == "ours"]
    official = [r for r in rows if r["impl"] == "official"]
    if ours and official:
        mean = lambda rs: float(np.median([np.mean(r["passes"]) for r in rs]))  # noqa: E731
        work = lambda rs: float(np.median([np.mean(np.multiply(r["passes"], r["pass_matmul_gflops"])) for r in rs]))  # noqa: E731
        print(f"{arch}: ours/official seconds per frame per object {mean(ours) / mean(official):.2f}x "
              f"({mean(ours):.2f} vs {mean(official):.2f} s, medians over rounds); seconds x the matmul rate "
              f"measured before each pass (load-normalised) {work(ours) / work(official):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
