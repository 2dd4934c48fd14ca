"""The Train menu's pieces: the dialog that asks for a run, the trainer process and the
panel that follows it.

The training itself runs in its own process (``python -m trainer PROJECT …``, see
trainer/cli.py); :class:`TrainProcess` starts it with QProcess (asynchronous: the window
stays responsive), reads its JSON lines and reports them as signals. Nothing here trains.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

ROOT = Path(__file__).resolve().parents[1]
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm)"
_STAMP = re.compile(r"audio2exp-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(?:-(\d+))?$")


def driver_label(model: str | Path) -> str:
    """``audio2exp (trained 2024-05-01 14:30)`` for ``models/audio2exp-20240501-143000…``."""
    stem = Path(str(model)).stem
    m = _STAMP.match(stem)
    if m is None:
        return f"audio2exp ({stem})"
    y, mo, d, h, mi, _s, n = m.groups()
    extra = f" #{n}" if n else ""
    return f"audio2exp (trained {y}-{mo}-{d} {h}:{mi}{extra})"


def driver_value(project_folder: Path, model: str | Path) -> str:
    """The ``driver`` setting for a model: relative to the project folder when inside it."""
    p = Path(model)
    try:
        return f"audio2exp:{p.resolve().relative_to(Path(project_folder).resolve()).as_posix()}"
    except ValueError:
        return f"audio2exp:{p}"


def project_drivers(project: Any) -> list[tuple[str, str]]:
    """(label, setting value) of every driver a project offers: the learned lip model,
    visemes and the project's fine-tuned adapters."""
    out = [("learned", "learned"), ("visemes", "visemes")]
    models = Path(project.models_dir)
    if models.is_dir():
        for p in sorted(models.glob("audio2exp-*.safetensors")):
            out.append((driver_label(p), driver_value(project.folder, p)))
    return out


@dataclass
class TrainOptions:
    """What the dialog asks for."""

    steps: int = 300
    lr: float = 2e-3
    clips: list[Path] = field(default_factory=list)  # besides the project's own source
    batch: int | None = None
    resume: bool = False

    def arguments(self, project_folder: Path) -> list[str]:
        args = ["-m", "trainer", str(project_folder), "--steps", str(int(self.steps)),
                "--lr", repr(float(self.lr))]
        if self.batch is not None:
            args += ["--batch", str(int(self.batch))]
        if self.clips:
            args += ["--clips", *[str(c) for c in self.clips]]
        if self.resume:
            args.append("--resume")
        return args


class TrainDialog(QDialog):
    """Steps, learning rate and the clips to train on (the project's source, plus more)."""

    def __init__(self, source: Path | None, parent: Any = None,
                 options: TrainOptions | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune the lip adapter")
        options = options or TrainOptions()
        form = QFormLayout()
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setSingleStep(50)
        self.steps.setValue(options.steps)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(options.lr)
        form.addRow("steps", self.steps)
        form.addRow("learning rate", self.lr)
        self.clips = QListWidget()
        self.clips.setToolTip("The project's source always trains; add other talking-face "
                              "videos to learn from more footage")
        self.source_label = QLabel(f"source: {source.name if source else '—'}")
        add = QPushButton("Add videos…")
        remove = QPushButton("Remove")
        add.clicked.connect(self._add_clips)
        remove.clicked.connect(lambda: [self.clips.takeItem(self.clips.row(i))
                                        for i in self.clips.selectedItems()])
        for c in options.clips:
            self.clips.addItem(str(c))
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
        self.train_button = box.button(QDialogButtonBox.StandardButton.Ok)
        self.train_button.setText("Train")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.source_label)
        lay.addWidget(QLabel("more clips:"))
        lay.addWidget(self.clips)
        lay.addLayout(buttons)
        lay.addWidget(box)

    def _add_clips(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "More clips to train on", "",
                                                VIDEO_FILTER)
        for n in names:
            self.clips.addItem(n)

    def add_clip(self, path: str | Path) -> None:
        self.clips.addItem(str(path))

    def options(self) -> TrainOptions:
        clips = [Path(self.clips.item(i).text()) for i in range(self.clips.count())]
        return TrainOptions(steps=self.steps.value(), lr=self.lr.value(), clips=clips)


