"""Playback in the studio window, offscreen: frames near the playhead are drawn ahead and
served from a cache (one edit later, nothing drawn for the old edits is served)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from studio.pyside_guard import guard_none
from studio.qt_env import prepare_qt_environment
from studio.workers import AHEAD, BEHIND, PreviewCache, RenderRequest, ahead_order

prepare_qt_environment()  # before pytest-qt makes the QApplication
guard_none()  # this PySide6 drops a reference to None on every void call

from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
SPEECH, TEXT = SAMPLES / "speech.wav", SAMPLES / "speech.txt"
ANALYSIS_TIMEOUT_MS = 240_000
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


# -- the window -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("studio-cache")
    old = os.environ.get("STUDIO_CACHE_DIR")
    os.environ["STUDIO_CACHE_DIR"] = str(cache)
    yield tmp_path_factory.mktemp("playback")
    if old is None:
        os.environ.pop("STUDIO_CACHE_DIR", None)
    else:
        os.environ["STUDIO_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def window(qapp, env, shared_data):
    from studio.window import MainWindow

    settings = QSettings(str(env / "studio.ini"), QSettings.Format.IniFormat)
    win = MainWindow(projects_root=env / "projects", prompts=False, settings=settings)
    win.resize(1400, 900)
    win.show()
    yield win
    win.shutdown()
    win.close()
    win.deleteLater()
    QApplication.processEvents()


def drop(win, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = win.rect().center()
    with warnings.catch_warnings():  # PySide6 marks this (only) constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(win, enter)
    ev = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(win, ev)


@pytest.fixture
def ready(qtbot, window, shared_data):
    """The window with the sample video and dub analysed (once per module), paused."""
    if window.project is None:
        drop(window, [shared_data / "video" / "woman_glasses.mp4"])
        drop(window, [SPEECH, TEXT])
    qtbot.waitUntil(lambda: window.take is not None and window.job is None,
                    timeout=ANALYSIS_TIMEOUT_MS)
    window.pause()
    qtbot.waitUntil(lambda: window.is_current(window.shown), timeout=20_000)
    return window


def picture(qtbot, win, j: int) -> np.ndarray:
    win.seek(j)
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)
    return win.current_image().copy()


def word_index(win, text: str) -> int:
    return next(i for i, w in enumerate(win.take.dub_alignment.words) if w.text == text)


def mid_frame(win, i: int) -> int:
    w = win.take.dub_alignment.words[i]
    return round((w.start + w.end) / 2 * win.take.fps)


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
        assert res.cached and res.seconds < 0.05, k
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
