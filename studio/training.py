"""The Train menu's binding: the dialog, the trainer's own process and its panel; a model
that finishes is offered with its measured gain, and becomes the project's driver (one undo
step) only if the user keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from core.errors import StudioError
from core.project.commands import SetSetting
from studio.train_dialog import (
    TrainDialog,
    TrainOptions,
    TrainPanel,
    TrainProcess,
    driver_label,
    driver_value,
)


class Training(QObject):
    """One training run at a time, for the window's project."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.train: TrainProcess | None = None
        self.train_panel: TrainPanel | None = None
        self.train_dialog_box: TrainDialog | None = None
        self._project: Any = None
        self._offered: tuple[Any, str] | None = None  # a trained model awaiting keep/discard

    def open_train_dialog(self) -> TrainDialog | None:
        """The Train menu's dialog (non-blocking); "Train" starts the job."""
        w = self.window
        if w.project is None or w.project.dub is None:
            w.show_error(StudioError(None, "open a project with a dub first"), "Train")
            return None
        if self.train is not None:
            self._show_panel()
            return None
        source = None if w.project.source is None else Path(w.project.source.path)
        dlg = TrainDialog(source, w)
        dlg.accepted.connect(lambda dlg=dlg: self.start_training(dlg.options()))
        self.train_dialog_box = dlg
        dlg.open()
        return dlg

    def _show_panel(self) -> TrainPanel:
        if self.train_panel is None:
            self.train_panel = TrainPanel(self.window)
            self.train_panel.cancel_clicked.connect(self.cancel_training)
            self.train_panel.decided.connect(self._decided)
        self.train_panel.show()
        self.train_panel.raise_()
        return self.train_panel

    def start_training(self, options: TrainOptions | None = None) -> bool:
        """Save the project, then run ``python -m trainer`` on it in its own process."""
        w = self.window
        options = options or TrainOptions()
        if w.project is None or w.project.dub is None:
            w.show_error(StudioError(None, "open a project with a dub first"), "Train")
            return False
        if self.train is not None:
            w.show_error(StudioError(None, "a training run is going on; wait or cancel "
                                           "it first"), "Busy")
            return False
        if not w.save():
            return False
        panel = self._show_panel()
        panel.reset(options.steps)
        run = TrainProcess(w.project.folder, options, env=w.train_env, parent=w)
        run.progressed.connect(panel.on_progress)
        run.event.connect(panel.on_event)
        run.ended.connect(lambda outcome, model, message, run=run:
                          self._ended(run, outcome, model, message))
        self.train = run
        self._project = w.project
        w.update_actions()
        run.start()
        w.statusBar().showMessage("Training the lip adapter…", 4000)
        return True

    def _decided(self, choice: str, model: str) -> None:
        """Keep: the adapter becomes a driver choice and drives the lips (undoable).
        Discard: its file goes; the driver stays as it was."""
        w = self.window
        offered, self._offered = self._offered, None
        if offered is None or offered[0] is not w.project:
            return
        project = offered[0]
        if choice == "keep":
            value = driver_value(project.folder, model)
            w.controls.add_driver(driver_label(model), value)
            w.editing.push(SetSetting("driver", value))
        else:
            Path(model).unlink(missing_ok=True)
            w.statusBar().showMessage(f"Discarded {Path(model).name}", 6000)

    def cancel_training(self) -> None:
        if self.train is not None:
            self.train.cancel()

    def _ended(self, run: TrainProcess, outcome: str, model: str, message: str) -> None:
        if run is not self.train:
            return
        w = self.window
        self.train = None
        project, self._project = self._project, None
        if self.train_panel is not None:
            self.train_panel.on_ended(outcome, model, message)
        w.update_actions()
        if outcome == "succeeded":
            if project is w.project and project is not None and self.train_panel is not None:
                # never switch silently: the panel shows the held-out gain, keep or discard
                self._offered = (project, model)
                self.train_panel.offer(model, run.gain)
            w.statusBar().showMessage(f"Trained {model}: keep or discard it", 8000)
        elif outcome == "cancelled":
            w.statusBar().showMessage("Training cancelled; the last checkpoint is kept "
                                      "(resume continues from it)", 8000)
        else:
            path, _, problem = message.partition(": ")
            err = (StudioError(path, problem) if problem and ("/" in path or "\\" in path)
                   else StudioError(None, message))
            w.show_error(err, "Training failed")
        w.train_finished.emit(outcome, model or message)
        run.deleteLater()

    def stop(self) -> None:
        if self.train is not None:
            run, self.train = self.train, None
            run.cancel()
            run.wait(30_000)
