"""Click thread policy: counts per thread, other processes' load, encodes in other threads, background priority."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest
import torch

from promptseg.model import cpu_load, threads
from promptseg.model.cpu_load import CpuLoad

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority and /proc are Linux's")


class _Load:
    """Stands in for CpuLoad: a fixed use by other processes."""

    def __init__(self, others, cpus=2) -> None:
        self.value, self.cpus = others, cpus

    def others(self):
        return self.value


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def load(monkeypatch):
    def set_load(others, cpus=2):
        monkeypatch.setattr(threads, "_load", _Load(others, cpus))

    monkeypatch.delenv("PROMPTSEG_CLICK_THREADS", raising=False)
    threads.set_click_threads(None)
    return set_load


def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_torch_thread_count_is_per_thread(two_threads) -> None:
    """What the policy relies on: a count set in one thread leaves a thread that computed before alone."""
    ready, go, seen = threading.Event(), threading.Event(), {}

    def encoder():
        assert torch.get_num_threads() == 2  # its first query or parallel op copies the default
        torch.ones(512, 512) @ torch.ones(512, 512)
        ready.set()
        go.wait()
        seen["count"] = torch.get_num_threads()

    t = threading.Thread(target=encoder)
    t.start()
    ready.wait()
    torch.set_num_threads(1)
    go.set()
    t.join()
    fresh = _in_thread(torch.get_num_threads)  # a thread that starts now copies the default: 1
    torch.set_num_threads(2)
    assert seen["count"] == 2 and fresh == 1


@pytest.mark.parametrize("others, cpus, configured, expected", [
    (0.0, 2, 2, 2), (0.25, 2, 2, 2), (0.6, 2, 2, 1), (1.0, 2, 2, 1), (1.9, 2, 2, 1),
    (None, 2, 2, 2), (0.0, 2, 1, 1), (1.0, 8, 8, 7), (3.0, 8, 4, 4),
])
def test_click_threads_follow_other_processes(load, others, cpus, configured, expected) -> None:
    load(others, cpus)
    assert threads.click_threads(configured) == expected


def test_an_encode_in_another_thread_takes_its_cores(load, two_threads) -> None:
    load(0.0, cpus=4)
    inside, release = threading.Event(), threading.Event()

    def encode(background):
        if background:
            threads.background_priority()
        with threads.heavy_work():
            inside.set()
            release.wait()

    for background, expected in ((False, 2), (True, 3)):  # 4 CPUs, 4 threads per click when free
        inside.clear()
        release.clear()
        t = threading.Thread(target=encode, args=(background,))
        t.start()
        inside.wait()
        assert threads.click_threads(4) == expected  # 2 threads of a normal encode, 1 core of a background one
        release.set()
        t.join()
    assert threads.click_threads(4) == 4  # the encodes ended


def test_light_work_sets_and_restores_the_count(load, two_threads, monkeypatch) -> None:
    load(1.0)
    with threads.light_work() as n:
        assert n == 1 and torch.get_num_threads() == 1
        with threads.light_work() as inner:  # nested: the outer block's count
            assert inner == 1
    assert torch.get_num_threads() == 2 and threads.last_click_threads() == 1
    load(0.0)
    with threads.light_work() as n:
        assert n == 2 and torch.get_num_threads() == 2
    threads.set_click_threads(1)
    with threads.light_work() as n:
        assert n == 1
    threads.set_click_threads(None)
    monkeypatch.setenv("PROMPTSEG_CLICK_THREADS", "1")
    with threads.light_work() as n:
        assert n == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="at least one"):
        threads.set_click_threads(0)


def test_encode_starting_during_a_click_keeps_torchs_count(load, two_threads) -> None:
    load(1.0)
    with threads.light_work() as n:  # the click runs with 1 thread: a thread starting now would copy 1 ...
        assert n == 1
        plain = _in_thread(torch.get_num_threads)

        def encode():
            with threads.heavy_work() as count:
                return count, torch.get_num_threads()

        pinned = _in_thread(encode)
    assert plain == 1 and pinned == (2, 2)  # ... an encode gets torch's own count


@linux_only
def test_background_priority_lowers_only_the_calling_thread() -> None:
    me = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, me)

    def job():
        yield os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return "done"

    def run():
        gen = threads.in_background(job)
        first = next(gen)
        try:
            next(gen)
        except StopIteration as stop:
            return first, stop.value

    niceness, returned = _in_thread(run)
    assert niceness == min(before + threads.BACKGROUND_NICE, 19) and returned == "done"
    assert os.getpriority(os.PRIO_PROCESS, me) == before


def _write_proc(root, *, busy, idle, own, running=1):
    (root / "self").mkdir(exist_ok=True)
    per_cpu = [(busy[0], idle[0]), (busy[1], idle[1])]
    total = (sum(b for b, _ in per_cpu), sum(i for _, i in per_cpu))
    lines = [f"cpu  {total[0]} 0 0 {total[1]} 0 0 0 0 0 0"]
    lines += [f"cpu{i} {b} 0 0 {i_} 0 0 0 0 0 0" for i, (b, i_) in enumerate(per_cpu)]
    lines += [f"procs_running {running}", "procs_blocked 0"]
    (root / "stat").write_text("\n".join(lines) + "\n")
    fields = ["S"] + ["0"] * 10 + [str(own), "0"] + ["0"] * 30
    (root / "self" / "stat").write_text("123 (python x) " + " ".join(fields) + "\n")


def test_cpu_load_counts_other_processes_only(tmp_path, monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(cpu_load.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(cpu_load.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    _write_proc(tmp_path, busy=(0, 0), idle=(1, 1), own=0, running=3)
    load = CpuLoad(str(tmp_path))
    assert load.available and load.cpus == 2
    _write_proc(tmp_path, busy=(10, 10), idle=(1, 1), own=0, running=3)
    assert load.others() == 2.0  # no window yet: the other runnable tasks now (3 - the caller), at most 2
    clock[0] += 0.5
    # in 0.5 s: 100 ticks in all, 80 busy, of which 30 are ours -> 50 / 100 * 2 CPUs = 1 core
    _write_proc(tmp_path, busy=(60, 40), idle=(11, 11), own=30, running=1)
    assert load.others() == pytest.approx(1.0)
    clock[0] += 0.1  # too short a window since the last sample: measured from the one before
    _write_proc(tmp_path, busy=(62, 42), idle=(15, 15), own=32, running=1)
    assert load.others() == pytest.approx((104 - 20 - 32) / (134 - 22) * 2)
    clock[0] += cpu_load.MAX_WINDOW + 1  # idle spell: the window says little, the run queue says 0
    _write_proc(tmp_path, busy=(500, 500), idle=(14, 14), own=32, running=1)
    assert load.others() == 0.0


def test_cpu_load_without_procfs(tmp_path) -> None:
    load = CpuLoad(str(tmp_path / "none"))
    assert not load.available and load.others() is None and load.running_now() is None


def test_sam_clicks_and_encodes_use_the_policy(tiny_backend, load, two_threads) -> None:
    load(1.0)  # one of two cores busy elsewhere
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    seen = {}
    encoder = tiny_backend.model.image_encoder
    original = encoder.forward

    def forward(x):
        seen["heavy"] = dict(threads._heavy)
        seen["count"] = torch.get_num_threads()
        return original(x)

    encoder.forward = forward
    try:
        emb = tiny_backend.encode(image)
    finally:
        del encoder.forward
    assert list(seen["heavy"].values()) == [(2, False)] and seen["count"] == 2 and not threads._heavy
    first = tiny_backend.predict(emb, points=[(10, 10)], labels=[1])
    assert threads.last_click_threads() == 1 and torch.get_num_threads() == 2
    load(0.0)
    tiny_backend.predict(emb, points=[(10, 10), (30, 40)], labels=[1, 0], previous=first)
    assert threads.last_click_threads() == 2
