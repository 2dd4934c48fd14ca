"""The undo stack: pushes commands (merging slider drags), undoes, redoes and knows which
state was saved, so the window can show unsaved changes. Plain Python; the window mirrors
it with a QUndoStack.

Events (``callback(name, payload)``): ``changed`` {can_undo, can_redo, clean, undo_text,
redo_text} after every push, undo, redo or save.
"""

from __future__ import annotations

from typing import Any

from core.project.commands import Command
from core.project.events import EventEmitter
from core.project.project import Project

_EDITS = {"setting_changed", "word_changed", "word_timing_changed", "emotion_clips_changed",
          "media_changed", "phones_changed", "markers_changed",
          "alignment_changed"}


class History:
    """Commands done on one project, with an index into them and a clean index."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.events = EventEmitter()
        self._stack: list[Command] = []
        self._index = 0
        # None: the saved state cannot be reached by undo/redo (e.g. a migrated file).
        self._clean: int | None = None if project.dirty else 0
        self._sealed = False
        self._busy = False
        project.events.connect(self._on_project)

    def _on_project(self, name: str, payload: dict[str, Any]) -> None:
        if name == "saved":
            self.set_clean()
        elif name in _EDITS and not self._busy:
            # Changed outside the stack (e.g. a relink): no undo step leads back to the save.
            self._clean = None
            self._sealed = True

    def _run(self, fn: Any) -> None:
        self._busy = True
        try:
            fn(self.project)
        finally:
            self._busy = False

    @property
    def index(self) -> int:
        return self._index

    @property
    def clean_index(self) -> int | None:
        return self._clean

    @property
    def is_clean(self) -> bool:
        return self._clean == self._index

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._stack)

    @property
    def undo_text(self) -> str:
        return self._stack[self._index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        return self._stack[self._index].text if self.can_redo else ""

    def __len__(self) -> int:
        return len(self._stack)

    def push(self, command: Command) -> None:
        """Do ``command`` and record it, merged into the previous step when it continues it.

        Nothing is recorded when ``do`` raises (the project is left as it was)."""
        self._run(command.do)
        del self._stack[self._index:]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        top = self._stack[-1] if self._stack else None
        if (top is not None and not self._sealed and self._clean != self._index
                and top.merge(command)):
            if top.noop:  # dragged back to where it started
                self._stack.pop()
                self._index -= 1
        else:
            self._stack.append(command)
            self._index += 1
        self._sealed = False
        self._sync()

    def seal(self) -> None:
        """End a drag: the next push starts a new undo step even if it could merge."""
        self._sealed = True

    def undo(self) -> None:
        if self.can_undo:
            self._index -= 1
            command = self._stack[self._index]
            self._run(command.undo)
            self._sealed = True
            self._sync()

    def redo(self) -> None:
        if self.can_redo:
            command = self._stack[self._index]
            self._run(command.do)
            self._index += 1
            self._sealed = True
            self._sync()

    def set_clean(self) -> None:
        """Mark the current state as the saved one."""
        self._clean = self._index
        self._sealed = True
        self._sync()

    def clear(self) -> None:
        self._stack.clear()
        self._index = 0
        self._clean = None if self.project.dirty else 0
        self._sync()

    def _sync(self) -> None:
        self.project.dirty = not self.is_clean
        self.events.emit("changed", can_undo=self.can_undo, can_redo=self.can_redo,
                         clean=self.is_clean, undo_text=self.undo_text,
                         redo_text=self.redo_text)
