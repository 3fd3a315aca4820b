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

    python benchmarks/bench_engine.py [--models vit_t vit_b] [--clicks 20] [--repeats 3] [--busy N]

``--busy N`` keeps N busy-loop processes running for the whole run (a
machine that is not idle); ``bench_click_load.py`` compares click thread
settings under such load.
"""

from __future__ import annotations

import argparse
import contextlib
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


@contextlib.contextmanager
def busy_processes(n: int):
    """Keep ``n`` processes spinning at 100 % of a core for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0.0)  # let them reach the CPUs
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


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


def _timm_shim() -> None:
    """The three timm helpers TinyViT's official code imports (benchmark only)."""
    import types

    import torch

    if "timm" in sys.modules:
        return
    timm = types.ModuleType("timm")
    models = types.ModuleType("timm.models")
    layers = types.ModuleType("timm.models.layers")
    registry = types.ModuleType("timm.models.registry")

    class DropPath(torch.nn.Module):
        def __init__(self, drop_prob=0.0):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            return x

    layers.DropPath = DropPath
    layers.to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    layers.trunc_normal_ = torch.nn.init.trunc_normal_
    registry.register_model = lambda fn: fn
    timm.models, models.layers, models.registry = models, layers, registry
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers,
                        "timm.models.registry": registry})


def _official_vit_t():
    """MobileSAM as its authors build it: the TinyViT reference code + SAM's prompt encoder and decoder.

    Uses ``mobile_sam`` when installed; otherwise the identical TinyViT file
    shipped in ``segment_anything_hq`` (light HQ-SAM) wired to
    ``segment_anything``'s official modules.
    """
    import importlib.util

    try:
        from mobile_sam import sam_model_registry

        return sam_model_registry["vit_t"](checkpoint=None)
    except ImportError:
        pass
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    _timm_shim()
    spec = importlib.util.find_spec("segment_anything_hq")
    path = Path(spec.submodule_search_locations[0]) / "modeling" / "tiny_vit_sam.py"
    loader = importlib.util.spec_from_file_location("_official_tiny_vit", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)

    class Encoder(module.TinyViT):  # the HQ copy also returns intermediate features
        def forward(self, x):
            return super().forward(x)[0]

    encoder = Encoder(img_size=1024, in_chans=3, num_classes=1000, embed_dims=[64, 128, 160, 320],
                      depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7], mlp_ratio=4.0,
                      drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False, mbconv_expand_ratio=4.0,
                      local_conv_size=3, layer_lr_decay=0.8)
    return Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                                     mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
                                 transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    )


def run_official(weights: Path, arch: str, clicks: int, repeats: int) -> dict:
    import torch

    _torchvision_shim()
    from segment_anything import SamPredictor, sam_model_registry

    model = _official_vit_t() if arch == "vit_t" else sam_model_registry[arch](checkpoint=None)
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
    """Whether the official code for ``arch`` can be imported (checked in a subprocess)."""
    if arch == "vit_t":
        test = "find('segment_anything') and (find('mobile_sam') or find('segment_anything_hq'))"
    else:
        test = "find('segment_anything')"
    code = f"import sys; from importlib.util import find_spec as find; sys.exit(0 if {test} else 1)"
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
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="N busy-loop processes during the run")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "ARCH", "WEIGHTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        impl, arch, weights = args.worker
        fn = run_ours if impl == "ours" else run_official
        print(json.dumps(fn(Path(weights), arch, args.clicks, args.repeats)))
        return 0

    import torch

    from promptseg.model.build import build_sam

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"busy-loop processes {args.busy}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, busy_processes(args.busy):
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
