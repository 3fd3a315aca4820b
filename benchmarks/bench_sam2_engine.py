"""SAM 2.1 engine side by side with the official ``sam2`` 1.1.0: agreement, speed, memory, FLOPs.

Full-size random-weight ``hiera_t`` and ``hiera_b+`` (weights built once by
our builder, saved as an official-layout checkpoint ``{"model": state dict}``
and loaded by both implementations), one 768x1024 RGB image, 20 clicks with
previous-mask feedback (three candidates at the first click, then single
masks, as the SAM 2 notebooks do).

Each implementation runs in its own process (its own peak RSS); both stay
alive and the driver asks them in turn, one encode or one 20-click session
at a time, swapping the order every round, so that the two measurements of a
pair are seconds apart even when other work comes and goes on the machine.
Ratios are medians of the per-pair ratios.

Printed per model: encode time, click p50 / p95 (prompt encoding, decoding,
upsampling to the image and thresholding into a numpy mask), peak RSS, sign
agreement of the returned masks, click by click, with the official ones (each
implementation follows its own feedback chain), and the FLOPs of the encoder
and of one click's decoder counted by ``torch.utils.flop_counter`` (ours:
reference and fast decoder), beside the machine's float32 matrix-multiply rate.

The official code is installed apart and never imported by the package::

    SAM2_BUILD_CUDA=0 pip install --no-deps --target /tmp/ref_sam2 sam2==1.1.0 \\
        hydra-core omegaconf iopath antlr4-python3-runtime portalocker

Its only torchvision use on this path (``Resize``, ``Normalize``,
``ToTensor`` in ``sam2.utils.transforms``) is served by ``bench_sam2_shim.py``,
which computes what torchvision computes.

Usage::

    python benchmarks/bench_sam2_engine.py [--models hiera_t hiera_b+] [--clicks 20] [--rounds 5]
        [--threads N] [--reference /tmp/ref_sam2] [--json out.json]
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


def _numel(shape) -> int:
    return int(np.prod(shape))


def _flops(fn) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

    if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        try:  # oneDNN's fused linear (promptseg.model.fused_linear) is unknown to the counter: 2 * rows * in * out
            register_flop_formula(torch.ops.mkldnn._linear_pointwise)(
                lambda x_shape, w_shape, *args, **kwargs: 2 * _numel(x_shape) * w_shape[0]
            )
        except (RuntimeError, ValueError):  # registered already
            pass
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _clicks_xy(clicks: int):
    pts, labels = make_clicks(n=clicks)
    return pts[:, ::-1].copy(), labels  # (row, col) -> official (x, y)


# --------------------------------------------------------------------- workers
class OurSession:
    """Our loader, predictor and fast decoder."""

    def __init__(self, weights: Path, arch: str) -> None:
        from promptseg.model.runtime import tune_allocator
        from promptseg.model.sam2.load import load_sam2
        from promptseg.model.sam2.predictor import Sam2Predictor

        tune_allocator()
        self.model, loaded = load_sam2(weights)
        if loaded.architecture != arch:
            raise SystemExit(f"expected {arch}, the file holds {loaded.architecture}")
        self.predictor, self.image = Sam2Predictor(self.model), make_image()

    def encode(self) -> None:
        self.features = self.predictor.encode(self.image)

    def click(self, xy, labels, prev, multimask, fast=True):
        logits, _, low = self.predictor.predict(self.features, point_coords=xy, point_labels=labels,
                                                mask_input=prev, multimask_output=multimask, fast=fast)
        return (logits[0] > 0).numpy(), low

    def flops(self, prev) -> dict:
        import torch

        xy, labels = _clicks_xy(3)
        x = torch.zeros(1, 3, 1024, 1024)
        with torch.inference_mode():
            return {
                "encoder": _flops(lambda: self.model.encode_image(x)),
                "click_reference": _flops(lambda: self.click(xy, labels, prev, False, fast=False)),
                "click_fast": _flops(lambda: self.click(xy, labels, prev, False)),
            }


class OfficialSession:
    """The official build_sam2 + SAM2ImagePredictor."""

    def __init__(self, weights: Path, arch: str) -> None:
        from bench_sam2_shim import install

        install()
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.model = build_sam2(f"configs/sam2.1/{CONFIG[arch]}.yaml", str(weights), device="cpu", mode="eval")
        self.predictor, self.image = SAM2ImagePredictor(self.model), make_image()

    def encode(self) -> None:
        self.predictor.set_image(self.image)

    def click(self, xy, labels, prev, multimask):
        out, iou, low = self.predictor.predict(point_coords=xy, point_labels=labels, mask_input=prev,
                                               multimask_output=multimask)
        best = int(np.argmax(iou))
        return out[best].astype(bool), low[best][None]

    def flops(self, prev) -> dict:
        import torch

        xy, labels = _clicks_xy(3)
        x = torch.zeros(1, 3, 1024, 1024)
        with torch.inference_mode():
            return {
                "encoder": _flops(lambda: self.model.forward_image(x)),
                "click_reference": _flops(lambda: self.click(xy, labels, prev, False)),
            }


def serve(impl: str, arch: str, weights: Path, clicks: int) -> None:
    """Answer the driver's requests, one JSON line each: encode, clicks (saving the masks), flops, rss."""
    session = (OurSession if impl == "ours" else OfficialSession)(weights, arch)
    xy, labels = _clicks_xy(clicks)
    prev = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "encode":
            t = time.perf_counter()
            session.encode()
            reply = {"s": time.perf_counter() - t}
        elif request["op"] == "clicks":
            lat, prev, masks = [], None, []
            for k in range(1, clicks + 1):
                t = time.perf_counter()
                mask, prev = session.click(xy[:k], labels[:k], prev, k == 1)
                lat.append(time.perf_counter() - t)
                masks.append(mask)
            np.save(request["masks"], np.packbits(np.stack(masks)))
            reply = {"clicks": lat}
        elif request["op"] == "flops":
            reply = session.flops(prev)
        else:
            reply = {"peak_rss_mb": peak_rss_mb()}
        print(json.dumps(reply), flush=True)


