"""The edit composition, one pure vectorised function over all frames.

    E'_t = S(E_t) + L(α_t · W_t(smooth(g(loud_t)^β · ΔE_t))) + emotion_t

S (silent lips) replaces the lower face of the source expression by the speaker's
closed-mouth neutral, which is zero in canonical space because K_c's mouth comes from the
clip's closed-mouth frames. So α = 0 closes the mouth whatever the audio says, α = 1 is
nominal and α up to 2 exaggerates. L keeps the lip term inside what the face can give:
α 2 with a word opened ×3 and loudness β 2 can ask for a gap of seven mouth widths, so the
opening bends smoothly to a limit (untouched below the knee, where all ordinary speech
stays) and the jaw drops with a wide opening so the lower lip never runs over the chin.
Only the driver's lip motion is smoothed: the source's own motion (blinks, brows) is kept
as tracked, and word styles (W_t, per-word α) and emotion clips bring their own ramps and
fades, so an edit of one word changes only the frames of that word and its ramps. Frames
the driver marks as forced closures (``hold``) keep their unsmoothed lips, so p/b/m stay
shut. Moving a slider re-runs only this
function; callers may pass any subset of the keypoints (the function is per point).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from core.motion.mouth import LipLimits, hold_lips
from core.motion.words import StyledWord, alpha_curve, apply_word_shapes


def silent_lips(
    expression: np.ndarray, lip_weight: np.ndarray, rest: np.ndarray | None = None
) -> np.ndarray:
    """S(E): the expression with the lower face faded to the closed neutral ``rest``.

    ``rest`` is zero for a clip (K_c's mouth is closed already); for a portrait caught
    with parted lips it is the expression that closes them.
    """
    w = np.asarray(lip_weight, np.float32)[:, None]
    out = np.asarray(expression, np.float32) * (1.0 - w)
    if rest is not None:
        out += np.asarray(rest, np.float32) * w
    return out


def loudness_gain(envelope: np.ndarray, beta: float) -> np.ndarray:
    """g(loud_t)^β: loudness over the clip's median, 1 everywhere when β = 0."""
    env = np.asarray(envelope, dtype=np.float64)
    if beta == 0 or env.size == 0:
        return np.ones_like(env)
    voiced = env[env > env.max() * 0.05] if env.max() > 0 else env
    median = np.median(voiced) if voiced.size else 1.0
    return np.clip(env / max(median, 1e-9), 0.0, 4.0) ** beta


def smooth(deformation: np.ndarray, strength: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time; strength is sigma in frames (0 = off).

    Filtered in a time-contiguous copy: the filter runs along memory, about twice as fast
    on long takes as filtering across frames in place.
    """
    if strength <= 0 or len(deformation) < 2:
        return deformation
    flat = np.asarray(deformation).reshape(len(deformation), -1)
    along = gaussian_filter1d(np.ascontiguousarray(flat.T), sigma=strength, axis=1,
                              mode="nearest")
    return np.ascontiguousarray(along.T).reshape(deformation.shape)


def smoothed_lips(delta: np.ndarray, loudness: np.ndarray | None, beta: float,
                  smoothing: float, hold: np.ndarray | None = None) -> np.ndarray:
    """ΔE scaled by loudness and smoothed along time, with forced closures (``hold``)
    kept as sharp as the driver made them."""
    raw = np.asarray(delta, dtype=np.float32)
    if loudness is not None and beta != 0:
        raw = loudness_gain(loudness, beta).astype(np.float32)[:, None, None] * raw
    lips = smooth(raw, smoothing)
    if hold is not None and smoothing > 0:
        h = np.asarray(hold, np.float32)
        idx = np.flatnonzero(h > 0)
        if len(idx):
            lips = np.array(lips, copy=lips is raw)
            k = h[idx, None, None]
            lips[idx] = k * raw[idx] + (1 - k) * lips[idx]
    return lips


def compose(
    expression: np.ndarray,
    delta: np.ndarray,
    lip_weight: np.ndarray,
    *,
    alpha: float | np.ndarray = 1.0,
    loudness: np.ndarray | None = None,
    beta: float = 0.0,
    smoothing: float = 0.5,
    hold: np.ndarray | None = None,
    emotion: np.ndarray | None = None,
    rest: np.ndarray | None = None,
    words: Sequence[StyledWord] = (),
    directions: dict[str, np.ndarray] | None = None,
    ramp: float = 1.0,
    limits: LipLimits | None = None,
) -> np.ndarray:
    """E'_t for every frame: (T, N, 3) float32.

    ``alpha`` is a scalar or a per-frame array, ``loudness`` the dub's RMS envelope per
    frame, ``lip_weight`` (N,) how much each point belongs to the lips and jaw, ``emotion``
    an optional (T, N, 3) offset from emotion clips, ``rest`` (N, 3) the closed neutral.
    ``words`` carry per-word styles (spans in frames) along ``directions`` (open, wide,
    round unit vectors over the same points), eased in over ``ramp`` frames. ``limits``
    (over the same points) hold the lip term α_t·W_t(…) inside what the face gives: the
    opening saturates smoothly and the jaw follows a wide one (see :func:`limit_lips`).
    """
    t_count = len(expression)
    lips = smoothed_lips(delta, loudness, beta, smoothing, hold)
    if words and directions is not None:
        lips = apply_word_shapes(lips, words, directions, ramp, hold)
    a = alpha_curve(float(alpha), words, t_count, ramp) if np.ndim(alpha) == 0 else (
        np.asarray(alpha, np.float32))
    out = silent_lips(expression, lip_weight, rest)
    term = a[:, None, None] * lips
    if limits is not None:
        hold_lips(term, limits)
    out += term
    if emotion is not None:
        out += np.asarray(emotion, np.float32)
    return out
