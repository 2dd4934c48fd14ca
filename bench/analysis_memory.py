"""Peak memory, cache size and cache speed-up of ``studio analyze`` on a 60 s clip.

Makes a 60 s 512² video by looping a shared clip (ping-pong), then runs
``studio analyze VIDEO --audio en_long_leading_silence.wav`` in a fresh process twice:
the first run tracks and aligns, the second reads both caches.
    python bench/analysis_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from _data import ROOT, need_data

from core.media import open_media

CHILD = """
import json, resource, sys, time
sys.argv = ['studio'] + sys.argv[1:]
from studio.cli import main
code = main(sys.argv[1:])
print(json.dumps({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
      file=sys.stderr)
sys.exit(code)
"""


def make_clip(src_path: Path, out_path: Path, seconds: float) -> None:
    src = open_media(src_path)
    frames = [f for _, f in src.frames()]
    loop = frames + frames[::-1]
    n = int(seconds * src.fps)
    with av.open(str(out_path), "w") as out:
        stream = out.add_stream("libx264", rate=round(src.fps))
        stream.width, stream.height = src.width, src.height
        stream.pix_fmt = "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(loop[i % len(loop)], format="rgb24")
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)


def run(args: list[str]) -> tuple[float, dict, float]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, capture_output=True,
                         text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(out.stderr)
    peak = json.loads(out.stderr.strip().splitlines()[-1])["peak_rss_mb"]
    return wall, json.loads(out.stdout), peak


if __name__ == "__main__":
    data = need_data()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = tmp / "sixty.mp4"
        make_clip(data / "video" / "katie_hill.mp4", video, 60.0)
        audio = data / "audio" / "en_long_leading_silence.wav"
        args = ["analyze", str(video), "--audio", str(audio), "--cache", str(tmp / "cache"),
                "--json"]
        wall1, s1, peak1 = run(args)
        wall2, s2, peak2 = run(args)
        minutes = s1["duration_s"] / 60
        print(f"clip: {s1['frames']} frames, {s1['duration_s']} s at {s1['fps']} fps")
        print(f"first run : {wall1:6.2f} s wall ({s1['seconds']:.2f} s in the job), "
              f"peak memory {peak1:.0f} MB, {s1['words_aligned']} words aligned")
        print(f"second run: {wall2:6.2f} s wall ({s2['seconds']:.3f} s in the job), "
              f"peak memory {peak2:.0f} MB, keypoints from cache: {s2['keypoints_from_cache']}")
        print(f"speed-up of the cached run: {s1['seconds'] / s2['seconds']:.0f}x in the job, "
              f"{wall1 / wall2:.1f}x wall (process start and imports included)")
        print(f"keypoint cache: {s1['cache_mb']:.2f} MB = {s1['cache_mb'] / minutes:.2f} MB "
              f"per minute at {s1['fps']} fps "
              f"({s1['cache_mb'] / minutes * 25 / s1['fps']:.2f} MB per minute at 25 fps)")
