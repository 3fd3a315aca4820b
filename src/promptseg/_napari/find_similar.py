"""The annotator's "Find similar" panel: one finished object proposes all the others of its kind.

The search is :func:`promptseg.exemplar.find_similar` (a generator) on the
displayed slice, run in a ``thread_worker`` with a napari progress bar.  The
exemplars are committed objects on that slice (the ids typed in, or the
last committed one); proposals the user rejected earlier on the slice serve
as negative examples.  Proposals appear in their own Labels layer
(``<image> proposals``, hover shows each one's score); the threshold slider
only changes which are shown.  With the proposals layer selected, a click
accepts the proposal under the cursor, Alt+click rejects it and Shift+click
takes it over as the current object for correcting; "Accept shown" accepts
every proposal at or above the threshold.  Accepted proposals become
committed objects, one undoable step each (Ctrl+Z).
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSlider, QVBoxLayout, QWidget

from ..errors import PromptsegError
from ..exemplar import Proposal, accept_proposals, find_similar
from ..prompts import Prompts
from .host import Annotator
from .keys import modifier_names
from .widget_session import WidgetSession
from .progress_bars import attach_progress
from .workers import start_worker


#: The search's name while it runs (the annotator's status line names it to a refused command).
JOB = "Find similar"


#: The candidate sources offered, (menu text, ``find_similar(source=...)``).
CANDIDATE_SOURCES = (("search", "search"), ("segment all", "segment_all"), ("both", "both"))


class FindSimilarPanel(QWidget):
    """Exemplar ids, candidate source, Find similar / Accept shown / Clear buttons, and the score threshold.

    Parameters
    ----------
    annotator : Annotator
        Gives the viewer, the session and the displayed slice; shows accepted proposals.
    """

    def __init__(self, annotator: Annotator) -> None:
        super().__init__()
        self.annotator = annotator
        self.worker = None
        self.proposals: list[Proposal] = []
        self._numbers: dict[int, int] = {}  # id(proposal) -> its value in the layer, kept while it is shown
        self.layer: Labels | None = None
        self._session: WidgetSession | None = None
        self._rejected: dict[tuple[int, ...], list[np.ndarray]] = {}
        self.exemplar_ids = QLineEdit()
        self.exemplar_ids.setPlaceholderText("last committed object")
        self.exemplar_ids.setToolTip("ids of committed objects on the displayed slice, e.g. 3, 7")
        self.source = QComboBox()
        for text, value in CANDIDATE_SOURCES:
            self.source.addItem(text, value)
        self.source.setToolTip("search near objects like the exemplars, or rank the objects of Segment all by "
                               "likeness to the exemplars, or both")
        self.run = QPushButton("Find similar")
        self.accept_all = QPushButton("Accept shown")
        self.clear = QPushButton("Clear")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.threshold_label = QLabel()
        self.status = QLabel("Commit one object, then find the others like it.")
        self.status.setWordWrap(True)
        ids_row = QHBoxLayout()
        ids_row.addWidget(QLabel("Exemplars"))
        ids_row.addWidget(self.exemplar_ids)
        ids_row.addWidget(self.source)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Min score"))
        slider_row.addWidget(self.slider)
        slider_row.addWidget(self.threshold_label)
        buttons = QHBoxLayout()
        for b in (self.run, self.accept_all, self.clear):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(ids_row)
        layout.addLayout(buttons)
        layout.addLayout(slider_row)
        layout.addWidget(self.status)
        self.run.clicked.connect(lambda: self.find())
        self.accept_all.clicked.connect(lambda: self.accept_shown())
        self.clear.clicked.connect(lambda: self.clear_proposals())
        self.slider.valueChanged.connect(lambda _: self.show_proposals())
        self.show_proposals()

    # ------------------------------------------------------------ search
    @property
    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def exemplar_labels(self, session, key) -> list[int]:
        """The exemplar ids: those typed in, else the last committed object on slice ``key``."""
        text = self.exemplar_ids.text().replace(",", " ").split()
        if text:
            try:
                return [int(t) for t in text]
            except ValueError:
                raise PromptsegError(f"exemplar ids must be whole numbers separated by commas, got {self.exemplar_ids.text()!r}.")
        on_slice = [o.label for o in session.committed if tuple(o.slice_key) == tuple(key)]
        if not on_slice:
            raise PromptsegError("no committed object on this slice: commit one object (C), or type exemplar ids.")
        return [on_slice[-1]]

    def find(self):
        """Search the displayed slice in a worker; returns the worker (None when it cannot start)."""
        a = self.annotator
        session, key = a.session, a.displayed_slice()
        if session is None or key is None or self.worker is not None or a.jobs.refuse():
            return None
        emb = session.embedding(key)
        try:
            if emb is None:
                raise PromptsegError("this slice is still being encoded; try again when the status says it is ready.")
            plane = np.asarray(session.objects[key])
            labels = self.exemplar_labels(session, key)
            exemplars = [plane == v for v in labels]
            missing = [v for v, m in zip(labels, exemplars) if not m.any()]
            if missing:
                raise PromptsegError(f"object(s) {missing} are not on the displayed slice; pick ids of objects shown here.")
            source = self.source.currentData()
            image = None if source == "search" else session.image.plane(key)
            job = find_similar(session.backend, emb, exemplars, objects=plane, slice_key=key,
                               negatives=self._rejected.get(key) or None, source=source, image=image)
            job.send(None)  # validate the inputs here, before the worker starts (the first event is the search)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            self.status.setText(str(exc))
            return None
        worker = create_worker(_run, job, _connect={"errored": self._failed}, _start_thread=False)
        attach_progress(worker, "PromptSeg: finding similar objects")
        worker.yielded.connect(self._progress)
        worker.returned.connect(lambda found: self._found(session, key, found))
        worker.finished.connect(self._finished)
        self.worker = worker
        self.run.setEnabled(False)
        a.jobs.begin(JOB)  # the objects it reads stay as they are until the proposals are shown
        self.status.setText(f"Searching slice {key or '(2D)'}…")
        start_worker(worker)
        return worker

    def _progress(self, event) -> None:
        if event.stage == "prompt":
            self.status.setText(f"Candidate {event.done}/{event.total}: {event.proposals} proposals so far.")

    def _found(self, session, key, found: list[Proposal]) -> None:
        if session is not self.annotator.session:
            return
        self._session = session
        self.proposals = [p for p in self.proposals if p.slice_key != tuple(key)] + list(found)
        first = max(self._numbers.values(), default=0) + 1
        self._numbers.update({id(p): first + i for i, p in enumerate(found)})
        self.show_proposals()

    def _failed(self, exc: Exception) -> None:
        self.annotator.report_error(exc)

    def _finished(self) -> None:
        self.worker = None
        self.run.setEnabled(True)
        self.annotator.jobs.end(JOB)

    # ------------------------------------------------------------ display
    def _current(self) -> list[Proposal]:
        if self._session is not self.annotator.session:
            self.proposals, self._rejected, self._session = [], {}, self.annotator.session
        return self.proposals

    def number(self, proposal: Proposal) -> int:
        """The proposal's value in the proposals layer: given when it is found, kept until it is decided."""
        return self._numbers[id(proposal)]

    def shown(self) -> list[Proposal]:
        """Proposals at or above the threshold, best first."""
        return [p for p in self._current() if p.score >= self.threshold]

    def show_proposals(self) -> None:
        """Redraw the proposals layer from the kept proposals and the threshold (no new search)."""
        self.threshold_label.setText(f"{self.threshold:.2f}")
        session = self.annotator.session
        proposals = self._current()
        if session is None or (not proposals and self.layer is None):
            return
        self._numbers = {id(p): self._numbers[id(p)] for p in proposals}  # decided ones are forgotten
        data = np.zeros(session.image.label_shape, np.int32)
        for p in proposals:
            if p.score >= self.threshold:
                r0, c0, r1, c1 = p.box
                window = data[tuple(p.slice_key) + (slice(r0, r1), slice(c0, c1))]
                window[p.crop & (window == 0)] = self.number(p)
        features = {"index": np.array([0] + [self.number(p) for p in proposals]),
                    "score": np.round([0.0] + [p.score for p in proposals], 3)}
        layer = self._layer(data)
        layer.data = data
        layer.features = features
        n = len(self.shown())
        self.status.setText(f"{n} of {len(proposals)} proposals shown (score ≥ {self.threshold:.2f}). "
                            "Select the proposals layer: click accepts, Alt+click rejects, Shift+click edits.")

    def _layer(self, data: np.ndarray) -> Labels:
        viewer = self.annotator.viewer
        if self.layer is None or self.layer not in viewer.layers:
            image = self.annotator.image_layer
            name = f"{image.name} proposals" if image is not None else "proposals"
            self.layer = viewer.add_labels(data, name=name, opacity=0.45, scale=image.scale if image else None,
                                           translate=image.translate if image else None)
            self.layer.mouse_drag_callbacks.append(self._on_click)
        return self.layer

    # ------------------------------------------------------------ decisions
    def proposal_at(self, position) -> Proposal | None:
        """The shown proposal under a data position of the proposals layer, or None."""
        if self.layer is None:
            return None
        value = self.layer.get_value(position, world=True)
        if not value:
            return None
        return next((p for p in self.proposals if self._numbers.get(id(p)) == int(value)), None)

    def _on_click(self, layer, event) -> None:
        p = self.proposal_at(event.position)
        if p is None:
            return
        mods = modifier_names(event)
        if "Alt" in mods:
            self.reject(p)
        elif "Shift" in mods:
            self.edit(p)
        else:
            self.accept([p])

    def accept(self, proposals: list[Proposal]) -> int:
        """Commit ``proposals`` as objects (one undoable step each); returns how many were committed."""
        a = self.annotator
        session = a.session
        if session is None or not proposals or a.jobs.refuse():
            return 0
        try:
            made = accept_proposals(session, proposals)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            made = []
        a.objects_changed(session)
        gone = {id(p) for p in proposals}
        self.proposals = [p for p in self.proposals if id(p) not in gone]
        self.show_proposals()
        if made:
            show_info(f"PromptSeg: {len(made)} object(s) committed from proposals; Ctrl+Z undoes them one by one.")
        return len(made)

    def accept_shown(self) -> int:
        """Accept every proposal at or above the threshold."""
        return self.accept(self.shown())

    def reject(self, proposal: Proposal) -> None:
        """Drop a proposal; its mask becomes a negative example for the next search on its slice."""
        shape = self.annotator.session.image.plane_shape
        self._rejected.setdefault(tuple(proposal.slice_key), []).append(proposal.mask(shape))
        self.proposals = [p for p in self.proposals if p is not proposal]
        self.show_proposals()

    def edit(self, proposal: Proposal) -> None:
        """Make the proposal's prompts (seed point, box, shape prior as painted mask) the current object, to correct it."""
        a = self.annotator
        if a.jobs.refuse():
            return
        key = tuple(proposal.slice_key)
        box = None if proposal.prompt_box is None else np.asarray(proposal.prompt_box)
        prior = proposal.prompt_mask(a.session.image.plane_shape)
        a.edit_object(key, Prompts(points=[proposal.seed], labels=[1], box=box, mask=prior))
        self.proposals = [p for p in self.proposals if p is not proposal]
        self.show_proposals()

    def clear_proposals(self) -> None:
        """Forget every proposal (nothing is committed) and the rejected examples."""
        self.proposals, self._rejected = [], {}
        self.show_proposals()


def _run(job):
    """The worker's generator: the search's progress, then its proposals."""
    found = yield from job
    return found
