"""The dock's Level menu on a multiscale image: the resolution level clicks are answered at (issue 22).

Level 0 is full resolution; a coarser level lets a large object fit in the
tiles around a click.  The menu lists the image's levels with their pixel
size relative to full resolution ("0 (full resolution)", "1 (1/2)", ...),
shows the working level of the view being annotated (the one
``promptseg annotate --level L`` chose, at first) and is hidden for images
of one level and ordinary images.  Choosing a level asks the view to switch
(:meth:`~.large_image.LargeImageView.set_level`); when it refuses (an
object is being drawn: commit or clear it first) the status line says why
and the menu goes back to the working level.
"""

from __future__ import annotations

from typing import Callable

from qtpy.QtCore import QSignalBlocker, Qt
from qtpy.QtWidgets import QComboBox, QWidget

from ..store.multiscale import MultiscaleImage
from .large_image import LargeImageView

__all__ = ["LevelChoice", "level_text"]


def level_text(image: MultiscaleImage, level: int) -> str:
    """The menu entry of ``level``: its number and its pixel size relative to full resolution.

    Examples
    --------
    >>> import numpy as np
    >>> image = MultiscaleImage([np.zeros((64, 64)), np.zeros((32, 32)), np.zeros((21, 21))])
    >>> [level_text(image, i) for i in range(3)]
    ['0 (full resolution)', '1 (1/2)', '2 (1/3.05)']
    """
    if level == 0:
        return "0 (full resolution)"
    factor = max(image.factor(level))
    nearest = round(factor)
    return f"{level} (1/{nearest})" if abs(factor - nearest) < 0.01 * factor else f"{level} (1/{factor:.3g})"


class LevelChoice:
    """Keeps the Level menu in step with the large view being annotated; see the module docstring.

    Parameters
    ----------
    combo : QComboBox
        The menu (the panel's ``level_combo``).
    label : QWidget
        Its label, shown and hidden with it.
    view : callable
        Returns the :class:`~.large_image.LargeImageView` annotated now, or None.
    """

    def __init__(self, combo: QComboBox, label: QWidget, view: Callable[[], LargeImageView | None]) -> None:
        self.combo, self.label, self._view = combo, label, view
        combo.currentIndexChanged.connect(self._chosen)

    def show(self, view: LargeImageView | None) -> None:
        """List the levels of ``view``'s image, its working level chosen; hidden without a view or with one level."""
        image = None if view is None else view.session.image
        shown = image is not None and image.n_levels > 1
        self.combo.setVisible(shown)
        self.label.setVisible(shown)
        if not shown:
            return
        entries = [level_text(image, i) for i in range(image.n_levels)]
        with QSignalBlocker(self.combo):
            if [self.combo.itemText(i) for i in range(self.combo.count())] != entries:
                self.combo.clear()
                for i, text in enumerate(entries):
                    h, w = image.level_shape(i)
                    self.combo.addItem(text)
                    self.combo.setItemData(i, f"{h} x {w} px", Qt.ToolTipRole)
            self.combo.setCurrentIndex(view.session.level)

    def _chosen(self, index: int) -> None:
        view = self._view()
        if view is None or index < 0 or index == view.session.level:
            return
        if not view.set_level(index):  # refused: the status says why
            with QSignalBlocker(self.combo):
                self.combo.setCurrentIndex(view.session.level)
