"""The Qt controls of the annotator dock widget (layout only, no behaviour)."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QFrame, QGridLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget,
)

from .keys import shortcuts_html


class Panel:
    """Widgets of the annotator, laid out in ``parent``."""

    def __init__(self, parent: QWidget) -> None:
        layout = QVBoxLayout(parent)
        form = QFormLayout()
        self.image_combo = QComboBox()
        self.backend_combo = QComboBox()
        self.backend_combo.setToolTip("classic needs no download; models marked 'download' are fetched once")
        form.addRow("Image", self.image_combo)
        form.addRow("Model", self.backend_combo)
        layout.addLayout(form)

        self.status = QLabel("Pick an image.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        grid = QGridLayout()
        self.polarity = QPushButton("Clicks: positive (N)")
        self.polarity.setCheckable(True)
        self.commit = QPushButton("Commit (C)")
        self.clear = QPushButton("Clear (Shift+C)")
        self.undo = QPushButton("Undo (Ctrl+Z)")
        self.redo = QPushButton("Redo (Ctrl+Shift+Z)")
        self.export = QPushButton("Export prompts…")
        self.import_ = QPushButton("Import prompts…")
        for i, button in enumerate((self.polarity, None, self.commit, self.clear, self.undo, self.redo,
                                    self.export, self.import_)):
            if button is not None:
                grid.addWidget(button, i // 2, i % 2)
        layout.addLayout(grid)

        self.overwrite = QCheckBox("Commit may overwrite existing objects")
        layout.addWidget(self.overwrite)

        self.sections = QVBoxLayout()  # feature panels (store, propagation, series, ...), see add_section
        self.sections.setSpacing(2)
        self.section_headers: dict[str, QToolButton] = {}
        layout.addLayout(self.sections)

        help_label = QLabel(shortcuts_html())
        help_label.setWordWrap(True)
        layout.addWidget(help_label)
        layout.addStretch(1)

    def add_section(self, title: str, widget: QWidget, *, expanded: bool = False) -> QWidget:
        """Show ``widget`` below the buttons under a header that folds it away (folded by default); returns it."""
        header = QToolButton()
        header.setText(title)
        header.setCheckable(True)
        header.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        header.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        header.setToolTip(f"Show or hide {title}")

        def show(on: bool) -> None:
            header.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
            box.setVisible(on)

        box = QFrame()
        box.setFrameShape(QFrame.StyledPanel)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(6, 6, 6, 6)
        inner.addWidget(widget)
        header.toggled.connect(show)
        header.setChecked(expanded)
        show(expanded)
        self.sections.addWidget(header)
        self.sections.addWidget(box)
        self.section_headers[title] = header
        return widget

    def show_polarity(self, positive: bool) -> None:
        self.polarity.setChecked(not positive)
        self.polarity.setText(f"Clicks: {'positive' if positive else 'negative'} (N)")
