"""The window's project files: new from media, open (with autosave recovery), save,
save as, recent projects, and what a drop of files does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from core.errors import StudioError
from core.media.source import is_audio_path, is_image_path, is_video_path
from core.project import autosave as autosave_mod
from core.project.commands import Group, SetMedia
from core.project.project import AUTOSAVE_FILE, PROJECT_FILE, Project

TEXT_SUFFIXES = {".txt", ".srt", ".vtt"}
MAX_RECENT = 8
IMPORTS = {
    "dub": ("Import dub audio", "Audio (*.wav *.mp3 *.m4a *.aac *.flac *.ogg *.opus *.aiff "
                                "*.aif);;Video with sound (*.mp4 *.mov *.mkv *.webm);;All (*)"),
    "transcript": ("Import transcript", "Transcript (*.txt *.srt *.vtt)"),
}


def _unique(folder: Path) -> Path:
    if not folder.exists():
        return folder
    n = 2
    while True:
        cand = folder.with_name(f"{folder.name} {n}")
        if not cand.exists():
            return cand
        n += 1


def recent(qsettings: QSettings) -> list[str]:
    value = qsettings.value("recent") or []
    return [value] if isinstance(value, str) else list(value)


def remember(qsettings: QSettings, folder: Path) -> None:
    folders = [str(folder)] + [r for r in recent(qsettings) if r != str(folder)]
    qsettings.setValue("recent", folders[:MAX_RECENT])


class ProjectFiles(QObject):
    """Opens and saves the projects of ``window`` (which shows them)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window

    def open_paths(self, paths: list[Path]) -> None:
        """What a drop does: a project folder opens; a video or an image starts a project
        (or replaces the source); audio sets the dub; .txt/.srt sets the transcript."""
        try:
            for p in paths:
                if p.is_dir():
                    self.open_project(p)
                    return
            media = next((p for p in paths if is_video_path(p) or is_image_path(p)), None)
            audio = next((p for p in paths if is_audio_path(p) and p != media), None)
            text = next((p for p in paths if p.suffix.lower() in TEXT_SUFFIXES), None)
            if p := next((p for p in paths if p.name in (PROJECT_FILE, AUTOSAVE_FILE)), None):
                self.open_project(p.parent)
                return
            if media is None and audio is None and text is None:
                raise StudioError(paths[0], "not a video, image, audio, transcript or project")
            if self.w.project is None:
                if media is None:
                    raise StudioError(audio or text, "drop a video or a portrait first: it "
                                                     "starts the project")
                self.new_project(media, audio, text)
                return
            commands = []
            if media is not None and self.w.ask(
                    "Replace the source?", f"Use {media.name} as this project's source?"):
                commands.append(SetMedia("source", media))
            if audio is not None:
                commands.append(SetMedia("dub", audio))
            if text is not None:
                commands.append(SetMedia("transcript", text))
            if commands:
                self.w.session.edit(commands[0] if len(commands) == 1 else Group(
                    commands, f"Set {', '.join(c.role for c in commands)}"))
        except StudioError as exc:
            self.w.show_error(exc, "Cannot open that")

    def folder_for(self, media: Path) -> Path | None:
        """A new folder for a project made from ``media``: under the window's projects
        root, else where the user says (offered: the documents folder). Nothing is written
        beside the user's media without their choosing it. None: the user cancelled."""
        if self.w.projects_root is not None:
            return _unique(self.w.projects_root / media.stem)
        from PySide6.QtCore import QStandardPaths

        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        offered = _unique(Path(docs or Path.home()) / "Talking-face studio" / media.stem)
        if not self.w.prompts:
            return offered
        name, _ = QFileDialog.getSaveFileName(
            self.w, f"Where should the project of {media.name} go?", str(offered),
            "Project folder (*)")
        return _unique(Path(name)) if name else None

    def new_project(self, media: Path, audio: Path | None = None, text: Path | None = None,
                    folder: Path | None = None) -> None:
        folder = folder or self.folder_for(media)
        if folder is None:
            return
        try:
            project = Project.new(folder, media, audio, text)
        except StudioError as exc:
            self.w.show_error(exc, "Cannot start a project")
            return
        self.w._set_project(project)

    def close_project(self) -> bool:
        """File → Close: ask about unsaved changes, then an empty window."""
        if self.w.project is None or not self.may_discard():
            return False
        self.w.jobs.stop()
        self.w._close_take()
        self.w.session.close_project()
        self.w.setWindowModified(False)
        self.w.setWindowTitle("Talking-face studio[*]")
        self.w.editing.selected = []
        self.w.timeline.clear_all()
        self.w.waveform.clear_audio()
        self.w.controls.show_words([], None)
        self.w.controls.show_clip(None)
        self.w.undo_stack.refresh()
        self.w.preview.clear("Drop a video or a portrait to start a project")
        self.w.update_actions()
        return True

    def import_media(self, role: str, path: Path | None = None) -> bool:
        """File → Import dub audio… / Import transcript…: checked at the door; a file that
        is not what the role needs gets a dialog naming it, and the project is unchanged."""
        if self.w.project is None:
            self.w.show_error(StudioError(None, "start or open a project first (File → New "
                                                "project…)"), "Import")
            return False
        if path is None:
            caption, kinds = IMPORTS[role]
            name, _ = QFileDialog.getOpenFileName(self.w, caption, "", kinds)
            if not name:
                return False
            path = Path(name)
        try:
            self.w.session.edit(SetMedia(role, path))
        except StudioError as exc:
            self.w.show_error(exc, f"Cannot use that {'dub' if role == 'dub' else role}")
            return False
        return True

    def new_from_media(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self.w, "New project from a video or a portrait", "",
            "Media (*.mp4 *.mov *.mkv *.avi *.webm *.jpg *.jpeg *.png *.webp *.bmp)")
        if name:
            self.open_paths([Path(name)])

    def open_dialog(self) -> None:
        name = QFileDialog.getExistingDirectory(self.w, "Open a project folder")
        if name:
            self.open_project(Path(name))

    def open_project(self, folder: Path) -> None:
        if not self.may_discard():
            return
        try:
            if autosave_mod.recoverable(folder) and self.w.ask(
                    "Recover unsaved changes?",
                    f"{folder} has autosaved changes that were never saved. Recover them?",
                    default=False):
                project = autosave_mod.recover(folder)
            else:
                project = Project.open(folder)
        except StudioError as exc:
            self.w.show_error(exc, "Cannot open the project")
            return
        self.w._set_project(project)
        for note in project.notes:
            self.w.statusBar().showMessage(note, 6000)
        if project.missing:
            try:
                project.require_media()
            except StudioError as exc:
                self.w.show_error(exc, "Missing media")

    def save(self) -> bool:
        if self.w.project is None:
            return False
        try:
            self.w.session.save()
        except StudioError as exc:
            self.w.show_error(exc, "Cannot save")
            return False
        self.w.statusBar().showMessage(f"Saved {self.w.project.json_path}", 4000)
        return True

    def save_as(self, folder: Path | None = None) -> bool:
        if self.w.project is None:
            return False
        if folder is None:
            here = self.w.project.folder
            name, _ = QFileDialog.getSaveFileName(  # a new folder's name, anywhere
                self.w, "Save the project as a new folder", str(_unique(
                    here.with_name(f"{here.name} copy"))), "Project folder (*)",
                options=QFileDialog.Option.DontConfirmOverwrite)
            if not name:
                return False
            folder = Path(name)
        try:
            self.w.project.save_as(folder)
        except StudioError as exc:
            self.w.show_error(exc, "Cannot save")
            return False
        remember(self.w.qsettings, self.w.project.folder)
        self.w.setWindowTitle(f"{self.w.project.folder.name}[*] — Talking-face studio")
        return True

    def fill_recent(self) -> None:
        self.w.recent_menu.clear()
        for r in recent(self.w.qsettings):
            a = self.w.recent_menu.addAction(r)
            a.triggered.connect(lambda _=False, r=r: self.open_project(Path(r)))
        if not self.w.recent_menu.actions():
            self.w.recent_menu.addAction("(none)").setEnabled(False)

    def may_discard(self) -> bool:
        """Ask about unsaved changes; True when it is fine to drop the current project."""
        if self.w.project is None or not self.w.project.dirty or not self.w.prompts:
            return True
        answer = QMessageBox.question(
            self.w, "Unsaved changes", f"Save the changes to {self.w.project.folder.name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def autosave(self) -> None:
        if self.w.project is not None and self.w.project.dirty:
            try:
                autosave_mod.autosave(self.w.project)
            except StudioError as exc:
                self.w.statusBar().showMessage(str(exc), 6000)

