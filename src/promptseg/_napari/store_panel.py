"""The annotator's embedding-store field: slices come from a store instead of being encoded.

A store is found next to the image file (``IMAGE.embeddings.zarr``, or in
the folder typed in the field) or chosen in the field.  It is used only when
it was written for this very image (shape, dtype and the content digest of a
slice) and the model chosen in the widget; otherwise a notification says why
and what to do, and slices are encoded live.  While a store is used, the
image is scaled to 8 bits with the store's contrast limits (the layer's are
set to them), since other limits would be other embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..backends import Backend
from ..errors import PromptsegError
from ..store import EmbeddingStore, StoredBackend, StoreMetadata, find_store, slice_digest
from ..store.paths import STORE_SUFFIX
from .series_panel import SERIES_KEY


@dataclass
class _Attached:
    """The store chosen for one image layer."""

    path: Path
    metadata: StoreMetadata
    stored: StoredBackend | None = None  # opened for ``model``
    model: Backend | None = None


def image_path(layer: Any) -> Path | None:
    """The file an image layer was opened from (by napari, or by the series mode), if any."""
    path = getattr(getattr(layer, "source", None), "path", None) or layer.metadata.get(SERIES_KEY)
    return Path(path) if path else None


class StorePanel(QWidget):
    """Store field, browse button and status line; tells the annotator which backend and limits to use.

    Parameters
    ----------
    annotator : AnnotatorWidget
        Asked for its image layer and session; told (``store_changed``) when the store of the image changes.
    """

    def __init__(self, annotator: Any) -> None:
        super().__init__()
        self.annotator = annotator
        self._attached: dict[int, _Attached] = {}  # by layer unique id
        self._warned: set[tuple] = set()
        self._searched: set[int] = set()
        self.field = QLineEdit()
        self.field.setPlaceholderText(f"automatic: IMAGE{STORE_SUFFIX} next to the image file")
        self.field.setToolTip("An embedding store (promptseg embed), or a folder to look for IMAGE"
                              f"{STORE_SUFFIX} in. Enter opens it for the current image.")
        self.browse = QPushButton("Browse…")
        self.status = QLabel("No store: slices are encoded live.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.field.returnPressed.connect(lambda: self.open_store(self.field.text()))
        self.browse.clicked.connect(self._browse)

    # ------------------------------------------------------------- choosing
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
        found = self._resolve(layer, Path(str(path).strip()).expanduser())
        if found is None:
            show_warning(f"PromptSeg: no embedding store at {path} for '{layer.name}'. Compute one with "
                         "`promptseg embed IMAGE`; slices are encoded live meanwhile.")
            return False
        self._attached.pop(layer.unique_id, None)
        used = self._attach(layer, found)
        self.annotator.store_changed()
        return used

    def discover(self, layer: Any) -> None:
        """Look for a store of ``layer`` once (next to its file, or in the field's folder)."""
        if layer.unique_id in self._attached or layer.unique_id in self._searched:
            return
        self._searched.add(layer.unique_id)
        text = self.field.text().strip()
        found = self._resolve(layer, Path(text).expanduser()) if text else None
        if found is None and image_path(layer) is not None:
            found = find_store(image_path(layer))
        if found is not None:
            self._attach(layer, found)

    @staticmethod
    def _resolve(layer: Any, path: Path) -> Path | None:
        if (path / "zarr.json").exists():
            return path
        source = image_path(layer)
        if path.is_dir() and source is not None:
            return find_store(source, path)
        return None

    def _attach(self, layer: Any, path: Path) -> bool:
        try:
            store = EmbeddingStore.open(path)
        except PromptsegError as exc:
            self._refuse(layer, path, str(exc))
            return False
        problem = _image_mismatch(layer, store.metadata)
        if problem:
            self._refuse(layer, path, f"the embedding store {path} was written for other data ({problem}). It is not "
                         "used: compute one for this image with `promptseg embed IMAGE`, or choose another store.")
            return False
        self._attached[layer.unique_id] = _Attached(path, store.metadata)
        limits = store.metadata.image.contrast_limits
        if limits is not None and tuple(layer.contrast_limits) != limits:
            layer.contrast_limits = limits  # show the image as the model sees it
        show_info(f"PromptSeg: using the embedding store {path} for '{layer.name}'.")
        self._show_status(layer)
        return True

    def _refuse(self, layer: Any, path: Path, text: str) -> None:
        show_warning(f"PromptSeg: {text} Slices are encoded live meanwhile.")
        self.status.setText(f"Store not used ({path.name}): see the notification. Slices are encoded live.")

    # ------------------------------------------------------------ queries
    def contrast_limits(self, layer: Any, default: tuple | None) -> tuple | None:
        """The limits to scale ``layer`` with: the store's when one is attached, else ``default``."""
        attached = self._attached.get(layer.unique_id)
        return default if attached is None else attached.metadata.image.contrast_limits

    def uses_store(self, layer: Any) -> bool:
        return layer is not None and layer.unique_id in self._attached

    def backend_for(self, layer: Any, backend: Backend) -> Backend:
        """``backend`` reading from ``layer``'s store when one fits this model, else ``backend`` itself."""
        attached = self._attached.get(layer.unique_id) if layer is not None else None
        if attached is None or getattr(backend, "backend_id", "none") == "none":
            return backend
        meta = attached.metadata
        if meta.backend_id != backend.backend_id:
            key = (layer.unique_id, backend.backend_id)
            if key not in self._warned:
                self._warned.add(key)
                show_warning(f"PromptSeg: the embedding store {attached.path} was computed with the model "
                             f"'{meta.backend_name}', not '{backend.name}'. Pick '{meta.backend_name}' in the Model "
                             "menu to use it; slices are encoded live meanwhile.")
            self.status.setText(f"Store {attached.path.name} is for '{meta.backend_name}': encoding live.")
            return backend
        if attached.stored is None or attached.model is not backend:
            try:
                attached.stored, attached.model = StoredBackend.open(attached.path, backend), backend
            except PromptsegError as exc:
                self._attached.pop(layer.unique_id)
                self._refuse(layer, attached.path, str(exc))
                return backend
        self._show_status(layer)
        return attached.stored

    def _show_status(self, layer: Any) -> None:
        attached = self._attached[layer.unique_id]
        limits = attached.metadata.image.contrast_limits
        scale = "robust percentiles" if limits is None else f"contrast limits {limits[0]:g}–{limits[1]:g}"
        counts = ""
        if attached.stored is not None:
            counts = f"; {attached.stored.hits} slices read, {attached.stored.misses} encoded"
        self.status.setText(f"Store {attached.path.name} ({attached.metadata.backend_name}, {scale}){counts}.")

    def refresh_status(self) -> None:
        layer = self.annotator.image_layer
        if self.uses_store(layer):
            self._show_status(layer)


def _image_mismatch(layer: Any, meta: StoreMetadata) -> str | None:
    """Why the store cannot hold ``layer``'s embeddings (shape, dtype, the first slice's content), or None."""
    info = meta.image
    data = layer.data
    shape, dtype = tuple(int(s) for s in np.shape(data)), np.dtype(data.dtype).name
    if shape != tuple(info.shape) or dtype != info.dtype or bool(layer.rgb) != info.rgb:
        return f"an image of shape {tuple(info.shape)} {info.dtype}, this one is {shape} {dtype}"
    lead = len(shape) - (3 if info.rgb else 2)
    first = np.asarray(data[(0,) * lead])
    if slice_digest(first) != info.slice_digests[0]:
        return "an image of the same shape with other pixels"
    return None
