"""The learned lip model's size and CPU inference speed (target: ≥ 200× real time).

Times the driver on 60 s of the shared English speech (repeated to length), features and
network and gate included, on one and on two threads, best of five runs. Then the speaker's
adaptation at take open, every member fitted on 30 s of a speaker's footage (woman_glasses'
tracked lips and sound, repeated to length; the studio fits on at most 30 s of speech), on
a quiet machine and with one busy process per core (target: the take opens in ≤ 6 s).
    python bench/lip_model_speed.py
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from _data import need_data, tracked

from core.keypoints.regions import load_regions
from core.media import load_audio
from core.motion.lipsync import LearnedDriver, LipModel, shipped_model_path


def adaptation(model: LipModel, regions, data, seconds: float = 30.0) -> None:
    """The speaker's fit on ``seconds`` of footage, quiet and with the cores busy."""
    from preview_latency import Hog

    path = data / "video" / "woman_glasses.mp4"
    cache = tracked(path)
    fps = float(cache.fps)
    n = int(seconds * fps)
    reps = -(-n // cache.frame_count)
    expression = np.concatenate([cache.expression()] * reps)[:n]
    validity = np.concatenate([np.asarray(cache.validity)] * reps)[:n]
    speech = load_audio(path, 16000).samples
    samples = np.resize(speech, int(n / fps * 16000)).astype(np.float32)

    def fit() -> float:
        t = time.perf_counter()
        LearnedDriver(model).adapt(samples, expression, validity, fps, cache.canonical,
                                   regions)
        return time.perf_counter() - t

    fit()  # warm
    quiet = min(fit() for _ in range(3))
    with Hog():
        busy = min(fit() for _ in range(3))
    print(f"adapting to {seconds:.0f} s of a speaker's footage ({len(model.nets)} member(s)):"
          f" {quiet:.2f} s quiet, {busy:.2f} s with every core busy (load "
          f"{os.getloadavg()[0]:.1f})")


def main() -> None:
    data = need_data()
    regions = load_regions("mediapipe")
    path = shipped_model_path()
    model = LipModel.load(path, regions)
    params = sum(p.numel() for net in model.nets for p in net.parameters())
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print(f"model: {path.name}, {len(model.nets)} member(s), {params} parameters, "
          f"{path.stat().st_size / 1e6:.2f} MB "
          f"(targets ≤ 5 M parameters, ≤ 20 MB); trained in "
          f"{model.meta.get('train_minutes')} min on this machine's 2 cores")
    speech = load_audio(data / "audio" / "en_radio31.wav", 16000).samples
    seconds = 60.0
    samples = np.resize(speech, int(seconds * 16000)).astype(np.float32)
    canonical = np.zeros((regions.n_points, 3), np.float32)
    canonical[:, 1] = np.linspace(-1, 1, regions.n_points)  # any face: a lower half moves
    lm = regions.landmarks
    canonical[lm["mouth_left"], 0], canonical[lm["mouth_right"], 0] = 0.3, -0.3
    driver = LearnedDriver(model)
    frames = int(seconds * 25)
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        best = np.inf
        for _ in range(5):
            t = time.perf_counter()
            driver.motion(samples, frames, 25.0, canonical, regions)
            best = min(best, time.perf_counter() - t)
        print(f"{threads} thread(s): {best * 1000:.0f} ms for {seconds:.0f} s of audio = "
              f"{best / seconds * 1000:.2f} ms per second of audio, {seconds / best:.0f}× "
              f"real time (target ≥ 200×)")
    torch.set_num_threads(before)
    adaptation(model, regions, data)


if __name__ == "__main__":
    main()
