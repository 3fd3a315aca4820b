"""Real mouse events: on the canvas, with the modifier objects that real events carry; on Qt menus.

A press on napari's canvas reaches layer callbacks as a vispy event whose
``modifiers`` are :class:`vispy.util.keys.Key` objects (``<Key 'Control'>``),
never plain strings.  Tests pass such objects (``vispy.util.keys.CONTROL``),
or go one level lower and send a Qt mouse event with a Qt modifier to the
canvas widget, which vispy's Qt backend turns into the same event.
"""

from __future__ import annotations

from typing import Any

from vispy.util.keys import Key


def centre(viewer: Any, qtbot: Any, row: float, col: float) -> tuple[Any, tuple[float, float]]:
    """Centre the camera on image pixel (row, col); returns the scene canvas and that pixel's canvas position.

    napari's own tests simulate clicks the same way
    (``SceneCanvas.events.mouse_press`` / ``mouse_release``).
    """
    viewer.scene.camera.center = (row, col)
    qtbot.wait(10)
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    w, h = scene.size
    return scene, (w / 2, h / 2)


def click(viewer: Any, qtbot: Any, row: float, col: float, modifiers: tuple[Key, ...] = ()) -> None:
    """Press and release the left button over image pixel (row, col) holding ``modifiers`` (vispy keys)."""
    if any(not isinstance(m, Key) for m in modifiers):
        raise TypeError("pass vispy.util.keys objects (e.g. keys.CONTROL), as real events carry")
    scene, pos = centre(viewer, qtbot, row, col)
    scene.events.mouse_press(pos=pos, modifiers=modifiers, button=1)
    scene.events.mouse_release(pos=pos, modifiers=modifiers, button=1)
    qtbot.wait(10)


def qt_click(viewer: Any, qtbot: Any, row: float, col: float, modifier: Any = None) -> None:
    """A Qt left click (with a Qt keyboard ``modifier``) on the canvas widget over image pixel (row, col)."""
    from qtpy.QtCore import QPoint, Qt

    centre(viewer, qtbot, row, col)
    native = viewer.window._qt_viewer.canvas.native
    where = QPoint(native.width() // 2, native.height() // 2)
    qtbot.mouseClick(native, Qt.LeftButton, Qt.NoModifier if modifier is None else modifier, where)
    qtbot.wait(10)


def choose(qtbot: Any, combo: Any, text: str, *, tries: int = 3) -> None:
    """Pick the entry ``text`` of ``combo`` as a user does: click the combo, then the entry in its list.

    A popup that closes without a choice (the click landed while it was
    still being placed, on a loaded machine) is opened again, up to ``tries``
    times; a choice of another entry raises.
    """
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    index = combo.findText(text)
    if index < 0:
        raise ValueError(f"{text!r} is not in the menu: {[combo.itemText(i) for i in range(combo.count())]}")
    chosen: list[int] = []
    combo.activated.connect(chosen.append)
    try:
        for _ in range(tries):
            qtbot.mouseClick(combo, Qt.LeftButton)
            view = combo.view()
            qtbot.waitUntil(view.isVisible, timeout=2000)
            qtbot.wait(QApplication.doubleClickInterval() + 50)  # a release sooner after the opening click is ignored
            rect = view.visualRect(view.model().index(index, 0))
            qtbot.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
            qtbot.waitUntil(lambda: bool(chosen) or not view.isVisible(), timeout=2000)
            if chosen:
                break
            if view.isVisible():
                view.parentWidget().hide()
    finally:
        combo.activated.disconnect(chosen.append)
    if chosen != [index]:
        raise AssertionError(f"chose entries {chosen} of the menu, not {index} ({text!r})")
