"""The Edit menu's undo and redo over the session's one undo engine
(:class:`core.project.history.History`): two actions, enabled and named from its events,
and the stack's size and position (as QUndoStack names them) for the window's tests."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence


class UndoActions(QObject):
    """Undo and redo actions bound to ``session`` (its history follows its project)."""

    def __init__(self, session: Any, parent: Any) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_action = QAction("Undo", parent)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = QAction("Redo", parent)
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        self.undo_action.triggered.connect(lambda: self._do(session.undo))
        self.redo_action.triggered.connect(lambda: self._do(session.redo))
        self.refresh()

    def _do(self, fn: Any) -> None:
        if self.session.history is not None:
            fn()

    def refresh(self) -> None:
        """Enable and name the actions as the history is now."""
        h = self.session.history
        can_undo, can_redo = h is not None and h.can_undo, h is not None and h.can_redo
        self.undo_action.setEnabled(can_undo)
        self.redo_action.setEnabled(can_redo)
        self.undo_action.setText(f"Undo {h.undo_text}" if can_undo else "Undo")
        self.redo_action.setText(f"Redo {h.redo_text}" if can_redo else "Redo")

    def count(self) -> int:
        h = self.session.history
        return 0 if h is None else len(h)

    def index(self) -> int:
        h = self.session.history
        return 0 if h is None else h.index
