"""Training data for the Audio2Exp adapter: talking-face clips as (mel window, lips) pairs.

A clip (a project's source video, or any talking-face video) is tracked once (the keypoint
cache of ``core``) and its audio turned into mel power once; both are kept in an npz keyed
by the clip's content hash, tracker and mel settings, so a second run starts at once.

Per video frame t the adapter sees the mel window centred on t, the silent-lip reference
S(E) of the lip points and the viseme driver's ΔE_vis around t, and together with ΔE_vis
must give ΔE_t = E_t − S(E_t) = w ⊙ E_t there (the clip's closed neutral is zero: K_c's
mouth is its closed frames). Only points with a lower-face weight w > 0 are kept.

ΔE_vis is the base driver's motion for the clip's own audio: the shipped lip model's (the
default base since format 3; it also hears the visemes below), or the viseme driver's: its
alignment (recognised, cached like the project's own) through a viseme library learned, as
a dub's would be, from the clip's footage, but from its *training* frames only, so that on
the validation frames ΔE_vis is as much a prediction as it is on a dub.

The reference S(E) comes from a *random other* frame of the same clip: S(E) still carries
a little of the lips where 0 < w < 1, and a reference from another moment makes copying it
useless (the stabilised-sync paper's cure for lip leaking).

Time split: the last ``val_share`` of every clip is validation, with a guard of a few
frames so no training mel window hears the validation audio. Augmentation (training only):
gain (±6 dB), faint white noise, and a time shift of ±2 mel frames between sound and lips.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.align import MODEL_TAG, Alignment
from core.analysis import speech_or_none, track_and_align
from core.atomic import atomic_write_bytes
from core.errors import AlignError, StudioError
from core.hashing import bytes_hash, file_hash
from core.keypoints.regions import RegionSet, load_regions
from core.media import VIDEO_EXTENSIONS, load_audio, open_media
from core.motion.audio2exp_model import (
    MelConfig,
    log_mel,
    mel_filterbank,
    mel_power,
    vis_windows,
)
from core.motion.driver import VisemeDriver
from core.motion.library import VisemeLibrary, default_library, learn_library
from core.motion.mouth import lower_face_weight
from core.progress import Progress
from core.tracking.registry import get_tracker
from trainer.model import silent_mel

FEATURES_VERSION = 2  # 2: + canonical and the audio's own alignment


@dataclass
class ClipFeatures:
    """One clip, ready to train on: mel power and the lower-face expression per frame."""

    name: str
    media_hash: str
    tracker: str
    fps: float
    power: np.ndarray  # (mel frames, n_mels) float32
    points: np.ndarray  # (P,) indices of the points with lower-face weight > 0
    weight: np.ndarray  # (P,) their lower-face weight
    expression: np.ndarray  # (T, P, 3) E_t of those points, canonical units
    validity: np.ndarray  # (T,) 0 none, 1 tracked, 2 interpolated
    mel_rate: float = 100.0  # mel frames per second of ``power``
    canonical: np.ndarray | None = None  # (N, 3) K_c: the viseme library needs the face
    alignment: Alignment | None = None  # the clip's own speech; None: none found

    @property
    def frame_count(self) -> int:
        return len(self.expression)

    def head(self, frames: int, alignment: Alignment | None = None) -> ClipFeatures:
        """The first ``frames`` frames and only the audio they span (for held-out tests).

        ``alignment`` should be that of the head's audio alone; without it the clip's own
        is cut at the head's end (its recognition heard the rest: fine for a demo, not for
        a held-out measurement).
        """
        frames = max(0, min(frames, self.frame_count))
        mel_frames = min(len(self.power), int(frames / self.fps * self.mel_rate))
        if alignment is None and self.alignment is not None:
            alignment = cut_alignment(self.alignment, frames / self.fps)
        return ClipFeatures(self.name, self.media_hash, self.tracker, self.fps,
                            self.power[:mel_frames], self.points, self.weight,
                            self.expression[:frames], self.validity[:frames], self.mel_rate,
                            self.canonical, alignment)

    def expression_on(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E (T, Q, 3), w (Q,)) on another point set; points this clip lacks get zeros."""
        q = np.asarray(points, np.int64)
        pos = np.searchsorted(self.points, q)
        pos = np.clip(pos, 0, len(self.points) - 1)
        have = self.points[pos] == q
        e = np.zeros((self.frame_count, len(q), 3), np.float32)
        e[:, have] = self.expression[:, pos[have]]
        w = np.where(have, self.weight[pos], 0.0).astype(np.float32)
        return e, w


