"""The phone track and the timeline's conventions in the window, offscreen with real mouse
events: a phone boundary dragged is one undo step and is saved; a viseme picked from the
menu of drawn mouths changes the phone; drags snap; markers are saved; zoom-to-fit shows
the whole take and the scrollbar scrolls it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.motion.phones import phone_viseme
from tests.studio_window import (
    ANALYSIS_TIMEOUT_MS,
    SAMPLES,
    SPEECH,
    TEXT,
    QApplication,
    QPoint,
    QPointF,
    Qt,
    drop,
    studio_env,
    studio_window,
)

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "phones")


@pytest.fixture(scope="module")
def window(qapp, env):
    yield from studio_window(env)


@pytest.fixture
def ready(qtbot, window):
    if window.project is None:
        drop(window, [SAMPLES / "portrait.jpg"])
        drop(window, [SPEECH, TEXT])
    qtbot.waitUntil(lambda: window.take is not None and window.job is None,
                    timeout=ANALYSIS_TIMEOUT_MS)
    qtbot.waitUntil(lambda: bool(window.timeline.phone_blocks), timeout=20_000)
    window.timeline.zoom_to_fit()
    QApplication.processEvents()
    return window


def _speech_boundary(tl) -> int:
    """A boundary between two phones of speech, wide enough on screen to grab."""
    phones = tl.phones
    return max((i for i in range(len(phones) - 1)
                if phones[i].label != "SIL" and phones[i + 1].label != "SIL"),
               key=lambda i: min(phones[i].end - phones[i].start,
                                 phones[i + 1].end - phones[i + 1].start))


def _drag(qtbot, tl, start: QPoint, to: QPoint) -> None:
    vp = tl.viewport()
    qtbot.mousePress(vp, LEFT, NONE, start)
    for k in range(1, 5):
        p = start + (to - start) * (k / 4)
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, LEFT, NONE, to)


def test_a_phone_boundary_drag_is_one_undo_step_saved_and_reopened(qtbot, ready):
    win, tl = ready, ready.timeline
    tl.snapping = False
    i = _speech_boundary(tl)
    old = tl.phones[i].end
    start = tl.phone_edge(i)
    assert tl.hit(QPointF(start)) == ("phone-edge", i)
    limit = tl.phones[i + 1].end
    target = tl.view_point(old + (limit - old) * 0.5, -1.5)
    steps = win.session.history._index
    _drag(qtbot, tl, start, target)
    moved = win.project.phones[i]["end"]
    assert old < moved < limit
    assert win.project.phones[i + 1]["start"] == pytest.approx(moved)
    assert win.session.history._index == steps + 1  # one undo step for the whole drag
    assert tl.phones[i].end == pytest.approx(moved)  # the row redrawn
    assert i in tl.edited_phones
    win.session.save()
    doc = json.loads(win.project.json_path.read_text())
    assert doc["phones"][str(i)]["end"] == pytest.approx(moved)
    from core.project.project import Project

    assert Project.open(win.project.folder).phones[i]["end"] == pytest.approx(moved)
    win.session.undo()
    assert i not in win.project.phones
    assert tl.phones[i].end == pytest.approx(old)
    tl.snapping = True


def test_a_viseme_picked_from_the_menu_of_mouths(qtbot, ready):
    win, tl = ready, ready.timeline
    i = _speech_boundary(tl)
    menu = tl.context_menu(QPointF(tl.view_point(
        (tl.phones[i].start + tl.phones[i].end) / 2, -1.5)))
    actions = {a.text(): a for a in menu.actions()}
    assert set(actions) >= {"PP", "aa", "O", "U", "sil"}
    assert not actions["O"].icon().isNull()  # the mouth is drawn
    # drawn from the speaker's viseme targets: "aa" opens wider than the closure "PP"
    from core.motion.phones import viseme_mouth

    def opening(v: str) -> float:
        _, inner = viseme_mouth(win.take.library, win.take.cache.canonical, win.take.regions, v)
        x, y = inner[:, 0], inner[:, 1]
        return abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2

    assert opening("aa") > 1.5 * opening("PP")
    import os

    if os.environ.get("I15B_ICONS"):
        for v in ("sil", "PP", "aa", "O", "U", "I"):
            tl.mouth_icons[v].pixmap(40, 28).scaled(160, 112).save(f"/tmp/i15b/{v}.png")
    actions["O"].trigger()
    assert win.project.phones[i] == {"viseme": "O"}
    assert tl.visemes[i] == "O"
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)
    win.session.undo()
    assert i not in win.project.phones
    assert tl.visemes[i] == phone_viseme(win.take.original_alignment.phones[i])


def test_drags_snap_to_the_playhead(qtbot, ready):
    win, tl = ready, ready.timeline
    i = _speech_boundary(tl)
    old, limit = tl.phones[i].end, tl.phones[i + 1].end
    playhead = old + (limit - old) * 0.6
    tl.playhead.setValue(playhead)
    sx = tl.getPlotItem().getViewBox().viewPixelSize()[0]
    near = tl.view_point(playhead + 3 * sx, -1.5)  # 3 px off: within reach
    _drag(qtbot, tl, tl.phone_edge(i), near)
    assert win.project.phones[i]["end"] == pytest.approx(playhead, abs=1e-3)
    win.session.undo()


def test_markers_are_added_at_the_playhead_saved_and_undone(qtbot, ready):
    win, tl = ready, ready.timeline
    tl.playhead.setValue(0.75)
    tl.add_marker()
    tl.playhead.setValue(1.5)
    tl.add_marker()
    assert win.project.markers == [0.75, 1.5] == tl.markers
    assert len(tl.marker_lines) == 2
    win.session.save()
    assert json.loads(win.project.json_path.read_text())["markers"] == [0.75, 1.5]
    tl.playhead.setValue(1.4)
    tl.remove_marker()
    assert win.project.markers == [0.75]
    win.session.undo()
    assert win.project.markers == [0.75, 1.5]


def test_zoom_to_fit_and_the_scrollbar(qtbot, ready):
    tl = ready.timeline
    end = tl._content_end()
    tl.getPlotItem().setXRange(0.2, 0.2 + end / 4, padding=0)
    QApplication.processEvents()
    bar = tl.scrollbar
    assert bar.isVisible() and bar.maximum() > 0
    bar.setValue(bar.maximum())
    lo, hi = tl.getPlotItem().getViewBox().viewRange()[0]
    assert hi == pytest.approx(end, abs=0.05)
    tl.zoom_to_fit()
    lo, hi = tl.getPlotItem().getViewBox().viewRange()[0]
    assert lo <= 0.0 and hi >= end
    assert bar.maximum() == 0 or bar.pageStep() >= bar.maximum()


def test_clips_are_labelled_and_a_selected_clip_differs_from_a_selected_word(qtbot, ready):
    win, tl = ready, ready.timeline
    win.editing._add_clip("mouth", "happy")
    cid = tl.selected_clip
    assert cid and "happy" in tl.clip_labels[cid].toPlainText()
    tl.click_word(0)
    clip_colour = tl.clip_blocks[cid].brush().color()
    word_colour = tl.word_blocks[0].brush().color()
    assert clip_colour != word_colour
    win.session.undo()


def test_a_word_retyped_in_place_is_one_undo_step(qtbot, ready):
    win, tl = ready, ready.timeline
    track = win.editing.phone_track
    index = next(i for i, w in enumerate(tl.words) if w.text == "went")
    count = len(tl.words)
    # a double-click asks for the word
    with qtbot.waitSignal(tl.word_retype_requested, timeout=5000) as sig:
        tl.word_blocks[index].on_double()
    assert sig.args == [index]
    w = tl.word_blocks[index].rect()
    menu = tl.context_menu(QPointF(tl.view_point(w.center().x(), -0.5)))
    with qtbot.waitSignal(tl.word_retype_requested, timeout=5000) as sig:
        menu.actions()[0].trigger()  # "Retype 'went'…" from the word's menu
    assert sig.args == [index]
    qtbot.waitUntil(lambda: track.dialog.isVisible(), timeout=5000)
    track.dialog.reject()
    job = track.retype(index, "went in")
    qtbot.waitUntil(lambda: job.outcome is not None, timeout=60_000)
    assert job.outcome == "succeeded"
    qtbot.waitUntil(lambda: len(tl.words) == count + 1, timeout=5000)
    assert [w.text for w in tl.words[index:index + 2]] == ["went", "in"]
    assert win.project.dub_alignment() is not None
    win.session.undo()
    assert len(tl.words) == count and win.project.alignment is None
    # text the audio cannot hold: an error, the project unchanged
    errors = []
    win.show_error = lambda exc, title: errors.append(str(exc))
    try:
        job = track.retype(index, "")
        qtbot.waitUntil(lambda: bool(errors), timeout=60_000)  # the error reaches the UI
    finally:
        del win.show_error
    assert job.outcome == "failed" and errors and "\n" not in errors[0]
    assert win.project.alignment is None


def test_estimated_words_are_marked_and_word_edges_snap_to_phones(qtbot, qapp):
    from core.align.result import Phone, Word
    from studio.timeline import TimelinePane

    tl = TimelinePane()
    qtbot.addWidget(tl)
    tl.resize(900, 260)
    tl.show()
    tl.set_duration(2.0)
    words = [Word("hello", 0.2, 0.6), Word("there", 0.8, 1.2, estimated=True)]
    tl.set_words(words, {}, set())
    tl.set_phones([Phone("HH", 0.2, 0.3), Phone("AH", 0.3, 0.45), Phone("L", 0.45, 0.6)],
                  ["kk", "aa", "L"], set())
    QApplication.processEvents()
    plain, guessed = tl.word_blocks[0], tl.word_blocks[1]
    assert guessed.brush().style() != plain.brush().style()
    assert guessed.pen().color() != plain.pen().color()
    assert "estimated" in guessed.toolTip()
    sx = tl.getPlotItem().getViewBox().viewPixelSize()[0]
    assert tl.snap(0.45 + 4 * sx, sx) == pytest.approx(0.45)  # a phone edge within reach
    assert tl.snap(0.45 + 30 * sx, sx) == pytest.approx(0.45 + 30 * sx)  # too far
    tl.snapping = False
    assert tl.snap(0.45 + 4 * sx, sx) == pytest.approx(0.45 + 4 * sx)
    # a right-click away from the phones offers markers, zoom-to-fit and snapping
    menu = tl.context_menu(QPointF(tl.view_point(1.0, -0.5)))
    texts = [a.text() for a in menu.actions()]
    assert "Add marker at playhead" in texts and "Zoom to fit" in texts
