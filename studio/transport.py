"""The playhead: seek, step, play (following the dub's sound when there is sound), pause,
and loop over the selected words."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer

from studio.playback import PlayClock


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
        self.audio = self._make_audio()

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
        w.frame_label.setText(f"frame {self.frame + 1}/{take.frame_count}  {t:6.2f} s")
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

    def _loop_span(self) -> tuple[int, int]:
        w, take = self.window, self.window.take
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
        self.direction = 1
        self._seek_audio(self.frame)
        self.clock = PlayClock(take.fps)
        self.clock.restart(time.perf_counter(), self.frame)
        self.timer.start(max(5, int(500 / take.fps)))

    def pause(self) -> None:
        if not self.playing:
            return
        self.playing = False
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
            self.window.play_action.setToolTip("Play / pause (no sound: QtMultimedia is not "
                                               "installed; pip install PySide6-Addons)")
            return None
        player = QMediaPlayer(self)
        self._audio_output = QAudioOutput(self)
        player.setAudioOutput(self._audio_output)
        return player
