"""Frames where the face was lost: short gaps are filled, long ones are reported."""

from __future__ import annotations

import numpy as np

MAX_FILLED_GAP = 5

NO_FACE, TRACKED, INTERPOLATED = 0, 1, 2


def find_gaps(found: np.ndarray) -> list[tuple[int, int]]:
    """Runs of frames without a face, as [start, stop) index pairs."""
    missing = np.concatenate([[False], ~found.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(missing.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def fill_gaps(
    points: np.ndarray, found: np.ndarray, max_gap: int = MAX_FILLED_GAP
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Interpolate gaps of up to ``max_gap`` frames that have a face on both sides.

    Returns the points, a validity code per frame (NO_FACE, TRACKED, INTERPOLATED) and the
    gaps left unfilled.
    """
    points = points.copy()
    validity = np.where(found, TRACKED, NO_FACE).astype(np.uint8)
    left = []
    for a, b in find_gaps(found):
        inside = a > 0 and b < len(found)
        if inside and b - a <= max_gap:
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
            points[a:b] = (1 - w)[:, None, None] * points[a - 1] + w[:, None, None] * points[b]
            validity[a:b] = INTERPOLATED
        else:
            left.append((a, b))
    return points, validity, left
