"""Does the learned lip driver follow speech it has no phones for? English against German,
French and Mandarin (../shared/data/audio), on one shared face.

The driver hears sound only (no transcript, no alignment: what a dub in another language
gets). For each recording, on the face of ``--clip`` (its first 60 % adapts the driver to
the speaker, as the studio does for a video with speech; ``--portrait`` skips that), per
video frame at its fps:
  speech   share of frames the silence gate calls speech
  open sp  mean inner-lip opening in speech, % of the mouth width
  open si  the same in silence (the gate closes the mouth: should be ~0)
  env r    best correlation (lag within ±3 frames) of the opening with the sound's
           loudness: whether the mouth opens on the syllables
  peaks/s  opening peaks per second (the mouth's syllable rate), beside the loudness'
           own peaks per second
English is the reference: a language the driver follows as well as English sits beside it.
    python bench/lip_languages.py [--clip woman_glasses] [--portrait]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _data import need_data, tracked
from scipy.signal import find_peaks

from core.keypoints.decompose import mouth_opening
from core.keypoints.regions import load_regions
from core.media import load_audio
from core.media.audio import rms_envelope
from core.motion.lipsync import (
    LearnedDriver,
    frame_positions,
    pearson,
    sound_features,
    speech_gate,
)
from core.motion.mouth import mouth_width

REG = load_regions("mediapipe")
RECORDINGS = ("en_radio31", "en_radio36", "en_short1", "de_speech", "fr_speech", "zh_speech",
              "singing")
MAX_LAG = 3


def follows(opening: np.ndarray, envelope: np.ndarray) -> float:
    """The best correlation of the opening with the loudness within ±MAX_LAG frames."""
    n = len(opening)
    return float(np.nanmax([pearson(opening[max(0, k):min(n, n + k)],
                                    envelope[max(0, -k):min(n, n - k)])
                            for k in range(-MAX_LAG, MAX_LAG + 1)]))


def peak_rate(x: np.ndarray, fps: float) -> float:
    """Peaks per second standing out by a tenth of the signal's range (≥ 3 frames apart)."""
    peaks, _ = find_peaks(x, prominence=0.1 * max(np.ptp(x), 1e-9), distance=3)
    return len(peaks) / (len(x) / fps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="woman_glasses", help="the shared video whose face speaks")
    ap.add_argument("--portrait", action="store_true", help="no speaker adaptation")
    args = ap.parse_args()
    data = need_data()
    path = data / "video" / f"{args.clip}.mp4"
    cache = tracked(path)
    fps, canonical = float(cache.fps), cache.canonical
    driver = LearnedDriver.load(None, REG)
    if not args.portrait:
        own = load_audio(path, driver.model.mel.sample_rate)
        split = int(round(0.6 * cache.frame_count))
        used = driver.adapt(own.samples[:int(split / fps * own.sample_rate)],
                            cache.expression(slice(0, split)),
                            np.asarray(cache.validity)[:split], fps, canonical, REG)
        print(f"adapted to {args.clip}'s own footage: {used} frames of speech")
    mw = mouth_width(canonical, REG)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; face: {args.clip}"
          f" ({'portrait, no adaptation' if args.portrait else 'video, adapted'}), {fps:g} fps")
    print(f"{'recording':<12} {'seconds':>7} {'speech':>6} {'open sp':>7} {'open si':>7} "
          f"{'env r':>6} {'peaks/s':>7} {'loud/s':>6}")
    for name in RECORDINGS:
        audio = load_audio(data / "audio" / f"{name}.wav", driver.model.mel.sample_rate)
        n = int(audio.duration * fps)
        feats = sound_features(audio.samples, driver.model.mel)
        gate = speech_gate(feats, frame_positions(n, fps, driver.model.mel)) > 0.5
        lips = driver.motion_of(feats, n, fps, canonical, REG)
        gap = mouth_opening(canonical[None] + lips.delta, REG) - mouth_opening(canonical, REG)
        gap = gap / mw * 100
        env = rms_envelope(audio, fps, window_s=2.0 / fps, n_frames=n)
        si = float(gap[~gate].mean()) if (~gate).any() else float("nan")
        print(f"{name:<12} {audio.duration:7.1f} {gate.mean():6.0%} {gap[gate].mean():7.1f} "
              f"{si:7.1f} {follows(gap, env):6.2f} {peak_rate(gap, fps):7.2f} "
              f"{peak_rate(env, fps):6.2f}")


if __name__ == "__main__":
    main()