# ---------------------------------------------------------------------- driver
class Worker:
    """One implementation's server process."""

    def __init__(self, impl: str, arch: str, weights: Path, args, reference: str | None) -> None:
        env = dict(os.environ)
        if impl == "official":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [reference, str(HERE.parent), env.get("PYTHONPATH")]))
        cmd = [sys.executable, str(HERE), "--clicks", str(args.clicks), "--threads", str(args.threads),
               "--serve", impl, arch, str(weights)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, op: str, **fields) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with status {self.proc.wait()} (its error is above)")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def _official_importable(reference: str | None) -> bool:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [reference, os.environ.get("PYTHONPATH")])))
    code = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('sam2') and u.find_spec('hydra') else 1)"
    return subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def _agreement(a: Path, b: Path, clicks: int) -> np.ndarray:
    shape = (clicks, *make_image().shape[:2])
    ma = np.unpackbits(np.load(a))[: np.prod(shape)].reshape(shape)
    mb = np.unpackbits(np.load(b))[: np.prod(shape)].reshape(shape)
    return (ma == mb).reshape(clicks, -1).mean(axis=1)


def measure(arch: str, weights: Path, impls: list[str], args, reference, tmp: Path) -> list[dict]:
    """Alternate the implementations' encodes and click sessions; one row per implementation."""
    workers = {impl: Worker(impl, arch, weights, args, reference) for impl in impls}
    try:
        for worker in workers.values():
            worker.ask("encode")  # warm-up, not counted
        enc = {impl: [] for impl in impls}
        clk = {impl: [] for impl in impls}
        for r in range(args.rounds):
            for impl in impls if r % 2 == 0 else impls[::-1]:
                enc[impl].append(workers[impl].ask("encode")["s"])
                clk[impl].append(np.array(workers[impl].ask("clicks", masks=str(tmp / f"{impl}.npy"))["clicks"]) * 1e3)
        rss = {impl: workers[impl].ask("rss")["peak_rss_mb"] for impl in impls}  # before counting FLOPs
        flops = {impl: workers[impl].ask("flops") for impl in impls}
    finally:
        for worker in workers.values():
            worker.close()
    rows = []
    for impl in impls:
        rows.append({
            "model": arch, "impl": impl, "rounds": args.rounds,
            "encode_s": float(np.median(enc[impl])), "encode_runs_s": [round(v, 3) for v in enc[impl]],
            "click_p50_ms": float(np.median(np.concatenate(clk[impl]))),
            "click_p95_ms": float(np.percentile(np.concatenate(clk[impl]), 95)),
            "click_p50_runs_ms": [round(float(np.median(c)), 1) for c in clk[impl]],
            "peak_rss_mb": rss[impl], "flops": flops[impl],
        })
    if len(impls) == 2:
        agree = _agreement(tmp / "ours.npy", tmp / "official.npy", args.clicks)
        rows[0].update(
            sign_agreement_min=float(agree.min()), sign_agreement_mean=float(agree.mean()),
            encode_ratio=float(np.median(np.array(enc["ours"]) / np.array(enc["official"]))),
            click_p50_ratio=float(np.median([np.median(a) / np.median(b) for a, b in zip(clk["ours"], clk["official"])])),
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["hiera_t", "hiera_b+"], choices=list(CONFIG))
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="encodes and click sessions per implementation")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in every worker (default: torch's)")
    parser.add_argument("--reference", default="/tmp/ref_sam2", help="folder holding the official sam2 install")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve", nargs=3, metavar=("IMPL", "ARCH", "WEIGHTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.serve:
        impl, arch, weights = args.serve
        serve(impl, arch, Path(weights), args.clicks)
        return 0

    from promptseg.model.sam2.build import build_sam2

    reference = None if args.no_reference else args.reference
    impls = ["ours"] + (["official"] if reference and _official_importable(reference) else [])
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
            rows += measure(arch, weights, impls, args, reference, Path(tmp))
    _print(rows)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-multiply rate of this process (torch's threads), GFLOP/s."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _print(rows: list[dict]) -> None:
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
    for r in rows:
        if "encode_ratio" in r:
            ref = next(o for o in rows if o["model"] == r["model"] and o["impl"] == "official")
            print(f"{r['model']}: ours/official (median of paired rounds) encode {r['encode_ratio']:.2f}x, "
                  f"click p50 {r['click_p50_ratio']:.2f}x; mask sign agreement per click min "
                  f"{100 * r['sign_agreement_min']:.3f} %, mean {100 * r['sign_agreement_mean']:.3f} %\n"
                  f"  encode s per round: ours {r['encode_runs_s']} official {ref['encode_runs_s']}\n"
                  f"  click p50 ms per round: ours {r['click_p50_runs_ms']} official {ref['click_p50_runs_ms']}")


if __name__ == "__main__":
    sys.exit(main())
