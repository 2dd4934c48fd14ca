"""The Train menu driven offscreen: a short fine-tune from the dialog runs as its own
process, fills the loss plot and adds the trained adapter as a driver choice (undoable, and
compared with visemes in the preview); the adapter corrects the learned lip model; a
cancelled run keeps a loadable checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.studio_window import (
    ANALYSIS_TIMEOUT_MS,
    SPEECH,
    TEXT,
    Qt,
    drop,
    mid_frame,
    studio_env,
    studio_window,
    word_index,
)

TRAIN_TIMEOUT_MS = 180_000
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # gentle on 2 cores


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "train-window")


@pytest.fixture(scope="module")
def window(qapp, env, shared_data):
    for win in studio_window(env, size=(1200, 800), train_env=dict(CHILD_ENV)):
        drop(win, [shared_data / "video" / "woman_glasses.mp4"])
        drop(win, [SPEECH, TEXT])
        yield win


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


def test_train_adds_the_adapter_as_a_driver_and_undo_restores_the_lip_model(qtbot, window):
    qtbot.waitUntil(lambda: window.take is not None and window.job is None,
                    timeout=ANALYSIS_TIMEOUT_MS)
    j = mid_frame(window, word_index(window, "duck"))
    learned = picture(qtbot, window, j)
    assert window.take.driver_name == "learned"  # the default driver
    window.compare_action.trigger()
    visemes = picture(qtbot, window, j)
    window.compare_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), learned)
    assert not np.array_equal(learned, visemes)
    assert window.controls.driver.count() == 2

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

    # never switched silently: the panel shows the held-out gain and asks
    assert window.take.driver_name == "learned" and window.project.settings["driver"] == "learned"
    assert window.controls.driver.count() == 2
    assert panel.keep_button.isVisible() and panel.discard_button.isVisible()
    assert panel.verdict.isVisible() and "held-out frames" in panel.verdict.text()
    assert "opening correlation" in panel.verdict.text() and "lip distance" in panel.verdict.text()
    assert panel.offered == str(model)
    qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)
    assert "Kept" in panel.verdict.text() and not panel.keep_button.isEnabled()

    combo = window.controls.driver
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[:2] == ["learned", "visemes"]
    assert labels[2].startswith("audio2exp (trained ")
    assert window.project.settings["driver"] == f"audio2exp:models/{model.name}"
    assert combo.currentIndex() == 2
    adapter = picture(qtbot, window, j)
    assert window.take.driver_name == f"audio2exp:{model}"
    # the adapter corrects the lip model; a run whose best is step 0 keeps it exactly
    from core.motion.audio2exp import read_metadata

    assert read_metadata(model)["base"] == "learned"
    if read_metadata(model).get("weights_step", 0) > 0:
        assert not np.array_equal(adapter, learned), "the adapter did not change the frame"
    else:
        assert np.array_equal(adapter, learned)

    # the A/B against visemes renders the same frame with the viseme driver, then back
    window.compare_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), visemes)
    window.compare_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), adapter)

    window.undo_action.trigger()
    assert window.project.settings["driver"] == "learned" and combo.currentIndex() == 0
    assert np.array_equal(picture(qtbot, window, j), learned)
    combo.setCurrentIndex(2)  # choosing the entry again, as a user would
    combo.activated.emit(2)
    assert window.project.settings["driver"] == f"audio2exp:models/{model.name}"
    assert np.array_equal(picture(qtbot, window, j), adapter)
    window.undo_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), learned)


def test_discard_deletes_the_adapter_and_keeps_the_driver(qtbot, window):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    driver = window.project.settings["driver"]
    choices = window.controls.driver.count()
    ended = []
    window.train_finished.connect(lambda outcome, what: ended.append((outcome, what)))
    panel = start_from_dialog(qtbot, window, 20)
    qtbot.waitUntil(lambda: bool(ended), timeout=TRAIN_TIMEOUT_MS)
    assert ended[0][0] == "succeeded", (ended, window.errors)
    model = Path(ended[0][1])
    assert model.is_file() and panel.offered == str(model)
    assert window.project.settings["driver"] == driver
    qtbot.mouseClick(panel.discard_button, Qt.MouseButton.LeftButton)
    assert not model.exists()
    assert window.project.settings["driver"] == driver
    assert window.controls.driver.count() == choices
    assert "Discarded" in panel.verdict.text()


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


GAIN = {"base": "learned", "frames": 120, "corr_base": 0.40, "corr_adapter": 0.46,
        "dist_base": 5.0, "dist_adapter": 4.7}


@pytest.mark.parametrize("choice", ["keep", "discard"])
def test_the_panel_states_the_gain_and_asks(qtbot, choice):
    """The end of a run, alone: the figures, the verdict, the default button, the choice."""
    from studio.train_dialog import TrainPanel

    panel = TrainPanel()
    qtbot.addWidget(panel)
    assert not panel.keep_button.isVisible()
    chosen = []
    panel.decided.connect(lambda c, m: chosen.append((c, m)))
    gain = GAIN if choice == "keep" else GAIN | {"corr_adapter": 0.30, "dist_adapter": 5.4}
    panel.offer("/p/models/audio2exp-1.safetensors", gain)
    text = panel.verdict.text()
    assert "0.400 → " in text and "5.00 → " in text and "against the learned driver" in text
    button = panel.keep_button if choice == "keep" else panel.discard_button
    assert button.isDefault()  # the verdict's advice: helped keeps, worse discards
    assert ("helped" in text) == (choice == "keep")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert chosen == [(choice, "/p/models/audio2exp-1.safetensors")]
    qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)  # asked once only
    assert len(chosen) == 1
    panel.offer("/p/models/audio2exp-2.safetensors", None)
    assert "gain is unknown" in panel.verdict.text() and panel.discard_button.isDefault()
