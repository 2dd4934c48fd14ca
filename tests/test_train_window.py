"""The Train menu driven offscreen: a short fine-tune from the dialog runs as its own
process, fills the loss plot and adds the trained adapter as a driver choice (undoable, and
compared with visemes in the preview); a cancelled run keeps a loadable checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from studio.pyside_guard import guard_none
from studio.qt_env import prepare_qt_environment

prepare_qt_environment()  # before pytest-qt makes the QApplication
guard_none()  # this PySide6 drops a reference to None on every void call

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.test_window import SPEECH, TEXT, drop, mid_frame, word_index  # noqa: E402

ANALYSIS_TIMEOUT_MS = 240_000
TRAIN_TIMEOUT_MS = 180_000
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # gentle on 2 cores


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("studio-cache")
    old = os.environ.get("STUDIO_CACHE_DIR")
    os.environ["STUDIO_CACHE_DIR"] = str(cache)
    yield tmp_path_factory.mktemp("train-window")
    if old is None:
        os.environ.pop("STUDIO_CACHE_DIR", None)
    else:
        os.environ["STUDIO_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def window(qapp, env, shared_data):
    from studio.window import MainWindow

    settings = QSettings(str(env / "studio.ini"), QSettings.Format.IniFormat)
    win = MainWindow(projects_root=env / "projects", prompts=False, settings=settings)
    win.train_env = dict(CHILD_ENV)
    win.resize(1200, 800)
    win.show()
    drop(win, [shared_data / "video" / "woman_glasses.mp4"])
    drop(win, [SPEECH, TEXT])
    yield win
    win.shutdown()
    win.close()
    win.deleteLater()
    QApplication.processEvents()


def settled(win) -> bool:
    take = win.take
    return (take is not None and win.job is None and win._driver_job is None
            and take.driver_name == win.wanted_driver() and win.is_current(win.shown))


def picture(qtbot, win, j: int) -> np.ndarray:
    win.seek(j)
    qtbot.waitUntil(lambda: settled(win), timeout=30_000)
    return win.current_image().copy()


def start_from_dialog(qtbot, win, steps: int):
    assert win.train_action.isEnabled()
    win.train_action.trigger()
    dlg = win.train_dialog_box
    assert dlg is not None and dlg.isVisible()
    assert dlg.steps.value() == 300  # the default
    dlg.steps.setValue(steps)
    qtbot.mouseClick(dlg.train_button, Qt.MouseButton.LeftButton)
    assert win.train is not None and not win.train_action.isEnabled()
    return win.train_panel


def test_train_adds_the_adapter_as_a_driver_and_undo_restores_visemes(qtbot, window):
    qtbot.waitUntil(lambda: window.take is not None and window.job is None,
                    timeout=ANALYSIS_TIMEOUT_MS)
    j = mid_frame(window, word_index(window, "duck"))
    visemes = picture(qtbot, window, j)
    assert window.controls.driver.count() == 1

    ended = []
    window.train_finished.connect(lambda outcome, what: ended.append((outcome, what)))
    panel = start_from_dialog(qtbot, window, 40)
    assert panel.isVisible()
    qtbot.waitUntil(lambda: bool(ended), timeout=TRAIN_TIMEOUT_MS)
    assert ended[0][0] == "succeeded", (ended, window.errors)
    model = Path(ended[0][1])
    assert model.parent == window.project.models_dir and model.is_file()
    assert len(panel.loss_points) >= 4 and panel.val_points
    assert panel.loss_curve.xData is not None and len(panel.loss_curve.xData) >= 4
    assert window.train_action.isEnabled() and window.train is None

    combo = window.controls.driver
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[0] == "visemes" and labels[1].startswith("audio2exp (trained ")
    assert window.project.settings["driver"] == f"audio2exp:models/{model.name}"
    assert combo.currentIndex() == 1
    adapter = picture(qtbot, window, j)
    assert window.take.driver_name == f"audio2exp:{model}"
    assert not np.array_equal(adapter, visemes), "the adapter did not change the frame"

    # the A/B against visemes renders the same frame with the viseme driver, then back
    window.compare_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), visemes)
    window.compare_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), adapter)

    window.undo_action.trigger()
    assert window.project.settings["driver"] == "visemes" and combo.currentIndex() == 0
    assert np.array_equal(picture(qtbot, window, j), visemes)
    combo.setCurrentIndex(1)  # choosing the entry again, as a user would
    combo.activated.emit(1)
    assert window.project.settings["driver"] == f"audio2exp:models/{model.name}"
    assert np.array_equal(picture(qtbot, window, j), adapter)
    window.undo_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), visemes)


def test_cancel_keeps_a_loadable_checkpoint_and_the_window_usable(qtbot, window):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    from core.motion.audio2exp import Audio2ExpDriver, read_metadata

    ended = []
    window.train_finished.connect(lambda outcome, what: ended.append((outcome, what)))
    panel = start_from_dialog(qtbot, window, 20_000)
    qtbot.waitUntil(lambda: bool(panel.loss_points), timeout=TRAIN_TIMEOUT_MS)
    assert panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=60_000)
    assert ended[0][0] == "cancelled", (ended, window.errors)
    last = window.project.cache_dir / "train" / "audio2exp" / "last.safetensors"
    meta = read_metadata(last)
    assert meta["status"] == "cancelled" and 0 < meta["step"] < 20_000
    Audio2ExpDriver.load(last, window.take.regions)
    assert window.train is None and window.train_action.isEnabled()
    picture(qtbot, window, 3)
    window.step(1)
    assert window.frame == 4


def test_a_failed_run_shows_the_file_and_the_problem(qtbot, window, env):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    missing = env / "no-such-clip.mp4"
    ended = []
    window.train_finished.connect(lambda outcome, what: ended.append((outcome, what)))
    window.train_action.trigger()
    dlg = window.train_dialog_box
    dlg.steps.setValue(10)
    dlg.add_clip(missing)
    before = len(window.errors)
    qtbot.mouseClick(dlg.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=60_000)
    assert ended[0][0] == "failed"
    assert len(window.errors) == before + 1
    assert str(missing) in window.errors[-1] and "no such clip" in window.errors[-1]
    assert window.error_box is not None and window.error_box.isVisible()
    window.error_box.close()
    assert window.train_action.isEnabled()
