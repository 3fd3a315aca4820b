"""Annotating an image larger than memory: peak RSS, time to the first mask in a new region, click latency.

Writes (once, then reuses) a generated 40,000 x 40,000 uint16 OME-Zarr with
5 levels (zarr v3, OME 0.5 metadata, 1024 x 1024 chunks, zstd) under /tmp:
a smooth background and clusters of bright discs in 20 regions spread over
the slide.  Then, for each backend in its own process, it opens the image
lazily, clicks one object in each of the 20 regions through
:class:`promptseg.session.large.LargeImageSession` (the annotator's code path:
an AnnotationSession on the window of tiles around the click, tiles encoded on
demand, objects written into sparse full-resolution zarr labels), adds
``--extra-clicks`` clicks to each object (answered on the encoded tiles) and
commits it.  Printed per backend:

* ``open``: opening the image and computing contrast limits from a coarse level;
* ``first mask in a new region``: the first click of each object (median, max):
  tile encoding (one tile, more when the mask reaches neighbours) plus the answer;
* ``click-to-preview``: later clicks on the same object (median, p90);
* ``commit``: writing the object into the sparse labels;
* tiles encoded, label chunks stored (of the total), peak RSS (``ru_maxrss``).

Run::

    nice -n 10 python benchmarks/bench_large.py                      # classic and random-weight vit_t
    python benchmarks/bench_large.py --size 8192 --backends classic   # a quick small run
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_REGIONS = 20
CHUNK = 1024


def regions(size: int) -> list[tuple[float, float]]:
    """Centres of the 20 regions (a jittered 5 x 4 grid over the slide)."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(5):
        for j in range(4):
            r = (i + 0.5) / 5 * size + rng.uniform(-0.05, 0.05) * size
            c = (j + 0.5) / 4 * size + rng.uniform(-0.05, 0.05) * size
            out.append((float(r), float(c)))
    return out


def discs(size: int) -> np.ndarray:
    """(N, 3) full-resolution (row, col, radius): a cluster of 6 discs around each region centre; the first is clicked."""
    rng = np.random.default_rng(2)
    out = []
    for r, c in regions(size):
        out.append((r, c, 45.0))
        for _ in range(5):
            out.append((r + rng.uniform(-600, 600), c + rng.uniform(-600, 600), rng.uniform(25, 80)))
    return np.array(out)


def render(rows: np.ndarray, cols: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """uint16 pixels at full-resolution (row, col) centres ``rows`` x ``cols``: background plus discs."""
    img = 400.0 + 60.0 * np.sin(rows[:, None] / 2100.0) * np.cos(cols[None, :] / 1700.0)
    near = objects[(objects[:, 0] + objects[:, 2] >= rows[0]) & (objects[:, 0] - objects[:, 2] <= rows[-1])
                   & (objects[:, 1] + objects[:, 2] >= cols[0]) & (objects[:, 1] - objects[:, 2] <= cols[-1])]
    for r, c, rad in near:
        d2 = (rows[:, None] - r) ** 2 + (cols[None, :] - c) ** 2
        img = np.where(d2 < rad * rad, 2400.0 - 0.2 * np.sqrt(d2), img)
    return img.astype(np.uint16)


def write_pyramid(path: Path, size: int, n_levels: int = 5) -> None:
    """Write the generated OME-Zarr level by level, chunk by chunk (never a whole level in memory)."""
    import zarr

    objects = discs(size)
    group = zarr.open_group(str(path), mode="w")
    datasets = []
    for level in range(n_levels):
        f = 2 ** level
        n = -(-size // f)
        arr = group.create_array(str(level), shape=(n, n), chunks=(CHUNK, CHUNK), dtype="uint16", fill_value=0)
        for r0 in range(0, n, CHUNK):
            for c0 in range(0, n, CHUNK):
                rows = (np.arange(r0, min(r0 + CHUNK, n)) + 0.5) * f - 0.5
                cols = (np.arange(c0, min(c0 + CHUNK, n)) + 0.5) * f - 0.5
                arr[r0:r0 + rows.size, c0:c0 + cols.size] = render(rows, cols, objects)
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [f, f]}]})
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": datasets}]}
    group.attrs["bench_large"] = {"size": size, "levels": n_levels}


