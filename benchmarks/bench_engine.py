"""Engine speed: encode time, per-click latency and peak memory of the SAM backend.

Random-weight vit_t and vit_b (same weights for every implementation), one
768x1024 RGB image, 20 clicks with previous-mask feedback (three candidates at
the first click, as SAM advises).  Each (model, implementation) runs in its own
process so peak memory is its own.

If the official ``segment_anything`` package is importable (install it apart
from the project: ``pip install --no-deps --target DIR segment-anything``, then
``PYTHONPATH=DIR``), it is measured in the same run on the same weights, image
and prompts; its torchvision-based image resize is served by a PIL shim when
torchvision is absent (no CPU torchvision exists for this machine).  The
official MobileSAM (``mobile_sam``) is measured the same way when importable.

Usage::

    python benchmarks/bench_engine.py [--models vit_t vit_b] [--clicks 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def make_image(shape=(768, 1024), seed=0) -> np.ndarray:
    """A deterministic RGB test image: smooth background, a few bright discs."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rr, cc = np.mgrid[0:h, 0:w]
    img = 60 + 40 * np.sin(rr / 57.0)[..., None] * np.cos(cc / 91.0)[..., None] * np.ones(3)
    for _ in range(6):
        r, c, rad = rng.integers(80, h - 80), rng.integers(80, w - 80), rng.integers(30, 90)
        img[(rr - r) ** 2 + (cc - c) ** 2 < rad**2] = rng.integers(120, 250, size=3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_clicks(shape=(768, 1024), n=20, seed=1) -> tuple[np.ndarray, np.ndarray]:
    """n (row, col) clicks and labels: first positive, then alternating-ish."""
    rng = np.random.default_rng(seed)
    pts = np.column_stack([rng.uniform(0, shape[0] - 1, n), rng.uniform(0, shape[1] - 1, n)])
    labels = (rng.random(n) < 0.6).astype(int)
    labels[0] = 1
    return pts, labels


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------- workers
def run_ours(weights: Path, arch: str, clicks: int, repeats: int) -> dict:
    import torch

    from promptseg.backends.sam import SamBackend
    from promptseg.model.build import build_sam

    model = build_sam(arch)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    backend = SamBackend(model, name=f"random-{arch}")
    image = make_image()
    enc = []
    for _ in range(repeats):
        t = time.perf_counter()
        emb = backend.encode(image)
        enc.append(time.perf_counter() - t)
    pts, labels = make_clicks(n=clicks)
    lat, prev = [], None
    for k in range(1, clicks + 1):
        t = time.perf_counter()
        prev = backend.predict(emb, points=pts[:k], labels=labels[:k], previous=prev)
        lat.append(time.perf_counter() - t)
    return {"encode": enc, "clicks": lat, "peak_rss_mb": peak_rss_mb()}


def _torchvision_shim() -> None:
    """Serve segment_anything's two torchvision imports from PIL (benchmark only)."""
    import types

    from PIL import Image

    if "torchvision" in sys.modules:
        return
    try:
        import torchvision  # noqa: F401

        return
    except ImportError:
        pass
    tv = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")

    def resize(img, size, **kwargs):
        return img.resize((size[1], size[0]), Image.BILINEAR)

    def to_pil_image(arr, mode=None):
        return Image.fromarray(arr)

    def not_needed(*args, **kwargs):
        raise NotImplementedError("automatic mask generation is not benchmarked")

    functional.resize, functional.to_pil_image = resize, to_pil_image
    boxes.batched_nms = boxes.box_area = not_needed
    tv.transforms, transforms.functional, tv.ops, ops.boxes = transforms, functional, ops, boxes
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": boxes,
        }
    )


def run_official(weights: Path, arch: str, clicks: int, repeats: int) -> dict:
    import torch

    _torchvision_shim()
    if arch == "vit_t":
        from mobile_sam import SamPredictor, sam_model_registry
    else:
        from segment_anything import SamPredictor, sam_model_registry
    model = sam_model_registry[arch](checkpoint=None)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    predictor = SamPredictor(model)
    image = make_image()
    enc = []
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.set_image(image)
        enc.append(time.perf_counter() - t)
    pts, labels = make_clicks(n=clicks)
    xy = pts[:, ::-1].copy()
    lat, prev = [], None
    for k in range(1, clicks + 1):
        t = time.perf_counter()
        masks, iou, low = predictor.predict(
            point_coords=xy[:k], point_labels=labels[:k], mask_input=prev, multimask_output=k == 1
        )
        best = int(np.argmax(iou))
        prev = low[best][None]
        lat.append(time.perf_counter() - t)
    return {"encode": enc, "clicks": lat, "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------------- driver
def official_available(arch: str) -> bool:
    module = "mobile_sam" if arch == "vit_t" else "segment_anything"
    code = f"import importlib.util,sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def summarise(name: str, impl: str, r: dict) -> dict:
    clicks = np.array(r["clicks"]) * 1000
    return {
        "model": name,
        "impl": impl,
        "encode_s": float(np.median(r["encode"])),
        "click_p50_ms": float(np.percentile(clicks, 50)),
        "click_p95_ms": float(np.percentile(clicks, 95)),
        "first_click_ms": float(clicks[0]),
        "peak_rss_mb": r["peak_rss_mb"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vit_t", "vit_b"])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="measure only our implementation")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "ARCH", "WEIGHTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        impl, arch, weights = args.worker
        fn = run_ours if impl == "ours" else run_official
        print(json.dumps(fn(Path(weights), arch, args.clicks, args.repeats)))
        return 0

    import torch

    from promptseg.model.build import build_sam

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models:
            torch.manual_seed(0)
            weights = Path(tmp) / f"{arch}.pt"
            torch.save(build_sam(arch).state_dict(), weights)
            impls = ["ours"]
            if not args.no_reference and official_available(arch):
                impls.append("official")
            for impl in impls:
                cmd = [sys.executable, str(HERE), "--clicks", str(args.clicks), "--repeats", str(args.repeats),
                       "--worker", impl, arch, str(weights)]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"{arch}/{impl} failed:\n{out.stderr[-2000:]}")
                    continue
                rows.append(summarise(arch, impl, json.loads(out.stdout.strip().splitlines()[-1])))
                if impl == "ours" and len(impls) == 1:
                    print(f"({arch}: official implementation not importable, not measured)")
    header = f"{'model':6} {'impl':9} {'encode s':>9} {'click p50 ms':>13} {'click p95 ms':>13} {'1st click ms':>13} {'peak RSS MB':>12}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:6} {r['impl']:9} {r['encode_s']:9.2f} {r['click_p50_ms']:13.1f} {r['click_p95_ms']:13.1f} "
              f"{r['first_click_ms']:13.1f} {r['peak_rss_mb']:12.0f}")
    for arch in args.models:
        ours = next((r for r in rows if r["model"] == arch and r["impl"] == "ours"), None)
        ref = next((r for r in rows if r["model"] == arch and r["impl"] == "official"), None)
        if ours and ref:
            print(f"{arch}: ours/official  encode {ours['encode_s'] / ref['encode_s']:.2f}x   "
                  f"click p50 {ours['click_p50_ms'] / ref['click_p50_ms']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
