"""napari progress bars for our workers, added to the activity dialog before the job can end.

napari's ``create_worker(..., _progress=...)`` announces its bar when the
worker's thread starts.  The activity dialog then builds the bar widget and
processes pending Qt events half-way through (napari 0.9.2,
``QtActivityDialog.add_progress_bar``).  A job that ends quickly (a small
slice encoded, a cached model loaded) has its ``finished`` signal waiting by
then: the bar is closed and deleted while the dialog is still setting it up,
the dialog's next call on it raises, and napari's event emitter drops the
dialog's listener -- no progress bar appears again in that session.

:func:`attach_progress` makes the bar in the GUI thread before the worker is
started, so the dialog has finished with it before the job can end.
"""

from __future__ import annotations

from typing import Any

from napari.utils import progress


def attach_progress(worker: Any, desc: str, total: int = 0) -> progress:
    """Give a not yet started worker a napari progress bar, shown at once.

    Parameters
    ----------
    worker : superqt / napari worker
        Created with ``_start_thread=False`` and not started yet.
    desc : str
        The bar's text in napari's activity dialog.
    total : int, optional
        Steps of the bar, one per value the worker yields; 0 (default): an
        indeterminate bar.

    Returns
    -------
    napari.utils.progress
        The bar, also kept as ``worker.pbar`` (as napari's ``_progress`` does);
        closed when the worker finishes.
    """
    bar = progress(total=total, desc=desc)
    if total:
        worker.yielded.connect(bar.increment_with_overflow)
    worker.finished.connect(bar.close)
    worker.pbar = bar
    return bar
