"""Tracking throughput (frames per second) at 512² and at 1080p on this machine.

Reports the tracker alone (frames decoded beforehand) and decode + track together.
    python bench/tracking_speed.py
"""

from __future__ import annotations

import os
import time

from _data import need_data

from core.media import open_media
from core.tracking.registry import get_tracker


def measure(path, label: str, max_frames: int = 150) -> None:
    src = open_media(path)
    stop = min(src.frame_count, max_frames)
    frames = [f for _, f in src.frames(0, stop)]
    session = get_tracker().open_session(static=False, max_faces=4)
    session.detect(frames[0])  # warm-up: model load
    t = time.perf_counter()
    found = sum(bool(session.detect(f)) for f in frames)
    track_fps = len(frames) / (time.perf_counter() - t)
    session.close()
    session = get_tracker().open_session(static=False, max_faces=4)
    session.detect(frames[0])
    t = time.perf_counter()
    for _, f in src.frames(0, stop):
        session.detect(f)
    both_fps = stop / (time.perf_counter() - t)
    session.close()
    h, w = frames[0].shape[:2]
    print(f"{label:>6} ({w}x{h}, {len(frames)} frames): tracking {track_fps:6.1f} fps, "
          f"decode+track {both_fps:6.1f} fps, face in {found}/{len(frames)}")


if __name__ == "__main__":
    data = need_data()
    print(f"cores: {os.cpu_count()}")
    measure(data / "video" / "katie_hill.mp4", "512²")
    measure(data / "edge" / "vertical_hevc_1080x1920.mp4", "1080p")
