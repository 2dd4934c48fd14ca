"""Decode speed of core.media: sequential frames per second and random access per frame.

Frames are full-size RGB with the cache off, so every random read really seeks and decodes
from the keyframe before it (the HEVC clip is a single 250-frame group of pictures).
    python bench/media_decode.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _data import need_data

from core.media import open_video

CLIPS = ("video/katie_hill.mp4", "edge/vertical_hevc_1080x1920.mp4")
RANDOM_READS = 30


def bench(path: Path) -> None:
    t0 = time.perf_counter()
    video = open_video(path, cache_frames=0)
    opened = time.perf_counter() - t0
    with video:
        t0 = time.perf_counter()
        for _ in video.frames():
            pass
        sequential = video.frame_count / (time.perf_counter() - t0)
        picks = np.random.default_rng(0).integers(0, video.frame_count, RANDOM_READS)
        t0 = time.perf_counter()
        for i in picks:
            video.frame(int(i))
        random_ms = (time.perf_counter() - t0) / RANDOM_READS * 1000
        t0 = time.perf_counter()
        for i in range(video.frame_count):
            video.frame(i, max_side=256)
        preview = video.frame_count / (time.perf_counter() - t0)
    print(
        f"{path.name}: {video.width}x{video.height} {video.frame_count} frames, "
        f"open {opened * 1000:.0f} ms, sequential {sequential:.0f} fps, "
        f"sequential 256 px previews {preview:.0f} fps, random access {random_ms:.1f} ms/frame"
    )


def main() -> None:
    data = need_data()
    for clip in CLIPS:
        bench(data / clip)


if __name__ == "__main__":
    main()
