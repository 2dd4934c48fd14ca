"""Which frame playback shows now: the sound's position when the player is really playing,
the wall clock otherwise.

Pure (no Qt), so the choice is tested without an audio device. The window asks
:meth:`PlayClock.frame` on every timer tick with the player's position (or None when there
is no player or it is not playing) and shows the frame it returns.
"""

from __future__ import annotations

import math

STALE_S = 0.3  # a position that has not moved for this long no longer leads the picture
EXTRAPOLATE_S = 0.1  # players report their position in steps (~64 ms): fill in between
BACKSTEP_FRAMES = 2  # a reading this far behind the frame shown holds it instead


class PlayClock:
    """The playback clock of one take: the audio player's position leads the picture as
    long as it moves (and is plausible: not left over from before a seek); otherwise the
    wall clock, which is re-anchored on every audio reading so that switching between the
    two never jumps."""

    def __init__(self, fps: float) -> None:
        self.fps = float(fps)
        self.source = "clock"  # what set the last frame: "audio" or "clock"
        self.restart(0.0, 0)

    def restart(self, now: float, frame: int) -> None:
        """Playback (re)starts at ``frame`` at wall time ``now`` (play, seek, loop)."""
        self._origin = (float(now), frame / self.fps)
        self._start_s = frame / self.fps
        self._seen: float | None = None
        self._changed_at = float(now)
        self._live = False
        self._last = int(frame)

    def media_time(self, now: float) -> float:
        """Seconds into the take by the wall clock."""
        t0, s0 = self._origin
        return s0 + (now - t0)

    def frame(self, now: float, audio_ms: float | None) -> int:
        """The frame to show at wall time ``now``; ``audio_ms``: the player's position when
        it exists and is playing, else None."""
        wall = self.media_time(now)
        if audio_ms is not None and audio_ms >= 0:
            a = audio_ms / 1000.0
            if self._seen is None or a != self._seen:
                self._live = self._seen is not None  # it moved since playback started
                self._seen, self._changed_at = a, now
            fresh = now - self._changed_at <= STALE_S
            plausible = self._start_s - 0.1 <= a <= wall + 1.0
            if self._live and fresh and plausible:
                s = a + min(now - self._changed_at, EXTRAPOLATE_S)
                self._origin = (now, s)
                self.source = "audio"
                j = math.floor(s * self.fps + 1e-6)
                if self._last - BACKSTEP_FRAMES <= j < self._last:
                    j = self._last  # the sound lags the picture a little: hold, not rewind
                self._last = j
                return j
        self.source = "clock"
        j = math.floor(wall * self.fps + 1e-6)
        self._last = j
        return j
