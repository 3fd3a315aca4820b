"""The events of the annotated image's layers: prompts drawn (clicks, shapes, paint), contrast and pixels changed.

:class:`LayerEvents` connects the owned layers of the image being annotated
(and the image layer itself) to the annotator: every prompt change re-reads
the prompts of the displayed slice and has the :class:`~.current.CurrentImage`
predict them; a contrast change re-encodes once the slider rests; new pixels
re-encode at once.  The annotator connects it when it takes an image and
disconnects it when it leaves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator

import numpy as np
from napari.layers import Points
from napari.utils.events import Event as NapariEvent
from qtpy.QtCore import QTimer

from .keys import bind_shortcuts, unbind_shortcuts

if TYPE_CHECKING:
    from .annotator import AnnotatorWidget


class LayerEvents:
    """Layer event handlers of ``widget`` (an :class:`~.annotator.AnnotatorWidget`); see the module docstring."""

    def __init__(self, widget: AnnotatorWidget) -> None:
        self.widget = widget
        self.current = widget.current
        self.contrast_timer = QTimer(widget, singleShot=True, interval=400)
        self.contrast_timer.timeout.connect(widget.image_settings_changed)  # re-encode once the slider rests

    def connect(self) -> None:
        """Listen to the current image's owned layers and image layer; bind the shortcuts on the owned layers."""
        lay, image, w = self.current.layers, self.current.image_layer, self.widget
        lay.points.events.data.connect(self.on_prompt_data, position="first")  # mask first, then napari redraws the point
        lay.shapes.events.data.connect(self.on_prompt_data)
        lay.preview.events.paint.connect(self.on_paint)
        lay.points.mouse_drag_callbacks.append(self.on_click)
        w.click_ahead.connect(lay.points)
        image.events.contrast_limits.connect(self.on_contrast)
        image.events.data.connect(self.on_image_data)
        bind_shortcuts(w, [lay.points, lay.shapes, lay.preview, lay.objects])

    def disconnect(self) -> None:
        """Stop listening to the current image's layers (another image is taken, or one of them was closed)."""
        lay, image = self.current.layers, self.current.image_layer
        if lay is None:
            return
        lay.points.events.data.disconnect(self.on_prompt_data)
        lay.shapes.events.data.disconnect(self.on_prompt_data)
        lay.preview.events.paint.disconnect(self.on_paint)
        if self.on_click in lay.points.mouse_drag_callbacks:
            lay.points.mouse_drag_callbacks.remove(self.on_click)
        self.widget.click_ahead.disconnect(lay.points)
        image.events.contrast_limits.disconnect(self.on_contrast)
        image.events.data.disconnect(self.on_image_data)
        unbind_shortcuts([lay.points, lay.shapes, lay.preview, lay.objects])

    def on_contrast(self, event: NapariEvent | None = None) -> None:
        self.contrast_timer.start()  # re-encode once the slider rests

    def on_image_data(self, event: NapariEvent | None = None) -> None:
        if self.widget.settings.image_data_changed():
            self.widget._redisplay()  # noqa: SLF001 - the widget owns the redisplay

    # ------------------------------------------------------------ prompts
    def on_click(self, layer: Points, event: NapariEvent) -> Generator[None, None, None]:
        """Ctrl/Alt-click adds a negative point whatever the toggle says."""
        if layer.mode == "add":
            self.current.layers.set_click_positive(self.current.click_positive(event))
        yield

    def on_prompt_data(self, event: NapariEvent) -> None:
        c = self.current
        if c.syncing or str(getattr(event, "action", "changed")) not in ("added", "removed", "changed"):
            return
        if self.widget.jobs.refuse():  # a job reads the current object: the layers show it again, unchanged
            c.write_prompts([c.key])
            c.layers.set_click_positive(c.positive)
            return
        c.layers.recolor_points()  # no-op unless a point got the wrong colour
        c.layers.set_click_positive(c.positive)  # after a Ctrl/Alt-click; no-op otherwise
        self.prompts_changed()

    def on_paint(self, event: NapariEvent) -> None:
        # napari emits `paint` before it writes the pixels of a single paint() call: read them a moment later.
        if not self.current.syncing and self.current.key is not None:
            QTimer.singleShot(0, self.read_paint)

    def read_paint(self) -> None:
        c = self.current
        if c.key is None or c.layers is None:
            return
        c.layers.forget_preview_cache()
        self.prompts_changed(painted=np.asarray(c.layers.preview.data[c.key]) > 0)

    def prompts_changed(self, painted: np.ndarray | None = None) -> None:
        c = self.current
        if not c.ready:
            return
        self.widget.encoder.user_active()
        c.predict(c.read(c.key, painted), record=True)
