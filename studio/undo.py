"""A QUndoStack over the core commands: each QUndoCommand wraps one core Command.

Slider drags push many commands; those carrying the same ``drag`` token merge into one undo
step (through the core command's own ``merge``), and a drag back to where it started drops
the step altogether.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from core.project.commands import Command

_MERGE_ID = 0x5D0


class CoreCommand(QUndoCommand):
    """One core command done on a project, undoable from the Edit menu."""

    def __init__(self, project: Any, command: Command, drag: Any = None) -> None:
        super().__init__(command.text)
        self.project = project
        self.command = command
        self.drag = drag
        self.done = False  # push(check=True) has done it already: the first redo skips

    def redo(self) -> None:
        if self.done:
            self.done = False
            return
        self.command.do(self.project)

    def undo(self) -> None:
        self.command.undo(self.project)

    def id(self) -> int:
        return -1 if self.drag is None else _MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        if not isinstance(other, CoreCommand) or other.drag != self.drag or self.drag is None:
            return False
        if not self.command.merge(other.command):
            return False
        self.setText(self.command.text)
        if self.command.noop:
            self.setObsolete(True)
        return True


def push(stack: Any, project: Any, command: Command, drag: Any = None,
         check: bool = True) -> None:
    """Do ``command`` through ``stack``. With ``check``, raises what the command raises,
    leaving the stack and the project as they were."""
    wrapped = CoreCommand(project, command, drag)
    if check:
        # QUndoStack.push calls redo() inside C++, where a Python exception would be lost:
        # do it here, where an error reaches the caller with the stack untouched; the
        # push's own redo then has nothing left to do (one edit, one project event)
        command.do(project)
        wrapped.done = True
    stack.push(wrapped)