def cut_alignment(alignment: Alignment, end: float) -> Alignment:
    """The words and phones that start before ``end`` seconds, clipped to it."""
    from dataclasses import replace

    phones = [replace(p, end=min(p.end, end)) for p in alignment.phones if p.start < end]
    words = [replace(w, end=min(w.end, end),
                     phones=[replace(p, end=min(p.end, end)) for p in w.phones if p.start < end])
             for w in alignment.words if w.start < end]
    return replace(alignment, words=words, phones=phones, duration=min(alignment.duration, end))


def clip_library(clip: ClipFeatures, frames: np.ndarray) -> VisemeLibrary | None:
    """The viseme library the studio would learn from the clip's ``frames`` (a boolean
    mask: the training frames), completed by the default library; None without speech or
    a face shape."""
    if clip.alignment is None or clip.canonical is None:
        return None
    regions = load_regions(clip.tracker)
    canonical = np.asarray(clip.canonical, np.float32)
    full = np.zeros((clip.frame_count, len(canonical), 3), np.float32)
    full[:, clip.points] = clip.expression
    validity = np.where(np.asarray(frames, bool), np.asarray(clip.validity), 0)  # others unseen
    return learn_library(full, validity, clip.alignment, clip.fps, canonical, regions,
                         default_library(canonical, regions))


def viseme_motion(clip: ClipFeatures, library: VisemeLibrary | None, points: np.ndarray
                  ) -> np.ndarray:
    """ΔE_vis (T, Q, 3) of the clip's own alignment through ``library`` on ``points``."""
    q = np.asarray(points, np.int64)
    if library is None or clip.alignment is None:
        return np.zeros((clip.frame_count, len(q), 3), np.float32)
    delta = VisemeDriver(library).motion(clip.alignment, clip.frame_count, clip.fps).delta
    return np.ascontiguousarray(delta[:, q], np.float32)


def base_motion(clip: ClipFeatures, library: VisemeLibrary | None, points: np.ndarray,
                base: str) -> np.ndarray:
    """The motion the adapter corrects, (T, Q, 3) on ``points``: the viseme driver's, or
    the shipped lip model's on the clip's own sound ("learned")."""
    if base == "visemes":
        return viseme_motion(clip, library, points)
    if base != "learned":
        raise ValueError(f"unknown base driver {base!r}")
    from core.motion.lipsync import LearnedDriver

    regions = load_regions(clip.tracker)
    driver = LearnedDriver.load(None, regions)
    feats = log_mel(torch.from_numpy(np.asarray(clip.power, np.float32)), driver.model.mel)
    lips = driver.motion_of(feats.T.contiguous(), clip.frame_count, clip.fps,
                            np.asarray(clip.canonical, np.float32), regions,
                            clip.alignment, library)
    return np.ascontiguousarray(lips.delta[:, np.asarray(points, np.int64)], np.float32)


