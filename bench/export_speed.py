"""MP4 export throughput (frames per second) at 512² and 1080p, x264 veryfast and medium.

Frames are rendered beforehand (decoded from the shared talking-head clip and scaled, or
synthetic moving gradients with noise when the clip is absent), so the figure is the export
alone: RGB -> YUV conversion, x264 at CRF 18, AAC and muxing. Each figure is the best of
``REPEATS`` runs; the process's CPU use (2.0 = both cores busy) and the load average are
printed too, since other work on the machine lowers the figures.
    python bench/export_speed.py
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from _data import DATA

from core.export import ExportSettings, export_mp4

CLIP = DATA / "video" / "katie_hill.mp4"
SIZES = {"512²": (512, 512), "1080p": (1920, 1080)}
PRESETS = ("veryfast", "medium")
FRAMES = {"512²": 250, "1080p": 100}
SAMPLE_RATE = 16000
FPS = 25
REPEATS = 2


def clip_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """Real footage scaled to the size; played forward then backward to reach ``count``."""
    out: list[np.ndarray] = []
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(out) >= count:
                break
    while len(out) < count:
        out.extend(out[::-1][: count - len(out)])
    return out


def synthetic_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """Moving gradients plus film-grain noise: not a flat image x264 would skip."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        r = (x + 3 * i) * 255 // width
        g = (y + 2 * i) * 255 // height
        b = (x + y + 5 * i) * 255 // (width + height)
        img = np.stack([r, g, b], -1) % 256 + rng.integers(-6, 7, (height, width, 1))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def export_once(frames: list[np.ndarray], preset: str, out: Path) -> tuple[float, float]:
    """Seconds taken and CPU seconds used by one export of ``frames``."""
    n = len(frames)
    t = np.arange(round(n / FPS * SAMPLE_RATE)) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    export_mp4(
        out,
        iter(frames),
        fps=FPS,
        frame_count=n,
        audio=audio,
        sample_rate=SAMPLE_RATE,
        settings=ExportSettings(crf=18, preset=preset),
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return seconds, used


def measure(label: str, frames: list[np.ndarray], preset: str, folder: Path) -> None:
    n = len(frames)
    out = folder / f"{label}_{preset}.mp4"
    seconds, used = min(export_once(frames, preset, out) for _ in range(REPEATS))
    h, w = frames[0].shape[:2]
    kbit = out.stat().st_size * 8 / (n / FPS) / 1000
    print(
        f"{label:>6} ({w}x{h}, {n} frames) {preset:>8}: {n / seconds:6.1f} fps, "
        f"CPU {used / seconds:4.2f}, {kbit:6.0f} kbit/s, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    real = CLIP.is_file()
    print(f"cores: {os.cpu_count()}; content: {CLIP if real else 'synthetic (clip absent)'}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (w, h) in SIZES.items():
            make = clip_frames if real else synthetic_frames
            frames = make(w, h, FRAMES[label])
            for preset in PRESETS:
                measure(label, frames, preset, Path(tmp))
