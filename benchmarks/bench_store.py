"""Embedding-store benchmarks: batch encoding speed, and annotating a long stack from a store.

``embed``: a synthetic (Z, 1024, 1024) uint16 TIFF stack is embedded with a
random-weight vit_t (``build_sam("vit_t")``, seed 0; ``--backend vit_t``) or
the classic backend (``--backend classic``) in three ways: in this
process (1 worker), on a local Dask cluster of 2 worker processes
(``--workers 2``), and through the scheduler address of a separately started
``LocalCluster``.  Prints slices/s (encoding only, after the image is
hashed), the total wall time and the store's size.

``read``: a (Z, 1024, 1024) uint16 stack as a zarr array on disk and a
store of Z slices (vit_t: float16 random values in SAM's layout; encoding
500 slices with vit_t would take ~10 minutes and does not change reading;
classic: the real embeddings of the 16 distinct planes the stack repeats,
each written for every slice that repeats it), then an
:class:`AnnotationSession` on the lazy stack with a :class:`StoredBackend`
switches between random slices (cold: nothing preloaded): "ready" is the slice's embedding loaded from
the store and prepared for the decoder (what the session does when a slice is
shown), "first mask" adds one click's prediction; then it steps to the next
slices with the neighbours preloaded in between (what the annotator's
background encoding does).  Prints latencies and the process's peak RSS.

    nice -n 19 python benchmarks/bench_store.py embed --slices 200 [--backend classic]
    nice -n 19 python benchmarks/bench_store.py read --slices 500 [--backend classic]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_random_vit_t():
    import torch

    from promptseg.backends.sam import SamBackend
    from promptseg.model.build import build_sam

    torch.manual_seed(0)
    return SamBackend(build_sam("vit_t"), name="random-vit_t", device="cpu")


def make_classic():
    from promptseg.backends.classic import ClassicBackend

    return ClassicBackend()


BACKENDS = {"vit_t": make_random_vit_t, "classic": make_classic}


def _size_gib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def synthetic_stack(n: int, size: int) -> np.ndarray:
    """(n, size, size) uint16: a 16-plane synthetic nuclei stack repeated with a per-slice offset (all slices differ)."""
    from promptseg.data import synthetic_nuclei_3d

    base = synthetic_nuclei_3d((16, size, size), n_nuclei=int(60 * (size / 512) ** 2), radius_range=(10, 20), seed=0).image
    out = np.empty((n, size, size), np.uint16)
    for z in range(n):
        out[z] = base[z % 16] + np.uint16(z // 16)
    return out


def _run(job) -> tuple[float, float, int]:
    start = time.perf_counter()
    last = None
    for last in job:
        pass
    return (last.slices_per_second if last else float("nan")), time.perf_counter() - start, (last.done if last else 0)


def bench_embed(args: argparse.Namespace) -> None:
    import tifffile
    from distributed import LocalCluster

    from promptseg.store import BackendSpec, TiffSource, embed_stack

    work = Path(tempfile.mkdtemp(prefix="bench_store_", dir=args.tmp))
    try:
        tif = work / "stack.tif"
        tifffile.imwrite(tif, synthetic_stack(args.slices, args.size), photometric="minisblack")
        source = TiffSource(tif)
        spec = BackendSpec(args.backend, BACKENDS[args.backend])
        what = "random-weight vit_t (CPU)" if args.backend == "vit_t" else "classic"
        print(f"stack {args.slices} x {args.size} x {args.size} uint16, backend {what}")
        if "1" in args.runs:
            rate, wall, n = _run(_limited(embed_stack(source, spec, work / "w1.zarr", workers=1), args.limit))
            print(f"  1 worker (in process):        {n} slices, {rate:.3f} slices/s (wall {wall:.1f} s incl. hashing); "
                  f"store {_size_gib(work / 'w1.zarr') / max(n, 1) * 1024:.1f} MiB per slice")
        if "2" in args.runs:
            rate, wall, n = _run(_limited(embed_stack(source, spec, work / "w2.zarr", workers=2), args.limit))
            print(f"  2 local workers (processes):  {n} slices, {rate:.3f} slices/s (wall {wall:.1f} s incl. start-up)")
        if "scheduler" not in args.runs:
            return
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster:
            job = embed_stack(source, spec, work / "sched.zarr", scheduler=cluster.scheduler_address)
            rate, wall, n = _run(_limited(job, args.limit))
            print(f"  LocalCluster at {cluster.scheduler_address} (2 workers): {n} slices, {rate:.3f} slices/s "
                  f"(wall {wall:.1f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _limited(job, limit):
    for i, step in enumerate(job, start=1):
        yield step
        if limit is not None and i >= limit:
            job.close()
            return


def bench_read(args: argparse.Namespace) -> None:
    import zarr

    from promptseg.store import EmbeddingStore, ZarrSource, describe_image, expected_metadata
    from promptseg.store.tiling import plan_tiling

    work = Path(tempfile.mkdtemp(prefix="bench_read_", dir=args.tmp))
    try:
        n, size = args.slices, args.size
        image = zarr.create_array(str(work / "stack.zarr"), shape=(n, size, size), chunks=(1, size, size),
                                  dtype="uint16")
        rng = np.random.default_rng(0)
        base = synthetic_stack(16, size)
        for z in range(n):
            image[z] = base[z % 16] + np.uint16(z // 16)
        source = ZarrSource(work / "stack.zarr")
        backend = BACKENDS[args.backend]()
        t0 = time.perf_counter()
        info = describe_image(source)
        hash_s = time.perf_counter() - t0
        meta = expected_metadata(backend, info, plan_tiling((size, size)))
        store = EmbeddingStore.create(work / "stack.embeddings.zarr", meta, backend=backend)
        if args.backend == "classic":
            from promptseg.store import check_storable

            codec = check_storable(backend)
            t0 = time.perf_counter()
            distinct = [codec.embedding_to_arrays(backend.encode(image[z])) for z in range(min(16, n))]
            encode_s = (time.perf_counter() - t0) / len(distinct)
            for z in range(n):
                store.write_arrays(z, [distinct[z % 16]])
            print(f"classic encoding {encode_s:.2f} s per {size} x {size} slice (for comparison with reading)")
        else:
            for z in range(n):
                store.write_arrays(z, [{"embedding": rng.standard_normal((256, 64, 64), np.float32) * 0.3}])
        print(f"stack {n} x {size} x {size} uint16 (zarr on disk), {args.backend} store of {n} slices "
              f"({_size_gib(store.path):.2f} GiB); hashing the whole stack took {hash_s:.1f} s")
        del image, base, store
        # annotate in a fresh process, so its peak RSS is the annotator's alone
        subprocess.run([sys.executable, __file__, "_annotate", str(work), str(n), str(size), str(args.switches),
                        args.backend], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def annotate(work: Path, n: int, size: int, switches: int, backend_name: str) -> None:
    import zarr

    from promptseg.prompts import Prompts
    from promptseg.session import AnnotationSession, ImageStack
    from promptseg.store import StoredBackend

    backend = BACKENDS[backend_name]()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    stored = StoredBackend.open(work / "stack.embeddings.zarr", backend)
    session = AnnotationSession(ImageStack(zarr.open(str(work / "stack.zarr"), mode="r")), stored)
    open_s = time.perf_counter() - t0
    order = np.random.default_rng(1).permutation(n)[:switches]
    ready, first, ready_cpu = [], [], []
    for z in order:
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in session.encode_iter([(int(z),)]):
            pass
        t1 = time.perf_counter()
        ready_cpu.append(time.process_time() - c0)
        session.set_prompts((int(z),), Prompts(points=[(size / 2, size / 2)], labels=[1]), record=False)
        t2 = time.perf_counter()
        ready.append(t1 - t0)
        first.append(t2 - t0)
    # stepping through the stack with the neighbours preloaded between steps (as the annotator's
    # background worker does while the user clicks): the switch itself is a cache hit
    stepped = []
    start = int(order[-1])
    for _ in session.encode_iter(session.image.neighbours((start,), 2)):
        pass
    for z in range(start + 1, min(start + 1 + switches // 2, n)):
        t0 = time.perf_counter()
        for _ in session.encode_iter([(z,)]):
            pass
        stepped.append(time.perf_counter() - t0)
        for _ in session.encode_iter(session.image.neighbours((z,), 2)):
            pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    ms = lambda v, q: 1000 * float(np.percentile(v, q))  # noqa: E731
    print(f"  open store + session: {1000 * open_s:.0f} ms; {len(order)} slice switches "
          f"(store hits {stored.hits}, encodes {stored.misses})")
    print(f"  slice switch -> ready to click: median {ms(ready, 50):.1f} ms, p95 {ms(ready, 95):.1f} ms, "
          f"max {1000 * max(ready):.1f} ms (CPU time of this process: median {ms(ready_cpu, 50):.1f} ms; "
          f"wall time grows with the machine's load)")
    print(f"  slice switch -> first mask shown: median {ms(first, 50):.1f} ms, p95 {ms(first, 95):.1f} ms")
    if stepped:
        print(f"  next slice with neighbours (z +/- 2) preloaded: median {ms(stepped, 50):.2f} ms, "
              f"max {1000 * max(stepped):.2f} ms over {len(stepped)} steps; cache {session.cache.total_bytes / 2**20:.0f} MiB")
    print(f"  annotating process: peak RSS {rss:.2f} GiB ({rss_before:.2f} GiB after loading the backend)")


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "_annotate":
        annotate(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    e = sub.add_parser("embed")
    e.add_argument("--slices", type=int, default=200)
    e.add_argument("--limit", type=int, default=None,
                   help="stop each run after this many slices (default: all); slices/s is over those")
    e.add_argument("--size", type=int, default=1024)
    e.add_argument("--runs", type=lambda t: t.split(","), default=["1", "2", "scheduler"],
                   help="comma-separated subset of 1,2,scheduler (default: all three)")
    e.add_argument("--tmp", default=None)
    e.add_argument("--backend", choices=sorted(BACKENDS), default="vit_t")
    e.set_defaults(func=bench_embed)
    r = sub.add_parser("read")
    r.add_argument("--slices", type=int, default=500)
    r.add_argument("--size", type=int, default=1024)
    r.add_argument("--switches", type=int, default=100)
    r.add_argument("--tmp", default=None)
    r.add_argument("--backend", choices=sorted(BACKENDS), default="vit_t")
    r.set_defaults(func=bench_read)
    args = parser.parse_args()
    print(f"{time.strftime('%H:%M:%S')} load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    args.func(args)
    print(f"{time.strftime('%H:%M:%S')} load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
