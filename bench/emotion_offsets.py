"""Emotion offsets of a 10-minute clip (15,000 frames at 25 fps, five clips on four regions).

The floor is writing the (T, N, 3) float32 result (86 MB); the figure that matters is the
ratio to that floor, measured in the same run (shared CPUs make absolute times noisy).
Moved here from tests/test_emotion.py, where it was a timed assertion.

    python bench/emotion_offsets.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _data import ROOT  # noqa: F401 - puts the repository on sys.path

from core.keypoints.regions import load_regions
from core.motion.emotion import EMOTIONS, EmotionClip, emotion_offsets


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    regions = load_regions("mediapipe")
    times = np.arange(15000) / 25.0
    rng = np.random.default_rng(0)
    d = {n: rng.normal(size=(regions.n_points, 3)).astype(np.float32) for n in EMOTIONS}
    clips = [
        EmotionClip("mouth", 10, 300, "happy", 1.0, 0.5, 0.5),
        EmotionClip("mouth", 290, 500, "sad", 0.8),
        EmotionClip("brows", 0, 600, "surprised", 1.2),
        EmotionClip("eyes", 100, 200, "angry"),
        EmotionClip("cheeks", 5, 590, "happy", 1.5),
    ]
    took = best(lambda: emotion_offsets(clips, d, regions, times), args.repeats)
    write = best(lambda: np.ones((15000, regions.n_points, 3), np.float32), args.repeats)
    print(f"emotion offsets, 10 min at 25 fps: {took * 1e3:.1f} ms; writing the result "
          f"alone: {write * 1e3:.1f} ms; ratio {took / write:.2f} (was asserted < 2.5)")


if __name__ == "__main__":
    main()
