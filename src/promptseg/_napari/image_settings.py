"""How the annotator scales each image and which backend serves it: contrast limits, new pixels, stores.

The session's :class:`~promptseg.session.ImageStack` carries the contrast
limits (new limits are new embeddings); while an embedding store is used for
the image, its limits win over the layer's and the backend reads from the
store (:class:`~promptseg._napari.stores.ImageStores`).
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_warning

from ..backends import Backend
from ..errors import PromptsegError
from ..session import ImageStack
from .current import CurrentImage
from .encoding import EncodeScheduler
from .stores import ImageStores


class ImageSettings:
    """Contrast limits and backend of the current image's session.

    Parameters
    ----------
    current : CurrentImage
        The annotated image and its session (whose image stack and backend change here).
    stores : ImageStores
        The embedding stores attached to image layers.
    encoder : EncodeScheduler
        Cancelled when the backend changes.
    """

    def __init__(self, current: CurrentImage, stores: ImageStores, encoder: EncodeScheduler) -> None:
        self.current = current
        self.stores = stores
        self.encoder = encoder

    def limits(self, layer: Image) -> tuple[float, float] | None:
        """How the session scales ``layer`` to 8 bits: its store's limits, else the layer's (none for uint8)."""
        default = None if np.dtype(layer.dtype) == np.uint8 else tuple(layer.contrast_limits)
        return self.stores.contrast_limits(layer, default)

    def backend(self, chosen: Backend) -> Backend:
        """The ``chosen`` backend, reading from the current image's embedding store when one fits."""
        return self.stores.backend_for(self.current.image_layer, chosen)

    def image_data_changed(self) -> bool:
        """The image layer got new pixels: a new image stack (its embeddings are stale; the objects stay).

        Returns whether the session got it (False: a notification says why not).
        """
        layer, session = self.current.image_layer, self.current.session
        old = session.image
        try:
            stack = ImageStack(layer.data, rgb=layer.rgb, contrast_limits=self.limits(layer),
                               key=(layer.unique_id, object()))
        except PromptsegError as exc:
            show_warning(f"PromptSeg: cannot annotate '{layer.name}' any more: {exc}")
            return False
        if stack.label_shape != old.label_shape:
            show_warning(f"PromptSeg: '{layer.name}' changed shape; its objects layer no longer fits. "
                         "Open the new data as a new image layer.")
            return False
        session.image = stack
        return True

    def apply(self, chosen: Backend | None) -> bool:
        """Re-derive the current image's contrast limits and backend (after a contrast or store change).

        Returns whether either changed (the displayed slice must then be encoded and predicted again).
        """
        layer, session = self.current.image_layer, self.current.session
        if session is None or layer is None:
            return False
        limits, old, changed = self.limits(layer), session.image, False
        if limits != old.contrast_limits:
            session.image = ImageStack(old.data, rgb=old.rgb, contrast_limits=limits, key=old.key[0])
            changed = True
        backend = self.backend(chosen) if chosen is not None else session.backend
        if backend is not session.backend:
            self.encoder.cancel()
            session.set_backend(backend)
            changed = True
        return changed