def lip_points(canonical: np.ndarray, regions: RegionSet) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of the points lip motion moves (lower-face weight > 0)."""
    w = lower_face_weight(canonical, regions)
    idx = np.flatnonzero(w > 0)
    return idx, w[idx]


def _features_path(root: Path, media_hash: str, tracker, mel: MelConfig) -> Path:
    key = bytes_hash(json.dumps(mel.to_json(), sort_keys=True), str(FEATURES_VERSION),
                     MODEL_TAG)[:10]
    return root / "audio2exp" / f"{media_hash}-{tracker.name}-{tracker.version}-{key}.npz"


def clip_features(
    path: str | Path,
    cache_root: Path,
    *,
    tracker: str = "mediapipe",
    mel: MelConfig | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ClipFeatures:
    """Track (or read the cache of) one talking-face video and compute its features."""
    mel = mel or MelConfig()
    p = Path(path)
    if not p.is_file():
        raise StudioError(p, "no such clip")
    media_hash = file_hash(p)
    trk = get_tracker(tracker)
    npz = _features_path(Path(cache_root), media_hash, trk, mel)
    if npz.is_file():
        try:
            with np.load(npz) as z:
                raw = json.loads(str(z["alignment"]))
                return ClipFeatures(p.name, media_hash, trk.name, float(z["fps"]),
                                    z["power"], z["points"], z["weight"], z["expression"],
                                    z["validity"], mel.frames_per_second, z["canonical"],
                                    None if raw is None else Alignment.from_json(raw))
        except (OSError, KeyError, ValueError):
            npz.unlink(missing_ok=True)  # a damaged cache entry is rebuilt
    source = open_media(p)
    try:
        if getattr(source, "is_image", False):
            raise StudioError(p, "a still image has no speech to learn from; use a video")
        if not source.has_audio:
            raise StudioError(p, "has no audio track: nothing to learn the lips from")
        audio = load_audio(p, mel.sample_rate)
        speech = speech_or_none(audio)
        # the studio's one analysis sequence: the clip's own speech is recognised beside
        # the tracking (both cached); no speech, or nothing recognised: no alignment
        kp, aligned, _ = track_and_align(
            source, p, Path(cache_root), tracker, None, None,
            [] if speech is None else [(speech.samples, None, "en")],
            None if progress is None else (
                lambda stage, done, total: stage == "tracking" and progress(stage, done,
                                                                            total)),
            cancel, [], tolerate=(AlignError,))
    finally:
        source.close()
    cache = kp.cache
    idx, w = lip_points(cache.canonical, load_regions(cache.tracker))
    alignment = aligned[0] if aligned else None
    if alignment is not None and not alignment.phones:
        alignment = None
    feats = ClipFeatures(p.name, media_hash, trk.name, cache.fps, mel_power(audio.samples, mel),
                         idx, w, cache.expression()[:, idx], np.asarray(cache.validity),
                         mel.frames_per_second, np.asarray(cache.canonical, np.float32),
                         alignment)
    buf = io.BytesIO()
    np.savez(buf, fps=feats.fps, power=feats.power, points=feats.points, weight=feats.weight,
             expression=feats.expression, validity=feats.validity, canonical=feats.canonical,
             alignment=json.dumps(None if alignment is None else alignment.to_json()))
    npz.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(npz, buf.getvalue())
    return feats


def folder_clips(items: Iterable[str | Path]) -> list[Path]:
    """Video files named, or found (not recursively) in the folders named, sorted."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir()
                              if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS))
        elif p.is_file():
            out.append(p)
        else:
            raise StudioError(p, "no such clip or folder")
    return out


def project_clip(folder: str | Path) -> tuple[Path, Path, str]:
    """(source video, cache dir, tracker) of a project: its source is its training clip."""
    from core.project.project import Project

    project = Project.open(folder)
    project.require_media()
    tracker = str(project.settings.get("tracker", "mediapipe"))
    return Path(project.source.path), project.cache_dir, tracker


@dataclass(frozen=True)
class Augment:
    """Training-time changes to the sound; none is applied to validation."""

    gain_db: float = 6.0
    noise_prob: float = 0.5
    noise_dbfs: tuple[float, float] = (-75.0, -45.0)
    max_shift: int = 2  # mel frames (10 ms each) between sound and lips


