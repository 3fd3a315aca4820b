"""The annotator's 3D propagation controls: carry an object through a z-range in a thread worker.

The work is :func:`promptseg.session.propagate.propagate` (a generator that
yields one step per slice); this panel runs it in a ``thread_worker`` with a
napari progress bar and, when it returns, writes the result with
:func:`~promptseg.session.propagate.commit_propagation`: one object across
slices, one undoable step (Ctrl+Z removes it from every slice).  The start is
the current object (its live mask) or a committed object on the displayed
slice; the propagation axis is the image's last leading axis.

With a SAM 2.1 model the same controls track objects with the model's
memory (:class:`~promptseg.session.memory_propagation.MemoryPropagation`):
the current object's clicks or box start one (a new id, or the id chosen in
the panel: then they are a correction of that object on this slice, kept
as a conditioning slice when it is propagated again), and with "All objects
on the slice" every committed object on that slice starts from its mask
(a chosen id without clicks: that object alone).  They are tracked both ways
from the slice through the range and committed as one undoable step that
replaces each tracked object on every slice tracked (its old pixels there are
cleared; other objects stay); on a T axis it is tracking, ids kept.
"""

from __future__ import annotations

from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
import numpy as np
from qtpy.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ..errors import PromptsegError
from ..session.history import LabelEdit
from ..session.memory_propagation import MemoryPropagation, is_memory_backend
from ..session.tracked_objects import TrackedObjects, commit_tracks
from ..session.propagate import (
    PropagationResult, PropagationStep, commit_propagation, propagate, session_embeddings, start_from_session,
)
from .host import Annotator
from .widget_session import WidgetSession
from .progress_bars import attach_progress
from .workers import start_worker


#: The propagation's name while it runs (the annotator's status line names it to a refused command).
JOB = "Propagation"


