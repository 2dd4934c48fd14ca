"""Viseme targets to a smooth lip trajectory ΔE_t, the way lips really move.

Each phone pulls the mouth towards its viseme's shape with a dominance that peaks a little
before the sound (lips anticipate speech by 60-120 ms) and fades over its neighbours, so
targets overlap (Cohen-Massaro coarticulation). Bilabials (p/b/m) are then forced to full
closure at their centre, and silences pull back to the closed neutral (a zero target).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.motion.visemes import CLOSURES, DOMINANCE

Segment = tuple[str, float, float]  # (viseme class, start s, end s)

# Lips move before the sound they make: each target peaks this long before its phone's
# acoustic centre, and its dominance reaches the previous phone, so the transition starts
# about 60-120 ms before the phone (the learned library samples shapes at the same lead).
ANTICIPATION = 0.06


def frame_times(frame_count: int, fps: float) -> np.ndarray:
    """Times of the frames on the source's timeline, in seconds."""
    return np.arange(frame_count) / float(fps)


def dominance_weights(
    segments: Sequence[Segment], times: np.ndarray, anticipation: float = ANTICIPATION
) -> np.ndarray:
    """(T, P) normalised weight of each phone segment at each frame time."""
    if not segments:
        return np.zeros((len(times), 0))
    cls = [s[0] for s in segments]
    start = np.array([s[1] for s in segments])
    end = np.array([s[2] for s in segments])
    centre = (start + end) / 2 - anticipation
    half = np.maximum((end - start) / 2, 0.02)
    spread = half + 0.05  # reach into the neighbours
    strength = np.array([DOMINANCE.get(c, 1.0) for c in cls])
    d = strength * np.exp(-((times[:, None] - centre) / spread) ** 2)
    total = d.sum(axis=1, keepdims=True)
    return d / np.maximum(total, 1e-12)


def trajectory(
    segments: Sequence[Segment],
    targets: dict[str, np.ndarray],
    frame_count: int,
    fps: float,
    anticipation: float = ANTICIPATION,
) -> tuple[np.ndarray, np.ndarray]:
    """ΔE_t (T, N, 3), the coarticulated blend of viseme targets, and hold (T,).

    ``hold`` is how much each frame is a forced closure (1 at a bilabial's centre frame):
    later stages (smoothing) must not soften those frames.
    """
    times = frame_times(frame_count, fps)
    shape = next(iter(targets.values())).shape
    hold = np.zeros(frame_count, np.float32)
    if not segments:
        return np.zeros((frame_count, *shape), np.float32), hold
    stack = np.stack([targets.get(c, targets["sil"]) for c, _, _ in segments])
    w = dominance_weights(segments, times, anticipation)
    delta = np.einsum("tp,pnk->tnk", w, stack)
    # silence beyond the last phone and before the first relaxes to the neutral
    first = segments[0][1] - anticipation - 0.15
    last = segments[-1][2] - anticipation + 0.15
    fade = np.clip(np.minimum(times - first, last - times) / 0.15, 0.0, 1.0)
    delta *= fade[:, None, None]
    delta = delta.astype(np.float32)
    for c, a, b in segments:
        if c in CLOSURES:
            k = _closure(times, (a + b) / 2 - anticipation, (b - a) / 2, fps)
            near = np.flatnonzero(k)
            delta[near] = delta[near] * (1 - k[near, None, None]) + targets[c] * k[near, None, None]
            hold = np.maximum(hold, k)
    return delta, hold


def _closure(times: np.ndarray, centre: float, half: float, fps: float) -> np.ndarray:
    """(T,) blend towards a closure: 1 at the frame nearest ``centre``, less around it."""
    reach = max(half, 0.5 / fps) + 1.0 / fps
    k = np.clip(1.0 - np.abs(times - centre) / reach, 0.0, 1.0).astype(np.float32)
    nearest = int(np.argmin(np.abs(times - centre)))
    if abs(times[nearest] - centre) <= 1.0 / fps:
        k[nearest] = 1.0
    return k
