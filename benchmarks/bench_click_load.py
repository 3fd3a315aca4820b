"""Click latency when the CPUs are not idle: the click thread policy against fixed thread counts.

For random-weight vit_t and the classic backend, one 768x1024 RGB image is
encoded and 20 clicks with previous-mask feedback are answered, under four
conditions, one after the other in one process:

* ``quiet``: nothing added (other programs on the machine still run: the
  ``others`` column says how many cores they used meanwhile);
* ``busy N``: N busy-loop processes (``--busy``, default 1);
* ``encode-ahead``: another image encoded over and over in a second thread
  at background priority, as the annotator's encode-ahead worker runs it;
* ``encode-ahead, normal priority``: the same at normal priority (as it ran
  before the worker was given background priority).

Within a condition the click settings are interleaved click by click
(``auto``: :func:`promptseg.model.threads.click_threads` picks; ``N thr``
with torch's own count N, as every click ran before, and ``1 thr``), each setting with its own chain of 20 clicks, over
``--rounds`` rounds with the order rotated, so all columns of a row see the
same machine.  The classic backend's click is single-threaded numpy: its
columns run the same code and differ only by noise.

Usage::

    python benchmarks/bench_click_load.py [--busy 1] [--rounds 3] [--clicks 20] [--backends vit_t classic]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import busy_processes, make_clicks, make_image  # noqa: E402

#: Click settings compared: the policy, torch's own count (filled in by main) and one thread.
SETTINGS = {"auto": None, "1 thr": 1}


def make_backend(name: str):
    if name == "classic":
        from promptseg.backends.classic import ClassicBackend

        return ClassicBackend()
    import torch

    from promptseg.backends.sam import SamBackend
    from promptseg.model.build import build_sam

    torch.manual_seed(0)
    return SamBackend(build_sam(name), name=f"{name}-random", checkpoint_hash="random")


class EncodeAhead:
    """Encode ``image`` over and over in a thread (at background priority, as the annotator's worker)."""

    def __init__(self, backend, image: np.ndarray, *, background: bool) -> None:
        self.backend, self.image, self.background = backend, image, background
        self.stop = threading.Event()
        self.encodes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from promptseg.model.threads import background_priority

        if self.background:
            background_priority()
        while not self.stop.is_set():
            self.backend.encode(self.image)
            self.encodes += 1

    def __enter__(self):
        self.thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def measure(backend, emb, pts, labels, rounds: int) -> tuple[dict, collections.Counter, float]:
    """Latencies (s) per setting, interleaved click by click; auto's thread counts; others' cores meanwhile."""
    from promptseg.model import threads
    from promptseg.model.cpu_load import CpuLoad

    load = CpuLoad()
    load.others()  # start of the window
    start = time.monotonic()
    times = {name: [] for name in SETTINGS}
    picked = collections.Counter()
    uses_torch = hasattr(backend, "model")  # classic's click computes with numpy: no thread count to pick
    names = list(SETTINGS)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        previous = dict.fromkeys(names)
        for k in range(1, len(pts) + 1):
            for name in order:
                threads.set_click_threads(SETTINGS[name])
                t = time.perf_counter()
                previous[name] = backend.predict(emb, points=pts[:k], labels=labels[:k], previous=previous[name])
                times[name].append(time.perf_counter() - t)
                if name == "auto" and uses_torch:
                    picked[threads.last_click_threads()] += 1
    threads.set_click_threads(None)
    others = _others_over(load, start)
    return times, picked, others


def _others_over(load, start: float) -> float:
    """Cores other processes used since ``start`` (the window is the whole condition)."""
    return load.others(max_window=time.monotonic() - start + 1.0) or 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=1, metavar="N", help="busy-loop processes of the busy condition")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--backends", nargs="+", default=["vit_t", "classic"])
    args = parser.parse_args(argv)

    import torch

    full = torch.get_num_threads()
    SETTINGS.clear()
    SETTINGS.update({"auto": None, f"{full} thr": full, "1 thr": 1})
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {os.cpu_count()} CPUs, "
          f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    image, other = make_image(), make_image(seed=5)
    pts, labels = make_clicks(n=args.clicks)
    header = (f"{'backend':8} {'condition':30} {'others':>6} " + " ".join(f"{n + ' p50':>10} {n + ' p95':>10}" for n in SETTINGS)
              + f" {'auto picked':>14} {'load1':>6}")
    rows = []
    for name in args.backends:
        backend = make_backend(name)
        if hasattr(backend, "warm_up"):
            backend.warm_up()
        emb = backend.encode(image)
        measure(backend, emb, pts[:3], labels[:3], 1)  # warm every setting
        conditions = [
            ("quiet", lambda: _nothing()),
            (f"busy {args.busy}", lambda: busy_processes(args.busy)),
            ("encode-ahead", lambda: EncodeAhead(backend, other, background=True)),
            ("encode-ahead, normal priority", lambda: EncodeAhead(backend, other, background=False)),
        ]
        for label, context in conditions:
            with context():
                times, picked, others = measure(backend, emb, pts, labels, args.rounds)
            ms = {n: np.asarray(v) * 1000 for n, v in times.items()}
            row = {"backend": name, "condition": label, "others": others, "load1": os.getloadavg()[0],
                   "picked": dict(sorted(picked.items())),
                   **{n: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for n, v in ms.items()}}
            rows.append(row)
            print(_line(row), flush=True)
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        print(_line(row))
    print()
    _goals(rows, args.busy, f"{full} thr")
    return 0


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _line(row: dict) -> str:
    cells = " ".join(f"{row[n][0]:10.1f} {row[n][1]:10.1f}" for n in SETTINGS)
    picked = ",".join(f"{k}:{v}" for k, v in row["picked"].items()) or "-"
    return f"{row['backend']:8} {row['condition']:30} {row['others']:6.2f} {cells} {picked:>14} {row['load1']:6.2f}"


def _goals(rows: list[dict], busy: int, full: str) -> None:
    """Issue 16's goals: under load p95 <= 2x the one-thread p50; quiet p50 no worse than two threads."""
    for name in dict.fromkeys(r["backend"] for r in rows):
        by = {r["condition"]: r for r in rows if r["backend"] == name}
        loaded, quiet = by.get(f"busy {busy}"), by.get("quiet")
        if loaded:
            ratio = loaded["auto"][1] / loaded["1 thr"][0]
            print(f"{name}: busy {busy}: auto p95 / 1-thread p50 = {ratio:.2f} (goal <= 2: {'met' if ratio <= 2 else 'NOT met'})")
        if quiet:
            ratio = quiet["auto"][0] / quiet[full][0]
            print(f"{name}: quiet: auto p50 / {full} p50 = {ratio:.2f} (torch's default count, used before)")


if __name__ == "__main__":
    sys.exit(main())
