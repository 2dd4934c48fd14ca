"""Playback in the studio window, offscreen: frames near the playhead are drawn ahead and
served from a cache, the picture follows the sound's position (the wall clock when there is
no sound to follow), a loop seeks the sound too, the clip inspector edits every field of an
emotion clip (a reference image included, bad ones refused), and an export runs beside the
live preview instead of freezing it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from studio.playback import EXTRAPOLATE_S, STALE_S, PlayClock
from studio.workers import AHEAD, BEHIND, PreviewCache, RenderRequest, ahead_order
from tests.studio_window import (
    Qt,
    load_sample,
    mid_frame,
    picture,
    studio_env,
    studio_window,
    word_index,
)

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


# -- the pure parts ---------------------------------------------------------------------------


def test_ahead_order_goes_the_playheads_way_first_and_wraps_in_a_loop():
    assert ahead_order(10, 100) == [*range(11, 11 + AHEAD), 9, 8][: AHEAD + BEHIND]
    assert ahead_order(10, 100, direction=-1)[:3] == [9, 8, 7]
    assert ahead_order(10, 100, direction=-1)[-2:] == [11, 12]
    assert ahead_order(98, 100) == [99, 97, 96]  # clamped at the end without a loop
    assert ahead_order(0, 100, direction=-1) == [1, 2]
    # a loop over [20, 25): ahead wraps to its start, each frame once
    assert ahead_order(23, 100, span=(20, 25)) == [24, 20, 21, 22]
    assert ahead_order(5, 8, ahead=3, behind=0, span=(0, 8)) == [6, 7, 0]


def test_preview_cache_is_lru_and_drops_other_generations():
    cache = PreviewCache(capacity=3)
    req = RenderRequest(0, generation=1, edits=None)
    for j in range(3):
        cache.put(PreviewCache.key(req, j), j)
    assert cache.get(PreviewCache.key(req, 0)) == 0  # now the most recent
    cache.put(PreviewCache.key(req, 3), 3)
    assert PreviewCache.key(req, 1) not in cache and PreviewCache.key(req, 0) in cache
    other = RenderRequest(0, generation=2, edits=None, overlay=True)
    assert PreviewCache.key(other, 0) not in cache  # generation and overlay are in the key
    cache.put(PreviewCache.key(other, 0), "new")
    cache.keep_generation(2)
    assert len(cache) == 1 and cache.get(PreviewCache.key(other, 0)) == "new"


def test_play_clock_follows_a_moving_player_and_falls_back_to_the_wall_clock():
    fps = 25.0
    clock = PlayClock(fps)
    clock.restart(100.0, 10)  # playback starts at frame 10 = 400 ms
    # no player, or not playing: the wall clock
    assert clock.frame(100.0, None) == 10
    assert clock.frame(101.0, None) == 35 and clock.source == "clock"
    clock.restart(200.0, 10)
    # the player reports the start position but has not moved yet: still the wall clock
    assert clock.frame(200.2, 400) == 15 and clock.source == "clock"
    # it moves, a little behind the wall clock: the picture holds rather than step back
    assert clock.frame(200.3, 560) == 15 and clock.source == "audio"
    # the sound is half a second ahead of the wall clock: the picture goes with the sound
    assert clock.frame(200.4, 1200) == 30 and clock.source == "audio"
    # between the player's coarse position steps the frame advances with the wall clock
    assert clock.frame(200.4 + EXTRAPOLATE_S / 2, 1200) == 31
    assert clock.frame(200.4 + EXTRAPOLATE_S * 0.9, 1200) == 32
    # a stalled position no longer leads: the wall clock goes on from where it was
    later = 200.4 + STALE_S + 0.2
    j = clock.frame(later, 1200)
    assert clock.source == "clock" and j == int((1.2 + EXTRAPOLATE_S * 0.9 + later
                                                 - (200.4 + EXTRAPOLATE_S * 0.9)) * fps)
    # positions left over from before a seek (far ahead, or before its start) are ignored
    clock.restart(300.0, 0)
    clock.frame(300.0, 0)
    assert clock.frame(300.1, 9000) == 2 and clock.source == "clock"
    assert clock.frame(300.2, 160) == 4 and clock.source == "audio"
    clock.restart(400.0, 50)
    clock.frame(400.0, 2000)
    assert clock.frame(400.1, 1500) == 52 and clock.source == "clock"


# -- the window -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "playback")


@pytest.fixture(scope="module")
def window(qapp, env, shared_data):
    yield from studio_window(env)


@pytest.fixture
def ready(qtbot, window, shared_data):
    """The window with the sample video and dub analysed (once per module), paused."""
    load_sample(qtbot, window, shared_data)
    window.pause()
    qtbot.waitUntil(lambda: window.is_current(window.shown), timeout=20_000)
    return window


def preview_of(qtbot, win, j: int):
    """Seek to ``j`` and return the preview-stage result the renderer sends for it."""
    got = []

    def keep(r):
        if r.frame == j and r.stage == "preview" and r.generation == win.generation:
            got.append(r)

    win.frame_shown.connect(keep)
    try:
        win.seek(j)
        qtbot.waitUntil(lambda: bool(got), timeout=20_000)
    finally:
        win.frame_shown.disconnect(keep)
    return got[0]


def test_frames_near_the_playhead_are_drawn_ahead_and_served_from_the_cache(qtbot, ready):
    win = ready
    r = win.renderer
    f = mid_frame(win, word_index(win, "duck")) - 3
    win.seek(f)
    qtbot.waitUntil(lambda: win.is_current(win.shown) and r.idle, timeout=30_000)
    assert r.drawn_ahead >= AHEAD
    hits = r.hits
    take = win.take
    for k in (1, 2, 3, 5, 8, -1):
        res = preview_of(qtbot, win, f + k)
        assert res.cached, k
        # the cached picture is the very picture the renderer draws for that frame
        j = f + k
        frame = take.source.frame(int(take.source_index[j]))
        with win.handle.lock:
            direct = take.render(j, frame, out_size=(res.image.shape[1], res.image.shape[0]))
        assert np.array_equal(res.image, direct)
    assert r.hits == hits + 6
    qtbot.waitUntil(lambda: win.is_current(win.shown) and r.idle, timeout=30_000)

    # an edit is a new generation: nothing drawn for the old edits is served
    before = win.current_image().copy()
    j = win.frame
    misses = r.misses
    win.controls.alpha.setValue(0.0)
    res = preview_of(qtbot, win, j + 1)
    assert not res.cached and r.misses > misses
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)
    win.seek(j)
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)
    assert not np.array_equal(win.current_image(), before)  # the closed mouth is shown
    qtbot.waitUntil(lambda: r.idle, timeout=30_000)
    assert {key[1] for key in r.cache.keys()} == {win.generation}
    win.undo_action.trigger()
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)


def test_playback_is_mostly_served_from_the_render_ahead_cache(qtbot, ready):
    win = ready
    win.seek(0)
    qtbot.waitUntil(lambda: win.is_current(win.shown) and win.renderer.idle, timeout=30_000)
    shown = []
    win.frame_shown.connect(shown.append)
    try:
        win.play_action.trigger()
        qtbot.waitUntil(lambda: win.frame >= 75, timeout=20_000)
        win.play_action.trigger()
    finally:
        win.frame_shown.disconnect(shown.append)
    during = [r for r in shown if r.stage == "preview"]
    assert len(during) >= 30
    share = sum(r.cached for r in during) / len(during)
    print(f"playback frames served from the render-ahead cache: {share:.0%} of {len(during)}")
    assert share >= 0.5


class FakePlayer:
    """Stands in for the QMediaPlayer so the test decides where the sound is: while playing
    its position advances with the wall clock in 64 ms steps, as Qt's FFmpeg backend
    reports it; ``jump`` puts the sound elsewhere, ``stall`` stops it moving."""

    def __init__(self) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        self.states = QMediaPlayer.PlaybackState
        self.state = self.states.StoppedState
        self.base, self.t0 = 0, time.perf_counter()
        self.stalled = False
        self.seeks: list[int] = []

    def playbackState(self):  # noqa: N802 - Qt's name
        return self.state

    def position(self) -> int:
        if self.state != self.states.PlayingState or self.stalled:
            return self.base
        return self.base + int((time.perf_counter() - self.t0) * 1000) // 64 * 64

    def jump(self, ms: int) -> None:
        self.base, self.t0 = int(ms), time.perf_counter()

    def stall(self) -> None:
        self.jump(self.position())
        self.stalled = True

    def setPosition(self, ms: int) -> None:  # noqa: N802 - Qt's name
        self.jump(ms)
        self.seeks.append(int(ms))

    def play(self) -> None:
        self.jump(self.position())
        self.state = self.states.PlayingState

    def pause(self) -> None:
        self.jump(self.position())
        self.state = self.states.PausedState


def test_the_picture_follows_the_sound_position(qtbot, ready, monkeypatch):
    win = ready
    player = FakePlayer()
    monkeypatch.setattr(win, "audio", player)
    fps = win.take.fps
    win.seek(5)
    win.play_action.trigger()
    assert player.state == player.states.PlayingState and player.seeks[-1] == round(5 / fps
                                                                                    * 1000)
    qtbot.waitUntil(lambda: win.clock.source == "audio" and win.frame >= 8, timeout=30_000)
    # the sound goes half a second ahead of the picture: the picture goes with the sound
    wall = win.frame
    player.jump(player.position() + 500)
    qtbot.waitUntil(lambda: win.frame >= wall + 12, timeout=30_000)
    for _ in range(10):
        qtbot.wait(37)
        ms = player.position()
        win._tick()  # the frame for this sound position (not however late the timer was)
        assert win.clock.source == "audio"
        assert abs(win.frame - ms * fps / 1000) <= 3.5
    # the sound stands still (e.g. the device stalls): the wall clock carries playback on
    player.stall()
    qtbot.waitUntil(lambda: win.clock.source == "clock", timeout=30_000)
    at = win.frame
    qtbot.waitUntil(lambda: win.frame >= at + 5, timeout=30_000)
    assert win.clock.source == "clock"
    # a scrub while playing seeks the sound as well
    win.seek_time(1.0)
    assert player.seeks[-1] == 1000
    win.play_action.trigger()
    assert not win.playing and player.state == player.states.PausedState


def test_a_loop_seeks_the_sound_back_to_its_start(qtbot, ready, monkeypatch):
    win = ready
    player = FakePlayer()
    monkeypatch.setattr(win, "audio", player)
    duck = word_index(win, "duck")
    win.timeline.click_word(duck)
    win.loop_action.setChecked(True)
    try:
        a, b = win._loop_span()
        fps = win.take.fps
        win.play_action.trigger()  # from the playhead, inside the word
        assert a <= win.frame < b and player.seeks[-1] == round(win.frame / fps * 1000)
        # the sound runs past the word's end: picture and sound go back to its start
        qtbot.waitUntil(lambda: len(player.seeks) >= 2, timeout=30_000)
        assert player.seeks[-1] == round(a / fps * 1000)
        assert a <= win.frame < b
        # and the picture followed the sound through the word
        assert win.clock.source == "audio" or win.frame <= a + 2
        qtbot.waitUntil(lambda: len(player.seeks) >= 3, timeout=30_000)
        assert player.seeks[-1] == round(a / fps * 1000)
    finally:
        win.play_action.trigger()
        win.loop_action.setChecked(False)


def test_the_real_player_leads_playback_when_it_plays(qtbot, ready):
    win = ready
    assert win.audio is not None, "QtMultimedia (PySide6-Addons, a dependency) is missing"
    win.seek(0)
    win.play_action.trigger()
    try:
        qtbot.waitUntil(lambda: win.clock.source == "audio" and win.frame >= 20,
                        timeout=30_000)
        ms = win.audio.position()
        win._tick()
        assert abs(win.frame - ms * win.take.fps / 1000) <= 4
    finally:
        win.play_action.trigger()


# -- the clip inspector -----------------------------------------------------------------------


def _clip(win) -> dict:
    cid = win.controls.clip_id
    return next(c for c in win.project.emotion_clips if c["id"] == cid)


def test_clip_inspector_edits_emotion_intensity_and_source_image(qtbot, ready, shared_data,
                                                                 env):
    win = ready
    c = win.controls
    win.timeline.click_word(word_index(win, "duck"))
    c.region.setCurrentText("mouth")
    c.emotion.setCurrentText("happy")
    qtbot.mouseClick(c.add_button, LEFT)
    clip = _clip(win)
    assert clip["emotion"] == "happy" and c.clip_emotion.currentText() == "happy"
    assert c.clip_emotion.count() == 8 and c.clip_emotion.itemText(0) == "neutral"
    j = mid_frame(win, word_index(win, "duck"))
    happy = picture(qtbot, win, j)

    # emotion: one step down the list is "sad", chosen with the keyboard
    steps = win.undo_stack.count()
    c.clip_emotion.setFocus()
    qtbot.keyClick(c.clip_emotion, Qt.Key.Key_Down)
    assert _clip(win)["emotion"] == "sad" and win.undo_stack.count() == steps + 1
    sad = picture(qtbot, win, j)
    assert not np.array_equal(sad, happy)

    # intensity: a drag is one step
    for v in (60, 90, 120):
        c.intensity.slider.setValue(v)
    assert _clip(win)["intensity"] == pytest.approx(1.2)
    assert win.undo_stack.count() == steps + 2
    win.undo_action.trigger()
    assert _clip(win)["intensity"] == pytest.approx(1.0)
    assert np.array_equal(picture(qtbot, win, j), sad)

    # a source image, picked in the file dialog
    face = shared_data / "image" / "photo_bw.jpg"
    qtbot.mouseClick(c.source_button, LEFT)
    dlg = win.image_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.selectFile(str(face))
    dlg.accept()
    qtbot.waitUntil(lambda: "source" in _clip(win), timeout=60_000)
    ref = _clip(win)["source"]["image"]
    assert Path(ref.path) == face and "emotion" not in _clip(win)
    assert win.undo_stack.count() == steps + 2
    assert c.clear_source.isEnabled() and "photo_bw.jpg" in c.clip_source.text()
    from_image = picture(qtbot, win, j)
    assert not np.array_equal(from_image, sad)
    win.undo_action.trigger()
    assert _clip(win)["emotion"] == "sad" and "source" not in _clip(win)
    assert np.array_equal(picture(qtbot, win, j), sad)
    win.redo_action.trigger()
    assert np.array_equal(picture(qtbot, win, j), from_image)

    # clear: back to the preset it had, one step
    qtbot.mouseClick(c.clear_source, LEFT)
    assert _clip(win)["emotion"] == "sad" and "source" not in _clip(win)
    assert win.undo_stack.count() == steps + 3
    assert not c.clear_source.isEnabled()
    assert np.array_equal(picture(qtbot, win, j), sad)

    # bad pictures: a dialog names the file and the problem; the clip stays as it was
    unreadable = env / "broken.png"
    unreadable.write_bytes(b"not a picture at all")
    for bad, problem in ((shared_data / "negative" / "no_human_face_1.jpg", "no human face"),
                         (unreadable, "not an image")):
        before, errors = dict(_clip(win)), len(win.errors)
        job = win.set_clip_image(before["id"], bad)
        qtbot.waitUntil(lambda errors=errors: len(win.errors) > errors, timeout=60_000)
        qtbot.waitUntil(lambda job=job: job.isFinished(), timeout=30_000)
        assert str(bad) in win.errors[-1] and problem in win.errors[-1]
        assert win.error_box.isVisible()
        win.error_box.close()
        assert _clip(win) == before and win.undo_stack.count() == steps + 3
    assert np.array_equal(picture(qtbot, win, j), sad)
    qtbot.mouseClick(c.remove, LEFT)


# -- export beside the preview ----------------------------------------------------------------


def test_export_runs_beside_the_live_preview(qtbot, ready, env):
    win = ready
    import av

    reached, release = threading.Event(), threading.Event()

    def hold(stage: str, done: float, total: float) -> None:
        if done == 3:  # the export waits here until the test has seen the preview move
            reached.set()
            release.wait(60)

    out = env / "export" / "beside.mp4"
    out.parent.mkdir(exist_ok=True)
    win.export_hook = hold
    try:
        outcomes = []
        win.job_finished.connect(lambda name, outcome: outcomes.append(outcome))
        assert win.export_mp4(out)
        job = win.job
        qtbot.waitUntil(reached.is_set, timeout=60_000)
        # the export is mid-way; the preview still renders (full size: the take's lock)
        far = win.take.frame_count - 7
        win.seek(far)
        qtbot.waitUntil(lambda: win.is_current(win.shown, "full"), timeout=60_000)
        assert win.job is job and job.isRunning() and not release.is_set()
        assert job.detached is not None and job.detached.source is not win.take.source
        release.set()
        qtbot.waitUntil(lambda: win.job is None, timeout=120_000)
        assert outcomes[-1] == "succeeded", win.errors
        with av.open(str(out)) as container:
            assert sum(1 for _ in container.decode(video=0)) == win.take.frame_count
        # the twin is closed; the preview's own take goes on
        with pytest.raises(ValueError):
            job.detached.source.frame(0)
        win.take.source.frame(0)

        # cancelled mid-way: the twin is closed too, and no file is left
        reached.clear()
        release.clear()
        cancelled = env / "export" / "cancelled.mp4"
        assert win.export_mp4(cancelled)
        job = win.job
        qtbot.waitUntil(reached.is_set, timeout=60_000)
        qtbot.mouseClick(win.cancel_button, LEFT)
        release.set()
        qtbot.waitUntil(lambda: win.job is None, timeout=60_000)
        assert outcomes[-1] == "cancelled" and not cancelled.exists()
        with pytest.raises(ValueError):
            job.detached.source.frame(0)
        picture(qtbot, win, far)
    finally:
        release.set()
        win.export_hook = None