class Corpus:
    """Every clip's frames in flat tensors, with train/validation sequences to draw from.

    ``val_span`` (a, b), fractions of each clip, puts its validation frames anywhere (the
    blocks of a cross-validation); by default they are the last ``val_share``. Training
    frames keep a guard from them on both sides.
    """

    def __init__(self, clips: Sequence[ClipFeatures], points: np.ndarray, mel: MelConfig,
                 *, val_share: float = 0.2, seq: int = 8, augment: Augment | None = None,
                 val_span: tuple[float, float] | None = None, base: str = "visemes") -> None:
        if not clips:
            raise ValueError("no clips to train on")
        self.clips = list(clips)
        self.base = base  # the driver whose motion ``vis`` holds and the adapter corrects
        self.points = np.asarray(points, np.int64)
        self.mel = mel
        self.seq = seq
        self.augment = augment or Augment()
        guard = int(math.ceil((mel.context + self.augment.max_shift)
                              / mel.frames_per_second * max(c.fps for c in clips)))
        powers, exprs, weights, valid, centre, mel_lo, mel_hi = [], [], [], [], [], [], []
        ref_lo, ref_hi, starts, val_frames, train_frame = [], [], [], [], []
        vis, clip_lo, clip_hi, train_list = [], [], [], []
        self.libraries: list[VisemeLibrary | None] = []
        f0 = m0 = r0 = 0
        for c in self.clips:
            e, w = c.expression_on(self.points)
            t = c.frame_count
            if val_span is None:
                v1 = t
                v0 = t - max(1, int(round(val_share * t)))
            else:
                v0, v1 = (int(round(x * t)) for x in val_span)
                v1 = max(v1, v0 + 1)
            frame = np.arange(t)
            is_train = (frame < v0 - guard) | (frame >= v1 + guard)
            ok = np.asarray(c.validity) == 1
            lib = clip_library(c, is_train)
            self.libraries.append(lib)
            vis.append(base_motion(c, lib, self.points, base))
            clip_lo.append(np.full(t, f0))
            clip_hi.append(np.full(t, f0 + t))
            powers.append(c.power)
            exprs.append(e)
            weights.append(np.broadcast_to(w, (t, len(w))))
            valid.append(ok)
            ctr = np.round((np.arange(t) + 0.5) / c.fps * mel.frames_per_second)
            centre.append(m0 + ctr.astype(np.int64))
            mel_lo.append(np.full(t, m0))
            mel_hi.append(np.full(t, m0 + len(c.power)))
            mine = np.flatnonzero(is_train)  # references come from training frames only
            train_list.append(f0 + mine)
            ref_lo.append(np.full(t, r0))
            ref_hi.append(np.full(t, r0 + len(mine)))
            r0 += len(mine)
            train_frame.append(is_train)
            run = np.convolve(is_train.astype(np.int64), np.ones(seq, np.int64), "valid")
            starts.append(f0 + np.flatnonzero(run == seq))
            val_frames.append(f0 + np.arange(v0, min(v1, t))[ok[v0:v1]])
            f0 += t
            m0 += len(c.power)
        self.train_starts = torch.from_numpy(np.concatenate(starts))
        if len(self.train_starts) == 0:
            raise StudioError(None, f"the clips are too short to train on (need more than "
                                    f"{seq + guard} frames beside the validation part)")
        self.val_frames = torch.from_numpy(np.concatenate(val_frames))
        self.train_frame = torch.from_numpy(np.concatenate(train_frame))
        self.train_list = torch.from_numpy(np.concatenate(train_list))
        self.power = torch.from_numpy(np.concatenate(powers).astype(np.float32))
        e = np.concatenate(exprs).astype(np.float32)
        w = np.concatenate(weights).astype(np.float32)
        self.weight = torch.from_numpy(w)
        self.target = torch.from_numpy(e * w[..., None])  # ΔE = E − S(E), closed rest 0
        self.silent_ref = torch.from_numpy(e * (1 - w[..., None]))  # S(E)
        self.vis = torch.from_numpy(np.concatenate(vis).astype(np.float32))  # ΔE_vis
        self.clip_lo = torch.from_numpy(np.concatenate(clip_lo))
        self.clip_hi = torch.from_numpy(np.concatenate(clip_hi))
        self.valid = torch.from_numpy(np.concatenate(valid))
        self.centre = torch.from_numpy(np.concatenate(centre))
        self.mel_lo = torch.from_numpy(np.concatenate(mel_lo))
        self.mel_hi = torch.from_numpy(np.concatenate(mel_hi))
        self.ref_lo = torch.from_numpy(np.concatenate(ref_lo))
        self.ref_hi = torch.from_numpy(np.concatenate(ref_hi))
        fb = mel_filterbank(mel)
        win = torch.hann_window(mel.win_length)
        white = float((win**2).sum() / win.sum() ** 2)  # per-bin power of unit white noise
        self.noise_profile = torch.from_numpy(fb.sum(axis=1) * white).float()
        self.offsets = torch.arange(-mel.context, mel.context + 1)

    @property
    def target_scale(self) -> float:
        """Mean |ΔE| of the training targets: the unit the network's outputs are scaled by."""
        v = self.target[self.valid].abs()
        return float(v.mean()) if v.numel() else 0.0

    def point_weight(self, lips: float) -> torch.Tensor:
        """(P,) loss weight per point, mean 1: the lip contour counts ``1 + lips`` times."""
        contour = np.zeros(len(self.points), np.float32)
        if lips and self.clips:
            contour = np.isin(self.points, load_regions(self.clips[0].tracker).lips)
        w = 1.0 + lips * contour.astype(np.float32)
        return torch.from_numpy(w / w.mean())

    def modes(self, k: int) -> torch.Tensor:
        """(k, P·3) orthonormal main directions of the training ΔE (uncentred SVD, so the
        closed mouth, ΔE = 0, stays exactly reachable), scaled by their RMS amplitude."""
        frames = torch.nonzero(self.train_frame & self.valid).flatten()
        x = self.target[frames].reshape(len(frames), -1).double()
        _, s, vt = torch.linalg.svd(x, full_matrices=False)
        out = torch.zeros(k, x.shape[1], dtype=torch.float64)
        n = min(k, len(s))
        out[:n] = vt[:n] * (s[:n] / max(len(frames), 1) ** 0.5)[:, None]
        return out.float()

    def vis_windows(self, frames: torch.Tensor, context: int) -> torch.Tensor:
        """(…, 2·context+1, P, 3) ΔE_vis around global frames, inside each frame's clip."""
        return vis_windows(self.vis, frames, context, self.clip_lo[frames],
                           self.clip_hi[frames])

    def _windows(self, frames: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Mel power windows (…, n_mels, window) for global frame indices, silence outside."""
        idx = self.centre[frames][..., None] + self.offsets
        if shift is not None:
            idx = idx + shift[..., None]
        lo, hi = self.mel_lo[frames][..., None], self.mel_hi[frames][..., None]
        inside = (idx >= lo) & (idx < hi)
        p = self.power[idx.clamp(0, len(self.power) - 1)] * inside[..., None]
        return p.transpose(-1, -2)

    def batch(self, size: int, gen: torch.Generator, augment: bool = True,
              vis_context: int = -1) -> dict:
        """``size`` training sequences of ``seq`` frames, flattened to (size·seq, …);
        ``vis`` (the ΔE_vis windows of a residual model) when ``vis_context`` ≥ 0."""
        a = self.augment
        pick = torch.randint(len(self.train_starts), (size,), generator=gen)
        frames = self.train_starts[pick][:, None] + torch.arange(self.seq)
        shift = None
        if augment and a.max_shift:
            shift = torch.randint(-a.max_shift, a.max_shift + 1, (size, 1), generator=gen)
            shift = shift.expand(size, self.seq)
        power = self._windows(frames, shift)  # (B, L, n_mels, W)
        noise = None
        if augment:
            gain = (torch.rand(size, 1, 1, 1, generator=gen) * 2 - 1) * a.gain_db
            power = power * 10 ** (gain / 10)
            lo, hi = a.noise_dbfs
            level = lo + (hi - lo) * torch.rand(size, 1, 1, 1, generator=gen)
            on = (torch.rand(size, 1, 1, 1, generator=gen) < a.noise_prob).float()
            noise = on * 10 ** (level / 10) * self.noise_profile[:, None]
            jitter = 1 + 0.3 * torch.randn(power.shape, generator=gen)
            power = power + noise * jitter.clamp_min(0.1)
        first = frames[:, 0]
        span = (self.ref_hi[first] - self.ref_lo[first]).float()
        pos = self.ref_lo[first] + (torch.rand(size, generator=gen) * span).long()
        ref_frame = self.train_list[pos]
        ref = self.silent_ref[ref_frame]  # (B, P, 3): S(E) of another moment
        flat = frames.reshape(-1)
        silent_noise = None if noise is None else noise[:, 0]  # (B, n_mels, 1)
        out = self._vis_fields(flat, vis_context)
        if vis_context >= 0:
            out["silent_vis"] = torch.zeros(size, 2 * vis_context + 1, *self.vis.shape[1:])
        return out | {
            "mel": log_mel(power, self.mel).reshape(-1, *power.shape[2:]),
            "ref": ref[:, None].expand(size, self.seq, *ref.shape[1:]).reshape(-1, *ref.shape[1:]),
            "weight": self.weight[flat],
            "target": self.target[flat],
            "mask": self.valid[flat].float(),
            "seq": self.seq,
            "silent_mel": silent_mel((size, *power.shape[2:]), self.mel, silent_noise),
            "silent_ref": ref,
            "silent_weight": self.weight[first],
        }

    def _vis_fields(self, frames: torch.Tensor, context: int) -> dict:
        """``vis_now`` (ΔE_vis at the frames, what a residual adds its output to) and, for
        a residual model (context ≥ 0), ``vis`` (its windows)."""
        out = {"vis_now": self.vis[frames]}
        if context >= 0:
            out["vis"] = self.vis_windows(frames, context)
        return out

    def validation(self, vis_context: int = -1) -> dict:
        """Every tracked validation frame, unaugmented, with its own S(E) as reference."""
        f = self.val_frames
        return self._vis_fields(f, vis_context) | {
            "mel": log_mel(self._windows(f), self.mel),
            "ref": self.silent_ref[f],
            "weight": self.weight[f],
            "target": self.target[f],
            "mask": self.valid[f].float(),
        }

    def describe(self) -> list[dict]:
        """Per clip: name, content hash, frames, for the checkpoint's metadata."""
        return [{"name": c.name, "media_hash": c.media_hash, "frames": c.frame_count,
                 "fps": c.fps, "speech": c.alignment is not None,
                 "learned_visemes": [] if lib is None else lib.coverage()["learned"]}
                for c, lib in zip(self.clips, self.libraries, strict=True)]


def fold_corpora(clips: Sequence[ClipFeatures], points: np.ndarray, mel: MelConfig,
                 folds: int, **kw) -> list[Corpus]:
    """The corpora of a blocked ``folds``-fold cross-validation: fold k validates on the
    k-th of ``folds`` equal time blocks of every clip and trains on the rest. One fold (or
    fewer) is the plain split: the last ``val_share`` of each clip validates."""
    if folds <= 1:
        return [Corpus(clips, points, mel, **kw)]
    return [Corpus(clips, points, mel, val_span=(k / folds, (k + 1) / folds), **kw)
            for k in range(folds)]


def load_corpus(
    clips: Sequence[str | Path],
    cache_root: Path,
    *,
    tracker: str = "mediapipe",
    mel: MelConfig | None = None,
    points: np.ndarray | None = None,
    val_share: float = 0.2,
    seq: int = 8,
    augment: Augment | None = None,
    folds: int = 1,
    progress: Progress | None = None,  # stage: the clip's name
    cancel: Callable[[], bool] | None = None,
    base: str = "visemes",
) -> list[Corpus]:
    """Features of every clip and the corpora of ``folds`` folds (see :func:`fold_corpora`);
    the lip points are the first clip's unless ``points`` (a resumed model's) are given."""
    mel = mel or MelConfig()
    feats = []
    for c in clips:
        name = Path(c).name
        cb = None if progress is None else (lambda _, d, t, n=name: progress(n, int(d),
                                                                            int(t)))
        feats.append(clip_features(c, cache_root, tracker=tracker, mel=mel, progress=cb,
                                   cancel=cancel))
    if points is None:
        points = feats[0].points
    return fold_corpora(feats, points, mel, folds, val_share=val_share, seq=seq,
                        augment=augment, base=base)
