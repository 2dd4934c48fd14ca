"""Alignment speed as a multiple of real time, with a transcript and by recognition.

The transcript for the 60 s recording is its own recognised text (nobody has transcribed it
by ear), so the transcript run measures chunking, chunk assignment and forced alignment on
realistic text. Each run gets a fresh cache folder, so nothing comes from the cache.
    python bench/align_speed.py
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from _data import ROOT, need_data
from scipy.signal import resample_poly

from core.align import Alignment, align

SAMPLE = ROOT / "resources" / "samples" / "speech.wav"
LONG = "audio/en_long_leading_silence.wav"


def load(path: Path) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if rate != 16000:
        g = math.gcd(rate, 16000)
        x = resample_poly(x, 16000 // g, rate // g)
    return x.astype(np.float32)


def timed(x: np.ndarray, transcript: str | None) -> tuple[float, Alignment]:
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        result = align(x, transcript, cache_dir=Path(cache))
        return time.perf_counter() - t0, result


def bench(name: str, x: np.ndarray, transcript: str | None) -> None:
    seconds = len(x) / 16000
    # Recognition first: its words are the transcript for the transcript run.
    wall, rec = timed(x, None)
    print(
        f"{name:<34} {seconds:5.1f} s  recognition  {seconds / wall:5.1f}x real time "
        f"({wall:.2f} s wall, {len(rec.words)} words)"
    )
    text = transcript if transcript is not None else " ".join(w.text for w in rec.words)
    wall, res = timed(x, text)
    print(
        f"{name:<34} {seconds:5.1f} s  transcript   {seconds / wall:5.1f}x real time "
        f"({wall:.2f} s wall, {len(res.words)} words)"
    )


def main() -> None:
    data = need_data()
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}")
    # Warm-up: load the dictionary and the recogniser once, as a running studio would have.
    timed(load(SAMPLE), None)
    timed(load(SAMPLE), SAMPLE.with_suffix(".txt").read_text())
    bench("resources/samples/speech.wav", load(SAMPLE), SAMPLE.with_suffix(".txt").read_text())
    bench(LONG, load(data / LONG), None)


if __name__ == "__main__":
    main()
