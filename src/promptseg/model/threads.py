"""How the per-click decoder and the heavy image encoder share the CPUs.

A click runs a few hundred small parallel regions, and each waits for the
slowest of its threads.  When another program holds one of two cores, a
click with 2 intra-op threads took 0.8-1 s against ~50 ms with 1 (issue 16);
the annotator's own encode-ahead worker does the same to it.  So:

* :func:`light_work` runs one click with the thread count
  :func:`click_threads` picks: torch's count when the CPUs are free, fewer
  when other processes keep cores busy (:class:`CpuLoad`) or when an encode
  runs in another thread of this process;
* :func:`heavy_work` marks an encode as running and gives its thread
  torch's count, never a count a click set meanwhile;
* :func:`background_priority` lowers the calling thread's scheduling
  priority (Linux): the annotator's encode-ahead worker runs this way, so the
  kernel gives a click the cores first.

What torch does (torch 2.13, OpenMP build, Linux; measured per OS thread by
the CPU time each thread got): ``torch.set_num_threads(n)`` sets the OpenMP
and MKL thread count of the *calling* thread and torch's process default,
which a thread copies at its first parallel operation.  A thread that has
computed before keeps its own count.  A count set around one call therefore
changes that call and any thread that starts computing meanwhile, not an
encoder already running in another thread; :func:`heavy_work` covers the
thread that starts meanwhile.

``PROMPTSEG_CLICK_THREADS=N`` (or :func:`set_click_threads`) fixes the
count for every click instead.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import torch

from .cpu_load import CpuLoad

#: Niceness added to a background thread (the kernel gives it about 1/10 of a normal thread's share).
BACKGROUND_NICE = 10
#: A click keeps torch's full count while other processes use less than this many cores.
SPARE_CORES = 0.3

_lock = threading.Lock()
_local = threading.local()  # .depth: nesting of light_work; .background: background_priority applied
_clicks = 0  # light_work blocks running, all threads
_configured: int | None = None  # torch's count outside clicks, as the first running click found it
_heavy: dict[int, tuple[int, bool]] = {}  # thread id -> (threads, background) of running heavy_work
_forced: int | None = None
_last: int | None = None  # count of the latest outermost light_work block
_load = CpuLoad()


def set_click_threads(threads: int | None) -> None:
    """Fix the intra-op thread count of every click (None: chosen per click, the default)."""
    global _forced
    if threads is not None and int(threads) < 1:
        raise ValueError(f"a click needs at least one thread, got {threads}.")
    _forced = None if threads is None else int(threads)


def last_click_threads() -> int | None:
    """The thread count the latest click ran with (None before the first); for benchmarks and logs."""
    return _last


def _fixed_count() -> int | None:
    if _forced is not None:
        return _forced
    value = os.environ.get("PROMPTSEG_CLICK_THREADS", "").strip()
    return max(int(value), 1) if value.isdigit() else None


def click_threads(configured: int | None = None) -> int:
    """The intra-op thread count for a click starting now in the calling thread.

    Parameters
    ----------
    configured : int, optional
        torch's count outside clicks (default: the calling thread's).

    Returns
    -------
    int
        ``configured`` while other processes use under :data:`SPARE_CORES`
        cores and no encode runs in another thread; otherwise the cores left
        free (at least 1).  Other processes' use comes from :class:`CpuLoad`;
        an encode in this process counts its threads, or one core when it
        runs at background priority.
    """
    fixed = _fixed_count()
    if fixed is not None:
        return fixed
    n = torch.get_num_threads() if configured is None else int(configured)
    if n <= 1:
        return 1
    me = threading.get_ident()
    with _lock:
        ours = sum(1 if background else threads for tid, (threads, background) in _heavy.items() if tid != me)
    others = _load.others()
    if others is None and not ours:
        return n
    free = _load.cpus - (others or 0.0) - ours
    return max(1, min(n, int(free + SPARE_CORES)))


@contextmanager
def light_work(threads: int | None = None) -> Iterator[int]:
    """Run the block (one click) with :func:`click_threads` intra-op threads in the calling thread.

    Restores the thread's count afterwards; nested blocks keep the outer
    block's count.  Yields the count used.
    """
    depth = getattr(_local, "depth", 0)
    before = torch.get_num_threads()
    if depth:
        n = before
    else:
        global _clicks, _configured
        with _lock:
            if _clicks == 0:
                _configured = before
            _clicks += 1
        n = click_threads(before) if threads is None else int(threads)
        global _last
        _last = n
    _local.depth = depth + 1
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if n != before:
            torch.set_num_threads(before)
        _local.depth = depth
        if not depth:
            with _lock:
                _clicks -= 1


@contextmanager
def heavy_work() -> Iterator[int]:
    """Run the block (one encode) with torch's count, marked as running for :func:`click_threads`.

    Yields the count used.
    """
    me = threading.get_ident()
    with _lock:
        n = _configured if _clicks and _configured else None
    if n is None:
        n = torch.get_num_threads()
    elif torch.get_num_threads() != n:  # this thread copied a click's count: take torch's own
        torch.set_num_threads(n)
    with _lock:
        outer = _heavy.get(me)
        _heavy[me] = (n, bool(getattr(_local, "background", False)))
    try:
        yield n
    finally:
        with _lock:
            if outer is None:
                _heavy.pop(me, None)
            else:
                _heavy[me] = outer


def background_priority() -> bool:
    """Lower the calling thread's scheduling priority by :data:`BACKGROUND_NICE` (Linux only).

    For a thread that ends with its job: an unprivileged process cannot
    raise the priority again.  Threads it starts later (torch's OpenMP
    helpers) inherit it.  Returns whether the priority was lowered.
    """
    if not sys.platform.startswith("linux") or getattr(_local, "background", False):
        return bool(getattr(_local, "background", False))
    tid = threading.get_native_id()
    try:  # on Linux, PRIO_PROCESS with a thread id applies to that thread alone
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE, 19))
    except OSError:
        return False
    _local.background = True
    return True


def in_background(job, *args, **kwargs):
    """Run generator function ``job`` at :func:`background_priority`; yields what it yields, returns what it returns."""
    background_priority()
    return (yield from job(*args, **kwargs))
