"""Dub speed: render ms per frame, export frames per second, and `studio dub` wall time.

- Render: ``DubTake.render`` with the mouth-bank fill of each frame (the fills are chosen
  once per take; their cost is printed apart), on frames decoded beforehand, for a 512²
  clip (katie_hill) and a 1080x1920 clip (edge/vertical_hevc_1080x1920.mp4), each dubbed
  with another speaker's English speech (audio/en_radio31.wav). Median of the frames.
- Export: ``export_mp4`` on ``take.frames()`` for the 512² dub, end to end (decode, render,
  fill, convert, x264 + AAC), preset "medium" (ExportSettings' default) and "veryfast".
- The command: ``studio dub`` on README's sample (resources/samples/portrait.jpg, speech.wav,
  speech.txt) as a subprocess, with a cold cache (STUDIO_CACHE_DIR a fresh folder), then
  warm (the same folder again).
- A minute: ``studio dub``, cold, of a 60 s 512² clip with its own speech (katie_hill's 8 s
  played back and forth, its sound looped, built in a temporary folder) and 60 s of English
  speech without a transcript (audio/en_long_leading_silence.wav), with the default
  settings and with ``--preset medium`` (the default before it became "faster"). Target:
  faster than real time (< 60 s).
The warp's cost follows the face's size in pixels, not the frame's (the 1080x1920 clip is
an upper-body shot with a smaller face than the 512² close-up), so the face size is printed.
Keypoints of the clips come from the user cache (tracked on the first run, not timed).
    python bench/dub_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _data import ROOT, need_data

from core.dub import DubOptions, open_take
from core.export import ExportSettings, export_mp4
from core.media import load_audio
from core.paths import user_cache_dir
from core.vocabulary import PRESET_DEFAULT

RENDER_FRAMES = {"512²": 60, "1080p": 20}
TARGET_EXPORT_FPS = 25.0
TARGET_RENDER_MS = 40.0
SAMPLES = ROOT / "resources" / "samples"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def minute(data: Path, folder: Path) -> None:
    minute_clip(data, folder)
    for label, extra in ((f"default settings ({PRESET_DEFAULT})", []),
                         ("--preset medium", ["--preset", "medium"])):
        seconds = minute_dub(data, folder, extra)
        print(f"studio dub, cold, 60 s 512² clip + 60 s speech, {label}: {seconds:.1f} s "
              f"({60 / seconds:.2f}x real time; target > 1: "
              f"{'met' if seconds < 60 else 'MISSED'}; load {os.getloadavg()[0]:.1f})")


def render_speed(label: str, video: Path, audio: Path, root: Path) -> tuple[float, object]:
    t = time.perf_counter()
    take = open_take(video, audio, cache_root=root, options=DubOptions())
    setup = time.perf_counter() - t
    t = time.perf_counter()
    fills = take.mouth_fills()
    choose = time.perf_counter() - t
    n = min(RENDER_FRAMES[label], take.source.frame_count, take.frame_count)
    frames = [f for _, f in take.source.frames(0, n)]
    h, w = frames[0].shape[:2]
    take.render(0, frames[0], fills[0])  # warm-up: mesh topology, torch kernels
    times = []
    for j in range(n):
        s = time.perf_counter()
        take.render(j, frames[j], fills[j])
        times.append(time.perf_counter() - s)
    ms = 1000 * float(np.median(times))
    banked = 0 if take.bank is None else len(take.bank)
    face = np.ptp(take.keypoints(slice(0, 1))[0][0, :, :2], axis=0)
    print(f"{label} ({w}x{h}, face {face[0]:.0f}x{face[1]:.0f} px, {take.frame_count} output "
          f"frames, bank {banked} mouths, "
          f"{take.renderer.device}): render + fill {ms:6.1f} ms/frame (median of {n}, "
          f"p90 {1000 * np.percentile(times, 90):.1f}); mouth choice {1000 * choose:.0f} ms "
          f"per take; take set-up {setup:.1f} s")
    return ms, take


def export_speed(take, audio: Path, preset: str, folder: Path) -> float:
    dub = load_audio(audio, None, mono=False)
    out = folder / f"dub_{preset}.mp4"
    cpu = cpu_seconds()
    t = time.perf_counter()
    export_mp4(out, take.frames(), fps=take.source.frame_rate, frame_count=take.frame_count,
               audio=dub.samples, sample_rate=dub.sample_rate,
               settings=ExportSettings(preset=preset))
    seconds = time.perf_counter() - t
    used = cpu_seconds() - cpu
    fps = take.frame_count / seconds
    print(f"export 512² dub, {preset:>8}: {fps:6.1f} fps ({take.frame_count} frames in "
          f"{seconds:.1f} s, CPU {used / seconds:.2f}, load {os.getloadavg()[0]:.1f})")
    return fps


def studio_dub(cache: Path, out: Path) -> float:
    env = dict(os.environ, STUDIO_CACHE_DIR=str(cache))
    cmd = [sys.executable, "-m", "studio.cli", "dub", str(SAMPLES / "portrait.jpg"),
           "--audio", str(SAMPLES / "speech.wav"), "--transcript", str(SAMPLES / "speech.txt"),
           "-o", str(out)]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"studio dub failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def minute_clip(data: Path, folder: Path) -> Path:
    """A 60 s 512² talking-head clip with its own speech, from the shared 8 s one."""
    import av

    src = data / "video" / "katie_hill.mp4"
    with av.open(str(src)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    seq: list[np.ndarray] = []
    while len(seq) < 1500:
        seq += frames + frames[::-1]
    sound = np.tile(load_audio(src, 48000).samples, 8)[: 48000 * 60].astype(np.float32)
    out = folder / "minute.mp4"
    with av.open(str(out), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width = v.height = 512
        v.pix_fmt = "yuv420p"
        v.codec_context.options = {"crf": "18", "preset": "veryfast"}
        a = c.add_stream("aac", rate=48000)
        a.layout = "mono"
        pos = 0
        for i, f in enumerate(seq[:1500]):
            c.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
            while pos + 1024 <= round((i + 1) * 48000 / 25):
                af = av.AudioFrame.from_ndarray(sound[None, pos:pos + 1024], format="fltp",
                                                layout="mono")
                af.sample_rate, af.pts = 48000, pos
                c.mux(a.encode(af))
                pos += 1024
        c.mux(v.encode())
        c.mux(a.encode())
    return out


def minute_dub(data: Path, folder: Path, extra: list[str]) -> float:
    """Wall seconds of ``studio dub`` on the minute clip, cold (a fresh cache)."""
    cache = Path(tempfile.mkdtemp(dir=folder))
    env = dict(os.environ, STUDIO_CACHE_DIR=str(cache))
    cmd = [sys.executable, "-m", "studio", "dub", str(folder / "minute.mp4"), "--audio",
           str(data / "audio" / "en_long_leading_silence.wav"), "-o",
           str(folder / "minute_dub.mp4"), "--quiet", *extra]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"studio dub failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minute-only", action="store_true", help="only the 60 s cold dub")
    args = ap.parse_args()
    data = need_data()
    if args.minute_only:
        with tempfile.TemporaryDirectory() as tmp:
            minute(data, Path(tmp))
        return
    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
          f"load average: {os.getloadavg()[0]:.1f}")
    root = user_cache_dir()
    voice = data / "audio" / "en_radio31.wav"
    ms512, take = render_speed("512²", data / "video" / "katie_hill.mp4", voice, root)
    ms1080, big = render_speed("1080p", data / "edge" / "vertical_hevc_1080x1920.mp4", voice,
                               root)
    big.close()
    fps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("medium", "veryfast"):
            fps[preset] = export_speed(take, voice, preset, Path(tmp))
        take.close()
        cache = Path(tmp) / "cache"
        cold = studio_dub(cache, Path(tmp) / "cold.mp4")
        warm = studio_dub(cache, Path(tmp) / "warm.mp4")
        print(f"studio dub (README sample, portrait + 4.1 s speech): cold cache {cold:.1f} s, "
              f"warm {warm:.1f} s")
        minute(data, Path(tmp))
    print(f"targets: export ≥ {TARGET_EXPORT_FPS:g} fps at 512² on 2 cores (medium "
          f"{fps['medium']:.1f}: {'met' if fps['medium'] >= TARGET_EXPORT_FPS else 'MISSED'}; "
          f"veryfast {fps['veryfast']:.1f}: "
          f"{'met' if fps['veryfast'] >= TARGET_EXPORT_FPS else 'MISSED'}); render ≤ "
          f"{TARGET_RENDER_MS:g} ms per 512² frame ({ms512:.1f}: "
          f"{'met' if ms512 <= TARGET_RENDER_MS else 'MISSED'})")
    print(json.dumps({"render_ms_512": round(ms512, 2), "render_ms_1080p": round(ms1080, 2),
                      "export_fps_512_medium": round(fps["medium"], 2),
                      "export_fps_512_veryfast": round(fps["veryfast"], 2),
                      "studio_dub_cold_s": round(cold, 2), "studio_dub_warm_s": round(warm, 2)}))


if __name__ == "__main__":
    main()
