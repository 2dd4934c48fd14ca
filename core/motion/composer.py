"""The edit composition kept warm between edits, so one edit re-composes in milliseconds.

:func:`core.motion.compose.compose` is the definition; this object gives the same result
(a test checks it) but keeps what an edit does not touch: the silent-lips base, the smoothed
lip motion and the word-shaped motion, over only the points an edit can move (lower face
and emotion regions), stored contiguously. A word edit re-composes only that word's frames;
a global control re-composes every frame of those points in one vectorised pass.

A driver's lip motion lives in a small subspace: the viseme driver blends about 15 library
shapes, and the word styles add three directions. When the motion is exactly (to float
precision) in a subspace of at most ``MAX_RANK`` dimensions, the smoothing, loudness, hold
and word-shape steps run on the T × r coefficients instead of T × points × 3, which makes a
smoothing change as cheap as an α change. Frames are then written in fixed blocks aligned to
absolute frame numbers, so a frame is always computed by the same arithmetic whichever edit
touched it: undo restores the exact bits.

The lip limits (:class:`core.motion.mouth.LipLimits`) act per frame after α: their measures
are linear, so in the subspace mode they are read off the coefficients and the full motion
is never materialised to find which frames saturate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.motion.compose import silent_lips, smoothed_lips
from core.motion.mouth import LipLimits, LipPlan, apply_plan, lip_measures, lip_plan
from core.motion.words import StyledWord, alpha_curve, apply_word_shapes, word_window

MAX_RANK = 48  # above this the motion is filtered point by point, as the definition does
BLOCK = 256  # frames per materialisation block in the subspace mode
_EXACT = 1e-7  # largest residual (canonical units) for the subspace to count as exact


def motion_basis(delta: np.ndarray, directions: Sequence[np.ndarray],
                 max_rank: int = MAX_RANK) -> np.ndarray | None:
    """Orthonormal rows (r, D) spanning every frame of ``delta`` (T, D) and the
    ``directions`` (D,), or None when that takes more than ``max_rank`` dimensions."""
    m = np.asarray(delta, np.float64)
    dim = m.shape[1]
    extra = np.asarray(directions, np.float64).reshape(len(directions), dim)
    if dim <= max_rank:
        return None  # nothing to gain
    probe = max_rank + 8
    if len(m) > probe:
        # the range of the frames, found from a random sketch of them (exact when the
        # rank is below the sketch size, which the residual test below confirms)
        rng = np.random.default_rng(0)
        q, _ = np.linalg.qr(m.T @ rng.standard_normal((len(m), probe)))
        rows = (m @ q).T @ m  # (probe, D): spans what m spans
        rows = np.concatenate([rows, extra])
    else:
        rows = np.concatenate([m, extra])
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return vt[:0].astype(np.float32)
    rank = int((s > s[0] * 1e-9).sum())
    if rank > max_rank:
        return None
    basis = vt[:rank]
    scale = max(1.0, float(np.abs(m).max(initial=0.0)), float(np.abs(extra).max(initial=0)))
    for x in (m, extra):
        if len(x) and np.abs(x - (x @ basis.T) @ basis).max() > _EXACT * scale:
            return None
    return np.ascontiguousarray(basis, dtype=np.float32)


class Composer:
    def __init__(self, expression: np.ndarray, lip_weight: np.ndarray, rest: np.ndarray | None,
                 delta: np.ndarray, hold: np.ndarray, loudness: np.ndarray | None,
                 directions: dict[str, np.ndarray], movable: np.ndarray | None = None,
                 limits: LipLimits | None = None) -> None:
        lips = np.asarray(lip_weight) > 0
        other = np.zeros_like(lips) if movable is None else np.asarray(movable, bool) & ~lips
        # lip points first: α and word edits only ever rewrite those columns
        self.active = np.concatenate([np.flatnonzero(lips), np.flatnonzero(other)])
        self.n_lips = int(lips.sum())
        a, al = self.active, self.active[: self.n_lips]
        self.expression = expression
        self.count = len(expression)
        base = silent_lips(expression[:, a], lip_weight[a], None if rest is None else rest[a])
        motion = np.asarray(delta, np.float32)[:, al]
        dirs = {k: np.ascontiguousarray(v[al], dtype=np.float32) for k, v in directions.items()}
        flat = motion.reshape(self.count, -1)
        self.basis = motion_basis(flat, [v.ravel() for v in dirs.values()])
        if self.basis is None:  # point by point: motion (T, n, 3), directions (n, 3)
            self.delta = np.ascontiguousarray(motion)
            self.directions = dirs
        else:  # coefficients (T, r, 1) over the basis, directions (r, 1)
            self.delta = (flat @ self.basis.T)[:, :, None]
            self.directions = {k: (self.basis @ v.ravel())[:, None] for k, v in dirs.items()}
        self.limits = None if limits is None else limits.on(al)
        if self.limits is not None and self.basis is not None:
            # the limits' measures are linear: on the coefficients they are (r,) vectors
            lim = self.limits
            zero = np.zeros_like(lim.gap)
            thick = lim.thick if lim.thick is not None else zero
            thick_up = lim.thick_up if lim.thick_up is not None else zero
            # the linear measures, in lip_measures' columns (the anchors' reach, 4, is not)
            self._measures = np.stack([self.basis @ v.ravel() for v in (
                lim.gap, lim.width, lim.closing, thick, zero, thick_up)],
                axis=1).astype(np.float32)
            # the anchors' displacements, (r, K·3) on the coefficients
            self._anchor_rows = None if lim.anchors is None else np.ascontiguousarray(
                self.basis.reshape(len(self.basis), -1, 3)[:, lim.anchors].reshape(
                    len(self.basis), -1))
        #: per frame, the share of the asked lip motion the face could not give (0: none)
        self.saturation = np.zeros(self.count, np.float32)
        # point by point: what the limits read of the shaped motion (α = 1), kept so that an
        # α change only multiplies them (see lip_measures)
        self._shaped_measures: np.ndarray | None = None
        self.hold = np.asarray(hold, np.float32)
        self.loudness = loudness
        self._lips_key: tuple | None = None
        self._words: tuple = ()
        self._ramp = 0.0
        self.lips = self.shaped = self.delta
        self.alpha = np.ones(self.count, np.float32)
        self.emotion: np.ndarray | None = None
        self.emotion_lips: np.ndarray | None = None
        self.base_lips = np.ascontiguousarray(base[:, : self.n_lips])
        self.base_other = np.ascontiguousarray(base[:, self.n_lips:])
        self.edited_lips = self.base_lips.copy()
        self.edited_other = self.base_other.copy()

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
            self.lips = smoothed_lips(self.delta, self.loudness, beta, smoothing, self.hold)
            self._lips_key = key
        if emotion_changed:
            self.emotion = None if emotion is None else np.ascontiguousarray(
                emotion[:, self.active])
            self.emotion_lips = None if emotion is None else np.ascontiguousarray(
                self.emotion[:, : self.n_lips])
            full = True
        new_alpha = alpha_curve(alpha, words, self.count, ramp)
        if full:
            self.shaped = apply_word_shapes(self.lips, words, self.directions, ramp,
                                            self.hold)
            spans = [slice(0, self.count)]
            self._measure_shaped(spans[0])
        else:
            spans = self._changed_spans(self._words, words, ramp)
            if spans and self.shaped is self.lips:
                self.shaped = self.lips.copy()
            for span in spans:
                local = [StyledWord(w.start - span.start, w.end - span.start, w.style)
                         for w in words]
                self.shaped[span] = apply_word_shapes(self.lips[span], local, self.directions,
                                                      ramp, self.hold[span])
                self._measure_shaped(span)
            diff = np.flatnonzero(new_alpha != self.alpha)
            if len(diff):
                spans.append(slice(int(diff[0]), int(diff[-1]) + 1))
        self.alpha, self._words, self._ramp = new_alpha, words, ramp
        if emotion_changed:
            np.copyto(self.edited_other, self.base_other)
            if self.emotion is not None:
                self.edited_other += self.emotion[:, self.n_lips:]
        for span in spans:
            self._write_lips(span)
        return self.edited_lips

    def _measure_shaped(self, span: slice) -> None:
        if self.limits is None or self.basis is not None:
            return
        if self._shaped_measures is None:
            self._shaped_measures = np.zeros((self.count, 6), np.float32)
        self._shaped_measures[span] = lip_measures(self.shaped[span], self.limits)

    def _write_lips(self, span: slice) -> None:
        """edited = base + α · shaped (+ emotion) over ``span``'s frames."""
        if self.basis is not None:
            # whole blocks, so every frame always comes from the same matrix product
            lo, hi = span.start // BLOCK * BLOCK, min(self.count, -(-span.stop // BLOCK) * BLOCK)
            for b in range(lo, hi, BLOCK):
                span = slice(b, min(b + BLOCK, self.count))
                coeffs = self.shaped[span, :, 0] * self.alpha[span, None]
                out = self.edited_lips[span]
                plan = None
                if self.limits is not None:
                    m = coeffs @ self._measures
                    if self._anchor_rows is not None:
                        a = (coeffs @ self._anchor_rows).reshape(len(coeffs), -1, 3)
                        m[:, 4] = np.sqrt(np.einsum("tkc,tkc->tk", a, a).max(axis=1))
                    plan = lip_plan(m, self.limits)
                    self.saturation[span] = plan.saturation
                    if (plan.factor < 1).any():
                        coeffs = coeffs * plan.factor[:, None]
                np.matmul(coeffs, self.basis, out=out.reshape(len(coeffs), -1))
                if plan is not None:  # the factor is in the coefficients already
                    apply_plan(out, LipPlan(np.ones_like(plan.factor), plan.lift, plan.drop,
                                            plan.lower), self.limits)
                out += self.base_lips[span]
                if self.emotion_lips is not None:
                    out += self.emotion_lips[span]
            return
        out = self.edited_lips[span]
        np.multiply(self.shaped[span], self.alpha[span, None, None], out=out)
        if self.limits is not None:
            # α ≥ 0 scales every measure of a frame alike
            plan = lip_plan(self._shaped_measures[span] * self.alpha[span, None], self.limits)
            self.saturation[span] = plan.saturation
            apply_plan(out, plan, self.limits)
        out += self.base_lips[span]
        if self.emotion_lips is not None:
            out += self.emotion_lips[span]

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
        self._write_lips(span)

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
