"""Committed objects corrected on the canvas: Shift-click picks one up, D deletes, M merges.

* **Shift-click** inside a committed object (prompts layer selected, add
  mode) makes it the current object, its mask the starting prompt
  (:func:`promptseg.session.adopt.pick_up`): the next clicks correct it,
  **C** puts it back under its id, **Shift+C** restores it unchanged.
  napari's Points layer would add a point for a Shift-click in add mode
  (its ``add`` ignores modifiers), so for a Shift press the layer is put in
  pan-zoom mode until the release: no point is added, a Shift-drag pans.
  The viewer's mouse callbacks run before the layer's, which is what makes
  this work.
* **D** with the pointer over an object deletes it on the displayed slice.
* **M** over one object, then **M** over another merges the second into the
  first (it keeps the first one's id); **M** over the background, or over the
  first object again, cancels.

Each is one undoable step (Ctrl+Z).  Positions are the viewer's world
coordinates turned into the image's (row, col) data frame.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generator

import numpy as np

from ..errors import PromptsegError
from ..session import SliceKey
from ..session.adopt import pick_up
from ..session.object_edits import delete_object, merge_objects, put_back
from .keys import modifier_names

if TYPE_CHECKING:
    from .current import CurrentImage
    from .status import StatusLine
    from .widget_session import WidgetSession

#: The pointer may move this many canvas pixels between press and release of a click.
CLICK_SLACK = 3.0


@dataclass(frozen=True)
class Picked:
    """An object picked up for correcting: its id, its slice and its mask as it was."""

    label: int
    key: SliceKey
    mask: np.ndarray


class ObjectClicks:
    """Pick-up, delete and merge of committed objects on the annotated image (see the module docstring).

    Parameters
    ----------
    current : CurrentImage
        The annotated image, its session and layers.
    status : StatusLine
        Told what each action did (or why it did nothing).
    """

    def __init__(self, current: CurrentImage, status: StatusLine) -> None:
        self.current = current
        self.status = status
        self._picked: weakref.WeakKeyDictionary[WidgetSession, Picked] = weakref.WeakKeyDictionary()
        self._merge_first: tuple[Any, SliceKey, int] | None = None  # (session, slice, id) chosen with M

    def connect(self, viewer: Any) -> None:
        """Take Shift-clicks on ``viewer``'s canvas."""
        viewer.mouse_drag_callbacks.append(self.on_mouse)

    # ------------------------------------------------------------ pick up
    def on_mouse(self, viewer: Any, event: Any) -> Generator[None, None, None]:
        """A Shift press on the prompts layer in add mode: no point is added; at a release in place, pick up."""
        points = None if self.current.layers is None else self.current.layers.points
        if (event.button != 1 or "Shift" not in modifier_names(event) or points is None
                or viewer.layers.selection.active is not points or points.mode != "add"):
            return
        points.mode = "pan_zoom"  # before the layer's own callbacks run: napari's add is not started
        start, world = np.asarray(event.pos, float), tuple(event.position)
        try:
            yield
            while event.type == "mouse_move":
                yield
        finally:
            points.mode = "add"
        if event.type == "mouse_release" and np.abs(np.asarray(event.pos, float) - start).max() <= CLICK_SLACK:
            self.pick_up_at(world)

    def pick_up_at(self, world: tuple[float, ...]) -> int | None:
        """Make the committed object under viewer position ``world`` the current object; returns its id."""
        c = self.current
        found = self._under(world)
        if found is None:
            return None
        session, key, point = found
        if not session.draft.is_empty:
            self.status.show("Commit (C) or clear (Shift+C) the current object before picking up another one.")
            return None
        try:
            label, _ = pick_up(session, key, point)
        except PromptsegError as exc:
            self.status.show(f"{exc}")
            return None
        self._picked[session] = Picked(label, key, session.draft.prompts.mask)
        if session.waiting_for is not None:
            c.encoder.request(session, session.waiting_for)
        self._redraw([key])
        self.status.show(f"Object {label} picked up: click to correct it (Ctrl-click removes), C puts it back "
                         f"as {label}, Shift+C restores it as it was.")
        return label

    def label_for_commit(self, session: WidgetSession) -> int | None:
        """The id a commit of ``session``'s current object takes: the picked-up object's, else None (a new id)."""
        picked = self._live(session)
        return None if picked is None else picked.label

    def put_back(self, session: WidgetSession, *, unchanged_only: bool = False) -> int | None:
        """Restore a picked-up object as it was (undoable); returns its id, None when none is picked up.

        ``unchanged_only``: only when it was not corrected yet (a commit then
        keeps its pixels, not the model's answer to its mask).
        """
        picked = self._live(session)
        if picked is None:
            return None
        p = session.draft.prompts
        if unchanged_only and not (p.mask is picked.mask and not len(p.points) and p.box is None
                                   and not p.polygons and not p.scribbles):
            return None
        put_back(session, picked.key, picked.label, picked.mask)
        self.forget(session)
        self.status.show(f"Object {picked.label} restored as it was.")
        return picked.label

    def forget(self, session: WidgetSession) -> None:
        """The current object was committed or cleared: nothing is picked up any more."""
        self._picked.pop(session, None)

    def _live(self, session: WidgetSession) -> Picked | None:
        """The picked-up object, while it is still out of the objects array and the current object is on its slice."""
        picked = self._picked.get(session)
        if picked is None:
            return None
        d = session.draft
        if d.is_empty or d.slice_key != picked.key or (np.asarray(session.objects[picked.key]) == picked.label).any():
            self.forget(session)  # undone past the pick-up, or the object was made again
            return None
        return picked

    # ------------------------------------------------------ delete, merge
    def delete_under_cursor(self) -> int | None:
        """Delete the committed object under the pointer on the displayed slice (key D); returns its id."""
        found = self._object_under_cursor("delete it")
        if found is None:
            return None
        session, key, label = found
        delete_object(session, key, label)
        self._redraw([])
        self.status.show(f"Deleted object {label}. Ctrl+Z brings it back.")
        return label

    def merge_under_cursor(self) -> int | None:
        """Key M: choose the object under the pointer, or merge it into the one chosen before; returns the kept id."""
        first, self._merge_first = self._merge_first, None
        found = self._object_under_cursor("merge it", quiet=first is not None)
        if found is None:
            if first is not None:
                self.status.show("Merge cancelled.")
            return None
        session, key, label = found
        if first is not None and first[0] is session and first[1] == key and first[2] == label:
            self.status.show("Merge cancelled.")
            return None
        if first is None or first[0] is not session or first[1] != key:
            self._merge_first = found
            self.status.show(f"Merge: object {label} chosen. Hover over the object to join to it and press M "
                             "(M over the background cancels).")
            return None
        try:
            merge_objects(session, key, first[2], label)
        except PromptsegError as exc:
            self.status.show(str(exc))
            return None
        self._redraw([])
        self.status.show(f"Merged object {label} into object {first[2]}. Ctrl+Z separates them again.")
        return first[2]

    # ------------------------------------------------------------ helpers
    def _under(self, world: tuple[float, ...]) -> tuple[Any, SliceKey, tuple[float, float]] | None:
        """(session, displayed slice, (row, col)) at viewer position ``world``; None when nothing is annotated there."""
        c = self.current
        if c.session is None or c.key is None or c.image_layer is None:
            return None
        data = np.asarray(c.image_layer.world_to_data(world), float)
        row, col = data[-2:]
        return c.session, c.key, (float(row), float(col))

    def _object_under_cursor(self, what: str, *, quiet: bool = False) -> tuple[Any, SliceKey, int] | None:
        found = self._under(tuple(self.current.viewer.cursor.position))
        if found is None:
            return None
        session, key, (row, col) = found
        h, w = session.image.plane_shape
        r, c = int(round(row)), int(round(col))
        label = int(np.asarray(session.objects[key])[r, c]) if 0 <= r < h and 0 <= c < w else 0
        if label == 0:
            if not quiet:
                self.status.show(f"No object under the pointer: hover over a committed object to {what}.")
            return None
        return session, key, label

    def _redraw(self, keys: list[SliceKey]) -> None:
        c = self.current
        c.layers.refresh_objects()
        c.write_prompts(keys)
        c.show()
