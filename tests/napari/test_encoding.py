"""The encode scheduler never waits on a cancelled worker that stopped before encoding."""

from __future__ import annotations

import pytest

from disk_backend import DiskBackend
from promptseg._napari.encoding import EncodeScheduler
from promptseg.data import synthetic_nuclei_2d
from promptseg.session import AnnotationSession, ImageStack

pytestmark = pytest.mark.gui


class _Worker:
    """Stands in for a napari worker: only identity matters to the scheduler."""

    def quit(self) -> None:
        self.quit_called = True


def test_aborted_worker_is_not_adopted_again(qtbot) -> None:
    """Cancel, re-request the same slice, the cancelled worker aborts before encoding: a new worker must start.

    (The race behind timeouts in the series tests: the re-request found the
    aborted worker still listed as running and waited for it forever.)
    """
    session = AnnotationSession(ImageStack(synthetic_nuclei_2d((32, 32), n_nuclei=2, seed=0).image), DiskBackend())
    scheduler = EncodeScheduler(on_encoded=lambda *a: None, on_error=lambda exc: None)
    started = []

    def fake_start(session_, keys, slot, desc, **options):
        worker = _Worker()
        started.append(worker)
        return worker

    scheduler._start = fake_start
    scheduler.request(session, ())
    first = started[-1]
    scheduler.cancel()  # e.g. the image layer is set again
    scheduler.request(session, ())  # same slice: the cancelled worker "will do"
    assert scheduler._demand is first and len(started) == 1
    scheduler._aborted(first)  # ...but it stopped before encoding
    assert len(started) == 2 and scheduler._demand is started[-1] and scheduler.busy
    scheduler._finished("_demand", first)  # its finished signal comes after: changes nothing
    assert scheduler._demand is started[-1] and scheduler.busy
    scheduler.cancel()


class _Refuses(DiskBackend):
    def encode(self, image, *, contrast_limits=None):
        self.encoded.append(image.shape)
        raise ValueError("this image cannot be encoded")


def test_a_failed_slice_is_remembered_until_cancel(qtbot) -> None:
    """A slice whose encoding raised is reported once and not tried again (a click would only repeat the error)."""
    backend = _Refuses()
    session = AnnotationSession(ImageStack(synthetic_nuclei_2d((32, 32), n_nuclei=2, seed=0).image), backend)
    errors = []
    scheduler = EncodeScheduler(on_encoded=lambda *a: None, on_error=errors.append)
    scheduler.request(session, ())
    qtbot.waitUntil(lambda: len(errors) == 1 and not scheduler.busy, timeout=10000)
    assert "cannot be encoded" in str(scheduler.failure(session, ()))
    scheduler.request(session, ())
    qtbot.wait(50)
    assert len(backend.encoded) == 1 and len(errors) == 1 and not scheduler.busy
    scheduler.cancel()  # a new image, model or contrast: tried again
    assert scheduler.failure(session, ()) is None
    scheduler.request(session, ())
    qtbot.waitUntil(lambda: len(errors) == 2 and not scheduler.busy, timeout=10000)
    assert len(backend.encoded) == 2
