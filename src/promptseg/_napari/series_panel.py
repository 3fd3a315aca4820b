"""The annotator's image-series mode: walk a folder of images, one label TIFF per image, resume later.

The bookkeeping is :class:`promptseg.session.series.ImageSeries`; this panel
opens one image at a time as an image layer, loads its saved labels into the
objects layer, saves them (``NAME.labels.tif`` next to the image or in the
output folder) when the user moves on, and opens a folder at the first image
that is not done: one with no saved object that was not marked done
(*Done, no objects*).  Uncommitted prompts are not saved: commit (C) first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from napari.layers import Image
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QFileDialog, QGridLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..errors import PromptsegError
from ..session.series import ImageSeries
from .host import Annotator
from .layers import ROLE_KEY, SERIES_KEY

if TYPE_CHECKING:
    from napari import Viewer

    from .widget_session import WidgetSession


class SeriesPanel(QWidget):
    """Folder and output fields, Previous / Save / Next buttons and the position in the series.

    Parameters
    ----------
    annotator : Annotator
        Annotates the image this panel opens.
    """

    def __init__(self, annotator: Annotator) -> None:
        super().__init__()
        self.annotator = annotator
        self.series: ImageSeries | None = None
        self.index: int | None = None
        self.layer: Image | None = None  # the series image shown
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of images")
        self.output = QLineEdit()
        self.output.setPlaceholderText("label folder (default: next to each image)")
        self.open_button = QPushButton("Open folder…")
        self.output_button = QPushButton("Labels to…")
        self.previous = QPushButton("◀ Previous")
        self.save = QPushButton("Save labels")
        self.next = QPushButton("Next ▶")
        self.mark_done = QPushButton("Done, no objects")
        self.mark_done.setCheckable(True)
        self.mark_done.setToolTip("Mark this image done although it has no objects (nothing to annotate), "
                                  "so reopening the folder does not stop here")
        self.previous.setToolTip("Save this image's labels and open the previous image")
        self.next.setToolTip("Save this image's labels (NAME.labels.tif) and open the next image")
        self.save.setToolTip("Save this image's committed objects as NAME.labels.tif")
        self.status = QLabel("Open a folder to annotate its images one after the other; "
                             "it reopens at the first image not done.")
        self.status.setWordWrap(True)
        grid = QGridLayout()
        grid.addWidget(self.folder, 0, 0, 1, 2)
        grid.addWidget(self.open_button, 0, 2)
        grid.addWidget(self.output, 1, 0, 1, 2)
        grid.addWidget(self.output_button, 1, 2)
        grid.addWidget(self.previous, 2, 0)
        grid.addWidget(self.save, 2, 1)
        grid.addWidget(self.next, 2, 2)
        grid.addWidget(self.mark_done, 3, 0, 1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        self.open_button.clicked.connect(self._choose_folder)
        self.output_button.clicked.connect(self._choose_output)
        self.folder.returnPressed.connect(lambda: self.open_folder(self.folder.text()))
        self.previous.clicked.connect(lambda: self.step(-1))
        self.save.clicked.connect(lambda: self.save_labels())
        self.next.clicked.connect(lambda: self.step(1))
        self.mark_done.toggled.connect(lambda _checked: self.save_labels())
        self._enable()

    def _enable(self) -> None:
        for button in (self.previous, self.save, self.next, self.mark_done):
            button.setEnabled(self.series is not None)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of images to annotate")
        if path:
            self.folder.setText(path)
            self.open_folder(path)

    def _choose_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the label TIFFs")
        if path:
            self.output.setText(path)

    # ------------------------------------------------------------ walking
    def open_folder(self, folder: str | Path, output_dir: str | Path | None = None) -> int | None:
        """Open the series in ``folder`` at the first image not done; returns its index."""
        output_dir = output_dir if output_dir is not None else (self.output.text().strip() or None)
        if self.annotator.jobs.refuse():  # a job's result goes to the image shown
            return None
        try:
            series = ImageSeries(folder, output_dir=output_dir)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return None
        if self.series is not None:
            self.save_labels()
        self.series = series
        self.folder.setText(str(series.folder))
        if output_dir is not None:
            self.output.setText(str(output_dir))
        self._enable()
        index = series.resume_index()
        self.show_image(index)
        return index

    def step(self, delta: int) -> int | None:
        """Save this image's labels and open the one ``delta`` away (next: +1, previous: -1)."""
        if self.series is None or self.index is None or self.annotator.jobs.refuse():
            return None
        if not self._save()[0]:
            return self.index  # not saved (the notification says why): stay
        target = self.series.step(self.index, delta)
        if target == self.index:
            self.status.setText(self._position() + " — the " + ("last" if delta > 0 else "first") + " image; saved.")
            return target
        self.show_image(target)
        return target

    def show_image(self, index: int) -> None:
        """Replace the series image shown by image ``index`` (with its saved labels, if any)."""
        series = self.series
        path = series.images[index]
        try:
            data = series.read(index)
            labels = series.load_labels(index)
        except (PromptsegError, OSError, ValueError) as exc:
            show_warning(f"PromptSeg: cannot open {path.name}: {exc}")
            return
        a = self.annotator
        old = self.layer
        layer = a.viewer.add_image(data, name=path.name, metadata={SERIES_KEY: str(path)})
        self.layer, self.index = layer, index
        record = series.record(index)
        self.mark_done.blockSignals(True)  # showing the saved mark is not a change to save
        self.mark_done.setChecked(record is not None and record.marked_done)
        self.mark_done.blockSignals(False)
        a.set_image_layer(layer)
        if labels is not None and a.image_layer is layer:
            try:
                a.replace_objects(labels)
            except PromptsegError as exc:
                show_warning(f"PromptSeg: the saved labels of {path.name} are not used: {exc}")
        if old is not None:
            _remove_with_owned_layers(a.viewer, old)
        self.status.setText(self._position())

    def save_labels(self) -> Path | None:
        """Write the objects of the image shown (and its *Done* mark) as its label TIFF.

        Returns the path; None when nothing was written (no objects, not
        marked done and no label file yet; or the write failed).
        """
        return self._save()[1]

    def _save(self) -> tuple[bool, Path | None]:
        """Save as :meth:`save_labels` does; also whether it went well (False: the notification says why)."""
        session = self._session()
        if self.series is None or self.index is None or session is None:
            return True, None  # nothing shown (or its layer is closed): nothing to save
        if not session.draft.is_empty:
            show_info("PromptSeg: the object being drawn is not committed, so it is not saved (C commits it).")
        try:
            out = self.series.save_labels(self.index, session.objects, done=self.mark_done.isChecked())
        except (PromptsegError, OSError) as exc:
            show_warning(f"PromptSeg: the labels could not be saved: {exc}. They are still in the objects layer.")
            return False, None
        self.status.setText(self._position())
        return True, out

    def _session(self) -> WidgetSession | None:
        """The annotation session of the series image shown (None once its layer is closed)."""
        layer = self.layer
        if layer is None or layer not in self.annotator.viewer.layers:
            return None
        return self.annotator.session_of(layer)

    def _position(self) -> str:
        series, i = self.series, self.index
        record = series.record(i)
        if record is None or not record.done:
            state = "not done"
        elif record.objects:
            state = f"done: {record.objects} object{'s' if record.objects != 1 else ''} saved"
        else:
            state = "done: marked, no objects"
        return f"Image {i + 1} of {len(series)}: {series.images[i].name} ({state})."


def _remove_with_owned_layers(viewer: Viewer, image: Image) -> None:
    """Remove ``image`` and the prompts/preview/objects layers the annotator made for it."""
    owned = [layer for layer in viewer.layers
             if layer.metadata.get(ROLE_KEY) and layer.metadata.get("promptseg_image") == image.unique_id]
    for layer in owned + [image]:
        if layer in viewer.layers:
            viewer.layers.remove(layer)