class PropagatePanel(QWidget):
    """z-range, object choice, Propagate and Stop buttons.

    Parameters
    ----------
    annotator : Annotator
        Gives the session, the displayed slice and the overwrite setting; shows the result.
    """

    def __init__(self, annotator: Annotator) -> None:
        super().__init__()
        self.annotator = annotator
        self.worker = None
        self._stopping = False
        self._memory: MemoryPropagation | None = None
        self._starts: list[int] = []  # ids of the objects the last memory propagation started
        self._written: tuple[WidgetSession, LabelEdit, str] | None = None  # the last run's edit and what it said
        self.first = QSpinBox()
        self.last = QSpinBox()
        self.object = QSpinBox()
        self.object.setRange(0, 2**31 - 1)
        self.object.setSpecialValueText("current object")
        self.object.setToolTip("0 = the object being drawn; an id = that committed object, on the displayed slice")
        self.all_objects = QCheckBox("All objects on the slice")
        self.all_objects.setChecked(True)
        self.all_objects.setToolTip("SAM 2.1: also track every committed object on the slice (from its mask), "
                                    "ids kept; each tracked object is replaced on every slice tracked")
        self.run = QPushButton("Propagate")
        self.stop = QPushButton("Stop")
        self.stop.setEnabled(False)
        self.run.setToolTip("Carry the object from the displayed slice through the slices in the range, "
                            "in a background thread; the result is one object, and Ctrl+Z removes it.")
        self.stop.setToolTip("Stop propagating; nothing is written")
        self.first.setToolTip("First slice (inclusive) along the last non-image axis")
        self.last.setToolTip("Last slice (inclusive)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        z_row = QHBoxLayout()
        z_row.addWidget(self.first)
        z_row.addWidget(QLabel("to"))
        z_row.addWidget(self.last)
        form = QFormLayout()
        form.addRow("Slices", z_row)
        form.addRow("Object", self.object)
        form.addRow("", self.all_objects)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run)
        buttons.addWidget(self.stop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.run.clicked.connect(lambda: self.propagate())
        self.stop.clicked.connect(self.cancel)
        self.image_changed()
        annotator.image_changed.connect(self.image_changed)
        annotator.history_changed.connect(self.history_changed)
        annotator.slice_encoded.connect(self.show_correction)  # e.g. after another model was chosen
        self.object.valueChanged.connect(lambda _value: self.show_correction())

    def image_changed(self) -> None:
        """Fit the z-range to the current image (the whole last leading axis); disabled for 2D images."""
        session = self.annotator.session
        lead = () if session is None else session.image.leading_shape
        self.setEnabled(bool(lead))
        self._written = None
        n = lead[-1] if lead else 1
        for box, value in ((self.first, 0), (self.last, n - 1)):
            box.setRange(0, n - 1)
            box.setValue(value)
        self.status.setText("" if lead else "Propagation needs a stack (Z, Y, X).")
        self.show_correction()

    def show_correction(self) -> None:
        """With SAM 2.1 and an id in *Object*, the current object corrects that object: the annotator says so."""
        session, label = self.annotator.session, self.object.value()
        memory = session is not None and is_memory_backend(session.backend)
        self.annotator.show_correction(label if label and memory else None)

    def history_changed(self) -> None:
        """After Undo or Redo: say whether the last run's result is undone (or shown again)."""
        if self._written is None:
            return
        session, edit, text = self._written
        done = session.history.is_done(edit)
        if done is not None:
            self.status.setText(text if done else "Propagation undone.")

    def propagate(self, label: int | None = None):
        """Start propagating (the object id in the panel unless ``label`` is given); returns the worker or None."""
        a = self.annotator
        session = a.session
        if session is None or self.worker is not None or a.jobs.refuse():
            return None
        label = (self.object.value() or None) if label is None else int(label)
        lo, hi = sorted((self.first.value(), self.last.value()))
        try:
            if not session.image.leading_shape:
                raise PromptsegError("propagation needs a stack (Z, Y, X); this image is 2D.")
            if is_memory_backend(session.backend):
                key, job, label = self._memory_job(session, label, (lo, hi))
            else:
                key, mask = start_from_session(session, label=label, slice_key=a.displayed_slice() if label else None)
                job = None
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return None
        prefix, z = tuple(key[:-1]), int(key[-1])
        if not lo <= z <= hi:
            show_warning(f"PromptSeg: the object is on slice {z}, outside the range {lo}–{hi}: widen the range.")
            return None
        if job is None:
            job = propagate(session.backend, session_embeddings(session, prefix), mask, z, z_range=(lo, hi))
        total = max(hi - lo, 1)
        worker = create_worker(_run, job, _connect={"errored": self._failed}, _start_thread=False)
        attach_progress(worker, "PromptSeg: propagating", total)
        worker.yielded.connect(self._step)
        worker.returned.connect(lambda result: self._done(session, result, label, prefix))
        worker.finished.connect(self._finished)
        self.worker = worker
        self._stopping = False
        self._written = None
        self.run.setEnabled(False)
        self.stop.setEnabled(True)
        a.jobs.begin(JOB, stop="Stop")  # the current object and the objects stay as the job read them
        count = f" {len(self._starts)} object(s)" if is_memory_backend(session.backend) else ""
        self.status.setText(f"Propagating{count} from slice {z} over {lo}–{hi}…")
        start_worker(worker)
        return worker

    def _memory_job(self, session: WidgetSession, label: int | None, z_range: tuple[int, int]):
        """(slice key, SAM 2.1 tracking generator, id of the first object): the objects to start and where."""
        draft = session.draft
        shown = self.annotator.displayed_slice()
        if draft.is_empty and shown is None:
            raise PromptsegError("switch to a 2D view of one slice to propagate the objects on it.")
        key = tuple(draft.slice_key) if not draft.is_empty else tuple(shown)
        plane = np.asarray(session.objects[key])
        starts: dict = {}
        if not draft.is_empty:  # the current object: new, or a correction of the chosen id
            starts[session.next_label if label is None else label] = draft.prompts
        elif label is not None:
            if not (plane == label).any():
                raise PromptsegError(f"object {label} is not on slice {key[-1]}; go to a slice where it is.")
            starts[label] = plane == label
        if self.all_objects.isChecked() and not (draft.is_empty and label is not None):
            for other in np.unique(plane[plane > 0]).tolist():  # the committed objects there, from their masks
                starts.setdefault(int(other), plane == other)
        if not starts:
            raise PromptsegError("nothing to propagate: click the object (or draw a box) on a slice first, or go to a "
                                 "slice with committed objects; to correct a propagated object, click on the slice "
                                 "to fix and choose its id in Object.")
        lo, hi = z_range
        if not lo <= key[-1] <= hi:
            raise PromptsegError(f"the objects are on slice {key[-1]}, outside the range {lo}–{hi}: widen the range.")
        if self._memory is None or self._memory.session is not session:
            self._memory = MemoryPropagation(session)
        self._starts = list(starts)
        return key, self._memory.run(starts, key, z_range), next(iter(starts))

    def cancel(self) -> None:
        """Stop after the slice being predicted; nothing is written."""
        if self.worker is not None:
            self._stopping = True
            self.worker.quit()
            self.status.setText("Stopping…")

    def _step(self, step: PropagationStep) -> None:
        if self._stopping:  # a step queued before Stop was pressed
            return
        memory = self._memory is not None and self._memory.session is self.annotator.session
        if memory:  # SAM 2.1 tracks on through slices where the object is absent
            state = "present" if step.accepted else "absent"
            self.status.setText(f"Slice {step.z}: score {step.score:.2f}, {state} ({step.done}/{step.total}).")
            return
        state = "kept" if step.accepted else f"stop ({step.reason})"
        self.status.setText(f"Slice {step.z}: score {step.score:.2f}, overlap {step.overlap:.2f}, {state}.")

    def _done(self, session: WidgetSession, result: PropagationResult, label: int | None, prefix: tuple[int, ...]) -> None:
        if self._stopping:  # the run ended on its own just as Stop was pressed: Stop wins
            return
        a = self.annotator
        before = session.draft.slice_key
        try:
            if isinstance(result, TrackedObjects):  # SAM 2.1: every tracked object replaced on the tracked slices
                edit = commit_tracks(session, result, overwrite=a.overwrite)
            else:
                edit = commit_propagation(session, result, label=label, overwrite=a.overwrite, prefix=prefix)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return
        a.objects_changed(session, (before,))
        first, last = result.z_range
        if isinstance(result, TrackedObjects):
            ids = ", ".join(str(i) for i in result.labels)
            text = (f"Object{'s' if len(result.labels) > 1 else ''} {ids} on slices {first}–{last} "
                    f"({edit.index[-1].size} px changed). Ctrl+Z undoes it.")
        else:
            text = f"Object {int(edit.new)} on slices {first}–{last} ({edit.index[-1].size} px). Ctrl+Z removes it."
        self.status.setText(text)
        self._written = (session, edit, text)
        show_info(f"PromptSeg: {text}")

    def _failed(self, exc: Exception) -> None:
        self.annotator.report_error(exc)

    def _finished(self) -> None:
        if self._stopping:
            self.status.setText("Stopped: nothing was written.")
        self._stopping = False
        self.worker = None
        self.run.setEnabled(True)
        self.stop.setEnabled(False)
        self.annotator.jobs.end(JOB)


def _run(job):
    """The worker's generator: the propagation's steps, then its result."""
    result = yield from job
    return result
