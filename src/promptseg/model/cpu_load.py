"""How many cores other processes keep busy, from the kernel's counters (Linux).

Read at each click in well under a millisecond: ``/proc/stat`` gives the
busy and total time of the CPUs this process may run on, ``/proc/self/stat``
this process's own CPU time; other processes' use over a window is the
difference.  Elsewhere (no ``/proc``) nothing is known and
:meth:`CpuLoad.others` returns None.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

#: Shortest window (seconds) a use is measured over; shorter ones are a few clock ticks.
MIN_WINDOW = 0.3
#: A window longer than this (the user was idle) says little about now: the run queue is read instead.
MAX_WINDOW = 3.0


class CpuLoad:
    """Cores used by other processes over the last fraction of a second.

    Parameters
    ----------
    proc : str
        Where procfs is mounted (tests point it elsewhere).
    """

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        try:
            self._cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self._cpus = list(range(os.cpu_count() or 1))
        self.cpus = len(self._cpus)
        self._names = {f"cpu{i}" for i in self._cpus}
        self._samples: deque[tuple[float, int, int, int]] = deque(maxlen=64)
        self._lock = threading.Lock()
        self.available = self._sample() is not None

    def _sample(self) -> tuple[float, int, int, int] | None:
        """(time, busy ticks, total ticks of our CPUs, this process's ticks), or None without procfs."""
        try:
            with open(f"{self.proc}/stat", "rb") as f:
                lines = f.read().decode("ascii", "replace").splitlines()
            with open(f"{self.proc}/self/stat", "rb") as f:
                own = f.read().decode("ascii", "replace").rsplit(")", 1)[1].split()
        except OSError:
            return None
        busy = total = 0
        for line in lines:
            name, _, rest = line.partition(" ")
            if name in self._names:
                ticks = [int(v) for v in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
                idle = ticks[3] + ticks[4]
                total += sum(ticks)
                busy += sum(ticks) - idle
        if not total:
            return None
        return time.monotonic(), busy, total, int(own[11]) + int(own[12])  # utime + stime

    def running_now(self) -> int | None:
        """Runnable tasks on the whole machine right now, the caller excluded (None without procfs)."""
        try:
            with open(f"{self.proc}/stat", "rb") as f:
                for line in f:
                    if line.startswith(b"procs_running"):
                        return max(int(line.split()[1]) - 1, 0)
        except (OSError, ValueError, IndexError):
            return None
        return None

    def others(self, max_window: float = MAX_WINDOW) -> float | None:
        """Cores other processes used over the last :data:`MIN_WINDOW` to ``max_window`` seconds.

        With no sample old enough (the first call, or after an idle spell
        longer than ``max_window``), the number of other runnable tasks right
        now (at most the CPU count).  None where the kernel's counters cannot
        be read.
        """
        now = self._sample()
        if now is None:
            return None
        with self._lock:
            base = None
            for old in reversed(self._samples):
                if now[0] - old[0] >= MIN_WINDOW:
                    base = old
                    break
            while self._samples and now[0] - self._samples[0][0] > max(max_window, MAX_WINDOW):
                self._samples.popleft()
            self._samples.append(now)
        if base is None or now[0] - base[0] > max_window or now[2] <= base[2]:
            running = self.running_now()
            return None if running is None else float(min(running, self.cpus))
        busy, total, own = now[1] - base[1], now[2] - base[2], now[3] - base[3]
        return max(busy - own, 0) / total * self.cpus
