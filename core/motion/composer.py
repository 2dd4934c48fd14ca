"""The edit composition kept warm between edits, so one edit re-composes in milliseconds.

:func:`core.motion.compose.compose` is the definition; this object gives the same result
(a test checks it) but keeps what an edit does not touch: the silent-lips base, the smoothed
lip motion and the word-shaped motion, over only the points an edit can move (lower face
and emotion regions), stored contiguously. A word edit re-composes only that word's frames;
a global control re-composes every frame of those points in one vectorised pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.motion.compose import loudness_gain, silent_lips, smooth
from core.motion.words import StyledWord, alpha_curve, apply_word_shapes, word_window


class Composer:
    def __init__(self, expression: np.ndarray, lip_weight: np.ndarray, rest: np.ndarray | None,
                 delta: np.ndarray, hold: np.ndarray, loudness: np.ndarray | None,
                 directions: dict[str, np.ndarray], movable: np.ndarray | None = None) -> None:
        lips = np.asarray(lip_weight) > 0
        other = np.zeros_like(lips) if movable is None else np.asarray(movable, bool) & ~lips
        # lip points first: α and word edits only ever rewrite those columns
        self.active = np.concatenate([np.flatnonzero(lips), np.flatnonzero(other)])
        self.n_lips = int(lips.sum())
        a, al = self.active, self.active[: self.n_lips]
        self.expression = expression
        self.base = np.ascontiguousarray(
            silent_lips(expression[:, a], lip_weight[a], None if rest is None else rest[a]))
        self.delta = np.ascontiguousarray(np.asarray(delta, np.float32)[:, al])
        self.hold = np.asarray(hold, np.float32)
        self.loudness = loudness
        self.directions = {k: np.ascontiguousarray(v[al]) for k, v in directions.items()}
        self.count = len(expression)
        self._lips_key: tuple | None = None
        self._words: tuple = ()
        self._ramp = 0.0
        self.lips = self.shaped = self.delta
        self.alpha = np.ones(self.count, np.float32)
        self.emotion: np.ndarray | None = None
        self.base_lips = np.ascontiguousarray(self.base[:, : self.n_lips])
        self.base_other = np.ascontiguousarray(self.base[:, self.n_lips:])
        self.edited_lips = self.base_lips.copy()
        self.edited_other = self.base_other.copy()
        del self.base

    def _smooth_lips(self, beta: float, smoothing: float) -> np.ndarray:
        raw = self.delta
        if self.loudness is not None and beta != 0:
            raw = loudness_gain(self.loudness, beta).astype(np.float32)[:, None, None] * raw
        lips = smooth(raw, smoothing)
        idx = np.flatnonzero(self.hold > 0)
        if smoothing > 0 and len(idx):
            lips = np.array(lips, copy=lips is raw)
            k = self.hold[idx, None, None]
            lips[idx] = k * raw[idx] + (1 - k) * lips[idx]
        return lips

    def update(self, *, alpha: float = 1.0, beta: float = 0.0, smoothing: float = 0.5,
               words: Sequence[StyledWord] = (), ramp: float = 1.0,
               emotion: np.ndarray | None = None, emotion_changed: bool = True) -> np.ndarray:
        """Re-compose after an edit; only what the edit touched is recomputed.

        ``emotion`` is the (T, N, 3) emotion term over all points (or None);
        pass ``emotion_changed=False`` when it is the same as last time.
        """
        words = tuple(words)
        key = (beta, smoothing)
        full = key != self._lips_key or ramp != self._ramp
        if full:
            self.lips = self._smooth_lips(beta, smoothing)
            self._lips_key = key
        if emotion_changed:
            self.emotion = None if emotion is None else np.ascontiguousarray(
                emotion[:, self.active])
            self.emotion_lips = None if emotion is None else np.ascontiguousarray(
                self.emotion[:, : self.n_lips])
            full = True
        new_alpha = alpha_curve(alpha, words, self.count, ramp)
        if full:
            self.shaped = apply_word_shapes(self.lips, words, self.directions, ramp)
            spans = [slice(0, self.count)]
        else:
            spans = self._changed_spans(self._words, words, ramp)
            if spans and self.shaped is self.lips:
                self.shaped = self.lips.copy()
            for span in spans:
                local = [StyledWord(w.start - span.start, w.end - span.start, w.style)
                         for w in words]
                self.shaped[span] = apply_word_shapes(self.lips[span], local, self.directions,
                                                      ramp)
            diff = np.flatnonzero(new_alpha != self.alpha)
            if len(diff):
                spans.append(slice(int(diff[0]), int(diff[-1]) + 1))
        self.alpha, self._words, self._ramp = new_alpha, words, ramp
        n = self.n_lips
        if emotion_changed:
            np.copyto(self.edited_other, self.base_other)
            if self.emotion is not None:
                self.edited_other += self.emotion[:, n:]
        for span in spans:
            out = self.edited_lips[span]
            np.multiply(self.shaped[span], self.alpha[span, None, None], out=out)
            out += self.base_lips[span]
            if self.emotion is not None:
                out += self.emotion_lips[span]
        return self.edited_lips

    def update_emotion(self, span: slice, emotion: np.ndarray) -> None:
        """Replace the emotion term on some frames only (an emotion clip was edited there);
        ``emotion`` is (n, N, 3) over all points for those frames."""
        n = self.n_lips
        if self.emotion is None:
            self.emotion = np.zeros((self.count, len(self.active), 3), np.float32)
            self.emotion_lips = np.zeros((self.count, n, 3), np.float32)
        rows = emotion[:, self.active]
        self.emotion[span] = rows
        self.emotion_lips[span] = rows[:, :n]
        np.add(self.base_other[span], rows[:, n:], out=self.edited_other[span])
        out = self.edited_lips[span]
        np.multiply(self.shaped[span], self.alpha[span, None, None], out=out)
        out += self.base_lips[span]
        out += self.emotion_lips[span]

    def _changed_spans(self, old: tuple, new: tuple, ramp: float) -> list[slice]:
        before, after = set(old), set(new)
        return [word_window(w.start, w.end, ramp, self.count)[0]
                for w in before.symmetric_difference(after)]

    def rows(self, frames: np.ndarray) -> np.ndarray:
        """E' of some output frames over all points: (n, N, 3)."""
        out = np.array(self.expression[frames], np.float32, copy=True)
        n = self.n_lips
        out[:, self.active[:n]] = self.edited_lips[frames]
        out[:, self.active[n:]] = self.edited_other[frames]
        return out
