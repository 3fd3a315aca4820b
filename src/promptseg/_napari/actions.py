"""What the annotator's buttons and shortcuts do: commit, clear, undo, redo, polarity, export/import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QFileDialog

from ..errors import PromptsegError
from ..session import SliceKey, Step, load_annotations, replay_iter, save_annotations


class NoBackend:
    """Stands in until a model is loaded."""

    name = "no model"
    backend_id = "none"

    def encode(self, image, *, contrast_limits=None):
        raise PromptsegError("no model is loaded yet: pick one in the Model menu.")

    def predict(self, embedding, **prompts):
        raise PromptsegError("no model is loaded yet: pick one in the Model menu.")


class AnnotatorActions:
    """Mixin of :class:`AnnotatorWidget`: every user command, callable from scripts and tests."""

    session: Any
    layers: Any

    def toggle_polarity(self) -> None:
        """Switch new clicks between positive and negative (key N)."""
        self.positive = not self.positive
        self.panel.show_polarity(self.positive)
        if self.layers is not None:
            self.layers.set_click_positive(self.positive)

    def commit(self) -> int | None:
        """Save the current object under a new id (key C); returns the id, None if nothing was committed."""
        if self.session is None:
            return None
        if self.session.predicting:
            show_warning("PromptSeg: the mask is still being computed; commit again when it appears.")
            return None
        key = self.session.draft.slice_key
        try:
            obj = self.session.commit(overwrite=self.panel.overwrite.isChecked())
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return None
        self._write_prompts([key])
        self.layers.refresh_objects()
        self._show()
        self._set_status(f"Committed object {obj.label} ({obj.area} px). Click on the next object.")
        return obj.label

    def clear(self) -> None:
        """Forget the current object's prompts (Shift+C); undoable."""
        if self.session is None:
            return
        key = self.session.draft.slice_key
        if self.session.clear():
            self._write_prompts([key])
        self._show()

    def undo(self) -> Step | None:
        """Undo the last prompt change, commit or clear (Ctrl+Z)."""
        return self._replay(self.session.undo() if self.session else None)

    def redo(self) -> Step | None:
        """Redo (Ctrl+Shift+Z)."""
        return self._replay(self.session.redo() if self.session else None)

    def _replay(self, step: Step | None) -> Step | None:
        if step is None:
            return None
        self._write_prompts([step.before.slice_key, step.after.slice_key])
        if step.edit is not None:
            self.layers.refresh_objects()
        target = self.session.draft.slice_key
        if target is not None and target != self._key:
            self._go_to_slice(target)
        self._show()
        return step

    def session_of(self, layer: Any):
        """The annotation session of image ``layer`` (None if it was never annotated)."""
        found = self._sessions.get(id(layer))
        return None if found is None else found[0]

    def replace_objects(self, labels: np.ndarray) -> None:
        """Make ``labels`` (label_shape ints, e.g. saved ones) the current image's objects; starts its undo history afresh."""
        labels = np.asarray(labels)
        shape = tuple(self.layers.objects.data.shape)
        if labels.shape != shape or not np.issubdtype(labels.dtype, np.integer):
            raise PromptsegError(f"labels of shape {labels.shape} ({labels.dtype}) do not fit the image: "
                                 f"integer labels of shape {shape} are needed.")
        layer = self.image_layer
        self.layers.objects.data = labels.astype(np.int32)
        self._sessions.pop(id(layer), None)  # a new session takes the new array and its next free id
        self.set_image_layer(layer)

    def _write_prompts(self, keys: list[SliceKey | None]) -> None:
        """Make the points and shapes layers show the session's current object on ``keys``."""
        draft = self.session.draft
        self._syncing = True
        try:
            for key in dict.fromkeys(k for k in keys if k is not None):
                self.layers.write(key, draft.prompts if draft.slice_key == key else None)
        finally:
            self._syncing = False

    def _go_to_slice(self, key: SliceKey) -> None:
        layer, dims = self.image_layer, self.viewer.dims
        data_pos = np.asarray(layer.world_to_data(dims.point), float)
        data_pos[: len(key)] = key
        world = layer.data_to_world(data_pos)
        offset = dims.ndim - layer.ndim
        for i in range(len(key)):
            dims.set_point(offset + i, world[i])

    # ----------------------------------------------------- export / import
    def export_prompts(self, path: str | Path | None = None) -> Path | None:
        """Write the prompts of every committed object (with backend and checkpoint hash) as JSON."""
        if self.session is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export prompts", "annotations.json", "JSON (*.json)")
            if not path:
                return None
        out = save_annotations(path, self.session)
        show_info(f"PromptSeg: saved the prompts of {len(self.session.committed)} objects to {out}")
        return out

    def import_prompts(self, path: str | Path | None = None, *, overwrite: bool = False) -> list[str]:
        """Re-segment the objects of an exported file into the objects layer; returns warnings."""
        if self.session is None:
            return []
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import prompts", "", "JSON (*.json)")
            if not path:
                return []
        try:
            annotations = load_annotations(path)
            gen = replay_iter(self.session, annotations, overwrite=overwrite)
            with self.session.synchronous():  # every object is committed as soon as it is predicted
                while True:
                    next(gen)
        except StopIteration as stop:
            warnings = stop.value or []
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return [str(exc)]
        self._write_prompts([self._key])
        self.layers.refresh_objects()
        self._show()
        for text in warnings:
            show_warning(f"PromptSeg: {text}")
        return warnings
