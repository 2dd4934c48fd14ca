"""The studio window driven end to end, offscreen: drop a video and a dub, wait for the
analysis, select "duck" on the timeline and open it with the slider, see the frame inside
the word change and one outside it stay, undo, export through the export action, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from tests.studio_window import (
    ANALYSIS_TIMEOUT_MS,
    SPEECH,
    TEXT,
    Qt,
    drop,
    mid_frame,
    picture,
    studio_env,
    studio_window,
    word_index,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "window")


@pytest.fixture(scope="module")
def window(qapp, env):
    yield from studio_window(env)


def test_drop_video_then_dub_analyses(qtbot, window, shared_data, env):
    video = shared_data / "video" / "woman_glasses.mp4"
    drop(window, [video])
    assert window.project is not None
    assert window.project.folder.parent == env / "projects"
    assert window.project.dub is None
    drop(window, [SPEECH, TEXT])
    assert window.project.dub is not None and window.project.transcript is not None
    qtbot.waitUntil(lambda: window.take is not None and window.job is None,
                    timeout=ANALYSIS_TIMEOUT_MS)
    words = [w.text for w in window.take.dub_alignment.words]
    assert words == TEXT.read_text().lower().replace(".", "").split()
    assert len(window.timeline.word_blocks) == len(words)
    assert window.waveform.dub_curve.xData is not None and len(window.waveform.dub_curve.xData)
    qtbot.waitUntil(lambda: window.is_current(window.shown), timeout=20_000)
    assert window.export_action.isEnabled()


def test_open_on_duck_changes_the_word_only_and_undo_restores(qtbot, window):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    duck, bee = word_index(window, "duck"), word_index(window, "bee")
    tl = window.timeline
    qtbot.mouseClick(tl.viewport(), Qt.MouseButton.LeftButton, pos=tl.word_center(bee))
    assert window.selected == [bee]
    qtbot.mouseClick(tl.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ShiftModifier, tl.word_center(duck))
    assert window.selected == sorted([bee, duck])
    qtbot.mouseClick(tl.viewport(), Qt.MouseButton.LeftButton, pos=tl.word_center(duck))
    assert window.selected == [duck]
    assert window.controls.open.isEnabled()

    inside, outside = mid_frame(window, duck), mid_frame(window, word_index(window, "zoo"))
    before_in = picture(qtbot, window, inside)
    before_out = picture(qtbot, window, outside)
    before_start = picture(qtbot, window, 0)

    slider = window.controls.open.slider
    steps = window.undo_stack.count()
    for v in (150, 200, 260):  # a drag: several moves, one undo step
        slider.setValue(v)
    assert window.project.word_style(duck)["open"] == pytest.approx(2.6)
    assert window.undo_stack.count() == steps + 1

    after_in = picture(qtbot, window, inside)
    after_out = picture(qtbot, window, outside)
    after_start = picture(qtbot, window, 0)
    changed = np.abs(after_in.astype(int) - before_in.astype(int))
    assert changed.max() > 40 and (changed > 10).sum() > 200, "the word's mouth did not open"
    assert np.array_equal(after_out, before_out)
    assert np.array_equal(after_start, before_start)

    window.undo_action.trigger()
    assert window.project.words == {}
    assert np.array_equal(picture(qtbot, window, inside), before_in)
    window.redo_action.trigger()
    assert np.array_equal(picture(qtbot, window, inside), after_in)
    window.undo_action.trigger()


def test_ab_toggle_and_overlay(qtbot, window):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    j = mid_frame(window, word_index(window, "duck"))
    edited = picture(qtbot, window, j)
    window.ab_action.trigger()
    source = picture(qtbot, window, j)
    expected = window.take.source.frame(int(window.take.source_index[j]))
    assert np.array_equal(source, expected)
    window.ab_action.trigger()
    window.overlay_action.trigger()
    picture(qtbot, window, j)
    assert window.shown.points is not None
    window.overlay_action.trigger()
    assert np.array_equal(picture(qtbot, window, j), edited)


def test_playback_and_frame_steps(qtbot, window):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    window.seek(10)
    window.step(1)
    assert window.frame == 11
    window.step(-2)
    assert window.frame == 9
    # the dub plays through QtMultimedia (PySide6-Addons), on the project's dub file
    assert window.audio is not None
    assert window.audio.source().toLocalFile() == str(window.project.dub.path)
    window.play_action.trigger()
    assert window.playing
    qtbot.waitUntil(lambda: window.frame >= 14, timeout=30_000)
    window.play_action.trigger()
    assert not window.playing
    qtbot.waitUntil(lambda: window.is_current(window.shown), timeout=20_000)


def test_export_writes_a_playable_mp4_and_cancel_leaves_nothing(qtbot, window, env):
    if window.take is None:
        pytest.fail("the analysis did not finish (see the drop test above)")
    import av

    out = env / "export" / "dub.mp4"
    out.parent.mkdir()
    outcomes = []
    window.job_finished.connect(lambda name, outcome: outcomes.append((name, outcome)))
    assert window.export_mp4(out)
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    qtbot.waitUntil(lambda: window.job is None, timeout=120_000)
    assert outcomes[-1] == ("Exporting", "succeeded"), window.errors
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == window.take.frame_count

    cancelled = env / "export" / "cancelled.mp4"
    assert window.export_mp4(cancelled)
    qtbot.waitUntil(lambda: window.job_progress is not None
                    and window.job_progress[0] == "exporting" and window.job_progress[1] >= 2,
                    timeout=60_000)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.job is None, timeout=60_000)
    assert outcomes[-1] == ("Exporting", "cancelled")
    assert sorted(p.name for p in out.parent.iterdir()) == ["dub.mp4"]


def test_errors_name_the_file_and_train_is_offered(qtbot, window, env):
    bad = env / "notes.xyz"
    bad.write_text("?")
    before = len(window.errors)
    drop(window, [bad])
    assert len(window.errors) == before + 1 and str(bad) in window.errors[-1]
    assert window.error_box is not None and window.error_box.isVisible()
    window.error_box.close()
    assert window.train_action.isEnabled() == (window.project.dub is not None)
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Playback", "&Train", "&Help"]


def test_bare_studio_command_opens_the_window(monkeypatch):
    import studio.app
    from studio import cli

    called = []
    monkeypatch.setattr(studio.app, "main", lambda argv=None: called.append(argv) or 0)
    assert cli.main([]) == 0
    assert called == [[]]


def test_none_survives_void_pyside_calls(qapp):
    import sys

    from PySide6.QtCore import QCoreApplication

    before = sys.getrefcount(None)
    for _ in range(10_000):
        QCoreApplication.processEvents()
    assert sys.getrefcount(None) > 10_000 or sys.version_info >= (3, 12)
    assert before - sys.getrefcount(None) <= 10_000
