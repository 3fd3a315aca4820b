"""SAM 2.1 engine side by side with the official ``sam2`` 1.1.0: agreement, speed, memory, FLOPs.

Full-size random-weight ``hiera_t`` and ``hiera_b+`` (weights built once by
our builder, saved as an official-layout checkpoint ``{"model": state dict}``
and loaded by both implementations), one 768x1024 RGB image, 20 clicks with
previous-mask feedback (three candidates at the first click, then single
masks, as the SAM 2 notebooks do).  Each (model, implementation, round) runs in
its own process, so peak RSS is its own; the implementations alternate for
``--rounds`` rounds and the table gives the median over rounds.

Printed per model: encode time (median of ``--repeats``), click p50 / p95
(prompt encoding, decoding, upsampling to the image and thresholding into a
numpy mask), peak RSS, sign agreement of the returned masks, click by click,
with the official ones (each implementation follows its own feedback chain),
and the FLOPs of the encoder and of one click's decoder counted by
``torch.utils.flop_counter`` (ours: reference and fast decoder), beside the
machine's measured float32 matrix-multiply rate.

The official code is installed apart and never imported by the package::

    SAM2_BUILD_CUDA=0 pip install --no-deps --target /tmp/ref_sam2 sam2==1.1.0 \\
        hydra-core omegaconf iopath antlr4-python3-runtime

Its only torchvision use on this path (``Resize``, ``Normalize``,
``ToTensor`` in ``sam2.utils.transforms``) is served by a shim computing what
torchvision computes (bilinear antialiased resize of the [0, 1] tensor).

Usage::

    python benchmarks/bench_sam2_engine.py [--models hiera_t hiera_b+] [--clicks 20] [--repeats 3]
        [--rounds 2] [--threads N] [--reference /tmp/ref_sam2] [--json out.json]
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
from bench_engine import make_clicks, make_image, peak_rss_mb  # noqa: E402

HERE = Path(__file__).resolve()
CONFIG = {"hiera_t": "sam2.1_hiera_t", "hiera_s": "sam2.1_hiera_s", "hiera_b+": "sam2.1_hiera_b+", "hiera_l": "sam2.1_hiera_l"}


def _flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _clicks_xy(clicks: int):
    pts, labels = make_clicks(n=clicks)
    return pts[:, ::-1].copy(), labels  # (row, col) -> official (x, y)


# --------------------------------------------------------------------- workers
def _measure(encode, click, clicks: int, repeats: int, masks_out: Path) -> tuple[dict, object]:
    """Time ``repeats`` encodes and ``clicks`` clicks with feedback; save the masks; return the figures and the last feedback.

    ``click(xy, labels, previous, multimask)`` returns the (H, W) bool mask and the next mask prompt.
    """
    enc = []
    for _ in range(repeats):
        t = time.perf_counter()
        encode()
        enc.append(time.perf_counter() - t)
    xy, labels = _clicks_xy(clicks)
    lat, prev, masks = [], None, []
    for k in range(1, clicks + 1):
        t = time.perf_counter()
        mask, prev = click(xy[:k], labels[:k], prev, k == 1)
        lat.append(time.perf_counter() - t)
        masks.append(mask)
    np.save(masks_out, np.packbits(np.stack(masks)))
    return {"encode": enc, "clicks": lat, "peak_rss_mb": peak_rss_mb()}, prev


def run_ours(weights: Path, arch: str, clicks: int, repeats: int, masks_out: Path) -> dict:
    import torch

    from promptseg.model.runtime import tune_allocator
    from promptseg.model.sam2.load import load_sam2
    from promptseg.model.sam2.predictor import Sam2Predictor

    tune_allocator()
    model, loaded = load_sam2(weights)
    if loaded.architecture != arch:
        raise SystemExit(f"expected {arch}, the file holds {loaded.architecture}")
    predictor, image, state = Sam2Predictor(model), make_image(), {}

    def encode():
        state["features"] = predictor.encode(image)

    def click(xy, labels, prev, multimask, fast=True):
        logits, _, low = predictor.predict(state["features"], point_coords=xy, point_labels=labels,
                                           mask_input=prev, multimask_output=multimask, fast=fast)
        return (logits[0] > 0).numpy(), low

    result, prev = _measure(encode, click, clicks, repeats, masks_out)
    xy, labels = _clicks_xy(3)
    x = torch.zeros(1, 3, 1024, 1024)
    with torch.inference_mode():
        result["flops"] = {
            "encoder": _flops(lambda: model.encode_image(x)),
            "click_reference": _flops(lambda: click(xy, labels, prev, False, fast=False)),
            "click_fast": _flops(lambda: click(xy, labels, prev, False)),
        }
    return result


def run_official(weights: Path, arch: str, clicks: int, repeats: int, masks_out: Path) -> dict:
    import torch

    from bench_sam2_shim import install

    install()
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = build_sam2(f"configs/sam2.1/{CONFIG[arch]}.yaml", str(weights), device="cpu", mode="eval")
    predictor, image = SAM2ImagePredictor(model), make_image()

    def click(xy, labels, prev, multimask):
        out, iou, low = predictor.predict(point_coords=xy, point_labels=labels, mask_input=prev,
                                          multimask_output=multimask)
        best = int(np.argmax(iou))
        return out[best].astype(bool), low[best][None]

    result, prev = _measure(lambda: predictor.set_image(image), click, clicks, repeats, masks_out)
    xy, labels = _clicks_xy(3)
    x = torch.zeros(1, 3, 1024, 1024)
    with torch.inference_mode():
        result["flops"] = {
            "encoder": _flops(lambda: model.forward_image(x)),
            "click_reference": _flops(lambda: click(xy, labels, prev, False)),
        }
    return result


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-multiply rate of this process (torch's default threads), GFLOP/s."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ---------------------------------------------------------------------- driver
def _worker(impl: str, arch: str, weights: Path, masks: Path, args, reference: str | None) -> dict | None:
    env = dict(os.environ)
    if impl == "official":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [reference, str(HERE.parent), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(HERE), "--clicks", str(args.clicks), "--repeats", str(args.repeats),
           "--threads", str(args.threads), "--worker", impl, arch, str(weights), str(masks)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"{arch}/{impl} failed:\n{out.stderr[-3000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _official_importable(reference: str | None) -> bool:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [reference, os.environ.get("PYTHONPATH")])))
    code = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('sam2') and u.find_spec('hydra') else 1)"
    return subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def _agreement(a: Path, b: Path, clicks: int) -> np.ndarray:
    shape = (clicks, *make_image().shape[:2])
    ma = np.unpackbits(np.load(a))[: np.prod(shape)].reshape(shape)
    mb = np.unpackbits(np.load(b))[: np.prod(shape)].reshape(shape)
    return (ma == mb).reshape(clicks, -1).mean(axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["hiera_t", "hiera_b+"], choices=list(CONFIG))
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating ours/official runs per model")
    parser.add_argument("--reference", default="/tmp/ref_sam2", help="folder holding the official sam2 install")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in every worker (default: torch's)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=4, metavar=("IMPL", "ARCH", "WEIGHTS", "MASKS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        impl, arch, weights, masks = args.worker
        fn = run_ours if impl == "ours" else run_official
        print(json.dumps(fn(Path(weights), arch, args.clicks, args.repeats, Path(masks))))
        return 0

    import torch

    from promptseg.model.sam2.build import build_sam2

    reference = None if args.no_reference else args.reference
    impls = ["ours"] + (["official"] if reference and _official_importable(reference) else [])
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}, float32 matmul {matmul_gflops():.0f} GFLOP/s")
    if len(impls) == 1:
        print("(official sam2 not importable: only ours is measured)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models:
            torch.manual_seed(0)
            weights = Path(tmp) / f"{arch}.pt"
            torch.save({"model": build_sam2(arch).state_dict()}, weights)
            runs: dict[str, list[dict]] = {impl: [] for impl in impls}
            for r in range(args.rounds):
                for impl in impls if r % 2 == 0 else impls[::-1]:
                    result = _worker(impl, arch, weights, Path(tmp) / f"{arch}-{impl}-{r}.npy", args, reference)
                    if result is not None:
                        runs[impl].append(result)
            agree = None
            if len(impls) == 2 and runs["ours"] and runs["official"]:
                agree = _agreement(Path(tmp) / f"{arch}-ours-0.npy", Path(tmp) / f"{arch}-official-0.npy", args.clicks)
            for impl, results in runs.items():
                if results:
                    rows.append(_summary(arch, impl, results, agree if impl == "ours" else None))
    _print(rows, args.models)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def _summary(arch: str, impl: str, results: list[dict], agree) -> dict:
    clicks = [np.array(r["clicks"]) * 1000 for r in results]
    row = {
        "model": arch, "impl": impl, "rounds": len(results),
        "encode_s": float(np.median([np.median(r["encode"]) for r in results])),
        "click_p50_ms": float(np.median([np.percentile(c, 50) for c in clicks])),
        "click_p95_ms": float(np.median([np.percentile(c, 95) for c in clicks])),
        "peak_rss_mb": float(np.median([r["peak_rss_mb"] for r in results])),
        "flops": results[0]["flops"],
        "encode_runs_s": [float(np.median(r["encode"])) for r in results],
        "click_p50_runs_ms": [float(np.percentile(c, 50)) for c in clicks],
    }
    if agree is not None:
        row["sign_agreement_min"] = float(agree.min())
        row["sign_agreement_mean"] = float(agree.mean())
    return row


def _print(rows: list[dict], models: list[str]) -> None:
    header = (f"{'model':9} {'impl':9} {'encode s':>9} {'click p50 ms':>13} {'click p95 ms':>13} {'peak RSS MB':>12} "
              f"{'enc GFLOP':>10} {'click GFLOP':>12}")
    print(header)
    print("-" * len(header))
    for r in rows:
        fl = r["flops"]
        click = f"{fl['click_reference'] / 1e9:.2f}" + (f" / {fl['click_fast'] / 1e9:.2f}" if "click_fast" in fl else "")
        print(f"{r['model']:9} {r['impl']:9} {r['encode_s']:9.2f} {r['click_p50_ms']:13.1f} {r['click_p95_ms']:13.1f} "
              f"{r['peak_rss_mb']:12.0f} {fl['encoder'] / 1e9:10.1f} {click:>12}")
    print("(click GFLOP: reference decoder / ours' fast decoder, one click of 3 points with a mask prompt)")
    for arch in models:
        ours = next((r for r in rows if r["model"] == arch and r["impl"] == "ours"), None)
        ref = next((r for r in rows if r["model"] == arch and r["impl"] == "official"), None)
        if ours and ref:
            print(f"{arch}: ours/official encode {ours['encode_s'] / ref['encode_s']:.2f}x, "
                  f"click p50 {ours['click_p50_ms'] / ref['click_p50_ms']:.2f}x; mask sign agreement per click "
                  f"min {100 * ours['sign_agreement_min']:.3f} %, mean {100 * ours['sign_agreement_mean']:.3f} %; "
                  f"rounds: encode {ours['encode_runs_s']} vs {ref['encode_runs_s']}, "
                  f"click p50 {[round(v, 1) for v in ours['click_p50_runs_ms']]} vs "
                  f"{[round(v, 1) for v in ref['click_p50_runs_ms']]}")


if __name__ == "__main__":
    sys.exit(main())
