"""Where the speech is: an energy detector on 10 ms frames, and chunks cut inside pauses.

Long recordings are decoded in chunks (faster, and parallel), so every cut has to fall in a
pause; otherwise a word would be split between two decodes. The detector adapts to the
recording's own noise floor and loudness, which is enough for the studio's material
(dialogue, narration, interviews).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
HOP = 160  # samples per 10 ms frame, the decoder's frame rate
FRAME_RATE = SAMPLE_RATE // HOP

_SILENT_PEAK_DB = -55.0  # loudest 1% of frames below this: nothing audible
_MIN_SPEECH_S = 0.1  # less speech than this in the whole file counts as none
_FILL_GAP_S = 0.12  # pauses shorter than this are inside words (stops, closures)
_MIN_BURST_S = 0.05  # clicks shorter than this are not speech


@dataclass(frozen=True)
class Chunk:
    """Samples ``[start, end)`` of the input; both are multiples of ``HOP``."""

    start: int
    end: int


def frame_levels(samples: np.ndarray) -> np.ndarray:
    """RMS level of each 10 ms frame in dBFS (-100 for digital silence)."""
    n = len(samples) // HOP
    if n == 0:
        return np.full(1, -100.0)
    frames = samples[: n * HOP].astype(np.float64).reshape(n, HOP)
    power = np.mean(frames * frames, axis=1)
    return 10.0 * np.log10(np.maximum(power, 1e-10))


def _runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values as (start, end, value)."""
    if len(mask) == 0:
        return []
    change = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [len(mask)]])
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def speech_mask(levels: np.ndarray) -> np.ndarray:
    """Per-frame speech flags from levels: above an adaptive threshold, lightly smoothed."""
    peak = float(np.percentile(levels, 99))
    if peak < _SILENT_PEAK_DB:
        return np.zeros(len(levels), dtype=bool)
    floor = float(np.percentile(levels, 10))
    threshold = max(floor + 12.0, peak - 40.0, -60.0)
    mask = levels > threshold
    fill = int(_FILL_GAP_S * FRAME_RATE)
    burst = int(_MIN_BURST_S * FRAME_RATE)
    runs = _runs(mask)
    for i, (a, b, value) in enumerate(runs):
        if not value and b - a <= fill and 0 < i < len(runs) - 1:
            mask[a:b] = True
    for a, b, value in _runs(mask):
        if value and b - a < burst:
            mask[a:b] = False
    return mask


def has_speech(mask: np.ndarray) -> bool:
    """Whether there is enough speech to align at all."""
    return int(mask.sum()) >= _MIN_SPEECH_S * FRAME_RATE


def plan_chunks(
    mask: np.ndarray,
    levels: np.ndarray,
    n_samples: int,
    *,
    max_len: float = 20.0,
    min_len: float = 6.0,
    min_gap: float = 0.2,
) -> list[Chunk]:
    """Cut the audio into chunks of at most about ``max_len`` s, inside pauses.

    Each cut goes in the middle of the longest pause (at least ``min_gap``) between
    ``min_len`` and ``max_len`` after the previous cut, else in the longest shorter pause,
    else (speech or noise with no pause at all) at the quietest frame, which keeps every
    chunk short enough to decode. Audio that fits in one chunk is not cut.
    """
    total_frames = -(-n_samples // HOP)
    max_f, min_f = int(max_len * FRAME_RATE), int(min_len * FRAME_RATE)
    if total_frames <= max_f * 1.25:
        return [Chunk(0, n_samples)]
    runs = _runs(mask)
    # Candidate cuts: the middle of every internal pause, scored by the pause's length.
    pauses = [
        ((a + b) // 2, b - a)
        for i, (a, b, value) in enumerate(runs)
        if not value and 0 < i < len(runs) - 1
    ]
    gap_f = int(min_gap * FRAME_RATE)
    chunks: list[Chunk] = []
    start = 0
    while total_frames - start > max_f * 1.25:
        lo, hi = start + min_f, start + max_f
        window = [(c, g) for c, g in pauses if lo < c <= hi]
        long_pauses = [cg for cg in window if cg[1] >= gap_f]
        if long_pauses or window:
            cut = max(long_pauses or window, key=lambda cg: (cg[1], cg[0]))[0]
        else:
            cut = lo + 1 + int(np.argmin(levels[lo + 1 : hi + 1]))
        chunks.append(Chunk(start * HOP, cut * HOP))
        start = cut
    chunks.append(Chunk(start * HOP, n_samples))
    return chunks
