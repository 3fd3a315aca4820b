"""The Qt controls of the annotator dock widget (layout only, no behaviour).

The dock fits in about 350 pixels: buttons carry short labels (their
shortcuts are in their tooltips and in the help section), the Model menu is
only as wide as a short name (its list shows whole labels), wrapped text may
shrink to any width, and the feature panels and the help fold away.  What
does not fit the dock's height scrolls; nothing is squeezed.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QToolButton,
    QVBoxLayout, QWidget,
)

from .keys import shortcuts_html

#: Characters of an entry the Image and Model menus show (their lists show whole entries).
MENU_CHARS = 16


class Panel:
    """Widgets of the annotator, laid out in ``parent``."""

    def __init__(self, parent: QWidget) -> None:
        self.dock = parent  #: the widget the controls are laid out in (parent of dialogs)
        content = QWidget()
        layout = QVBoxLayout(content)
        self.scroll = _VerticalScroll(content)
        outer = QVBoxLayout(parent)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        form = QFormLayout()
        self.image_combo = _narrow_combo("the image layer to annotate")
        self.backend_combo = _narrow_combo("classic needs no download; models marked 'download' are fetched once")
        self.level_combo = _narrow_combo("the resolution clicks are answered at: a coarser level fits a larger "
                                         "object in the tiles around a click (multiscale images only)")
        form.addRow("Image", self.image_combo)
        form.addRow("Model", self.backend_combo)
        form.addRow("Level", self.level_combo)
        self.level_label = form.labelForField(self.level_combo)
        for widget in (self.level_label, self.level_combo):  # shown by the dock on a multiscale image
            widget.setVisible(False)
        layout.addLayout(form)

        self.status = QLabel("Pick an image.")
        fit_width(self.status)
        layout.addWidget(self.status)

        self.polarity = _button("Clicks: positive", "N switches new clicks between positive and negative; "
                                "a Ctrl/Alt-click is negative whatever this says")
        self.polarity.setCheckable(True)
        self.commit = _button("Commit (C)", "Commit the current object as a new id (C)")
        self.clear = _button("Clear", "Clear the current object's prompts (Shift+C)")
        self.undo = _button("Undo", "Undo the last prompt, commit or clear (Ctrl+Z)")
        self.redo = _button("Redo", "Redo (Ctrl+Shift+Z)")
        self.export = _button("Export prompts…", "Save the prompts of every committed object as JSON")
        self.import_ = _button("Import prompts…", "Re-segment the objects of an exported JSON file")
        for row in ((self.polarity, self.commit), (self.undo, self.redo, self.clear), (self.export, self.import_)):
            line = QHBoxLayout()
            for button in row:
                line.addWidget(button)
            layout.addLayout(line)

        self.overwrite = QCheckBox("Commit may overwrite objects")
        self.overwrite.setToolTip("Checked: a commit takes pixels of existing objects too; unchecked: only free pixels")
        layout.addWidget(self.overwrite)

        self.sections = QVBoxLayout()  # feature panels (store, propagation, series, ...), see add_section
        self.sections.setSpacing(2)
        self.section_headers: dict[str, QToolButton] = {}
        layout.addLayout(self.sections)
        help_section = QVBoxLayout()  # below the feature panels
        layout.addLayout(help_section)
        self.help = QLabel(shortcuts_html())
        self._fold(help_section, "Keys and mouse", self.help, expanded=True)
        layout.addStretch(1)

    def add_section(self, title: str, widget: QWidget, *, expanded: bool = False) -> QWidget:
        """Show ``widget`` below the buttons under a header that folds it away (folded by default); returns it."""
        return self._fold(self.sections, title, widget, expanded=expanded)

    def _fold(self, layout: QVBoxLayout, title: str, widget: QWidget, *, expanded: bool) -> QWidget:
        header = QToolButton()
        header.setText(title)
        header.setCheckable(True)
        header.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        header.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        header.setToolTip(f"Show or hide {title}")

        def show(on: bool) -> None:
            header.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
            box.setVisible(on)

        for label in [widget, *widget.findChildren(QLabel)]:
            if isinstance(label, QLabel) and (label.wordWrap() or label is widget):
                fit_width(label)
        box = QFrame()
        box.setFrameShape(QFrame.StyledPanel)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(6, 6, 6, 6)
        inner.addWidget(widget)
        header.toggled.connect(show)
        header.setChecked(expanded)
        show(expanded)
        layout.addWidget(header)
        layout.addWidget(box)
        self.section_headers[title] = header
        return widget

    def show_polarity(self, positive: bool) -> None:
        self.polarity.setChecked(not positive)
        self.polarity.setText(f"Clicks: {'positive' if positive else 'negative'}")


def fit_width(label: QLabel) -> None:
    """Wrap ``label``'s text and let the label be narrower than its longest word (a path never widens the dock)."""
    label.setWordWrap(True)
    label.setMinimumWidth(1)


def _narrow_combo(tip: str) -> QComboBox:
    combo = QComboBox()
    combo.setToolTip(tip)
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(MENU_CHARS)
    return combo


def _button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    return button


class _VerticalScroll(QScrollArea):
    """Scrolls its content up and down; as wide as the content needs (the dock never clips it sideways)."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
        content.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.LayoutRequest:  # a section unfolded: the width it needs may have changed
            self.updateGeometry()
        return False

    def minimumSizeHint(self):  # noqa: N802 - Qt's name
        hint = super().minimumSizeHint()
        hint.setWidth(self.widget().minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width())
        return hint

    def sizeHint(self):  # noqa: N802 - Qt's name
        hint = self.widget().sizeHint()
        hint.setWidth(self.minimumSizeHint().width())
        return hint
