"""Keyboard shortcuts of the annotator, bound on the viewer and on the layers it owns.

Layer keymaps take precedence over the viewer's in napari, so the shortcuts
are bound on each owned layer too (overriding, for example, the Labels
layer's own Ctrl+Z there).
"""

from __future__ import annotations

from typing import Any, Iterable

#: (key, widget method, description), in the order shown in the widget.
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("C", "commit", "commit the current object as a new id"),
    ("Shift-C", "clear", "clear the current object's prompts"),
    ("Control-Z", "undo", "undo (prompt, commit or clear)"),
    ("Control-Shift-Z", "redo", "redo"),
    ("N", "toggle_polarity", "switch clicks between positive and negative"),
    ("D", "delete_object", "delete the object under the pointer"),
    ("M", "merge_objects", "merge: M over one object, then M over the other"),
)


def bind_shortcuts(widget: Any, targets: Iterable[Any]) -> None:
    """Bind every shortcut on each of ``targets`` (a viewer or layers) to ``widget``'s methods."""
    for target in targets:
        for key, method, _ in SHORTCUTS:
            target.bind_key(key, _caller(widget, method), overwrite=True)


def unbind_shortcuts(targets: Iterable[Any]) -> None:
    for target in targets:
        for key, _, _ in SHORTCUTS:
            target.bind_key(key, None)


def shortcuts_html() -> str:
    """The shortcut list as shown in the widget."""
    pretty = {"Control": "Ctrl", "-": "+"}
    rows = []
    for key, _, text in SHORTCUTS:
        for old, new in pretty.items():
            key = key.replace(old, new)
        rows.append(f"<b>{key}</b> {text}")
    rows.append("<b>Ctrl/Alt-click</b> a negative click")
    rows.append("<b>Shift-click</b> an object: pick it up to correct it (C puts it back, Shift+C restores it)")
    rows.append("Points layer: click; shapes layer: rectangle = box, polygon, path = scribble; "
                "paint in the preview to correct the mask")
    return "<br>".join(rows)


def modifier_names(event: Any) -> set[str]:
    """Names (``"Control"``, ``"Alt"``, ``"Shift"``, ...) of the modifier keys held during a mouse ``event``.

    Real canvas events carry :class:`vispy.util.keys.Key` objects, whose
    ``str`` is ``"<Key 'Control'>"``: compare their ``name``.
    """
    return {getattr(m, "name", m) for m in getattr(event, "modifiers", ())}


def _caller(widget: Any, method: str):
    def call(_target: Any) -> None:
        getattr(widget, method)()

    call.__name__ = f"promptseg_{method}"
    return call
