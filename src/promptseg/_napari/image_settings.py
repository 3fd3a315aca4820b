"""How the annotator scales each image and which backend serves it: contrast limits, new pixels, stores.

A mixin of :class:`~promptseg._napari.annotator.AnnotatorWidget`.  The
session's :class:`~promptseg.session.ImageStack` carries the contrast limits
(new limits are new embeddings); while an embedding store is used for the
image, its limits win over the layer's and the backend reads from the store
(:class:`~promptseg._napari.store_panel.StorePanel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_warning

from ..backends import Backend
from ..errors import PromptsegError
from ..session import ImageStack


class ImageSettings:
    """Contrast limits and backend of the current image's session."""

    session: Any
    image_layer: Any

    def _limits(self, layer: Image):
        """How the session scales ``layer`` to 8 bits: its store's limits, else the layer's (none for uint8)."""
        default = None if np.dtype(layer.dtype) == np.uint8 else tuple(layer.contrast_limits)
        return self.store_panel.contrast_limits(layer, default)

    def _session_backend(self) -> Backend:
        """The chosen backend, reading from the current image's embedding store when one fits."""
        return self.store_panel.backend_for(self.image_layer, self.backend)

    def _on_image_data(self, event: Any = None) -> None:
        """The image layer got new pixels: its embeddings are stale (the objects stay)."""
        layer, old = self.image_layer, self.session.image
        try:
            stack = ImageStack(layer.data, rgb=layer.rgb, contrast_limits=self._limits(layer),
                               key=(layer.unique_id, object()))
        except PromptsegError as exc:
            show_warning(f"PromptSeg: cannot annotate '{layer.name}' any more: {exc}")
            return
        if stack.label_shape != old.label_shape:
            show_warning(f"PromptSeg: '{layer.name}' changed shape; its objects layer no longer fits. "
                         "Open the new data as a new image layer.")
            return
        self.session.image = stack
        self._key = None
        self._on_dims()

    def _on_contrast(self, event: Any = None) -> None:
        self._contrast_timer.start()  # re-encode once the slider rests

    def _contrast_changed(self) -> None:
        self.store_changed()

    def store_changed(self) -> None:
        """Re-derive the current image's contrast limits and backend (after a contrast or store change)."""
        if self.session is None or self.image_layer is None:
            return
        limits, old, changed = self._limits(self.image_layer), self.session.image, False
        if limits != old.contrast_limits:
            self.session.image = ImageStack(old.data, rgb=old.rgb, contrast_limits=limits, key=old.key[0])
            changed = True
        backend = self._session_backend() if self.backend is not None else self.session.backend
        if backend is not self.session.backend:
            self.encoder.cancel()
            self.session.set_backend(backend)
            changed = True
        if changed:
            self._key = None
            self._on_dims()
