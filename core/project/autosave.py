"""Autosave and crash recovery: ``project.autosave.json`` beside ``project.json``.

The caller debounces (the window autosaves a few seconds after the last edit); a normal save
removes the autosave. After a crash, :func:`recoverable` tells whether the autosave holds
changes the saved file lacks, and :func:`recover` opens the project with them (dirty, so the
user decides whether to save).
"""

from __future__ import annotations

from pathlib import Path

from core.atomic import atomic_write_json
from core.errors import ProjectError
from core.project.project import AUTOSAVE_FILE, PROJECT_FILE, Project, read_json_file


def autosave(project: Project) -> Path:
    """Write the project's current state to its autosave file, atomically."""
    path = project.autosave_path
    try:
        atomic_write_json(path, project.to_json())
    except OSError as exc:
        raise ProjectError(path, f"could not autosave ({exc.strerror or exc})") from exc
    return path


def recoverable(folder: str | Path) -> bool:
    """True when an autosave newer than ``project.json`` and different from it exists."""
    folder = Path(folder)
    auto, saved = folder / AUTOSAVE_FILE, folder / PROJECT_FILE
    try:
        auto_mtime = auto.stat().st_mtime_ns
    except OSError:
        return False
    try:
        if auto_mtime <= saved.stat().st_mtime_ns:
            return False
    except OSError:
        return True  # the project file itself is gone: the autosave is all there is
    try:
        return read_json_file(auto) != read_json_file(saved)
    except ProjectError:
        # A broken project.json makes the autosave worth offering; a broken autosave is not.
        try:
            read_json_file(auto)
        except ProjectError:
            return False
        return True


def recover(folder: str | Path) -> Project:
    """Open the project with the autosaved state; it is dirty until the user saves."""
    folder = Path(folder).absolute()
    project = Project.load(folder, folder / AUTOSAVE_FILE)
    project.notes.append("recovered unsaved changes from the autosave")
    project.dirty = True
    return project


def discard_autosave(folder: str | Path) -> None:
    """Drop the autosave (the user chose the saved version)."""
    (Path(folder) / AUTOSAVE_FILE).unlink(missing_ok=True)
