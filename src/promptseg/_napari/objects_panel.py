"""The annotator's "Objects" panel: Segment all, adopt a labels layer, and how to correct the objects.

*Segment all* runs :func:`promptseg.segment_all` with the annotator's model
on the displayed slice or on every slice of the stack, in a thread worker
with a napari progress bar and *Cancel*; the slice's embedding is reused
when it is cached.  The objects found are written as committed objects in
one undoable step (:func:`promptseg.session.object_edits.write_objects`):
new ids after the existing ones, existing objects winning where they
overlap; Ctrl+Z removes them all, Ctrl+Shift+Z brings them back.

*Adopt* takes a napari Labels layer of the image's shape (Cellpose,
StarDist, an earlier session) as committed objects, ids kept, in one
undoable step (:func:`promptseg.session.adopt.adopt_labels`).

Correcting them is done on the canvas (:mod:`.object_clicks`): Shift-click
picks an object up, D deletes, M merges.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..auto import segment_all
from ..errors import PromptsegError
from ..session.adopt import adopt_labels
from ..session.object_edits import write_objects
from .host import Annotator
from .layers import ROLE_KEY
from .workers import start_worker

#: Steps of the progress bar per slice.
STEPS = 100
#: Segment all's name while it runs (the annotator's status line names it to a refused command).
JOB = "Segment all"
HELP = ("<b>Shift-click</b> an object: correct it with clicks (C puts it back under its id, Shift+C restores it). "
        "<b>D</b> over an object deletes it. <b>M</b> over one object, then <b>M</b> over another merges them. "
        "Ctrl+Z undoes each.")


class ObjectsPanel(QWidget):
    """Segment all (this slice / whole stack, Cancel), Adopt labels layer, and the help on correcting objects.

    Parameters
    ----------
    annotator : Annotator
        Gives the session, its model and the displayed slice; shows the objects written.
    """

    def __init__(self, annotator: Annotator) -> None:
        super().__init__()
        self.annotator = annotator
        self.worker = None
        self.bar: progress | None = None
        self._stopping = False
        self.run = QPushButton("Segment all")
        self.run.setToolTip("Find every object with the current model and add them as committed objects "
                            "(one undo step); existing objects are kept.")
        self.scope = QComboBox()
        self.scope.addItems(["this slice", "whole stack"])
        self.scope.setToolTip("Segment the displayed slice, or every slice of the stack")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.labels_combo = QComboBox()
        self.labels_combo.setToolTip("A Labels layer of this image's shape, e.g. from Cellpose or StarDist")
        self.adopt_button = QPushButton("Adopt")
        self.adopt_button.setToolTip("Take the labels layer's objects as committed objects, ids kept (one undo step)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        help_label = QLabel(HELP)
        help_label.setWordWrap(True)
        run_row = QHBoxLayout()
        for w in (self.run, self.scope, self.cancel_button):
            run_row.addWidget(w)
        adopt_row = QHBoxLayout()
        adopt_row.addWidget(QLabel("Labels"))
        adopt_row.addWidget(self.labels_combo, 1)
        adopt_row.addWidget(self.adopt_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(run_row)
        layout.addLayout(adopt_row)
        layout.addWidget(self.status)
        layout.addWidget(help_label)
        self.run.clicked.connect(lambda: self.segment())
        self.cancel_button.clicked.connect(self.cancel)
        self.adopt_button.clicked.connect(lambda: self.adopt())
        layers = annotator.viewer.layers
        layers.events.inserted.connect(self.refresh_labels)
        layers.events.removed.connect(self.refresh_labels)
        annotator.image_changed.connect(self.image_changed)
        self.image_changed()

    def image_changed(self) -> None:
        """Offer "whole stack" only for stacks; list the labels layers that fit the image."""
        session = self.annotator.session
        stack = session is not None and bool(session.image.leading_shape)
        self.scope.model().item(1).setEnabled(stack)
        if not stack:
            self.scope.setCurrentIndex(0)
        self.refresh_labels()

    # --------------------------------------------------------- segment all
    def segment(self, whole_stack: bool | None = None):
        """Start Segment all on the displayed slice (or every slice); returns the worker, None when it cannot start."""
        a = self.annotator
        session, key = a.session, a.displayed_slice()
        if session is None or self.worker is not None or a.jobs.refuse():
            return None
        whole = self.scope.currentIndex() == 1 if whole_stack is None else bool(whole_stack)
        try:
            if a.backend is None:
                raise PromptsegError("no model is loaded yet: pick one in the Model menu.")
            if key is None:
                raise PromptsegError("show a 2D slice (Segment all works on 2D slices).")
            _no_current_object(session)
            keys = [tuple(k) for k in np.ndindex(*session.image.leading_shape)] if whole else [key]
        except PromptsegError as exc:
            self._say(str(exc), warn=True)
            return None
        embeddings = {k: session.embedding(k) for k in keys}  # cached ones are reused, the others encoded
        job = _segment_slices(session, keys, embeddings)
        self.bar = progress(total=STEPS * len(keys), desc="PromptSeg: segment all")
        worker = create_worker(_run, job, _connect={"errored": self._failed}, _start_thread=False)
        worker.yielded.connect(self._progress)
        worker.returned.connect(lambda found: self._done(session, found, whole))
        worker.finished.connect(self._finished)
        self.worker, self._stopping = worker, False
        self.run.setEnabled(False)
        self.cancel_button.setEnabled(True)
        a.jobs.begin(JOB, stop="Cancel")  # no object is committed or changed until its objects are written
        self._say("Segment all: working on " + ("every slice…" if whole else "this slice…"))
        start_worker(worker)
        return worker

    def cancel(self) -> None:
        """Stop Segment all at its next step; nothing is written."""
        if self.worker is not None:
            self._stopping = True
            self.worker.quit()
            self._say("Stopping…")

    def _progress(self, event: tuple[int, int, object]) -> None:
        index, total, step = event
        if self._stopping or self.bar is None:
            return
        part = step.done / step.total if step.total else 0.0
        target = int(STEPS * (index + part))
        where = f"slice {index + 1}/{total}, " if total > 1 else ""
        self.status.setText(f"Segment all: {where}{step.stage} {step.done}/{step.total}")
        if target > self.bar.n:  # last: napari's bar processes pending events (the job's end may run inside)
            self.bar.update(target - self.bar.n)

    def _done(self, session, found: dict, whole: bool) -> None:
        if self._stopping:
            return
        a = self.annotator
        labels = np.zeros(session.image.label_shape, np.int64)
        scores: dict[int, float] = {}
        offset = 0
        for key, result in found.items():
            plane = result.labels.astype(np.int64)
            labels[key] = np.where(plane > 0, plane + offset, 0)
            scores.update({offset + i + 1: float(s) for i, s in enumerate(result.scores)})
            offset += result.count
        name = str(getattr(session.backend, "name", "model"))
        try:
            made = write_objects(session, labels, keep_ids=False, backend_name=f"segment-all ({name})", scores=scores)
        except PromptsegError as exc:
            self._say(str(exc), warn=True)
            return
        a.objects_changed(session)
        seconds = sum(r.seconds for r in found.values())
        where = f"{len(found)} slices" if whole else "this slice"
        kept = "" if len(made) == offset else f" ({offset - len(made)} lay under existing objects and were left out)"
        self._say(f"Segment all: {len(made)} objects on {where}{kept}, {seconds:.1f} s. Shift-click one to correct "
                  "it, D over one deletes it, M over two merges them; Ctrl+Z removes them all.", info=True)

    def _failed(self, exc: Exception) -> None:
        self.annotator.report_error(exc, status=f"Segment all failed: {exc}")
        self.status.setText(f"Segment all failed: {exc}")

    def _finished(self) -> None:
        if self._stopping:
            self.status.setText("Segment all stopped: nothing was written.")
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.worker, self._stopping = None, False
        self.run.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.annotator.jobs.end(JOB)

    # ------------------------------------------------------- adopt labels
    def labels_layers(self) -> list[Labels]:
        """Labels layers of the viewer that are not the annotator's own (their shape is checked on adopting)."""
        return [layer for layer in self.annotator.viewer.layers
                if isinstance(layer, Labels) and ROLE_KEY not in layer.metadata]

    def refresh_labels(self, event=None) -> None:
        current = self.labels_combo.currentText()
        self.labels_combo.clear()
        names = [layer.name for layer in self.labels_layers()]
        self.labels_combo.addItems(names)
        if current in names:
            self.labels_combo.setCurrentIndex(names.index(current))
        self.adopt_button.setEnabled(bool(names))

    def adopt(self, layer: Labels | None = None) -> int:
        """Take ``layer`` (default the one chosen) as committed objects, ids kept; returns how many objects."""
        a = self.annotator
        session = a.session
        if layer is None:
            chosen = [x for x in self.labels_layers() if x.name == self.labels_combo.currentText()]
            layer = chosen[0] if chosen else None
        if session is None or layer is None or a.jobs.refuse():
            return 0
        try:
            _no_current_object(session)
            if layer.multiscale:
                raise PromptsegError(f"'{layer.name}' is multiscale; adopt a single-resolution labels layer.")
            made = adopt_labels(session, np.asarray(layer.data))
        except PromptsegError as exc:
            self._say(f"Cannot adopt '{layer.name}': {exc}", warn=True)
            return 0
        a.objects_changed(session)
        self._say(f"Adopted {len(made)} objects from '{layer.name}' (ids kept). With the prompts layer selected, "
                  "Shift-click one to correct it; Ctrl+Z takes them all back.", info=True)
        return len(made)

    def _say(self, text: str, *, warn: bool = False, info: bool = False) -> None:
        self.status.setText(text)
        if warn:
            show_warning(f"PromptSeg: {text}")
        elif info:
            show_info(f"PromptSeg: {text}")


def _no_current_object(session) -> None:
    """Objects are added only while no object is being drawn (a picked-up one has left its pixels free)."""
    if not session.draft.is_empty:
        raise PromptsegError("commit (C) or clear (Shift+C) the current object first.")


def _segment_slices(session, keys: list[tuple[int, ...]], embeddings: dict):
    """In the worker: ``segment_all`` on each slice, yielding (slice index, slices, progress); returns {key: result}."""
    found = {}
    backend = session.backend
    for i, key in enumerate(keys):
        job = segment_all(backend, session.image.plane(key), embedding=embeddings.get(key),
                          contrast_limits=session.image.contrast_limits)
        while True:
            try:
                step = next(job)
            except StopIteration as stop:
                found[key] = stop.value
                break
            yield i, len(keys), step
    return found


def _run(job):
    """The worker's generator: the progress of every slice, then the results."""
    found = yield from job
    return found
