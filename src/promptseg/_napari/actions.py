"""What the annotator's buttons and shortcuts do: commit, clear, undo, redo, polarity, export/import."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QFileDialog

from ..errors import PromptsegError
from ..session import Step, load_annotations, replay_iter, save_annotations
from .current import CurrentImage
from .object_clicks import ObjectClicks
from .panel import Panel
from .status import StatusLine


class AnnotatorActions:
    """Every user command of the annotator (buttons, keys, scripts) on the image being annotated.

    Parameters
    ----------
    current : CurrentImage
        The annotated image, its session and layers.
    panel : Panel
        The dock's controls (the polarity button, the overwrite checkbox).
    status : StatusLine
        The status line, told what a command did.
    """

    def __init__(self, current: CurrentImage, panel: Panel, status: StatusLine,
                 objects: ObjectClicks | None = None) -> None:
        self.current = current
        self.panel = panel
        self.status = status
        self.objects = objects  # a picked-up object is committed under its id, cleared by restoring it

    def toggle_polarity(self) -> None:
        """Switch new clicks between positive and negative (key N)."""
        c = self.current
        c.positive = not c.positive
        self.panel.show_polarity(c.positive)
        if c.layers is not None:
            c.layers.set_click_positive(c.positive)

    def commit(self) -> int | None:
        """Save the current object under a new id (key C); returns the id, None if nothing was committed."""
        s = self.current.session
        if s is None:
            return None
        if s.predicting:
            show_warning("PromptSeg: the mask is still being computed; commit again when it appears.")
            return None
        key = s.draft.slice_key
        kept = None if self.objects is None else self.objects.put_back(s, unchanged_only=True)
        if kept is not None:  # picked up and committed without a correction: its pixels as they were
            self._show_objects(key)
            return kept
        try:
            label = None if self.objects is None else self.objects.label_for_commit(s)
            obj = s.commit(overwrite=self.panel.overwrite.isChecked(), label=label)
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return None
        if self.objects is not None:
            self.objects.forget(s)
        self._show_objects(key)
        self.status.show(f"Committed object {obj.label} ({obj.area} px). Click on the next object.")
        return obj.label

    def _show_objects(self, key) -> None:
        """Redraw the objects layer, the prompts on slice ``key`` and the preview after a commit."""
        c = self.current
        c.write_prompts([key])
        c.layers.refresh_objects()
        c.show()

    def clear(self) -> None:
        """Forget the current object's prompts (Shift+C); undoable."""
        c, s = self.current, self.current.session
        if s is None:
            return
        key = s.draft.slice_key
        if self.objects is not None and self.objects.put_back(s) is not None:
            self._show_objects(key)
            return
        if s.clear():
            c.write_prompts([key])
        c.show()

    def undo(self) -> Step | None:
        """Undo the last prompt change, commit or clear (Ctrl+Z)."""
        s = self.current.session
        return self._replay(s.undo() if s else None)

    def redo(self) -> Step | None:
        """Redo (Ctrl+Shift+Z)."""
        s = self.current.session
        return self._replay(s.redo() if s else None)

    def _replay(self, step: Step | None) -> Step | None:
        if step is None:
            return None
        c = self.current
        c.write_prompts([step.before.slice_key, step.after.slice_key])
        if step.edit is not None:
            c.layers.refresh_objects()
        target = c.session.draft.slice_key
        if target is not None and target != c.key:
            c.go_to_slice(target)
        c.show()
        return step

    # ----------------------------------------------------- export / import
    def export_prompts(self, path: str | Path | None = None) -> Path | None:
        """Write the prompts of every committed object (with backend and checkpoint hash) as JSON."""
        s = self.current.session
        if s is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.panel.dock, "Export prompts", "annotations.json", "JSON (*.json)")
            if not path:
                return None
        out = save_annotations(path, s)
        show_info(f"PromptSeg: saved the prompts of {len(s.committed)} objects to {out}")
        return out

    def import_prompts(self, path: str | Path | None = None, *, overwrite: bool = False) -> list[str]:
        """Re-segment the objects of an exported file into the objects layer; returns warnings."""
        c, s = self.current, self.current.session
        if s is None:
            return []
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.panel.dock, "Import prompts", "", "JSON (*.json)")
            if not path:
                return []
        try:
            annotations = load_annotations(path)
            gen = replay_iter(s, annotations, overwrite=overwrite)
            with s.synchronous():  # every object is committed as soon as it is predicted
                while True:
                    next(gen)
        except StopIteration as stop:
            warnings = stop.value or []
        except PromptsegError as exc:
            show_warning(f"PromptSeg: {exc}")
            return [str(exc)]
        c.write_prompts([c.key])
        c.layers.refresh_objects()
        c.show()
        for text in warnings:
            show_warning(f"PromptSeg: {text}")
        return warnings
