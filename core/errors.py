"""Errors the user can act on.

Every error the studio shows names the file and the problem in one line, so the CLI and the
window can print ``str(err)`` as it is.
"""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """A user-facing failure: ``str()`` is ``"<file>: <problem>"``."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)

    def __reduce__(self) -> tuple:  # pickles (from a worker process) with both fields
        return (type(self), (self.path, self.problem))


class MediaError(StudioError):
    """A media file that cannot be opened or decoded."""


class NoFaceError(StudioError):
    """No human face was found where one is needed."""


class TranscriptError(StudioError):
    """A transcript that is empty, unreadable or not UTF-8."""


class AlignError(StudioError):
    """Forced alignment or recognition failed."""


class TrackerUnavailable(StudioError):
    """A tracking backend that cannot run here (missing package or weights)."""


class Cancelled(Exception):
    """A long job was cancelled by the user; whatever was cached stays valid."""


class ProjectError(StudioError):
    """A project file (or folder) that cannot be read, validated or saved."""


class MissingMediaError(ProjectError):
    """A project's media file is neither where it was nor anywhere in the project folder."""


class EditsError(StudioError):
    """An edits file for the command line that is unreadable or asks for something invalid."""


def os_error_line(exc: OSError) -> str:
    """An OSError as the one line every studio error is: ``<file>: <problem>``."""
    problem = exc.strerror or str(exc)
    where = exc.filename if exc.filename is not None else None
    return f"{where}: {problem}" if where is not None else problem
