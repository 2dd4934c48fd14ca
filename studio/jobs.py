"""The window's long jobs: one at a time, with a progress bar and a cancel button in the
status bar, and the short side jobs (driver switch, reference image) kept until they end."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from core.errors import StudioError
from studio.workers import Job


def eta_text(elapsed: float, done: float, left: float) -> str:
    """", about 12 s left" from the pace so far in a stage ("" until there is a pace)."""
    if done <= 0 or elapsed < 0.5 or left <= 0:
        return ""
    seconds = elapsed / done * left
    if seconds >= 90:
        return f", about {seconds / 60:.0f} min left"
    return f", about {max(1, round(seconds))} s left"


class JobRunner(QObject):
    """Runs a long :class:`Job` at a time; ``finished(name, outcome)`` when one ends."""

    finished = Signal(str, str)
    progressed = Signal(str, float, float)  # the running job's stage, done, total

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.job: Job | None = None
        self.job_progress: tuple[str, float, float] | None = None
        self._next: Job | None = None
        self._old: list[Job] = []
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        self._show(False)

    def _show(self, on: bool) -> None:
        for w in (self.label, self.bar, self.cancel_button):
            w.setVisible(on)

    def start_job(self, job: Job, replace: bool = False) -> bool:
        """Run a long job with a progress bar and cancel button; one at a time."""
        if self.job is not None:
            if not replace:
                self.window.show_error(StudioError(None, f"{self.job.name} is still running; "
                                                         "wait or cancel it first"), "Busy")
                return False
            self._next = job
            self.job.cancel()
            return True
        self.job = job
        self.job_progress = None
        job.progressed.connect(self._progress)
        job.failed.connect(lambda exc, job=job: self.window.show_error(exc,
                                                                       f"{job.name} failed"))
        job.cancelled.connect(lambda job=job: self.window.statusBar().showMessage(
            f"{job.name}: cancelled", 5000))
        job.finished.connect(lambda job=job: self._done(job))
        self.label.setText(f"{job.name}: starting…")
        self._stage: tuple[str, float] | None = None  # (stage, when it started)
        self.bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self._show(True)
        job.start()
        return True

    def _progress(self, stage: str, done: float, total: float) -> None:
        """The stage, its progress and an estimate of the time left in it."""
        self.job_progress = (stage, done, total)
        now = time.monotonic()
        if self._stage is None or self._stage[0] != stage:
            self._stage = (stage, now, done)
        self.bar.setValue(int(1000 * done / total) if total > 0 else 0)
        count = f" {int(done)}/{int(total)}" if total > 1 else ""
        eta = eta_text(now - self._stage[1], done - self._stage[2], total - done)
        self.label.setText(f"{self.job.name if self.job else ''}: {stage}{count}{eta}")
        self.progressed.emit(stage, done, total)

    def _done(self, job: Job) -> None:
        if job is not self.job:
            return
        job.wait()
        self.job = None
        self._show(False)
        self.retire(job)
        self.finished.emit(job.name, job.outcome or "")
        if self._next is not None:
            nxt, self._next = self._next, None
            self.start_job(nxt)

    def retire(self, job: Job) -> None:
        """Keep an ended job until its thread is gone (Qt deletes a running QThread)."""
        job.wait()
        self._old = [j for j in self._old if j.isRunning()] + [job]

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(f"{self.job.name}: cancelling…")

    def stop(self) -> None:
        """Cancel the long job and wait for every job's thread."""
        self._next = None
        if self.job is not None:
            self.job.cancel()
            self.job.wait()
            self.job = None
        for j in self._old:
            j.wait()
