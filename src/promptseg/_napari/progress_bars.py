"""napari progress bars for our workers, added to the activity dialog before the job can end.

napari's ``create_worker(..., _progress=...)`` announces its bar when the
worker's thread has started.  The activity dialog then builds the bar widget
and processes pending Qt events half-way through (napari 0.9.2,
``QtActivityDialog.add_progress_bar``).  A job that ends quickly (a small
slice encoded, a cached model loaded) has its ``finished`` signal waiting by
then: the bar is closed and deleted while the dialog is still setting it up,
the dialog's next call on it raises, and napari's event emitter drops the
dialog's listener -- no progress bar appears again in that session.

:func:`attach_progress` makes the bar in the GUI thread just before the
worker's thread starts (:func:`.workers.before_start`), so the dialog has
finished with it before the job can end.  Not earlier: the dialog's event
processing must not run in the middle of the handler that sets the job up.
"""

from __future__ import annotations

from typing import Any

from napari.utils import progress

from .workers import before_start


def attach_progress(worker: Any, desc: str, total: int = 0) -> None:
    """Give a worker a napari progress bar, shown from the moment its job starts.

    Parameters
    ----------
    worker : superqt / napari worker
        Created with ``_start_thread=False``, to be started by
        :func:`.workers.start_worker`.
    desc : str
        The bar's text in napari's activity dialog.
    total : int, optional
        Steps of the bar, one per value the worker yields; 0 (default): an
        indeterminate bar.

    Notes
    -----
    The bar (a :class:`napari.utils.progress`) is kept as ``worker.pbar``, as
    napari's ``_progress`` does, once the worker is started; it is closed when
    the worker finishes.
    """

    def make() -> None:
        bar = progress(total=total, desc=desc)
        if total:
            worker.yielded.connect(bar.increment_with_overflow)
        worker.finished.connect(bar.close)
        worker.pbar = bar

    before_start(worker, make)
