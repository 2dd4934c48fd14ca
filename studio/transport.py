"""The playhead: seek, step, play (following the dub's sound when there is sound), pause,
J/K/L shuttle, next and previous word, in and out points, loop, timecode and audio scrub.

Its keys never take a key from a focused editor widget: a focused slider keeps its arrows,
a focused number field its digits (:func:`editor_wants`)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from studio.playback import PlayClock

SHUTTLE_MAX = 8  # J/J/J or L/L/L: 1x, 2x, 4x, 8x
SCRUB_GRAIN_MS = 90  # the dub's sound heard at the playhead while dragging it
_K = Qt.Key
_SLIDER_KEYS = {_K.Key_Left, _K.Key_Right, _K.Key_Up, _K.Key_Down, _K.Key_Home, _K.Key_End,
                _K.Key_PageUp, _K.Key_PageDown}
_CTRL_TEXT_KEYS = _SLIDER_KEYS | {_K.Key_Backspace, _K.Key_Delete, _K.Key_A, _K.Key_C,
                                  _K.Key_V, _K.Key_X}


def timecode(frame: int, fps: float) -> str:
    """HH:MM:SS:FF at the nominal whole rate (25, 30...), as an NLE shows it."""
    rate = max(1, round(fps))
    s, ff = divmod(max(0, int(frame)), rate)
    m, ss = divmod(s, 60)
    hh, mm = divmod(m, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def editor_wants(widget: QWidget, key: int, modifiers: Qt.KeyboardModifier) -> bool:
    """Whether a focused ``widget`` uses this key itself (then no window shortcut takes it)."""
    ctrl = bool(modifiers & (Qt.KeyboardModifier.ControlModifier
                             | Qt.KeyboardModifier.AltModifier
                             | Qt.KeyboardModifier.MetaModifier))
    if isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)) or (
            isinstance(widget, QComboBox) and widget.isEditable()):
        return not ctrl or key in _CTRL_TEXT_KEYS
    if isinstance(widget, (QAbstractSlider, QComboBox)):
        return not ctrl and key in _SLIDER_KEYS
    if isinstance(widget, QAbstractButton):
        return not ctrl and key == _K.Key_Space
    return False


class Transport(QObject):
    """Where the window's playhead is, and the playback that moves it."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.frame = 0
        self.playing = False
        self.direction = 1  # where the playhead went last: the renderer draws ahead that way
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.clock = PlayClock(25.0)
        self.rate = 0  # the shuttle's speed and direction (0: stopped, 1: normal play)
        self._shuttle_from = (0.0, 0)  # (wall time, frame) the shuttle started at
        self.marks: list[int | None] = [None, None]  # in and out points (frames)
        self.sound_note = ""
        self.audio = self._make_audio()
        self.grain = QTimer(self)
        self.grain.setSingleShot(True)
        self.grain.timeout.connect(self._end_grain)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """A focused editor widget keeps the keys it uses (Right moves a slider, not the
        playhead)."""
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(obj, QWidget)
                and obj.window() is self.window
                and editor_wants(obj, event.key(), event.modifiers())):
            event.accept()
            return True
        return False

    def seek(self, j: int, full: bool = True) -> None:
        w, take = self.window, self.window.take
        if take is None:
            return
        j = max(0, min(int(j), take.frame_count - 1))
        if self.playing:
            self.direction = 1
        elif j != self.frame:
            self.direction = 1 if j > self.frame else -1
        self.frame = j
        t = self.frame / take.fps
        w.timeline.playhead.setValue(t)
        w.waveform.playhead.setValue(t)
        marks = "".join(f"  {n} {timecode(m, take.fps)}" for n, m in zip(
            ("in", "out"), self.marks, strict=True) if m is not None)
        w.frame_label.setText(f"{timecode(self.frame, take.fps)}  frame {self.frame + 1}/"
                              f"{take.frame_count}  {t:6.2f} s{marks}")
        w.request_render(full)

    def seek_time(self, t: float) -> None:
        take = self.window.take
        if take is not None:
            self.seek(round(t * take.fps))
            if self.playing:
                self._seek_audio(self.frame)
                self.clock.restart(time.perf_counter(), self.frame)

    def step(self, k: int) -> None:
        self.pause()
        self.seek(self.frame + k)

    def seek_end(self) -> None:
        take = self.window.take
        if take is not None:
            self.pause()
            self.seek(take.frame_count - 1)

    def scrub(self, t: float) -> None:
        """The playhead dragged to ``t`` s: show it and, when paused, let a short grain of
        the dub at that point be heard."""
        self.seek_time(t)
        if not self.playing and self.window.audio is not None and self.window.take is not None:
            self._seek_audio(self.frame)
            self.grain.start(SCRUB_GRAIN_MS)

    def _end_grain(self) -> None:
        if not self.playing and self.window.audio is not None:
            self.window.audio.pause()

    def word_starts(self) -> list[int]:
        """Each word's first frame (its timing fix when it has one), in order."""
        w, take = self.window, self.window.take
        al = None if take is None else take.dub_alignment
        if al is None:
            return []
        spans = [w.editing._word_span(i) for i in range(len(al.words))]
        return sorted(round(s[0] * take.fps) for s in spans if s is not None)

    def jump_word(self, k: int) -> None:
        """To the start of the next (``k`` 1) or previous (-1) word."""
        starts = self.word_starts()
        if k > 0:
            later = [j for j in starts if j > self.frame]
            target = later[0] if later else None
        else:
            earlier = [j for j in starts if j < self.frame]
            target = earlier[-1] if earlier else None
        if target is not None:
            self.step(target - self.frame)

    def mark_in(self) -> None:
        self._mark(0)

    def mark_out(self) -> None:
        self._mark(1)

    def _mark(self, which: int) -> None:
        if self.window.take is None:
            return
        self.marks[which] = self.frame
        a, b = self.marks
        if a is not None and b is not None and a > b:  # a new in after the out, or back
            self.marks[1 - which] = None
        self.seek(self.frame)

    def clear_marks(self) -> None:
        self.marks = [None, None]
        self.seek(self.frame)

    def shuttle(self, direction: int) -> None:
        """J (-1), K (0), L (1): each J or L again doubles the speed that way, up to
        :data:`SHUTTLE_MAX`; normal forward speed follows the dub's sound."""
        take = self.window.take
        if take is None or direction == 0:
            self.pause()
            return
        if self.playing and self.rate * direction > 0:
            rate = max(-SHUTTLE_MAX, min(SHUTTLE_MAX, self.rate * 2))
        else:
            rate = direction
        if rate == 1:
            self.pause()
            self.play()
            return
        was_playing = self.playing
        if was_playing and self.window.audio is not None:
            self.window.audio.pause()
        self.rate, self.playing, self.direction = rate, True, 1 if rate > 0 else -1
        self._shuttle_from = (time.perf_counter(), self.frame)
        if not was_playing or not self.timer.isActive():
            self.timer.start(max(5, int(500 / take.fps)))

    def _loop_span(self) -> tuple[int, int]:
        w, take = self.window, self.window.take
        a, b = self.marks
        if w.loop_action.isChecked() and (a is not None or b is not None):
            a = 0 if a is None else a
            b = take.frame_count - 1 if b is None else b
            return a, max(a + 1, b + 1)
        span = w.editing.selection_span() if w.loop_action.isChecked() else None
        if span is not None:
            a, b = round(span[0] * take.fps), round(span[1] * take.fps)
            return a, max(a + 1, b)
        return 0, take.frame_count

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        take = self.window.take
        if take is None:
            return
        a, b = self._loop_span()
        if not a <= self.frame < b - 1:
            self.frame = a
        self.playing = True
        self.rate = 1
        self.direction = 1
        self._seek_audio(self.frame)
        self.clock = PlayClock(take.fps)
        self.clock.restart(time.perf_counter(), self.frame)
        self.timer.start(max(5, int(500 / take.fps)))

    def pause(self) -> None:
        if not self.playing:
            return
        self.playing = False
        self.rate = 0
        self.timer.stop()
        if self.window.audio is not None:
            self.window.audio.pause()
        self.seek(self.frame)  # the full-size picture of where it stopped

    def _tick(self) -> None:
        """Show the frame the sound is at (the wall clock when there is no sound to follow);
        a loop goes back to its start, sound included."""
        if self.window.take is None:
            self.pause()
            return
        now = time.perf_counter()
        if self.rate != 1:  # the shuttle: the wall clock, no sound
            t0, j0 = self._shuttle_from
            j = round(j0 + self.rate * (now - t0) * self.window.take.fps)
            end = self.window.take.frame_count - 1
            if not 0 <= j <= end:
                self.seek(max(0, min(end, j)), full=False)
                self.pause()
            elif j != self.frame:
                self.seek(j, full=False)
            return
        j = self.clock.frame(now, self.audio_position())
        a, b = self._loop_span()
        if j >= b:
            j = a
            self._seek_audio(a)
            self.clock.restart(now, a)
        if j != self.frame:
            self.seek(j, full=False)

    def audio_position(self) -> float | None:
        """The player's position in ms while it plays, else None (no QtMultimedia, not
        started, stopped at the end of the dub)."""
        player = self.window.audio
        if player is None:
            return None
        from PySide6.QtMultimedia import QMediaPlayer

        if player.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
            return None
        return float(player.position())

    def _seek_audio(self, j: int) -> None:
        """Put the sound at frame ``j`` and make it play (it stops at the dub's end)."""
        take = self.window.take
        if self.window.audio is None or take is None:
            return
        from PySide6.QtMultimedia import QMediaPlayer

        self.window.audio.setPosition(int(round(j / take.fps * 1000)))
        if self.window.audio.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
            self.window.audio.play()

    def _make_audio(self) -> Any:
        """A QMediaPlayer on the dub when QtMultimedia is installed, else None (silent)."""
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        except ImportError:
            self.sound_note = ("Play / pause (no sound: QtMultimedia is not installed; "
                               "pip install PySide6-Addons)")
            return None
        player = QMediaPlayer(self)
        self._audio_output = QAudioOutput(self)
        player.setAudioOutput(self._audio_output)
        return player
