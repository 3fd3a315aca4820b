"""The backends offered in the widget (the Model menu), and loading one off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from qtpy.QtWidgets import QComboBox, QFileDialog, QWidget

from ..backends import BUILTIN_BACKENDS, Backend, load_backend
from ..model.registry import model_table
from .workers import start_worker

#: Offered first (and chosen by default) when installed.
PREFERRED = "classic"


@dataclass(frozen=True)
class BackendChoice:
    """One entry of the backend menu."""

    key: str  # what load_backend() takes
    label: str  # what the user reads
    needs_download: bool = False


def backend_choices() -> list[BackendChoice]:
    """``classic`` first, the other built-ins, then every registry model marked cached or to download with its size."""
    builtins = sorted(BUILTIN_BACKENDS, key=lambda name: (name != PREFERRED, name))
    choices = [BackendChoice(name, f"{name} (built-in)") for name in builtins]
    for row in model_table():
        cached = row["cached"] == "yes"
        state = "cached" if cached else f"download {row['size']}"
        choices.append(BackendChoice(row["name"], f"{row['name']} ({row['architecture']}, {state})", not cached))
    return choices


def default_choice(choices: list[BackendChoice]) -> BackendChoice | None:
    """``classic`` when available, else the first cached model, else the first built-in."""
    for choice in choices:
        if choice.key == PREFERRED:
            return choice
    for choice in choices:
        if choice.key not in BUILTIN_BACKENDS and not choice.needs_download:
            return choice
    return choices[0] if choices else None


#: The last entry of the menu: a checkpoint file chosen in a dialog.
FILE_ENTRY = "Checkpoint file…"


class BackendMenu:
    """The Model menu: its entries, the checkpoint dialog, loading in a worker, and showing what runs.

    The menu always shows the backend that answers the clicks: while another
    one loads it shows the one being loaded, and after a failed load (or a
    dialog closed without a file) it goes back to the running one, so
    choosing the same entry again is a new choice (the dialog reopens).

    Parameters
    ----------
    combo : QComboBox
        The menu.
    parent : QWidget
        Parent of the file dialog.
    on_loaded : callable(Backend)
        Called in the GUI thread with a backend that finished loading.
    on_failed : callable(str, Exception)
        Called in the GUI thread with what could not be loaded and why.
    on_error : callable(Exception)
        Called with what a backend's warm-up raised (see :meth:`warm_up_once`).
    """

    def __init__(self, combo: QComboBox, parent: QWidget, *, on_loaded: Callable[[Backend], None],
                 on_failed: Callable[[str, Exception], None], on_error: Callable[[Exception], None]) -> None:
        self.combo = combo
        self.parent = parent
        self.running: Backend | None = None
        self.loading: str | None = None  #: what is being loaded, if anything
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._on_error = on_error
        self._loader = None
        self._warmed: set[str] = set()  # backend_ids whose warm_up ran in the GUI thread
        combo.activated.connect(self._chosen)

    def fill(self) -> BackendChoice | None:
        """List every choice (classic first) and the checkpoint-file entry; returns the default choice."""
        choices = backend_choices()
        self.combo.clear()
        for choice in choices:
            self.combo.addItem(choice.label, choice.key)
        self.combo.addItem(FILE_ENTRY, None)
        self.combo.view().setMinimumWidth(self.combo.view().sizeHintForColumn(0))  # the list shows whole labels
        return default_choice(choices)

    def _chosen(self, index: int) -> None:
        key = self.combo.itemData(index)
        if key is None:
            key, _ = QFileDialog.getOpenFileName(self.parent, "Segment-Anything checkpoint", "",
                                                 "Checkpoints (*.pt *.pth)")
            if not key:
                self.show_running(self.running)
                return
        self.load(key)

    def load(self, key: str) -> None:
        """Load ``key`` (a name or checkpoint path for ``load_backend``) in a worker; the last request wins."""
        from napari.qt.threading import create_worker

        from .progress_bars import attach_progress

        if self._loader is not None:
            self._loader.quit()
        self.loading = key
        self._select(key)
        worker = create_worker(
            load_backend, key, progress=False, _start_thread=False,
            _connect={"returned": lambda backend: self._done(worker, backend, None),
                      "errored": lambda exc: self._done(worker, None, exc)},  # no re-raise in the Qt event loop
        )
        attach_progress(worker, f"PromptSeg: loading {key}")
        self._loader = worker
        start_worker(worker)

    def _done(self, worker: Any, backend: Backend | None, exc: Exception | None) -> None:
        if worker is not self._loader:
            return  # superseded by a later choice
        key, self.loading, self._loader = self.loading, None, None
        if exc is None:
            self._on_loaded(backend)
        else:
            self.show_running(self.running)
            self._on_failed(key, exc)

    def show_running(self, backend: Backend | None) -> None:
        """Select the entry of ``backend`` (added as "NAME (loaded)" if the menu has none); None: no entry."""
        self.running = backend
        if backend is None:
            self.combo.setCurrentIndex(-1)
            return
        if self.combo.findData(backend.name) < 0:
            self.combo.insertItem(0, f"{backend.name} (loaded)", backend.name)
        self._select(backend.name)

    def warm_up_once(self, backend: Backend) -> None:
        """Run ``backend.warm_up`` (if it has one) in the GUI thread once per backend id, after the menu repainted.

        The first click then finds the GUI thread's math libraries ready.  A
        backend that cannot answer a blank click will not answer the user's
        either: what it raises goes to ``on_error``.
        """
        from qtpy.QtCore import QTimer

        warm_up = getattr(backend, "warm_up", None)
        if not callable(warm_up) or backend.backend_id in self._warmed:
            return
        self._warmed.add(backend.backend_id)

        def run() -> None:
            try:
                warm_up()
            except Exception as exc:  # reported, never raised into Qt's event loop
                self._on_error(exc)

        QTimer.singleShot(0, run)

    def _select(self, key: str) -> None:
        index = self.combo.findData(key)
        if index >= 0:
            self.combo.setCurrentIndex(index)