def make_backend(name: str):
    if name == "classic":
        from promptseg.backends import load_backend

        return load_backend("classic")
    import torch

    from promptseg.backends.sam import SamBackend
    from promptseg.model.build import build_sam

    torch.manual_seed(0)
    return SamBackend(build_sam(name), name=f"random-{name}")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_now_mb() -> float:
    """Resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        line = next(t for t in Path("/proc/self/status").read_text().splitlines() if t.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0.0
    return int(line.split()[1]) / 1024.0


def run_worker(path: Path, size: int, backend_name: str, extra_clicks: int, level: int,
               trace: bool = False) -> dict:
    from promptseg.session.large import LargeImageSession
    from promptseg.store.multiscale import open_multiscale

    backend = make_backend(backend_name)
    rss_start = peak_rss_mb()
    t = time.perf_counter()
    image = open_multiscale(path)
    session = LargeImageSession(image, backend, level=level)
    open_s = time.perf_counter() - t
    first, later, commits, areas = [], [], [], []
    rng = np.random.default_rng(3)
    for r, c in regions(size):
        t = time.perf_counter()
        session.click((r, c))
        first.append(time.perf_counter() - t)
        for k in range(extra_clicks):  # near the rim inside (positive) or just outside (negative)
            angle = rng.uniform(0, 2 * np.pi)
            inside = k % 2 == 0
            rad = 30.0 if inside else 70.0
            t = time.perf_counter()
            session.click((r + rad * np.sin(angle), c + rad * np.cos(angle)), 1 if inside else 0)
            later.append(time.perf_counter() - t)
        t = time.perf_counter()
        obj = session.commit(overwrite=False)
        commits.append(time.perf_counter() - t)
        areas.append(obj.area)
        if trace:
            print(f"region {len(first)}: first {first[-1]:.2f} s, tiles encoded {len(session.tiles.encoded)}, "
                  f"RSS now {rss_now_mb():.0f} MB, peak {peak_rss_mb():.0f} MB", file=sys.stderr, flush=True)
    labels = session.labels
    n_chunks = int(np.prod([-(-s // c) for s, c in zip(labels.shape, labels.chunks)]))
    return {
        "backend": backend_name, "level": level, "open_s": open_s, "first_s": first, "later_s": later,
        "commit_s": commits, "areas": areas, "tiles_encoded": len(session.tiles.encoded),
        "tiles_total": session.tiles.tiling.n_tiles, "encode_s": session.tiles.encode_seconds,
        "chunks_stored": labels.stored_chunks(), "chunks_total": n_chunks, "rss_after_import_mb": rss_start,
        "peak_rss_mb": peak_rss_mb(),
    }


def report(r: dict) -> None:
    ms = lambda v: 1000 * float(v)  # noqa: E731
    first, later = np.array(r["first_s"]), np.array(r["later_s"])
    print(f"\n{r['backend']} (level {r['level']}): open {ms(r['open_s']):.0f} ms")
    print(f"  first mask in a new region: median {np.median(first):.2f} s, max {first.max():.2f} s "
          f"({r['tiles_encoded']} of {r['tiles_total']} tiles encoded in {r['encode_s']:.1f} s over "
          f"{len(first)} regions)")
    if later.size:
        print(f"  click-to-preview on encoded tiles: median {ms(np.median(later)):.0f} ms, "
              f"p90 {ms(np.percentile(later, 90)):.0f} ms ({later.size} clicks)")
    print(f"  commit: median {ms(np.median(r['commit_s'])):.0f} ms; objects of {min(r['areas'])} to "
          f"{max(r['areas'])} px; label chunks stored {r['chunks_stored']} of {r['chunks_total']}")
    print(f"  peak RSS {r['peak_rss_mb']:.0f} MB (after imports and model: {r['rss_after_import_mb']:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--backends", default="classic,vit_t")
    parser.add_argument("--extra-clicks", type=int, default=3)
    parser.add_argument("--level", type=int, default=0)
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help="print RSS after each region (to stderr)")
    args = parser.parse_args()
    path = args.path or Path(f"/tmp/promptseg_bench_large_{args.size}.ome.zarr")
    if args.worker:
        print(json.dumps(run_worker(path, args.size, args.worker, args.extra_clicks, args.level, args.trace)))
        return
    if not (path / "zarr.json").exists() or "bench_large" not in json.loads((path / "zarr.json").read_text()).get(
            "attributes", {}):
        t = time.perf_counter()
        write_pyramid(path, args.size)
        print(f"wrote {path} ({args.size} x {args.size} uint16, 5 levels) in {time.perf_counter() - t:.0f} s")
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"image: {path}, {args.size} x {args.size} uint16 ({2 * args.size ** 2 / 2 ** 30:.1f} GiB raw, "
          f"{disk / 2 ** 20:.0f} MiB on disk), 5 levels; {N_REGIONS} regions, 1 + {args.extra_clicks} clicks each")
    for name in args.backends.split(","):
        cmd = [sys.executable, __file__, "--size", str(args.size), "--path", str(path), "--worker", name,
               "--extra-clicks", str(args.extra_clicks), "--level", str(args.level)] + ["--trace"] * args.trace
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if args.trace else subprocess.PIPE, text=True)
        if out.returncode:
            print(f"\n{name}: worker failed:\n{(out.stderr or '')[-3000:]}")
            continue
        report(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
