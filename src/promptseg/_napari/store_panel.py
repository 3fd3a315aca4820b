"""The annotator's embedding-store field: slices come from a store instead of being encoded.

The bookkeeping (which store serves which image, and whether it fits) is
:class:`~promptseg._napari.stores.ImageStores`; this panel is its field,
browse button and status line.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..store.paths import STORE_SUFFIX
from .host import Annotator
from .stores import ImageStores


class StorePanel(QWidget):
    """Store field, browse button and status line.

    Parameters
    ----------
    annotator : Annotator
        Gives the image layer; told (``image_settings_changed``) when the store of the image changes.
    stores : ImageStores
        The stores attached to the images; its status is shown here.
    """

    def __init__(self, annotator: Annotator, stores: ImageStores) -> None:
        super().__init__()
        self.annotator = annotator
        self.stores = stores
        self.field = QLineEdit()
        self.field.setPlaceholderText(f"automatic: IMAGE{STORE_SUFFIX} next to the image file")
        self.field.setToolTip("An embedding store (promptseg embed), or a folder to look for IMAGE"
                              f"{STORE_SUFFIX} in. Enter opens it for the current image.")
        self.browse = QPushButton("Browse…")
        self.status = QLabel(stores.status)
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.field.textChanged.connect(self._place_changed)
        self.field.returnPressed.connect(lambda: self.open_store(self.field.text()))
        self.browse.clicked.connect(self._browse)
        stores.changed.connect(lambda: self.status.setText(stores.status))
        annotator.slice_encoded.connect(lambda: stores.refresh_status(annotator.image_layer))

    def _place_changed(self, text: str) -> None:
        self.stores.place = Path(text.strip()).expanduser() if text.strip() else None

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Embedding store (…embeddings.zarr) or a folder of stores")
        if path:
            self.field.setText(path)
            self.open_store(path)

    def open_store(self, path: str | Path) -> bool:
        """Use the store at ``path`` (or ``IMAGE.embeddings.zarr`` in the folder ``path``) for the current image.

        Returns whether it is used; a notification says why not.
        """
        layer = self.annotator.image_layer
        if layer is None or not str(path).strip():
            return False
        used = self.stores.open(layer, Path(str(path).strip()).expanduser())
        self.annotator.image_settings_changed()  # a store refused may have replaced the one used before
        return used
