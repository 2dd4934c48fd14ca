"""The main window: preview, waveform, timeline and controls over one editing session.

The window holds no maths and no session state. It binds widgets and actions to a
:class:`core.session.EditSession` (the project, the take, the undo history, the work on
them), runs the session's long work on worker threads, and shows what comes back. Its
parts: the playhead (studio/transport.py), the edits from the controls and the timeline
(studio/editing.py), the long jobs (studio/jobs.py), training (studio/training.py).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
)

from core.errors import StudioError
from core.project.project import Project
from core.session import EditSession
from studio.controls import ControlPanel
from studio.editing import EditBindings
from studio.exporting import Exporting
from studio.files import ProjectFiles, remember
from studio.jobs import JobRunner
from studio.menus import ROOT, build_menus
from studio.preview import PreviewView
from studio.timeline import TimelinePane, WaveformPane
from studio.train_dialog import project_drivers
from studio.training import Training
from studio.transport import Transport
from studio.undo import UndoActions
from studio.workers import Job, RenderRequest, RenderResult, RenderWorker

#: what the window's parts own, reached as the window's own names (tests, benches)
_PARTS = {
    "session": ("take", "handle", "generation", "edits"),
    "transport": ("frame", "playing", "clock", "audio", "seek", "seek_time", "step", "play",
                  "pause", "toggle_play", "_tick", "_loop_span"),
    "jobs": ("job", "job_progress", "start_job", "cancel_job"),
    "editing": ("selected", "image_dialog", "set_clip_image", "choose_clip_image"),
    "training": ("train", "train_panel", "train_dialog_box", "open_train_dialog",
                 "start_training", "cancel_training"),
    "exporting": ("export_mp4", "export_dialog"),
    "files": ("open_paths", "folder_for", "new_project", "new_from_media", "open_dialog",
              "open_project", "save", "save_as", "may_discard"),
}
_OWNER = {name: part for part, names in _PARTS.items() for name in names}


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

        EditSession.preload()  # torch, the renderer, the aligner, the exporter, MediaPipe
    except Exception:  # noqa: BLE001 - only a head start; the job imports them anyway
        pass
    finally:
        done.set()


class MainWindow(QMainWindow):
    """The studio. ``projects_root``: where projects made from dropped media go (default:
    $STUDIO_PROJECTS_DIR, else where the user says); ``prompts=False`` answers every
    question with its default (for tests); ``settings``: a QSettings to remember layout
    and recent projects in."""

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
        projects_root = projects_root or os.environ.get("STUDIO_PROJECTS_DIR") or None
        self.projects_root = None if projects_root is None else Path(projects_root)
        self.prompts = prompts
        self.qsettings = settings or QSettings("talking-face-studio", "studio")
        self.session = EditSession()
        self.session.events.connect(self._on_session)
        self.renderer: RenderWorker | None = None
        self._seq = 0
        self._shown_seq = -1
        self.shown: RenderResult | None = None
        self.view_mode = "edited"
        self.overlay = False
        self.errors: list[str] = []
        self.error_box: QMessageBox | None = None
        self._reopen_pending = False
        self._driver_job: Job | None = None
        self._driver_again = False
        self.train_env: dict[str, str] = {}  # extra environment for the trainer process
        # called from the export thread after each frame (tests slow an export with it)
        self.export_hook: Any = None

        self.setWindowTitle("Talking-face studio[*]")
        self.setAcceptDrops(True)
        self.undo_stack = UndoActions(self.session, self)
        self.preview = PreviewView()
        self.setCentralWidget(self.preview)
        self.controls = ControlPanel()
        self.waveform = WaveformPane()
        self.timeline = TimelinePane()
        self.timeline.setXLink(self.waveform)
        scroll = QScrollArea()  # the panels scroll on a small screen (1366x768)
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.controls.sizeHint().width() + 20)
        self._dock("Controls", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        wave_dock = self._dock("Waveform", self.waveform, Qt.DockWidgetArea.BottomDockWidgetArea)
        line_dock = self._dock("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(wave_dock, line_dock, Qt.Orientation.Vertical)
        self.waveform.setMinimumHeight(110)
        self.timeline.setMinimumHeight(170)
        self.resizeDocks([wave_dock, line_dock], [150, 210], Qt.Orientation.Vertical)
        self.controls.setEnabled(False)

        self.jobs = JobRunner(self)
        self.jobs.finished.connect(self.job_finished)
        self.jobs.progressed.connect(lambda stage, done, _: stage == "tracking"
                                     and self.preview.show_tracked(int(done) - 1))
        self.job_label, self.progress = self.jobs.label, self.jobs.bar
        self.cancel_button = self.jobs.cancel_button
        self.frame_label = QLabel("")
        for w in (self.job_label, self.progress, self.cancel_button, self.frame_label):
            self.statusBar().addPermanentWidget(w)
        self.training = Training(self)
        self.transport = Transport(self)
        build_menus(self)
        self.files = ProjectFiles(self)
        self.exporting = Exporting(self)
        self.editing = EditBindings(self)
        self.timeline.scrubbed.connect(self.transport.scrub)
        self.waveform.scrubbed.connect(self.transport.scrub)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(4000)
        self.autosave_timer.timeout.connect(self.files.autosave)

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

    def __getattr__(self, name: str) -> Any:
        """What the window's parts own, by the window's name for it."""
        part = _OWNER.get(name)
        if part is None or part not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__[part], name)

    @property
    def project(self) -> Project | None:
        return self.session.project

    # -- layout -----------------------------------------------------------------------

    def _dock(self, title: str, widget: Any, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def update_actions(self) -> None:
        has_project, has_take = self.project is not None, self.session.handle is not None
        self.save_action.setEnabled(has_project)
        self.save_as_action.setEnabled(has_project)
        for a in (self.close_action, self.import_dub_action, self.import_text_action):
            a.setEnabled(has_project)
        self.export_action.setEnabled(has_take)
        self.train_action.setEnabled(has_project and self.project.dub is not None
                                     and self.training.train is None)
        self.compare_action.setEnabled(has_take)

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

    dragMoveEvent = dragEnterEvent  # noqa: N815 - Qt's name

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def _set_project(self, project: Project) -> None:
        self._close_take()
        self.session.set_project(project)
        self.undo_stack.refresh()
        self.setWindowModified(project.dirty)
        self.setWindowTitle(f"{project.folder.name}[*] — Talking-face studio")
        remember(self.qsettings, project.folder)
        self.editing.selected = []
        self.timeline.clear_all()
        self.waveform.clear_audio()
        self.controls.set_drivers(project_drivers(project))
        self.controls.show_settings(project.settings)
        self.controls.show_words([], None)
        self.controls.show_clip(None)
        self.transport.frame = 0
        self.update_actions()
        self._open_take()

    # -- the session's events -----------------------------------------------------------

    def _on_session(self, name: str, payload: dict[str, Any]) -> None:
        p = self.project
        if name in ("setting_changed", "word_changed", "word_timing_changed",
                    "emotion_clips_changed"):
            self.autosave_timer.start()
            if name == "setting_changed":
                self.controls.show_settings(p.settings)
                if payload.get("key") == "driver":
                    self._sync_driver()
            elif name == "word_changed":
                self.timeline.set_edited(set(p.words))
                self.editing.show_words()
            elif name == "word_timing_changed":
                self.editing.fill_words()
            else:
                self.timeline.set_clips(p.emotion_clips)
                self.editing.show_clip(self.timeline.selected_clip or "")
            self.request_render()
        elif name == "media_changed":
            self.autosave_timer.start()
            self.update_actions()
            if not self._reopen_pending:
                self._reopen_pending = True
                QTimer.singleShot(0, self._open_take)
        elif name in ("dirty_changed", "history_changed"):
            self.undo_stack.refresh()
            self.setWindowModified(p is not None and p.dirty)
        elif name == "warning":
            self.statusBar().showMessage(payload["message"], 8000)
        elif name == "driver_applied":
            self.seek(self.frame)
            self.driver_applied.emit(payload["driver"])

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
        job = Job("Analysing", self.session.analysis())  # checked and copied here
        job.succeeded.connect(lambda opened, job=job: self._take_opened(job, opened))
        self.preview.clear("Analysing: tracking the face and aligning the words…")
        self.preview.show_poster(project.source.path, "Analysing: tracking the face and "
                                                      "aligning the words…")
        self.start_job(job, replace=True)

    def _take_opened(self, job: Job, opened: Any) -> None:
        if job.cancel_requested or opened.project is not self.project:
            opened.take.close()
            return
        self._close_take()
        self.preview.end_poster()
        self.session.adopt(opened)
        take = opened.take
        self.renderer = RenderWorker(self.session.handle)
        self.renderer.rendered.connect(self._rendered)
        self.renderer.failed.connect(lambda exc: self.statusBar().showMessage(
            f"Render failed: {exc}", 8000))
        self.renderer.start()
        dub = take.dub
        self.waveform.set_audio(dub.samples, dub.sample_rate, take.loudness, take.fps,
                                opened.source_audio)
        self.timeline.set_duration(take.frame_count / take.fps)
        self.editing.fill_words()
        self.timeline.set_clips(self.project.emotion_clips)
        self.controls.setEnabled(True)
        self.controls.show_settings(self.project.settings)
        self.editing.show_words()
        self.update_actions()
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
        self.session.close_take()
        self.controls.setEnabled(False)
        self.update_actions()

    # -- rendering --------------------------------------------------------------------

    def request_render(self, full: bool = True) -> int:
        """Ask for the current frame (newest request wins); returns its sequence number."""
        if self.renderer is None or self.project is None:
            return -1
        self._seq += 1
        span = self._loop_span() if self.playing else None
        self.renderer.request(RenderRequest(
            self.frame, self.session.generation, self.session.edits(), self.view_mode,
            self.overlay, full=full and not self.playing, seq=self._seq,
            direction=self.transport.direction, span=span))
        return self._seq

    def _rendered(self, result: RenderResult) -> None:
        take = self.session.take
        if take is None:
            return
        if result.seq < self._shown_seq or (result.generation != self.session.generation
                                            and result.frame == self.frame):
            return  # older than what is shown, or an older edit of this frame
        self._shown_seq = result.seq
        self.preview.show_frame(result.image, (take.source.width, take.source.height),
                                result.points)
        self.shown = result
        if result.stage == "full":
            self.editing.show_saturation()
        self.frame_shown.emit(result)

    def is_current(self, result: RenderResult | None, stage: str = "full") -> bool:
        """Whether ``result`` shows the current frame, edits and view (for tests, benches)."""
        return (result is not None and result.frame == self.frame
                and result.generation == self.session.generation
                and result.view == self.view_mode and self._driver_job is None
                and (stage == "preview" or result.stage == stage))

    def current_image(self):
        return None if self.shown is None else self.shown.image

    def _view_changed(self, _: bool = False) -> None:
        """A/B, the overlay or the viseme comparison toggled: draw the frame that way."""
        if self.ab_action.isChecked():
            view = "source"
        else:
            view = "visemes" if self.compare_action.isChecked() else "edited"
        compare_changed = (view == "visemes") != (self.view_mode == "visemes")
        self.view_mode, self.overlay = view, self.overlay_action.isChecked()
        if compare_changed:
            self._sync_driver()
        self.request_render()

    # -- the lip driver -----------------------------------------------------------------

    def wanted_driver(self) -> str:
        """The driver the take should have now: the project's, or visemes to compare."""
        return self.session.wanted_driver(self.compare_action.isChecked())

    def _sync_driver(self) -> None:
        """Switch the take's driver on a worker when it is not the wanted one; the preview
        re-renders once it is on."""
        if self.session.handle is None:
            return
        if self._driver_job is not None:
            self._driver_again = True
            return
        compare = self.compare_action.isChecked()
        if not self.session.driver_needs_switch(compare):
            return
        work = self.session.switch_driver(compare)
        job = Job("Switching the lip driver", lambda progress, cancel: work())
        self._driver_job = job
        self.frame_label.setText(f"{self.frame_label.text()}  (switching driver…)")
        job.failed.connect(lambda exc: self.show_error(exc, "Cannot use that driver"))
        job.finished.connect(lambda job=job, h=self.session.handle: self._driver_done(job, h))
        job.start()

    def _driver_done(self, job: Job, handle: Any) -> None:
        job.wait()
        if job is not self._driver_job:
            return
        self._driver_job = None
        self.jobs.retire(job)
        if handle is not self.session.handle:
            return
        again, self._driver_again = self._driver_again, False
        if again and self.session.driver_needs_switch(self.compare_action.isChecked()):
            self.session.generation += 1
            self._sync_driver()
            return
        self.session.driver_switched()

    # -- closing ----------------------------------------------------------------------

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.may_discard():
            event.ignore()
            return
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("windowState", self.saveState())
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop every worker and close the take (the window may then be deleted)."""
        self.training.stop()
        for job in (self._driver_job, self.editing.image_job):
            if job is not None:
                job.wait()
        self._driver_job = self.editing.image_job = None
        self.jobs.stop()
        self.autosave_timer.stop()
        self._close_take()
        self.preview.end_poster()
