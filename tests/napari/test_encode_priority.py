"""The encode-ahead worker runs at background priority; the slice the user waits for does not."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from disk_backend import DiskBackend
from promptseg.model.threads import BACKGROUND_NICE

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")]


class _PriorityBackend(DiskBackend):
    """Records the scheduling priority of the thread each encode runs in."""

    def __init__(self) -> None:
        super().__init__()
        self.niceness: list[int] = []

    def encode(self, image, *, contrast_limits=None):
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().encode(image, contrast_limits=contrast_limits)


def test_encode_ahead_runs_at_background_priority(annotator, stack_3d, qtbot) -> None:
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    backend = _PriorityBackend()
    viewer, widget = annotator(stack_3d, backend, prefetch=True)
    qtbot.waitUntil(lambda: len(backend.encoded) >= 5, timeout=20000)  # the displayed slice, then 4 neighbours
    assert backend.niceness[0] == base
    assert backend.niceness[1:5] == [min(base + BACKGROUND_NICE, 19)] * 4
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the GUI thread is untouched
