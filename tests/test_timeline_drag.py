"""Dragging on the timeline, offscreen with real mouse events: the right edge of "duck"
moves its end (the preview at the new tail changes, one undo step restores it), an edge
stops at the next word, and an emotion clip's body moves the clip (one undo step)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.studio_window import (
    QPoint,
    QPointF,
    Qt,
    load_sample,
    picture,
    studio_env,
    studio_window,
    word_index,
)

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "drag")


@pytest.fixture(scope="module")
def window(qapp, env, shared_data):
    yield from studio_window(env)


@pytest.fixture
def ready(qtbot, window, shared_data):
    """The window with the sample video and dub analysed (once per module)."""
    load_sample(qtbot, window, shared_data)
    window.timeline.snapping = False  # these drags measure exact distances: no snapping
    return window


def span(win, i: int) -> tuple[float, float]:
    w = win.take.dub_alignment.words[i]
    return win.project.word_timing(i) or (w.start, w.end)


def time_at(tl, pos: QPoint) -> float:
    return tl._to_view(QPointF(pos))[0]


def drag(qtbot, tl, start: QPoint, dx: int, steps: int = 6) -> QPoint:
    """A real press, several moves and a release, ``dx`` pixels to the right."""
    vp = tl.viewport()
    qtbot.mousePress(vp, LEFT, NONE, start)
    for k in range(1, steps + 1):
        qtbot.mouseMove(vp, QPoint(start.x() + round(dx * k / steps), start.y()))
    end = QPoint(start.x() + dx, start.y())
    qtbot.mouseRelease(vp, LEFT, NONE, end)
    return end


def test_drag_the_right_edge_of_duck(qtbot, ready):
    from core.motion.driver import VisemeDriver

    win, tl = ready, ready.timeline
    duck = word_index(win, "duck")
    qtbot.mouseClick(tl.viewport(), LEFT, pos=tl.word_center(duck))
    assert win.selected == [duck]
    win.controls.open.slider.setValue(260)  # open the mouth on "duck": its timing shows
    assert win.project.word_style(duck)["open"] == pytest.approx(2.6)

    start, end = span(win, duck)
    nxt = span(win, duck + 1)[0]
    grow = nxt - end > 0.12  # lengthen into a gap, else shorten
    press = tl.word_edge(duck, "right")
    assert tl.hit(QPointF(press)) == ("word-end", duck)
    qtbot.mouseMove(tl.viewport(), press)  # hovering the edge shows a resize cursor
    assert tl.viewport().cursor().shape() == Qt.CursorShape.SizeHorCursor
    sx = (time_at(tl, QPoint(press.x() + 100, press.y())) - time_at(tl, press)) / 100
    dx = round((0.1 if grow else -min(0.1, (end - start) / 2)) / sx)
    steps = win.undo_stack.index()

    tail_old, tail_new = end, end + dx * sx
    lead = VisemeDriver.anticipation
    j = round(((tail_old + tail_new) / 2 - lead) * win.take.fps)
    before = picture(qtbot, win, j)

    release = drag(qtbot, tl, press, dx)
    moved = time_at(tl, release) - time_at(tl, press)
    assert win.undo_stack.index() == steps + 1, "one drag, one undo step"
    new = win.project.word_timing(duck)
    assert new is not None
    assert new[0] == pytest.approx(start, abs=1e-6)
    assert new[1] == pytest.approx(end + moved, abs=2e-3)
    assert tl.word_blocks[duck].rect().right() == pytest.approx(new[1], abs=1e-6)
    after = picture(qtbot, win, j)
    changed = np.abs(after.astype(int) - before.astype(int))
    assert changed.max() > 20, "the frame at the new tail did not change"

    win.undo_action.trigger()
    assert win.undo_stack.index() == steps
    assert win.project.word_timing(duck) is None
    assert np.array_equal(picture(qtbot, win, j), before)

    # far past the next word: the edge stops at its start
    drag(qtbot, tl, tl.word_edge(duck, "right"), round((nxt - end + 1.0) / sx))
    assert win.project.word_timing(duck) == pytest.approx((start, nxt), abs=1e-6)
    win.undo_action.trigger()
    assert win.project.word_timing(duck) is None
    win.undo_action.trigger()  # the open slider
    assert win.project.words == {}


def test_drag_an_emotion_clip_body_moves_it(qtbot, ready):
    from studio.timeline import region_y

    win, tl = ready, ready.timeline
    tl.select_words([])
    win.seek(round(1.0 * win.take.fps))
    win.controls.add_clip.emit("mouth", "happy")
    clip = win.project.emotion_clips[-1]
    cid, start, end = clip["id"], clip["start"], clip["end"]
    steps = win.undo_stack.index()

    press = tl.view_point((start + end) / 2, region_y("mouth"))
    assert tl.hit(QPointF(press)) == ("clip-move", cid)
    release = drag(qtbot, tl, press, 60)
    moved = time_at(tl, release) - time_at(tl, press)
    assert moved > 0.05
    clip = win.project.clip(cid)
    assert clip["start"] == pytest.approx(start + moved, abs=2e-3)
    assert clip["end"] - clip["start"] == pytest.approx(end - start, abs=1e-6)
    assert win.undo_stack.index() == steps + 1
    assert tl.selected_clip == cid

    win.undo_action.trigger()
    clip = win.project.clip(cid)
    assert (clip["start"], clip["end"]) == (start, end)

    # the fade-in handle at the top left corner: never past the fade-out
    fi, fo = clip["fade_in"], clip["fade_out"]
    top = tl.view_point(start + fi, region_y("mouth") + 0.4)
    handle = QPoint(top.x(), top.y() + 2)
    assert tl.hit(QPointF(handle)) == ("fade_in", cid)
    drag(qtbot, tl, handle, 2000)
    clip = win.project.clip(cid)
    assert clip["fade_in"] == pytest.approx(end - start - fo, abs=1e-6)
    assert (clip["start"], clip["end"], clip["fade_out"]) == (start, end, fo)
    win.undo_action.trigger()
    assert win.project.clip(cid)["fade_in"] == fi
