"""Which embedding store serves each image layer: slices come from a store instead of being encoded.

A store is found next to the image file (``IMAGE.embeddings.zarr``, or in a
folder the user typed) or chosen by the user.  It is used only when it was
written for this very image (shape, dtype and the content digest of a slice)
and the model chosen in the widget; otherwise a notification says why and
what to do, and slices are encoded live.  While a store is used, the image
is scaled to 8 bits with the store's contrast limits (the layer's are set to
them), since other limits would be other embeddings.

:class:`ImageStores` is the bookkeeping (no Qt widget); the annotator asks it
for each image's limits and backend, and
:class:`~promptseg._napari.store_panel.StorePanel` shows its :attr:`ImageStores.status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_info, show_warning

from ..backends import Backend
from ..errors import PromptsegError
from ..store import EmbeddingStore, StoredBackend, StoreMetadata, find_store, slice_digest
from .host import Event
from .layers import SERIES_KEY


@dataclass
class _Attached:
    """The store chosen for one image layer."""

    path: Path
    metadata: StoreMetadata
    stored: StoredBackend | None = None  # opened for ``model``
    model: Backend | None = None


def image_path(layer: Image) -> Path | None:
    """The file an image layer was opened from (by napari, or by the series mode), if any."""
    path = getattr(getattr(layer, "source", None), "path", None) or layer.metadata.get(SERIES_KEY)
    return Path(path) if path else None


class ImageStores:
    """The embedding store attached to each image layer (by its ``unique_id``), and a one-line status.

    Attributes
    ----------
    status : str
        What the store of the last image asked about does (shown by the store panel).
    changed : Event
        Emitted when :attr:`status` changed.
    place : Path or None
        Where to look first for the store of a new image: a store, or a
        folder of ``IMAGE.embeddings.zarr`` stores (the store panel's field).
    """

    def __init__(self) -> None:
        self._attached: dict[int, _Attached] = {}  # by layer unique id
        self._warned: set[tuple] = set()
        self._searched: set[int] = set()
        self.status = "No store: slices are encoded live."
        self.changed = Event()
        self.place: Path | None = None

    def _say(self, text: str) -> None:
        self.status = text
        self.changed.emit()

    # ------------------------------------------------------------- choosing
    def open(self, layer: Image, path: Path) -> bool:
        """Use the store at ``path`` (or ``IMAGE.embeddings.zarr`` in the folder ``path``) for ``layer``.

        Returns whether it is used; a notification says why not.
        """
        found = self._resolve(layer, path)
        if found is None:
            show_warning(f"PromptSeg: no embedding store at {path} for '{layer.name}'. Compute one with "
                         "`promptseg embed IMAGE`; slices are encoded live meanwhile.")
            return False
        self._attached.pop(layer.unique_id, None)
        return self._attach(layer, found)

    def discover(self, layer: Image) -> None:
        """Look for a store of ``layer`` once: at :attr:`place` (when set), else next to its file."""
        if layer.unique_id in self._attached or layer.unique_id in self._searched:
            return
        self._searched.add(layer.unique_id)
        found = self._resolve(layer, self.place) if self.place is not None else None
        if found is None and image_path(layer) is not None:
            found = find_store(image_path(layer))
        if found is not None:
            self._attach(layer, found)

    @staticmethod
    def _resolve(layer: Image, path: Path) -> Path | None:
        if (path / "zarr.json").exists():
            return path
        source = image_path(layer)
        if path.is_dir() and source is not None:
            return find_store(source, path)
        return None

    def _attach(self, layer: Image, path: Path) -> bool:
        try:
            store = EmbeddingStore.open(path)
        except PromptsegError as exc:
            self._refuse(path, str(exc))
            return False
        problem = _image_mismatch(layer, store.metadata)
        if problem:
            self._refuse(path, f"the embedding store {path} was written for other data ({problem}). It is not "
                         "used: compute one for this image with `promptseg embed IMAGE`, or choose another store.")
            return False
        self._attached[layer.unique_id] = _Attached(path, store.metadata)
        limits = store.metadata.image.contrast_limits
        if limits is not None and tuple(layer.contrast_limits) != limits:
            layer.contrast_limits = limits  # show the image as the model sees it
        show_info(f"PromptSeg: using the embedding store {path} for '{layer.name}'.")
        self._show_status(layer)
        return True

    def _refuse(self, path: Path, text: str) -> None:
        show_warning(f"PromptSeg: {text} Slices are encoded live meanwhile.")
        self._say(f"Store not used ({path.name}): see the notification. Slices are encoded live.")

    # ------------------------------------------------------------ queries
    def contrast_limits(self, layer: Image, default: tuple | None) -> tuple | None:
        """The limits to scale ``layer`` with: the store's when one is attached, else ``default``."""
        attached = self._attached.get(layer.unique_id)
        return default if attached is None else attached.metadata.image.contrast_limits

    def uses_store(self, layer: Image | None) -> bool:
        return layer is not None and layer.unique_id in self._attached

    def backend_for(self, layer: Image | None, backend: Backend) -> Backend:
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
            self._say(f"Store {attached.path.name} is for '{meta.backend_name}': encoding live.")
            return backend
        if attached.stored is None or attached.model is not backend:
            try:
                attached.stored, attached.model = StoredBackend.open(attached.path, backend), backend
            except PromptsegError as exc:
                self._attached.pop(layer.unique_id)
                self._refuse(attached.path, str(exc))
                return backend
        self._show_status(layer)
        return attached.stored

    def _show_status(self, layer: Image) -> None:
        attached = self._attached[layer.unique_id]
        limits = attached.metadata.image.contrast_limits
        scale = "robust percentiles" if limits is None else f"contrast limits {limits[0]:g}–{limits[1]:g}"
        counts = ""
        if attached.stored is not None:
            counts = f"; {attached.stored.hits} slices read, {attached.stored.misses} encoded"
        self._say(f"Store {attached.path.name} ({attached.metadata.backend_name}, {scale}){counts}.")

    def refresh_status(self, layer: Image | None) -> None:
        """Update :attr:`status` with the slices ``layer``'s store has served (when it uses one)."""
        if self.uses_store(layer):
            self._show_status(layer)


def _image_mismatch(layer: Image, meta: StoreMetadata) -> str | None:
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