class TrainProcess(QObject):
    """``python -m trainer`` in a QProcess; its JSON lines become signals.

    ``progressed(record)`` for progress lines, ``event(record)`` for the others,
    ``ended(outcome, model, message)`` once: outcome "succeeded" (``model`` is the file
    written), "cancelled" or "failed" (``message`` names the problem).
    """

    progressed = Signal(dict)
    event = Signal(dict)
    ended = Signal(str, str, str)

    def __init__(self, project_folder: Path, options: TrainOptions,
                 env: dict[str, str] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.project_folder = Path(project_folder)
        self.options = options
        self.records: list[dict[str, Any]] = []
        self.model: str | None = None
        self.gain: dict[str, Any] | None = None  # the held-out verdict (trainer/verdict.py)
        self.error: str | None = None
        self.outcome: str | None = None
        self.cancel_requested = False
        self._buf = b""
        self._stderr = b""
        self.proc = QProcess(self)
        penv = QProcessEnvironment.systemEnvironment()
        path = penv.value("PYTHONPATH", "")
        penv.insert("PYTHONPATH", str(ROOT) + (os.pathsep + path if path else ""))
        penv.insert("PYTHONUNBUFFERED", "1")
        for k, v in (env or {}).items():
            penv.insert(k, str(v))
        self.proc.setProcessEnvironment(penv)
        self.proc.setWorkingDirectory(str(ROOT))
        self.proc.readyReadStandardOutput.connect(self._read)
        self.proc.readyReadStandardError.connect(self._read_err)
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._error)

    def start(self) -> None:
        self.proc.start(sys.executable, self.options.arguments(self.project_folder))

    def running(self) -> bool:
        return self.proc.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """SIGTERM: the trainer stops at the next step and writes a last checkpoint."""
        if self.running():
            self.cancel_requested = True
            self.proc.terminate()

    def wait(self, ms: int = 30_000) -> bool:
        return self.proc.waitForFinished(ms)

    def _read(self) -> None:
        self._buf += bytes(self.proc.readAllStandardOutput().data())
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            self._line(line)

    def _read_err(self) -> None:
        self._stderr = (self._stderr + bytes(self.proc.readAllStandardError().data()))[-8000:]

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text.startswith("{"):
            return
        try:
            record = json.loads(text)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        self.records.append(record)
        if "event" in record:
            if record["event"] == "model":
                self.model = str(record.get("path"))
                gain = record.get("gain")
                self.gain = gain if isinstance(gain, dict) else None
            elif record["event"] == "error":
                self.error = str(record.get("message"))
            self.event.emit(record)
        else:
            self.progressed.emit(record)

    def _error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart:
            self._end("failed", "", f"could not start {sys.executable} -m trainer: "
                                    f"{self.proc.errorString()}")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read()
        if self._buf:
            self._line(self._buf)
            self._buf = b""
        if code == 0 and status == QProcess.ExitStatus.NormalExit and self.model:
            self._end("succeeded", self.model, "")
        elif code == 130 or self.cancel_requested:
            self._end("cancelled", "", "")
        else:
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            message = self.error or ("\n".join(tail) if tail else f"the trainer exited "
                                                                  f"with code {code}")
            self._end("failed", "", message)

    def _end(self, outcome: str, model: str, message: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.ended.emit(outcome, model, message)


class TrainPanel(QDialog):
    """Progress (step / steps, ETA), the live loss plot and a Cancel button of one run;
    at its end, what the adapter gained on held-out footage and Keep / Discard.

    ``decided(choice, model)``: "keep" (drive the lips with it) or "discard" (delete it);
    closing the panel without a choice leaves the driver as it was and the model on disk.
    """

    cancel_clicked = Signal()
    decided = Signal(str, str)

    def __init__(self, parent: Any = None) -> None:
        import pyqtgraph as pg

        super().__init__(parent)
        self.setWindowTitle("Training the lip adapter")
        self.setModal(False)
        self.steps = 0
        self.status = QLabel("starting…")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_curve = self.plot.plot([], [], pen=pg.mkPen("#4a90d9", width=2),
                                         name="training")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen("#e0803a", width=2),
                                        symbol="o", symbolSize=5,
                                        symbolBrush="#e0803a", name="validation")
        self.loss_points: list[tuple[float, float]] = []
        self.val_points: list[tuple[float, float]] = []
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.hide)
        self.close_button.setEnabled(False)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setObjectName("trainVerdict")
        self.keep_button = QPushButton("Keep: drive the lips with it")
        self.keep_button.clicked.connect(lambda: self._decide("keep"))
        self.discard_button = QPushButton("Discard")
        self.discard_button.clicked.connect(lambda: self._decide("discard"))
        self.offered: str | None = None
        self._show_choice(False)
        row = QHBoxLayout()
        row.addWidget(self.keep_button)
        row.addWidget(self.discard_button)
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.verdict)
        lay.addLayout(row)
        self.resize(560, 420)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.status.setText("cancelling: writing the last checkpoint…")
        self.cancel_clicked.emit()

    def reset(self, steps: int) -> None:
        self.steps = int(steps)
        self.loss_points.clear()
        self.val_points.clear()
        self.loss_curve.setData([], [])
        self.val_curve.setData([], [])
        self.bar.setValue(0)
        self.status.setText("starting the trainer…")
        self.cancel_button.setEnabled(True)
        self.close_button.setEnabled(False)
        self.offered = None
        self.verdict.setText("")
        self._show_choice(False)

    def _show_choice(self, on: bool) -> None:
        for w in (self.verdict, self.keep_button, self.discard_button):
            w.setVisible(on)
            w.setEnabled(on)

    def offer(self, model: str, gain: dict[str, Any] | None) -> None:
        """Show what the run gained on held-out footage and ask keep or discard; the
        default button is the verdict's ("helped" keeps, anything else discards)."""
        self.offered = model
        verdict = None
        if gain is not None:
            try:
                from trainer.verdict import Gain

                g = Gain.from_json(gain)
                verdict = g.verdict
                text = f"Measured {g.summary()}."
            except (KeyError, TypeError, ValueError):
                text = "The run's held-out figures could not be read."
        else:
            text = "No held-out footage to measure this run on: its gain is unknown."
        advice = {"helped": "Keep it?", "worse": "It did worse: discard it?",
                  "mixed": "Better on one figure, worse on the other: discard it?"}.get(
            verdict or "", "It brought no clear gain: discard it?")
        self.verdict.setText(f"{text}\n{advice} The current driver stays until you choose.")
        self._show_choice(True)
        (self.keep_button if verdict == "helped" else self.discard_button).setDefault(True)
        self.show()
        self.raise_()

    def _decide(self, choice: str) -> None:
        model, self.offered = self.offered, None
        if model is None:
            return
        self.keep_button.setEnabled(False)
        self.discard_button.setEnabled(False)
        name = Path(model).name
        self.verdict.setText(f"{self.verdict.text().splitlines()[0]}\n"
                             + (f"Kept: the lips follow {name}." if choice == "keep"
                                else f"Discarded {name}; the driver is unchanged."))
        self.decided.emit(choice, model)

    def on_progress(self, r: dict[str, Any]) -> None:
        step = int(r.get("step", 0))
        if r.get("loss") is not None:
            self.loss_points.append((step, float(r["loss"])))
            self.loss_curve.setData(*zip(*self.loss_points, strict=True))
        if r.get("val") is not None and (not self.val_points or self.val_points[-1][0] != step):
            self.val_points.append((step, float(r["val"])))
            self.val_curve.setData(*zip(*self.val_points, strict=True))
        if self.steps:
            self.bar.setValue(int(1000 * step / self.steps))
        eta = r.get("eta_s")
        eta_text = "" if eta is None else f", about {_duration(float(eta))} left"
        self.status.setText(f"step {step} / {self.steps}{eta_text} — loss {r.get('loss')}")

    def on_event(self, r: dict[str, Any]) -> None:
        ev = r.get("event")
        if ev == "tracking":
            total = float(r.get("total") or 0)
            self.status.setText(f"tracking {r.get('clip')}: {r.get('done')}/{int(total)}")
            if total > 0:
                self.bar.setValue(int(1000 * float(r.get("done", 0)) / total))
        elif ev == "features":
            self.status.setText("reading the clips…")
        elif ev in ("start", "resumed"):
            self.steps = int(r.get("steps") or self.steps)
            if r.get("val") is not None:
                self.val_points.append((int(r.get("step", 0)), float(r["val"])))
                self.val_curve.setData(*zip(*self.val_points, strict=True))
            self.status.setText(f"training on {r.get('frames_train')} frames "
                                f"({r.get('device')})…")
        elif ev == "early_stop":
            self.status.setText(f"stopped early at step {r.get('step')}: the validation "
                                f"loss stopped improving (best at {r.get('best_step')})")

    def on_ended(self, outcome: str, model: str, message: str) -> None:
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
        if outcome == "succeeded":
            self.bar.setValue(1000)
            self.status.setText(f"done: {Path(model).name}")
        elif outcome == "cancelled":
            self.status.setText("cancelled: the last checkpoint is kept")
        else:
            self.status.setText(f"failed: {message}")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
