"""Which source frame each output frame shows when the dub and the source differ in length.

A dub longer than the source video continues the source back and forth (ping-pong), so
the head never jumps; ``hold`` freezes on the last frame instead. A shorter dub either lets
the rest of the source play with silent lips or trims the output to the dub.
"""

from __future__ import annotations

import math

import numpy as np

from core.vocabulary import LONGER, SHORTER  # noqa: F401 - defined there, used here


def output_frame_count(
    source_frames: int, dub_seconds: float, fps: float, shorter: str = "silent",
    is_image: bool = False,
) -> int:
    """Frames of the output: the dub's length, or the source's when that is longer and the
    rest of the source should play (a still image always follows the dub)."""
    if shorter not in SHORTER:
        raise ValueError(f"shorter must be one of {', '.join(SHORTER)}, got {shorter!r}")
    dub = max(1, math.ceil(round(dub_seconds * fps, 6)))
    if is_image or shorter == "trim":
        return dub
    return max(dub, source_frames)


def source_frames(count: int, source_count: int, longer: str = "pingpong") -> np.ndarray:
    """(count,) index of the source frame shown at each output frame."""
    if longer not in LONGER:
        raise ValueError(f"longer must be one of {', '.join(LONGER)}, got {longer!r}")
    j = np.arange(count, dtype=np.int64)
    if source_count <= 1:
        return np.zeros(count, np.int64)
    if longer == "hold":
        return np.minimum(j, source_count - 1)
    period = 2 * (source_count - 1)
    k = j % period
    return np.where(k < source_count, k, period - k)
