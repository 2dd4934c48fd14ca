"""x264's presets on talking-face footage: file size, quality and encoding time at one CRF.

Why the export's default preset is what it is. Each shared clip (and the 1080x1920 edge
case) is encoded at CRF 18 (the default) with the presets around the default; the PSNR of
the decoded frames against the source frames, the file size and the encoding wall time
are printed. On the machine the default was chosen on, "faster" gave the same size as
"medium" within 2 % and a PSNR 0.2-0.3 dB lower (at 38-43 dB, where CRF 18 is visually
lossless), in about two thirds of the time; "veryfast" lost 0.5-0.8 dB.

    python bench/encoder_presets.py [--frames 150]
"""

from __future__ import annotations

import argparse
import io
import time
from fractions import Fraction

import av
import numpy as np
from _data import need_data

from core.vocabulary import CRF, PRESET_DEFAULT

PRESETS = ("medium", "fast", "faster", "veryfast")
CLIPS = ("video/katie_hill.mp4", "video/woman_glasses.mp4", "video/young_man_outdoors.mp4",
         "edge/vertical_hevc_1080x1920.mp4")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def encode(frames: list[np.ndarray], preset: str) -> tuple[bytes, float]:
    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    started = time.perf_counter()
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.options = {"crf": str(CRF.default), "preset": preset}
        s.thread_type, s.thread_count = "FRAME", 0
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, 25)
            out.mux(s.encode(vf))
        out.mux(s.encode())
    return buf.getvalue(), time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    data = need_data()
    print(f"CRF {CRF.default}; the export's default preset: {PRESET_DEFAULT}")
    for clip in CLIPS:
        with av.open(str(data / clip)) as c:
            src = [f.to_ndarray(format="rgb24") for _, f in zip(range(args.frames),
                                                                  c.decode(video=0),
                                                                  strict=False)]
        base = None
        for preset in PRESETS:
            data_, seconds = encode(src, preset)
            with av.open(io.BytesIO(data_)) as c:
                q = float(np.mean([psnr(f.to_ndarray(format="rgb24"), s)
                                   for f, s in zip(c.decode(video=0), src, strict=True)]))
            base = base or (len(data_), q, seconds)
            size = len(data_)
            print(f"{clip:36s} {preset:>8}: {size / 1e3:7.0f} kB ({size / base[0]:.2f}x),"
                  f" PSNR {q:5.2f} dB ({q - base[1]:+.2f}), {seconds:5.2f} s "
                  f"({seconds / base[2]:.2f}x)")


if __name__ == "__main__":
    main()
