"""The transport and the export dialog on a real take: J/K/L, next and previous word, in
and out with loop, the timecode, keys a focused slider keeps, and the dialog's choices
reaching the exported file."""

from __future__ import annotations

import pytest
from studio_window import QApplication, Qt, load_sample, studio_env, studio_window


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "transport")


@pytest.fixture(scope="module")
def window(qapp, env, shared_data):
    yield from studio_window(env)


@pytest.fixture
def ready(qtbot, window, shared_data):
    load_sample(qtbot, window, shared_data)
    window.pause()
    return window


def key(qtbot, win, k) -> None:
    win.preview.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(win.preview, k)


def test_words_marks_loop_and_timecode(qtbot, ready):
    w, t = ready, ready.transport
    starts = t.word_starts()
    assert len(starts) >= 3
    w.seek(0)
    key(qtbot, w, Qt.Key.Key_Home)
    t.jump_word(1)
    assert w.frame == starts[0] if starts[0] > 0 else starts[1]
    here = w.frame
    w.transport_actions["next_word"].trigger()
    assert w.frame > here and w.frame in starts
    w.transport_actions["previous_word"].trigger()
    assert w.frame == here
    assert w.frame_label.text().startswith("00:00:")
    key(qtbot, w, Qt.Key.Key_I)
    w.seek(here + 10)
    key(qtbot, w, Qt.Key.Key_O)
    assert t.marks == [here, here + 10]
    assert " in 00:00:" in w.frame_label.text() and " out 00:00:" in w.frame_label.text()
    w.loop_action.setChecked(True)
    try:
        assert t._loop_span() == (here, here + 11)
    finally:
        w.loop_action.setChecked(False)
    key(qtbot, w, Qt.Key.Key_End)
    assert w.frame == w.take.frame_count - 1
    w.transport_actions["clear_marks"].trigger()
    assert t.marks == [None, None]


def test_jkl_shuttle(qtbot, ready):
    w, t = ready, ready.transport
    w.seek(w.take.frame_count // 2)
    key(qtbot, w, Qt.Key.Key_J)
    assert w.playing and t.rate == -1
    key(qtbot, w, Qt.Key.Key_J)
    assert t.rate == -2
    start = w.frame
    qtbot.waitUntil(lambda: w.frame < start, timeout=5000)  # going backwards
    key(qtbot, w, Qt.Key.Key_K)
    assert not w.playing and t.rate == 0
    key(qtbot, w, Qt.Key.Key_L)
    assert w.playing and t.rate == 1
    key(qtbot, w, Qt.Key.Key_L)
    assert t.rate == 2
    key(qtbot, w, Qt.Key.Key_Space)
    assert not w.playing


def test_a_focused_slider_keeps_right_on_a_take(qtbot, ready):
    w = ready
    w.seek(5)
    slider = w.controls.alpha.slider
    slider.setFocus()
    QApplication.processEvents()
    before = slider.value()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert w.frame == 5 and slider.value() == before + 1
    w.undo_action.trigger()
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.frame == 6


def test_export_dialog_choices_reach_the_file(qtbot, ready, env):
    import av

    w = ready
    dialog = w.export_dialog()
    dialog.resolution.setCurrentIndex(dialog.resolution.findData(360))
    dialog.crf.setValue(35)
    dialog.preset.setCurrentText("ultrafast")
    dialog.accept()
    out = env / "dialog.mp4"
    finished = []
    w.job_finished.connect(lambda name, outcome: finished.append((name, outcome)))
    assert w.export_mp4(out, dialog.choices())
    qtbot.waitUntil(lambda: bool(finished), timeout=240_000)
    assert finished[-1] == ("Exporting", "succeeded")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.height == 360 and v.codec_context.width % 2 == 0
        src = w.take.source
        assert v.codec_context.width == pytest.approx(src.width * 360 / src.height, abs=2)
    head = out.read_bytes()[:200_000]
    assert b"crf=35.0" in head and b"x264" in head  # x264's settings, as it wrote them
    assert w.project.setting("export.crf") == 35
    assert w.project.setting("export.preset") == "ultrafast"
    box = w.exporting.notice
    assert box is not None and str(out) in box.text()
    assert {b.text() for b in box.buttons()} >= {"Show in folder", "Play"}
    box.close()
    # the dialog opens with these choices next time
    again = w.export_dialog()
    assert again.resolution.currentData() == 360 and again.crf.value() == 35
    # an undo step puts the project's export settings back
    w.undo_action.trigger()
    assert w.project.setting("export.crf") != 35


def test_dragging_the_playhead_scrubs_with_a_grain_of_sound(qtbot, ready):
    w = ready
    w.timeline.scrubbed.emit(1.0)
    assert w.frame == round(w.take.fps)
    if w.audio is not None:  # QtMultimedia installed: a short grain at the playhead
        assert w.transport.grain.isActive()
        qtbot.waitUntil(lambda: not w.transport.grain.isActive(), timeout=2000)


def test_a_changed_length_policy_analyses_again_then_exports(qtbot, ready, env):
    import av

    w = ready
    choices = w.export_dialog().choices()
    other = "trim" if w.project.setting("shorter") == "silent" else "silent"
    choices.update({"shorter": other, "export.preset": "ultrafast", "height": 360})
    finished = []
    w.job_finished.connect(lambda name, outcome: finished.append((name, outcome)))
    out = env / "policy.mp4"
    assert w.export_mp4(out, choices)
    qtbot.waitUntil(lambda: ("Exporting", "succeeded") in finished, timeout=240_000)
    assert ("Analysing", "succeeded") in finished  # the take was made again first
    assert w.project.setting("shorter") == other
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == w.take.frame_count
