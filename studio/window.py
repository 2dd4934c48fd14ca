"""The main window: preview, waveform, timeline and controls over one project.

The window holds no maths. It turns what the user does into core commands (on a QUndoStack),
runs core's long jobs on worker threads, and shows what core returns.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
)

from core.errors import StudioError
from core.media.source import is_audio_path, is_image_path, is_video_path
from core.project import autosave as autosave_mod
from core.project.commands import (
    AddEmotionClip,
    ChangeEmotionClip,
    RemoveEmotionClip,
    SetMedia,
    SetSetting,
    SetWordStyle,
    SetWordTiming,
)
from core.project.project import AUTOSAVE_FILE, PROJECT_FILE, Project, resolve_driver
from studio.controls import ControlPanel
from studio.playback import PlayClock
from studio.preview import PreviewView
from studio.timeline import TimelinePane, WaveformPane
from studio.train_dialog import (
    TrainDialog,
    TrainOptions,
    TrainPanel,
    TrainProcess,
    driver_label,
    driver_value,
    project_drivers,
)
from studio.undo import push
from studio.workers import (
    Job,
    RenderRequest,
    RenderResult,
    RenderWorker,
    TakeHandle,
)
from studio.workers import edits_snapshot as _snapshot

TEXT_SUFFIXES = {".txt", ".srt", ".vtt"}
ROOT = Path(__file__).resolve().parents[1]
TRAIN_TIP = ("Fine-tune the Audio2Exp lip adapter on this project's footage, in its own "
             "process (needs a project with a dub)")
MAX_RECENT = 8


def version() -> str:
    try:
        from importlib.metadata import version as _v

        return _v("talking-face-studio")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "0.1.0"


def _load_engine(done: threading.Event) -> None:
    """Import what the first analysis and render need (a background thread's work)."""
    try:
        from core.quiet import quiet_environment

        quiet_environment()
        import mediapipe.python.solutions.face_mesh  # noqa: F401

        import core.dub  # noqa: F401 - torch, the renderer, the aligner, the exporter
        import core.tracking.mediapipe_tracker  # noqa: F401
    except Exception:  # noqa: BLE001 - only a head start; the job imports them anyway
        pass
    finally:
        done.set()


def _unique(folder: Path) -> Path:
    if not folder.exists():
        return folder
    n = 2
    while True:
        cand = folder.with_name(f"{folder.name} {n}")
        if not cand.exists():
            return cand
        n += 1


class MainWindow(QMainWindow):
    """The studio. ``projects_root``: where projects made from dropped media go (default:
    a folder next to the media); ``prompts=False`` answers every question with its default
    (for tests); ``settings``: a QSettings to remember layout and recent projects in."""

    frame_shown = Signal(object)  # RenderResult
    job_finished = Signal(str, str)  # job name, outcome
    take_ready = Signal()
    train_finished = Signal(str, str)  # outcome, model path or message
    driver_applied = Signal(str)  # the driver now on the take

    def __init__(self, projects_root: Path | None = None, prompts: bool = True,
                 settings: QSettings | None = None) -> None:
        from studio.pyside_guard import guard_none

        guard_none()
        super().__init__()
        self.setObjectName("studio")
        self.projects_root = None if projects_root is None else Path(projects_root)
        self.prompts = prompts
        self.qsettings = settings or QSettings("talking-face-studio", "studio")
        self.project: Project | None = None
        self.handle: TakeHandle | None = None
        self.renderer: RenderWorker | None = None
        self.job: Job | None = None
        self._next_job: Job | None = None
        self._old_jobs: list[Job] = []
        self.frame = 0
        self.generation = 0
        self._seq = 0
        self._shown_seq = -1
        self._snap: tuple[int, Any] | None = None
        self.shown: RenderResult | None = None
        self.view_mode = "edited"
        self.overlay = False
        self.playing = False
        self.errors: list[str] = []
        self.error_box: QMessageBox | None = None
        self.job_progress: tuple[str, float, float] | None = None
        self.selected: list[int] = []
        self._reopen_pending = False
        self.train: TrainProcess | None = None
        self.train_panel: TrainPanel | None = None
        self.train_dialog_box: TrainDialog | None = None
        self.train_env: dict[str, str] = {}  # extra environment for the trainer process
        self._train_project: Project | None = None
        self._offered: tuple[Project, str] | None = None  # a trained model awaiting keep/discard
        self._driver_job: Job | None = None
        self._driver_again = False
        self._image_job: Job | None = None
        self.image_dialog: QFileDialog | None = None
        self._direction = 1  # where the playhead went last: the renderer draws ahead that way
        # called from the export thread after each frame (tests slow an export with it)
        self.export_hook: Any = None

        self.setWindowTitle("Talking-face studio[*]")
        self.setAcceptDrops(True)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

        self.preview = PreviewView()
        self.setCentralWidget(self.preview)
        self.controls = ControlPanel()
        self.waveform = WaveformPane()
        self.timeline = TimelinePane()
        self.timeline.setXLink(self.waveform)
        self._dock("Controls", self.controls, Qt.DockWidgetArea.RightDockWidgetArea)
        wave_dock = self._dock("Waveform", self.waveform, Qt.DockWidgetArea.BottomDockWidgetArea)
        line_dock = self._dock("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(wave_dock, line_dock, Qt.Orientation.Vertical)
        self.waveform.setMinimumHeight(110)
        self.timeline.setMinimumHeight(170)
        self.resizeDocks([wave_dock, line_dock], [150, 210], Qt.Orientation.Vertical)
        self.controls.setEnabled(False)

        self.controls.setting_edited.connect(self._setting_edited)
        self.controls.word_edited.connect(self._word_edited)
        self.controls.add_clip.connect(self._add_clip)
        self.controls.clip_edited.connect(self._clip_edited)
        self.controls.remove_clip.connect(self._remove_clip)
        self.controls.clip_image_requested.connect(self.choose_clip_image)
        self.timeline.selection_changed.connect(self._selection_changed)
        self.timeline.clip_clicked.connect(self._clip_selected)
        self.timeline.word_timing_dragged.connect(self._word_timing_dragged)
        self.timeline.clip_dragged.connect(self._clip_dragged)
        self.timeline.scrubbed.connect(self.seek_time)
        self.waveform.scrubbed.connect(self.seek_time)

        self._build_status()
        self._build_menus()
        self._build_toolbar()

        self.play_timer = QTimer(self)
        self.play_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.play_timer.timeout.connect(self._tick)
        self.clock = PlayClock(25.0)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(4000)
        self.autosave_timer.timeout.connect(self._autosave)
        self.audio = self._make_audio()

        # the engine (torch, MediaPipe, the aligner) loads while the user picks a clip, so
        # the first take opens without waiting for the imports
        self.engine_ready = threading.Event()
        threading.Thread(target=_load_engine, args=(self.engine_ready,), daemon=True,
                         name="engine-import").start()

        self.resize(1400, 900)
        geometry = self.qsettings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.qsettings.value("windowState")
        if state is not None:
            self.restoreState(state)

    # -- layout -----------------------------------------------------------------------

    def _dock(self, title: str, widget: Any, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.frame_label = QLabel("")
        self.job_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.frame_label)
        for w in (self.job_label, self.progress, self.cancel_button):
            w.setVisible(False)

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None,
                checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.new_action = self._action(f, "New from media…", lambda: self.new_from_media(),
                                       QKeySequence.StandardKey.New)
        self.open_action = self._action(f, "Open…", lambda: self.open_dialog(),
                                        QKeySequence.StandardKey.Open)
        self.recent_menu = f.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        f.addSeparator()
        self.save_action = self._action(f, "Save", lambda: self.save(),
                                        QKeySequence.StandardKey.Save)
        self.save_as_action = self._action(f, "Save as…", lambda: self.save_as(),
                                           QKeySequence.StandardKey.SaveAs)
        self.export_action = self._action(f, "Export MP4…", lambda: self.export_mp4(),
                                          "Ctrl+E")
        f.addSeparator()
        self._action(f, "Quit", self.close, QKeySequence.StandardKey.Quit)

        e = mb.addMenu("&Edit")
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(self.undo_action)
        e.addAction(self.redo_action)

        v = mb.addMenu("&View")
        self.ab_action = self._action(v, "Show source (A/B)", self._toggle_ab, "B", True)
        self.overlay_action = self._action(v, "Keypoint overlay", self._toggle_overlay, "K",
                                           True)
        self.compare_action = self._action(v, "Compare with visemes", self._toggle_compare,
                                           "V", True)
        self.compare_action.setToolTip("Render the same frame with the viseme driver, to "
                                       "compare a trained adapter against it (V)")
        self._action(v, "Fit", lambda: self.preview.fit(), "F")
        self._action(v, "Zoom in", lambda: self.preview.zoom(1.25), QKeySequence.StandardKey.ZoomIn)
        self._action(v, "Zoom out", lambda: self.preview.zoom(0.8),
                     QKeySequence.StandardKey.ZoomOut)

        p = mb.addMenu("&Playback")
        self.play_action = self._action(p, "Play / pause", self.toggle_play, "Space")
        self._action(p, "Next frame", lambda: self.step(1), "Right")
        self._action(p, "Previous frame", lambda: self.step(-1), "Left")
        self._action(p, "First frame", lambda: self.seek(0), "Home")
        self.loop_action = self._action(p, "Loop the selected words", lambda: None, "L", True)

        t = mb.addMenu("&Train")
        t.setToolTipsVisible(True)
        self.train_action = self._action(t, "Fine-tune lip adapter on this project…",
                                         lambda: self.open_train_dialog())
        self.train_action.setToolTip(TRAIN_TIP)
        self.train_action.setStatusTip(TRAIN_TIP)

        h = mb.addMenu("&Help")
        self._action(h, "About the studio", self.about)
        self._action(h, "Open the README", lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(ROOT / "README.md"))))
        self._update_actions()

    def _build_toolbar(self) -> None:
        tb = QToolBar("Transport", self)
        tb.setObjectName("transport")
        self.addToolBar(tb)
        tb.addAction(self.play_action)
        tb.addAction(self.ab_action)
        tb.addAction(self.overlay_action)
        tb.addAction(self.compare_action)
        tb.addAction(self.loop_action)

    def _update_actions(self) -> None:
        has_project = self.project is not None
        self.save_action.setEnabled(has_project)
        self.save_as_action.setEnabled(has_project)
        self.export_action.setEnabled(self.handle is not None)
        self.train_action.setEnabled(has_project and self.project.dub is not None
                                     and self.train is None)
        self.compare_action.setEnabled(self.handle is not None)

    def about(self) -> None:
        text = (f"Talking-face studio {version()}\n\nAudio-driven talking-face editing and "
                f"dubbing.\nRead {ROOT / 'README.md'} to get started.")
        if self.prompts:
            QMessageBox.about(self, "About the studio", text)
        else:
            self.statusBar().showMessage(text.replace("\n", " "), 5000)

    # -- questions and errors ---------------------------------------------------------

    def ask(self, title: str, text: str, default: bool = True) -> bool:
        if not self.prompts:
            return default
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, exc: BaseException, what: str = "Error") -> None:
        """A dialog naming the file and the problem (non-blocking; the window goes on)."""
        if isinstance(exc, StudioError):
            text = exc.problem if exc.path is None else f"{exc.path}\n\n{exc.problem}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        self.errors.append(text)
        self.statusBar().showMessage(f"{what}: {text.splitlines()[0]}", 8000)
        box = QMessageBox(QMessageBox.Icon.Critical, what, text, QMessageBox.StandardButton.Ok,
                          self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.error_box = box

    # -- projects ---------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

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
            if self.project is None:
                if media is None:
                    raise StudioError(audio or text, "drop a video or a portrait first: it "
                                                     "starts the project")
                self.new_project(media, audio, text)
                return
            commands = []
            if media is not None and self.ask(
                    "Replace the source?", f"Use {media.name} as this project's source?"):
                commands.append(SetMedia("source", media))
            if audio is not None:
                commands.append(SetMedia("dub", audio))
            if text is not None:
                commands.append(SetMedia("transcript", text))
            if commands:
                self.undo_stack.beginMacro(f"Set {', '.join(c.role for c in commands)}")
                try:
                    for c in commands:
                        push(self.undo_stack, self.project, c)
                finally:
                    self.undo_stack.endMacro()
        except StudioError as exc:
            self.show_error(exc, "Cannot open that")

    def folder_for(self, media: Path) -> Path:
        """A new folder for a project made from ``media``."""
        if self.projects_root is not None:
            return _unique(self.projects_root / media.stem)
        import os

        if os.access(media.parent, os.W_OK):
            return _unique(media.parent / f"{media.stem} project")
        from PySide6.QtCore import QStandardPaths

        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return _unique(Path(docs) / "Talking-face studio" / media.stem)

    def new_project(self, media: Path, audio: Path | None = None, text: Path | None = None,
                    folder: Path | None = None) -> None:
        folder = folder or self.folder_for(media)
        try:
            project = Project.new(folder, media, audio, text)
        except StudioError as exc:
            self.show_error(exc, "Cannot start a project")
            return
        self._set_project(project)

    def new_from_media(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "New project from a video or a portrait", "",
            "Media (*.mp4 *.mov *.mkv *.avi *.webm *.jpg *.jpeg *.png *.webp *.bmp)")
        if name:
            self.open_paths([Path(name)])

    def open_dialog(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Open a project folder")
        if name:
            self.open_project(Path(name))

    def open_project(self, folder: Path) -> None:
        if not self._may_discard():
            return
        try:
            if autosave_mod.recoverable(folder) and self.ask(
                    "Recover unsaved changes?",
                    f"{folder} has autosaved changes that were never saved. Recover them?",
                    default=False):
                project = autosave_mod.recover(folder)
            else:
                project = Project.open(folder)
        except StudioError as exc:
            self.show_error(exc, "Cannot open the project")
            return
        self._set_project(project)
        for note in project.notes:
            self.statusBar().showMessage(note, 6000)
        if project.missing:
            try:
                project.require_media()
            except StudioError as exc:
                self.show_error(exc, "Missing media")

    def _set_project(self, project: Project) -> None:
        self._close_take()
        if self.project is not None:
            self.project.events.disconnect(self._on_project_event)
        self.undo_stack.clear()
        self.project = project
        self.generation += 1
        project.events.connect(self._on_project_event)
        if not project.dirty:
            self.undo_stack.setClean()
        self.setWindowModified(project.dirty)
        self.setWindowTitle(f"{project.folder.name}[*] — Talking-face studio")
        self._remember(project.folder)
        self.selected = []
        self.timeline.clear_all()
        self.waveform.clear_audio()
        self.controls.set_drivers(project_drivers(project))
        self.controls.show_settings(project.settings)
        self.controls.show_words([], None)
        self.controls.show_clip(None)
        self.frame = 0
        self._update_actions()
        self._open_take()

    def save(self) -> bool:
        if self.project is None:
            return False
        try:
            self.project.save()
        except StudioError as exc:
            self.show_error(exc, "Cannot save")
            return False
        self.undo_stack.setClean()
        self.statusBar().showMessage(f"Saved {self.project.json_path}", 4000)
        return True

    def save_as(self, folder: Path | None = None) -> bool:
        if self.project is None:
            return False
        if folder is None:
            name = QFileDialog.getExistingDirectory(self, "Save the project in a new folder")
            if not name:
                return False
            folder = Path(name)
        try:
            self.project.save_as(folder)
        except StudioError as exc:
            self.show_error(exc, "Cannot save")
            return False
        self.undo_stack.setClean()
        self._remember(self.project.folder)
        self.setWindowTitle(f"{self.project.folder.name}[*] — Talking-face studio")
        return True

    def _remember(self, folder: Path) -> None:
        recent = [str(folder)] + [r for r in self._recent() if r != str(folder)]
        self.qsettings.setValue("recent", recent[:MAX_RECENT])

    def _recent(self) -> list[str]:
        value = self.qsettings.value("recent") or []
        return [value] if isinstance(value, str) else list(value)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for r in self._recent():
            a = self.recent_menu.addAction(r)
            a.triggered.connect(lambda _=False, r=r: self.open_project(Path(r)))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _may_discard(self) -> bool:
        """Ask about unsaved changes; True when it is fine to drop the current project."""
        if self.project is None or not self.project.dirty:
            return True
        if not self.prompts:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.project.folder.name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _clean_changed(self, clean: bool) -> None:
        if self.project is not None:
            self.setWindowModified(self.project.dirty)

    def _autosave(self) -> None:
        if self.project is not None and self.project.dirty:
            try:
                autosave_mod.autosave(self.project)
            except StudioError as exc:
                self.statusBar().showMessage(str(exc), 6000)

    # -- project events -----------------------------------------------------------------

    def _on_project_event(self, name: str, payload: dict[str, Any]) -> None:
        p = self.project
        if name in ("setting_changed", "word_changed", "word_timing_changed",
                    "emotion_clips_changed"):
            self.generation += 1
            self.autosave_timer.start()
            if name == "setting_changed":
                self.controls.show_settings(p.settings)
                if payload.get("key") == "driver":
                    self._sync_driver()
            elif name == "word_changed":
                self.timeline.set_edited(set(p.words))
                self._show_word_inspector()
            elif name == "word_timing_changed":
                self._fill_words()
            else:
                self.timeline.set_clips(p.emotion_clips)
                self._clip_selected(self.timeline.selected_clip or "")
            self.request_render()
        elif name == "media_changed":
            self.autosave_timer.start()
            self._update_actions()
            if not self._reopen_pending:
                self._reopen_pending = True
                QTimer.singleShot(0, self._open_take)
        elif name == "dirty_changed":
            self.setWindowModified(bool(payload["dirty"]))
        elif name == "warning":
            self.statusBar().showMessage(payload["message"], 8000)

    def _setting_edited(self, key: str, value: Any, token: int) -> None:
        if self.project is None:
            return
        self._push(SetSetting(key, value), ("setting", key, token) if token else None)
        if key == "renderer":
            from core.render.registry import preview_note

            note = preview_note(str(value))
            if note:
                self.statusBar().showMessage(note, 10000)

    def _word_edited(self, field: str, value: Any, token: int) -> None:
        if self.project is None or not self.selected:
            return
        drag = ("word", field, tuple(self.selected), token) if token else None
        self._push(SetWordStyle(list(self.selected), field, value), drag)

    def _push(self, command: Any, drag: Any = None, check: bool = False) -> bool:
        try:
            push(self.undo_stack, self.project, command, drag, check=check)
        except StudioError as exc:
            self.show_error(exc, "Cannot make that edit")
            return False
        return True

    def _add_clip(self, region: str, emotion: str) -> None:
        if self.project is None or self.handle is None:
            return
        take = self.handle.take
        span = self._selection_span()
        if span is not None:
            start, end = span
        else:
            t = self.frame / take.fps
            start, end = max(0.0, t - 0.5), t + 0.5
        cmd = AddEmotionClip({"region": region, "emotion": emotion, "start": round(start, 3),
                              "end": round(end, 3), "intensity": 1.0,
                              "fade_in": 0.1, "fade_out": 0.1})
        if self._push(cmd, check=True):
            self.timeline.click_clip(cmd.id)

    def _clip_edited(self, clip_id: str, field: str, value: Any, token: int) -> None:
        if self.project is not None:
            if field == "emotion" and any(c["id"] == clip_id and c.get("emotion") == value
                                          for c in self.project.emotion_clips):
                return  # already that preset: no empty undo step
            drag = ("clip", clip_id, field, token) if token else None
            self._push(ChangeEmotionClip(clip_id, **{field: value}), drag, check=True)

    def choose_clip_image(self, clip_id: str) -> QFileDialog | None:
        """"Source image…": a (non-blocking) file dialog; the chosen picture is checked,
        then becomes the clip's emotion source. The dialog stays in ``image_dialog``."""
        if self.project is None:
            return None
        dlg = QFileDialog(self, "Emotion from a reference image", "",
                          "Images (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff)")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
        dlg.setOption(QFileDialog.Option.DontUseNativeDialog, not self.prompts)
        dlg.fileSelected.connect(lambda name, cid=clip_id: name and self.set_clip_image(cid,
                                                                                       name))
        self.image_dialog = dlg
        dlg.open()
        return dlg

    def set_clip_image(self, clip_id: str, path: str | Path) -> Job | None:
        """Use the face in ``path`` as the emotion source of a clip: one undo step, once a
        worker has read the picture and found its face. A bad picture (unreadable, no face)
        gives an error dialog naming it and leaves the clip as it was."""
        if self.project is None or self.handle is None:
            return None
        project, take = self.project, self.handle.take
        try:
            region = project.clip(clip_id)["region"]
        except StudioError as exc:
            self.show_error(exc, "Cannot use that image")
            return None
        path = Path(path)

        def work(progress, cancel):
            from core.dub import image_reference
            from core.media.image import open_image
            from core.project.media import MediaRef

            ref = MediaRef.from_file(path, "image")
            open_image(path).close()  # a picture, not a video or something else
            try:
                # the keypoints land in the project's cache: the renderer reads them there
                image_reference(path, take, region, project.cache_dir)
            except StudioError:
                raise
            except Exception as exc:  # noqa: BLE001 - named with the file in the dialog
                raise StudioError(path, f"cannot use its face ({exc})") from exc
            return ref

        job = Job("Reading the image", work)
        self._image_job = job
        self.statusBar().showMessage(f"Reading {path.name}…", 4000)
        job.failed.connect(lambda exc: self.show_error(exc, "Cannot use that image"))
        job.succeeded.connect(lambda ref, cid=clip_id, pr=project: self._clip_image_read(
            pr, cid, ref))
        job.finished.connect(lambda job=job: self._image_job_done(job))
        job.start()
        return job

    def _clip_image_read(self, project: Project, clip_id: str, ref: Any) -> None:
        if project is self.project and any(c["id"] == clip_id for c in project.emotion_clips):
            self._push(ChangeEmotionClip(clip_id, source={"image": ref}), check=True)

    def _image_job_done(self, job: Job) -> None:
        job.wait()
        self._old_jobs = [j for j in self._old_jobs if j.isRunning()] + [job]
        if job is self._image_job:
            self._image_job = None

    def _word_timing_dragged(self, index: int, start: float, end: float, token: int) -> None:
        """A word edge dragged on the timeline: one undo step per drag."""
        if self.project is not None:
            self._push(SetWordTiming(index, start, end), ("timing", index, token), check=True)

    def _clip_dragged(self, clip_id: str, fields: dict[str, Any], token: int) -> None:
        """A clip moved, trimmed or faded on the timeline: one undo step per drag."""
        if self.project is not None:
            drag = ("clip-drag", clip_id, tuple(sorted(fields)), token)
            self._push(ChangeEmotionClip(clip_id, **fields), drag, check=True)

    def _remove_clip(self, clip_id: str) -> None:
        if self.project is not None:
            self._push(RemoveEmotionClip(clip_id), check=True)

    def _clip_selected(self, clip_id: str) -> None:
        clip = None
        if clip_id and self.project is not None:
            clip = next((c for c in self.project.emotion_clips if c["id"] == clip_id), None)
        self.controls.show_clip(clip)

    def _selection_changed(self, indices: list[int]) -> None:
        self.selected = list(indices)
        self._show_word_inspector()
        if self.selected and self.handle is not None and not self.playing:
            w = self._word_span(self.selected[0])
            if w is not None:
                self.seek_time((w[0] + w[1]) / 2)

    def _word_span(self, i: int) -> tuple[float, float] | None:
        al = None if self.handle is None else self.handle.take.dub_alignment
        if al is None or not 0 <= i < len(al.words):
            return None
        return (self.project.word_timing(i) if self.project is not None else None) or (
            al.words[i].start, al.words[i].end)

    def _selection_span(self) -> tuple[float, float] | None:
        """Seconds from the first selected word's start to the last one's end."""
        spans = [s for i in self.selected if (s := self._word_span(i)) is not None]
        if not spans:
            return None
        return min(s for s, _ in spans), max(e for _, e in spans)

    def _show_word_inspector(self) -> None:
        al = None if self.handle is None else self.handle.take.dub_alignment
        if self.project is None or al is None or not self.selected:
            self.controls.show_words([], None)
            return
        texts = [al.words[i].text for i in self.selected if i < len(al.words)]
        self.controls.show_words(texts, self.project.word_style(self.selected[0]))

    def _fill_words(self) -> None:
        take = None if self.handle is None else self.handle.take
        if take is None or take.dub_alignment is None or self.project is None:
            self.timeline.set_words([], {}, set())
            return
        timing = {i: t for i in self.project.words
                  if (t := self.project.word_timing(i)) is not None}
        self.timeline.set_words(take.dub_alignment.words, timing, set(self.project.words))

    # -- the take ---------------------------------------------------------------------

    def _open_take(self) -> None:
        """Analyse the project's media on a worker (tracking, alignment) and open its take."""
        self._reopen_pending = False
        project = self.project
        if project is None:
            return
        self._close_take()
        if project.dub is None:
            self.preview.clear("Drop a dub (an audio file) to make the face speak it")
            return
        try:
            project.require_media()
        except StudioError as exc:
            self.show_error(exc, "Missing media")
            return
        generation = self.generation
        view = SimpleNamespace(
            source=project.source, dub=project.dub, transcript=project.transcript,
            json_path=project.json_path, folder=project.folder, require_media=lambda: None,
            **vars(_snapshot(project)))

        def work(progress, cancel):
            from core.dub import open_project_take
            from core.media import load_audio

            take = open_project_take(view, progress=progress, cancel=cancel,
                                     export_renderer=False)
            source_audio = None
            try:
                if not take.source.is_image and take.source.has_audio:
                    source_audio = load_audio(take.source.path, 16000).samples
            except StudioError:
                pass
            return take, source_audio, generation

        job = Job("Analysing", work)
        job.project = project
        job.succeeded.connect(lambda result, job=job: self._take_opened(job, result))
        self.preview.clear("Analysing: tracking the face and aligning the words…")
        self.start_job(job, replace=True)

    def _take_opened(self, job: Job, result: Any) -> None:
        take, source_audio, generation = result
        if job.project is not self.project or job.cancel_requested:
            take.close()
            return
        self._close_take()
        self.handle = TakeHandle(take)
        self.handle.generation = generation
        self.renderer = RenderWorker(self.handle)
        self.renderer.rendered.connect(self._rendered)
        self.renderer.failed.connect(lambda exc: self.statusBar().showMessage(
            f"Render failed: {exc}", 8000))
        self.renderer.start()
        dub = take.dub
        self.waveform.set_audio(dub.samples, dub.sample_rate, take.loudness, take.fps,
                                source_audio)
        self.timeline.set_duration(take.frame_count / take.fps)
        self._fill_words()
        self.timeline.set_clips(self.project.emotion_clips)
        self.controls.setEnabled(True)
        self.controls.show_settings(self.project.settings)
        self._show_word_inspector()
        self._update_actions()
        if self.audio is not None:
            self.audio.setSource(QUrl.fromLocalFile(str(self.project.dub.path)))
        for w in take.warnings:
            self.statusBar().showMessage(w, 6000)
        self.seek(min(self.frame, take.frame_count - 1))
        self._sync_driver()
        self.take_ready.emit()

    def _close_take(self) -> None:
        self.pause()
        if self.renderer is not None:
            self.renderer.stop()
            self.renderer.wait()
            self.renderer = None
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self.controls.setEnabled(False)
        self._update_actions()

    @property
    def take(self) -> Any:
        return None if self.handle is None else self.handle.take

    # -- rendering --------------------------------------------------------------------

    def edits(self) -> Any:
        """The project's edits as of now, copied once per generation."""
        if self._snap is None or self._snap[0] != self.generation:
            self._snap = (self.generation, _snapshot(self.project))
        return self._snap[1]

    def request_render(self, full: bool = True) -> int:
        """Ask for the current frame (newest request wins); returns its sequence number."""
        if self.renderer is None or self.project is None:
            return -1
        self._seq += 1
        span = self._loop_span() if self.playing else None
        self.renderer.request(RenderRequest(self.frame, self.generation, self.edits(),
                                            self.view_mode, self.overlay,
                                            full=full and not self.playing, seq=self._seq,
                                            direction=self._direction, span=span))
        return self._seq

    def _rendered(self, result: RenderResult) -> None:
        if self.handle is None:
            return
        if result.seq < self._shown_seq or (result.generation != self.generation
                                            and result.frame == self.frame):
            return  # older than what is shown, or an older edit of this frame
        self._shown_seq = result.seq
        take = self.handle.take
        frame_size = (take.source.width, take.source.height)
        self.preview.show_frame(result.image, frame_size, result.points)
        self.shown = result
        self.frame_shown.emit(result)

    def is_current(self, result: RenderResult | None, stage: str = "full") -> bool:
        """Whether ``result`` shows the current frame, edits and view (for tests, benches)."""
        return (result is not None and result.frame == self.frame
                and result.generation == self.generation and result.view == self.view_mode
                and self._driver_job is None
                and (stage == "preview" or result.stage == stage))

    def current_image(self):
        return None if self.shown is None else self.shown.image

    def _view(self) -> str:
        if self.ab_action.isChecked():
            return "source"
        return "visemes" if self.compare_action.isChecked() else "edited"

    def _toggle_ab(self, on: bool) -> None:
        self.view_mode = self._view()
        self.request_render()

    def _toggle_compare(self, on: bool) -> None:
        """Show the same frame driven by visemes (on) or by the project's driver (off)."""
        self.view_mode = self._view()
        self._sync_driver()
        self.request_render()

    # -- the lip driver -----------------------------------------------------------------

    def wanted_driver(self) -> str:
        """The driver the take should have now: the project's, or visemes to compare."""
        if self.project is None or self.compare_action.isChecked():
            return "visemes"
        return resolve_driver(str(self.project.settings.get("driver", "learned")),
                              self.project.folder)

    def _sync_driver(self) -> None:
        """Switch the take's driver on a worker when it is not the wanted one; the preview
        re-renders once it is on."""
        handle = self.handle
        if handle is None:
            return
        if self._driver_job is not None:
            self._driver_again = True
            return
        wanted = self.wanted_driver()
        if getattr(handle.take, "driver_name", "visemes") == wanted:
            return

        def work(progress, cancel):
            with handle.lock:
                handle.take.use_driver(wanted)
            return wanted

        job = Job("Switching the lip driver", work)
        self._driver_job = job
        self.frame_label.setText(f"{self.frame_label.text()}  (switching driver…)")
        job.failed.connect(lambda exc: self.show_error(exc, "Cannot use that driver"))
        job.finished.connect(lambda job=job, handle=handle: self._driver_done(job, handle))
        job.start()

    def _driver_done(self, job: Job, handle: TakeHandle) -> None:
        job.wait()
        if job is not self._driver_job:
            return
        self._driver_job = None
        self._old_jobs = [j for j in self._old_jobs if j.isRunning()] + [job]
        if handle is not self.handle:
            return
        self.generation += 1
        again, self._driver_again = self._driver_again, False
        if again and getattr(handle.take, "driver_name", "") != self.wanted_driver():
            self._sync_driver()
            return
        self.seek(self.frame)
        self.driver_applied.emit(str(getattr(handle.take, "driver_name", "")))

    # -- training -----------------------------------------------------------------------

    def open_train_dialog(self) -> TrainDialog | None:
        """The Train menu's dialog (non-blocking); "Train" starts the job."""
        if self.project is None or self.project.dub is None:
            self.show_error(StudioError(None, "open a project with a dub first"), "Train")
            return None
        if self.train is not None:
            self._show_train_panel()
            return None
        source = None if self.project.source is None else Path(self.project.source.path)
        dlg = TrainDialog(source, self)
        dlg.accepted.connect(lambda dlg=dlg: self.start_training(dlg.options()))
        self.train_dialog_box = dlg
        dlg.open()
        return dlg

    def _show_train_panel(self) -> TrainPanel:
        if self.train_panel is None:
            self.train_panel = TrainPanel(self)
            self.train_panel.cancel_clicked.connect(self.cancel_training)
            self.train_panel.decided.connect(self._train_decided)
        self.train_panel.show()
        self.train_panel.raise_()
        return self.train_panel

    def start_training(self, options: TrainOptions | None = None) -> bool:
        """Save the project, then run ``python -m trainer`` on it in its own process."""
        options = options or TrainOptions()
        if self.project is None or self.project.dub is None:
            self.show_error(StudioError(None, "open a project with a dub first"), "Train")
            return False
        if self.train is not None:
            self.show_error(StudioError(None, "a training run is going on; wait or cancel "
                                              "it first"), "Busy")
            return False
        if not self.save():
            return False
        panel = self._show_train_panel()
        panel.reset(options.steps)
        run = TrainProcess(self.project.folder, options, env=self.train_env, parent=self)
        run.progressed.connect(panel.on_progress)
        run.event.connect(panel.on_event)
        run.ended.connect(lambda outcome, model, message, run=run:
                          self._train_ended(run, outcome, model, message))
        self.train = run
        self._train_project = self.project
        self._update_actions()
        run.start()
        self.statusBar().showMessage("Training the lip adapter…", 4000)
        return True

    def _train_decided(self, choice: str, model: str) -> None:
        """Keep: the adapter becomes a driver choice and drives the lips (undoable).
        Discard: its file goes; the driver stays as it was."""
        offered, self._offered = self._offered, None
        if offered is None or offered[0] is not self.project:
            return
        project = offered[0]
        if choice == "keep":
            value = driver_value(project.folder, model)
            self.controls.add_driver(driver_label(model), value)
            self._push(SetSetting("driver", value), check=True)
        else:
            Path(model).unlink(missing_ok=True)
            self.statusBar().showMessage(f"Discarded {Path(model).name}", 6000)

    def cancel_training(self) -> None:
        if self.train is not None:
            self.train.cancel()

    def _train_ended(self, run: TrainProcess, outcome: str, model: str, message: str) -> None:
        if run is not self.train:
            return
        self.train = None
        project, self._train_project = self._train_project, None
        if self.train_panel is not None:
            self.train_panel.on_ended(outcome, model, message)
        self._update_actions()
        if outcome == "succeeded":
            if project is self.project and project is not None and self.train_panel is not None:
                # never switch silently: the panel shows the held-out gain, keep or discard
                self._offered = (project, model)
                self.train_panel.offer(model, run.gain)
            self.statusBar().showMessage(f"Trained {model}: keep or discard it", 8000)
        elif outcome == "cancelled":
            self.statusBar().showMessage("Training cancelled; the last checkpoint is kept "
                                         "(resume continues from it)", 8000)
        else:
            path, _, problem = message.partition(": ")
            err = (StudioError(path, problem) if problem and ("/" in path or "\\" in path)
                   else StudioError(None, message))
            self.show_error(err, "Training failed")
        self.train_finished.emit(outcome, model or message)
        run.deleteLater()

    def _toggle_overlay(self, on: bool) -> None:
        self.overlay = bool(on)
        self.request_render()

    # -- time -------------------------------------------------------------------------

    def seek(self, j: int, full: bool = True) -> None:
        take = self.take
        if take is None:
            return
        j = max(0, min(int(j), take.frame_count - 1))
        if self.playing:
            self._direction = 1
        elif j != self.frame:
            self._direction = 1 if j > self.frame else -1
        self.frame = j
        t = self.frame / take.fps
        self.timeline.playhead.setValue(t)
        self.waveform.playhead.setValue(t)
        self.frame_label.setText(f"frame {self.frame + 1}/{take.frame_count}  {t:6.2f} s")
        self.request_render(full)

    def seek_time(self, t: float) -> None:
        if self.take is not None:
            self.seek(round(t * self.take.fps))
            if self.playing:
                self._seek_audio(self.frame)
                self.clock.restart(time.perf_counter(), self.frame)

    def step(self, k: int) -> None:
        self.pause()
        self.seek(self.frame + k)

    def _loop_span(self) -> tuple[int, int]:
        take = self.take
        span = self._selection_span() if self.loop_action.isChecked() else None
        if span is not None:
            a, b = round(span[0] * take.fps), round(span[1] * take.fps)
            return a, max(a + 1, b)
        return 0, take.frame_count

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        take = self.take
        if take is None:
            return
        a, b = self._loop_span()
        if not a <= self.frame < b - 1:
            self.frame = a
        self.playing = True
        self._direction = 1
        self._seek_audio(self.frame)
        self.clock = PlayClock(take.fps)
        self.clock.restart(time.perf_counter(), self.frame)
        self.play_timer.start(max(5, int(500 / take.fps)))

    def pause(self) -> None:
        if not self.playing:
            return
        self.playing = False
        self.play_timer.stop()
        if self.audio is not None:
            self.audio.pause()
        self.seek(self.frame)  # the full-size picture of where it stopped

    def _tick(self) -> None:
        """Show the frame the sound is at (the wall clock when there is no sound to follow);
        a loop goes back to its start, sound included."""
        take = self.take
        if take is None:
            self.pause()
            return
        now = time.perf_counter()
        j = self.clock.frame(now, self.audio_position())
        a, b = self._loop_span()
        if j >= b:
            j = a
            self._seek_audio(a)
            self.clock.restart(now, a)
        if j != self.frame:
            self.seek(j, full=False)

    def audio_position(self) -> float | None:
        """The player's position in ms while it plays, else None (no QtMultimedia, not
        started, stopped at the end of the dub)."""
        player = self.audio
        if player is None:
            return None
        from PySide6.QtMultimedia import QMediaPlayer

        if player.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
            return None
        return float(player.position())

    def _seek_audio(self, j: int) -> None:
        """Put the sound at frame ``j`` and make it play (it stops at the dub's end)."""
        if self.audio is None or self.take is None:
            return
        from PySide6.QtMultimedia import QMediaPlayer

        self.audio.setPosition(int(round(j / self.take.fps * 1000)))
        if self.audio.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
            self.audio.play()

    def _make_audio(self) -> Any:
        """A QMediaPlayer on the dub when QtMultimedia is installed, else None (silent)."""
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        except ImportError:
            self.play_action.setToolTip("Play / pause (no sound: QtMultimedia is not "
                                        "installed; pip install PySide6-Addons)")
            return None
        player = QMediaPlayer(self)
        self._audio_output = QAudioOutput(self)
        player.setAudioOutput(self._audio_output)
        return player

    # -- jobs -------------------------------------------------------------------------

    def start_job(self, job: Job, replace: bool = False) -> bool:
        """Run a long job with a progress bar and cancel button; one at a time."""
        if self.job is not None:
            if not replace:
                self.show_error(StudioError(None, f"{self.job.name} is still running; wait "
                                                  "or cancel it first"), "Busy")
                return False
            self._next_job = job
            self.job.cancel()
            return True
        self.job = job
        self.job_progress = None
        job.progressed.connect(self._job_progress)
        job.failed.connect(lambda exc, job=job: self.show_error(exc, f"{job.name} failed"))
        job.cancelled.connect(lambda job=job: self.statusBar().showMessage(
            f"{job.name}: cancelled", 5000))
        job.finished.connect(lambda job=job: self._job_done(job))
        self.job_label.setText(job.name)
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        for w in (self.job_label, self.progress, self.cancel_button):
            w.setVisible(True)
        job.start()
        return True

    def _job_progress(self, stage: str, done: float, total: float) -> None:
        self.job_progress = (stage, done, total)
        self.progress.setValue(int(1000 * done / total) if total > 0 else 0)
        count = f" {int(done)}/{int(total)}" if total > 1 else ""
        self.job_label.setText(f"{self.job.name if self.job else ''}: {stage}{count}")

    def _job_done(self, job: Job) -> None:
        if job is not self.job:
            return
        job.wait()
        self.job = None
        for w in (self.job_label, self.progress, self.cancel_button):
            w.setVisible(False)
        self._old_jobs = [j for j in self._old_jobs if j.isRunning()] + [job]
        self.job_finished.emit(job.name, job.outcome or "")
        if self._next_job is not None:
            nxt, self._next_job = self._next_job, None
            self.start_job(nxt)

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.job_label.setText(f"{self.job.name}: cancelling…")

    def export_mp4(self, path: str | Path | None = None) -> bool:
        """Export the project to an MP4 on a worker (asks where unless ``path`` is given)."""
        if self.handle is None or self.project is None:
            self.show_error(StudioError(None, "nothing to export yet: drop a video and a dub"),
                            "Export")
            return False
        if path is None:
            name, _ = QFileDialog.getSaveFileName(
                self, "Export MP4", str(self.project.folder / f"{self.project.folder.name}.mp4"),
                "Video (*.mp4 *.mov *.mkv)")
            if not name:
                return False
            path = name
        import copy

        from core.background import lower_thread_priority
        from core.dub import export_settings_from, export_take, project_renderer
        from core.export import check_output_path
        from core.outputs import check_output

        out = Path(path)
        try:  # never over the project's own files or its media, whatever the dialog allowed
            check_output(out, self.project.inputs(), project_folder=self.project.folder)
            check_output_path(out)
        except StudioError as exc:
            self.show_error(exc, "Export")
            return False
        handle, generation, edits = self.handle, self.generation, self.edits()
        dub_path = self.project.dub.path
        try:
            settings = export_settings_from(self.project.settings)
        except ValueError as exc:
            self.show_error(StudioError(self.project.json_path, str(exc)), "Export")
            return False

        hook = self.export_hook
        renderer = self.renderer
        project_settings, folder = copy.deepcopy(self.project.settings), self.project.folder

        def work(progress, cancel):
            drawer = project_renderer(project_settings, folder)  # the project's renderer now

            def report(stage: str, done: float, total: float) -> None:
                progress(stage, done, total)
                if hook is not None:
                    hook(stage, done, total)

            # the export never starves the preview: its threads (this one, the frame
            # producer and x264's, which inherit it) run at a lower OS priority, and no new
            # frame is rendered while the preview has one to draw
            lower_thread_priority()
            # a twin of the take, taken under the lock (quick): the export renders on it
            # while the preview goes on rendering the take itself
            with handle.lock:
                handle.sync(edits, generation)
                twin = handle.take.detached()
            twin.use_renderer(drawer)
            job.detached = twin
            try:
                return export_take(twin, out, dub_path, settings, report, cancel,
                                   yield_to=None if renderer is None else
                                   (lambda: renderer.busy))
            finally:
                twin.close()

        job = Job("Exporting", work)
        job.detached = None
        job.succeeded.connect(lambda p: self.statusBar().showMessage(f"Exported {p}", 8000))
        return self.start_job(job)

    # -- closing ----------------------------------------------------------------------

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self._may_discard():
            event.ignore()
            return
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("windowState", self.saveState())
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop every worker and close the take (the window may then be deleted)."""
        self._next_job = None
        if self.train is not None:
            run, self.train = self.train, None
            run.cancel()
            run.wait(30_000)
        if self._driver_job is not None:
            self._driver_job.wait()
            self._driver_job = None
        if self._image_job is not None:
            self._image_job.wait()
            self._image_job = None
        if self.job is not None:
            self.job.cancel()
            self.job.wait()
            self.job = None
        for j in self._old_jobs:
            j.wait()
        self.autosave_timer.stop()
        self._close_take()
