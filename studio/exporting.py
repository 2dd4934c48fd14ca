"""Export from the window: the settings dialog (remembered between sessions), the job, and
the notice at its end with "Show in folder" and "Play"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QMessageBox,
    QSpinBox,
)

from core import vocabulary
from core.errors import StudioError
from core.export import ExportSettings
from core.project.commands import Group, SetSetting
from studio.workers import Job

#: the heights offered under the source's own
HEIGHTS = (2160, 1440, 1080, 720, 540, 480, 360)
#: the project settings the dialog sets (the output height is the export's only)
PROJECT_KEYS = ("export.crf", "export.preset", "export.mix_source_audio",
                "export.source_audio_gain", "av_offset_frames", "longer", "shorter")
LONGER_TEXT = {"pingpong": "play the video back and forth", "hold": "hold the last frame"}
SHORTER_TEXT = {"silent": "keep the video, silent after the dub", "trim": "cut at the dub's end"}


class ExportDialog(QDialog):
    """The export's choices: resolution, CRF, preset, audio mix, A/V offset and what to
    do when the dub is longer or shorter than the video. It starts from the last choices
    (``qsettings``, group ``export``), else the project's settings."""

    def __init__(self, settings: dict[str, Any], source_height: int,
                 qsettings: QSettings, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export MP4")
        self.qsettings = qsettings
        form = QFormLayout(self)
        self.resolution = QComboBox()
        self.resolution.addItem(f"source ({source_height} p)", None)
        for h in HEIGHTS:
            if h < source_height:
                self.resolution.addItem(f"{h} p", h)
        self.resolution.setToolTip("The output's height; smaller keeps the aspect")
        self.crf = QSpinBox()
        self.crf.setRange(int(vocabulary.CRF.lo), int(vocabulary.CRF.hi))
        self.crf.setToolTip(vocabulary.CRF.tip + " (lower: better and bigger; 18 looks "
                                                 "lossless)")
        self.preset = QComboBox()
        self.preset.addItems(list(vocabulary.X264_PRESETS))
        self.preset.setToolTip("x264's speed: slower presets make smaller files")
        self.mix = QCheckBox("mix the source's own sound under the dub")
        self.gain = QDoubleSpinBox()
        self.gain.setRange(vocabulary.SOURCE_AUDIO_GAIN.lo, vocabulary.SOURCE_AUDIO_GAIN.hi)
        self.gain.setSingleStep(0.05)
        self.gain.setToolTip("The source sound's level under the dub")
        self.offset = QSpinBox()
        self.offset.setRange(int(vocabulary.AV_OFFSET.lo), int(vocabulary.AV_OFFSET.hi))
        self.offset.setSuffix(" frames")
        self.offset.setToolTip(vocabulary.AV_OFFSET.tip)
        self.longer = QComboBox()
        for key in vocabulary.LONGER:
            self.longer.addItem(LONGER_TEXT.get(key, key), key)
        self.shorter = QComboBox()
        for key in vocabulary.SHORTER:
            self.shorter.addItem(SHORTER_TEXT.get(key, key), key)
        form.addRow("resolution", self.resolution)
        form.addRow("quality (CRF)", self.crf)
        form.addRow("preset", self.preset)
        form.addRow(self.mix)
        form.addRow("source sound level", self.gain)
        form.addRow("A/V offset", self.offset)
        form.addRow("dub longer than the video", self.longer)
        form.addRow("dub shorter than the video", self.shorter)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.mix.toggled.connect(self.gain.setEnabled)
        self._show(settings)

    def _last(self, key: str, fallback: Any) -> Any:
        value = self.qsettings.value(f"export/{key}")
        return fallback if value is None else value

    def _show(self, settings: dict[str, Any]) -> None:
        e = settings["export"]
        height = self._last("height", "")
        i = self.resolution.findData(int(height)) if str(height).isdigit() else 0
        self.resolution.setCurrentIndex(max(0, i))
        self.crf.setValue(int(self._last("crf", e["crf"])))
        self.preset.setCurrentText(str(self._last("preset", e["preset"])))
        self.mix.setChecked(str(self._last("mix_source_audio", e["mix_source_audio"]))
                            .lower() in ("true", "1"))
        self.gain.setValue(float(self._last("source_audio_gain", e["source_audio_gain"])))
        self.gain.setEnabled(self.mix.isChecked())
        self.offset.setValue(int(self._last("av_offset_frames", settings["av_offset_frames"])))
        for box, key in ((self.longer, "longer"), (self.shorter, "shorter")):
            box.setCurrentIndex(max(0, box.findData(str(self._last(key, settings[key])))))

    def choices(self) -> dict[str, Any]:
        """The choices as project setting keys, and ``height`` (None: the source's)."""
        return {"height": self.resolution.currentData(), "export.crf": self.crf.value(),
                "export.preset": self.preset.currentText(),
                "export.mix_source_audio": self.mix.isChecked(),
                "export.source_audio_gain": round(self.gain.value(), 2),
                "av_offset_frames": self.offset.value(),
                "longer": self.longer.currentData(), "shorter": self.shorter.currentData()}

    def remember(self) -> None:
        for key, value in self.choices().items():
            self.qsettings.setValue(f"export/{key.split('.')[-1]}",
                                    "" if value is None else value)

    def accept(self) -> None:
        self.remember()
        super().accept()


class Exporting(QObject):
    """The window's export: asks for the settings and the file, runs the job, and tells
    when it is done."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.dialog: ExportDialog | None = None
        self.notice: QMessageBox | None = None
        self.pending: tuple[Path, ExportSettings] | None = None  # after a re-analysis
        window.jobs.finished.connect(self._job_ended)

    def export_dialog(self) -> ExportDialog:
        w = self.w
        height = w.take.source.height if w.take is not None else 0
        self.dialog = ExportDialog(w.project.settings, height, w.qsettings, w)
        return self.dialog

    def export_mp4(self, path: str | Path | None = None,
                   choices: dict[str, Any] | None = None) -> bool:
        """Export the project to an MP4 on a worker. Without ``choices`` the dialog asks
        for them (its remembered ones when the window asks nothing); without ``path`` a
        file dialog asks where."""
        w = self.w
        if w.session.handle is None or w.project is None:
            w.show_error(StudioError(None, "nothing to export yet: drop a video and a dub"),
                         "Export")
            return False
        if choices is None:
            dialog = self.export_dialog()
            if w.prompts and dialog.exec() != QDialog.DialogCode.Accepted:
                return False
            choices = dialog.choices()
        if path is None:
            name, _ = QFileDialog.getSaveFileName(
                w, "Export MP4", str(w.project.folder / f"{w.project.folder.name}.mp4"),
                "Video (*.mp4 *.mov *.mkv)")
            if not name:
                return False
            path = name
        return self._apply(Path(path), choices)

    def _apply(self, path: Path, choices: dict[str, Any]) -> bool:
        """Put the choices in the project (one undo step) and export; a changed longer /
        shorter policy changes the take's length, so the take is analysed again first."""
        w, project = self.w, self.w.project
        commands = [SetSetting(k, choices[k]) for k in PROJECT_KEYS
                    if k in choices and project.setting(k) != choices[k]]
        relength = any(c.key in ("longer", "shorter") for c in commands)
        try:
            settings = ExportSettings.from_settings(
                {**project.settings, "export": {**project.settings["export"], **{
                    k.split(".")[1]: v for k, v in choices.items() if k.startswith("export.")}}},
                height=choices.get("height"))
        except ValueError as exc:
            w.show_error(StudioError(None, str(exc)), "Export")
            return False
        if commands:
            w.session.edit(Group(commands, "Export settings"))
        if relength:
            self.pending = (path, settings)
            w.statusBar().showMessage("The dub's length policy changed: analysing the take "
                                      "again before the export", 8000)
            w._open_take()
            return True
        return self.start(path, settings)

    def _job_ended(self, name: str, outcome: str) -> None:
        """The analysis that a policy change asked for ended: run the export that waited
        for it (or drop it, saying so, when the analysis did not make a take)."""
        if self.pending is None or name != "Analysing":
            return
        path, settings = self.pending
        self.pending = None
        if outcome == "succeeded" and self.w.session.handle is not None:
            self.start(path, settings)
        else:
            self.w.statusBar().showMessage(f"Export of {path.name} not started: the "
                                           f"analysis {outcome or 'ended'}", 8000)

    def start(self, path: Path, settings: ExportSettings) -> bool:
        w, renderer = self.w, self.w.renderer
        try:  # never over the project's own files or its media, whatever the dialog allowed
            work = w.session.export(
                path, hook=w.export_hook, settings=settings,
                yield_to=None if renderer is None else (lambda: renderer.busy),
                on_twin=lambda twin: setattr(job, "detached", twin))
        except StudioError as exc:
            w.show_error(exc, "Export")
            return False
        job = Job("Exporting", work)
        job.detached = None
        job.succeeded.connect(self.done)
        return w.start_job(job)

    def done(self, path: Any) -> None:
        """A notice that stays until closed, with "Show in folder" and "Play"."""
        path = Path(path)
        self.w.statusBar().showMessage(f"Exported {path}", 8000)
        box = QMessageBox(QMessageBox.Icon.Information, "Export finished",
                          f"Exported {path}", QMessageBox.StandardButton.Close, self.w)
        folder = box.addButton("Show in folder", QMessageBox.ButtonRole.ActionRole)
        play = box.addButton("Play", QMessageBox.ButtonRole.ActionRole)
        folder.clicked.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(path.parent))))
        play.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        box.setModal(False)
        box.open()
        self.notice = box
