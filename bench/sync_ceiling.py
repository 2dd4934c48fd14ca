"""How far can the self re-dub's lip-sync figures go on these clips, whatever the driver?

bench/dub_quality.py measures the viseme dub against issue 3's targets (opening correlation
≥ 0.7, A/V offset 0 ± 1 frame). This script measures what bounds those figures here, on the
same clips, split and tracked truth:

  class oracle  the best inner-lip opening any phone-class driver can give with the phones
                recognised in the held-out audio: one opening value per viseme class, fitted
                by least squares on the held-out truth itself (in-sample, so an upper bound),
                blended through the shipped coarticulation (dominance, anticipation, closures)
  class fit     the same per-class values fitted on the first 60 % and tested on the last 40 %
  audio ridge   no phones: a ridge regression from the log-mel spectrum (20 bands, ±2 frames)
                to the opening in the speaker's standard units, fitted on the other four
                speakers and this clip's first 60 % (leave one speaker out), tested on its
                last 40 %
  both          the viseme dub's opening plus the audio ridge's, in standard units
  truth ~ audio the tracked opening's cross-correlation with the audio RMS envelope over the
                whole clip, lags ±8 frames: its peak value and lag. The A/V offset figure is
                measured against this lag (the source's own lag), so when the peak is weak
                the reference itself is noise.

    python bench/sync_ceiling.py
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from _data import need_data
from dub_quality import CLIPS, MAX_LAG, REG, Clip, pearson, prepare, viseme_edit

from core.keypoints.decompose import mouth_opening
from core.media import load_audio
from core.media.audio import Audio, rms_envelope
from core.motion.audio2exp_model import MelConfig, log_mel, mel_power
from core.motion.coarticulation import trajectory
from core.motion.driver import segments_of
from core.motion.visemes import VISEME_CLASSES
from core.paths import user_cache_dir

MEL = MelConfig()
BANDS, CONTEXT, RIDGE = 20, 2, 1000.0


def opening(c: Clip, frames: slice) -> np.ndarray:
    e = c.cache.expression(frames)
    return mouth_opening(c.cache.canonical[None] + e, REG)


def class_design(segments, frame_count: int, fps: float) -> np.ndarray:
    """(T, classes + 1): each class's share of every frame through the driver's own
    coarticulation (one-hot targets), and a constant."""
    eye = np.eye(len(VISEME_CLASSES), dtype=np.float32)
    targets = {c: eye[i][:, None] for i, c in enumerate(VISEME_CLASSES)}
    share, _ = trajectory(segments, targets, frame_count, fps)
    return np.concatenate([share[..., 0], np.ones((frame_count, 1))], axis=1)


def least_squares(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)


def mel_features(c: Clip, speech: Audio) -> np.ndarray:
    """(T, BANDS · (2·CONTEXT + 1)) log-mel around every frame of the whole clip."""
    power = torch.from_numpy(mel_power(speech.samples, MEL))
    spec = log_mel(power, MEL).numpy().reshape(len(power), BANDS, -1).mean(axis=2)
    count = c.cache.frame_count
    centre = np.round((np.arange(count) + 0.5) / c.fps * MEL.frames_per_second).astype(int)
    column = np.stack([spec[np.clip(centre + k, 0, len(spec) - 1)] for k in range(-2, 2)])
    column = column.mean(axis=0)
    return np.concatenate([column[np.clip(np.arange(count) + k, 0, count - 1)]
                           for k in range(-CONTEXT, CONTEXT + 1)], axis=1)


def standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / max(float(x.std()), 1e-12)


def audio_ridge(c: Clip, clips: list[Clip], feats: dict[str, np.ndarray],
                truth: dict[str, np.ndarray]) -> np.ndarray:
    """The held-out opening predicted from the sound alone, by a fit that never saw it."""
    xs, ys = [], []
    for o in clips:
        end = o.split if o is c else o.cache.frame_count
        ok = np.asarray(o.cache.validity)[:end] == 1
        xs.append(feats[o.name][:end][ok])
        ys.append(standard(truth[o.name][:end][ok]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    a = np.c_[(x - mean) / scale, np.ones(len(x))]
    w = least_squares(a, y, RIDGE)
    held = feats[c.name][c.split:]
    return np.c_[(held - mean) / scale, np.ones(len(held))] @ w


def lag_profile(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """corr(a[t], b[t - k]) for k = -MAX_LAG..MAX_LAG."""
    n = len(a)
    return np.array([pearson(a[max(0, k):min(n, n + k)], b[max(0, k) - k:min(n, n + k) - k])
                     for k in range(-MAX_LAG, MAX_LAG + 1)])


def main() -> None:
    started = time.perf_counter()
    data = need_data()
    clips = [prepare(n, data, user_cache_dir()) for n in CLIPS]
    truth = {c.name: opening(c, slice(0, c.cache.frame_count)) for c in clips}
    speech = {c.name: load_audio(data / "video" / f"{c.name}.mp4", 16000) for c in clips}
    feats = {c.name: mel_features(c, speech[c.name]) for c in clips}
    rows = {}
    for c in clips:
        ok = c.valid
        held = truth[c.name][c.split:]
        segs_held = segments_of(c.seg_alignment)
        x_held = class_design(segs_held, len(c.frames), c.fps)
        oracle = x_held @ least_squares(x_held[ok], held[ok])
        x_train = class_design(segments_of(c.train_alignment), c.split, c.fps)
        train_ok = np.asarray(c.cache.validity)[:c.split] == 1
        fit = x_held @ least_squares(x_train[train_ok], truth[c.name][:c.split][train_ok])
        ridge = audio_ridge(c, clips, feats, truth)
        visemes = mouth_opening(c.cache.canonical[None] + viseme_edit(c), REG)
        envelope = rms_envelope(speech[c.name], c.fps, window_s=2.0 / c.fps,
                                n_frames=c.cache.frame_count)
        profile = lag_profile(truth[c.name], envelope)
        rows[c.name] = {
            "class oracle": pearson(oracle[ok], held[ok]),
            "class fit": pearson(fit[ok], held[ok]),
            "audio ridge": pearson(ridge[ok], held[ok]),
            "visemes": pearson(visemes[ok], held[ok]),
            "both": pearson((standard(visemes) + standard(ridge))[ok], held[ok]),
            "truth~audio peak": float(np.nanmax(profile)),
            "at lag": int(np.nanargmax(profile)) - MAX_LAG,
            "truth~audio at 0": float(profile[MAX_LAG]),
        }
    keys = list(next(iter(rows.values())))
    print("opening correlation with the tracked truth on the held-out 40 % (target ≥ 0.7); "
          "last three columns: the truth against the audio envelope, whole clip")
    print(f"{'clip':<19}" + "".join(f"{k:>17}" for k in keys))
    for name, r in rows.items():
        print(f"{name:<19}" + "".join(f"{r[k]:17.3f}" if k != "at lag" else f"{r[k]:+17d}"
                                      for k in keys))
    means = {k: float(np.mean([r[k] for r in rows.values()])) for k in keys if k != "at lag"}
    print(f"{'MEAN':<19}" + "".join(f"{means[k]:17.3f}" if k in means else f"{'':>17}"
                                    for k in keys))
    print(json.dumps({"per_clip": rows, "mean": means,
                      "seconds": round(time.perf_counter() - started, 1)},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
