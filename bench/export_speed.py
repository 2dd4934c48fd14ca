"""Export speed as a ratio to the raw encoder's, at 512² and 1080p, measured in one run.

For each size a real dub is set up (katie_hill.mp4, 512x512, and the vertical 1080x1920
clip, each dubbed with audio/en_radio31.wav; their keypoints come from the user cache,
tracked on the first run and not timed). Then, on the same frames and in the same run:

- **studio export**: ``export_mp4`` over ``take.frames()``, the pipeline of ``studio export``
  and the window (decode, render with the mouth fill, RGB -> YUV, x264 + AAC, mux), the
  rendering on its producer thread overlapping the encoder;
- **raw encoder**: the frames rendered beforehand, then only RGB -> YUV and libx264 at the
  same CRF, preset and threads (what any export of those pictures must cost at least).

The ratio is raw time / export time (1.0: the studio adds nothing). Target: ≥ 0.6 at both
sizes at the default settings (CRF 18, the default preset); "medium" and "veryfast" are
printed too. Each figure is the best of ``--repeats`` runs (other work on the machine lowers them).

    python bench/export_speed.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from _data import need_data

from core.dub import DubOptions, open_take
from core.export import ExportSettings, export_mp4
from core.media import load_audio
from core.paths import user_cache_dir
from core.vocabulary import PRESET_DEFAULT

CLIPS = {"512²": ("video/katie_hill.mp4", 200), "1080p": ("edge/vertical_hevc_1080x1920.mp4",
                                                          100)}
PRESETS = tuple(dict.fromkeys((PRESET_DEFAULT, "medium", "veryfast")))


def raw_encode(frames: list[np.ndarray], fps, settings: ExportSettings, out: Path) -> float:
    """Seconds for RGB -> YUV and libx264 alone, on frames already rendered."""
    h, w = frames[0].shape[:2]
    start = time.perf_counter()
    with av.open(str(out), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        s.codec_context.options = {"crf": str(settings.crf), "preset": settings.preset}
        s.thread_type, s.thread_count = "FRAME", 0
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return time.perf_counter() - start


def studio_export(take, n: int, dub, settings: ExportSettings, out: Path) -> float:
    start = time.perf_counter()
    export_mp4(out, itertools.islice(take.frames(), n), fps=take.source.frame_rate,
               frame_count=n, audio=dub.samples, sample_rate=dub.sample_rate,
               settings=settings)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    data = need_data()
    voice = data / "audio" / "en_radio31.wav"
    dub = load_audio(voice, None, mono=False)
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, (name, count) in CLIPS.items():
            take = open_take(data / name, voice, cache_root=user_cache_dir(),
                             options=DubOptions())
            n = min(count, take.frame_count)
            frames = list(itertools.islice(take.frames(), n))
            h, w = frames[0].shape[:2]
            for preset in PRESETS:
                settings = ExportSettings(preset=preset)
                raw = min(raw_encode(frames, take.source.frame_rate, settings,
                                     tmp / "raw.mp4") for _ in range(args.repeats))
                full = min(studio_export(take, n, dub, settings, tmp / "studio.mp4")
                           for _ in range(args.repeats))
                ratio = raw / full
                target = ""
                if preset == PRESET_DEFAULT:
                    target = f"  (target ≥ 0.6: {'met' if ratio >= 0.6 else 'MISSED'})"
                print(f"{label:>5} ({w}x{h}, {n} frames) {preset:>8}: studio export "
                      f"{n / full:5.1f} fps, raw encoder {n / raw:5.1f} fps, ratio {ratio:.2f}"
                      f"{target}  load {os.getloadavg()[0]:.1f}")
            take.close()


if __name__ == "__main__":
    main()
