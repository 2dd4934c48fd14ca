"""Training the speaker-independent lip model on a corpus of talking faces.

Data: every clip is analysed with the studio's own analysis (tracking, decomposition and
recognition, cached by :func:`trainer.data.clip_features`), and its lips brought into the
shared space of :mod:`core.motion.lipsync` (w ⊙ E over the mouth width, on one point set).
A clip whose face is lost, whose audio is silent or whose file cannot be read is skipped
with its reason, never silently.

Timing: published clips are not all in sync. :func:`clip_lags` cross-correlates a first
model's prediction with each clip's tracked lips; the loop then trains on the lips moved
by that lag (clips beyond ``max_lag`` are dropped), so the model learns the lead of the
corpus' consensus, not the offsets of a few clips.

Loop (nanoGPT-short): random crops of a few seconds, clips drawn in proportion to the
square root of their length (two long clips must not dominate); losses on the lip points
(the contour counts double), their velocity, the inner-lip opening's correlation and the
closure at p/b/m centres.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from core.errors import StudioError
from core.keypoints.regions import RegionSet, load_regions
from core.motion.audio2exp_model import MelConfig, log_mel
from core.motion.driver import VisemeDriver
from core.motion.library import default_library
from core.motion.lipsync import (
    LipConfig,
    LipModel,
    LipNet,
    best_lag,
    canonical_lips,
    frame_positions,
    frames_to_mel,
    pearson,
    sample_frames,
)
from core.motion.mouth import lower_face_weight, mouth_width
from core.motion.visemes import CLOSURES, viseme_of
from core.progress import Progress
from trainer.data import ClipFeatures, clip_features

EYES = (33, 263)
SILENT_POWER = 1e-7  # mel power peak of a track with nothing louder than about -70 dBFS


@dataclass
class LipClip:
    """One corpus clip in the shared lip space, ready to train on."""

    name: str
    speaker: str
    fps: float
    feats: torch.Tensor  # (n_mels, L) log-mel
    lips: np.ndarray  # (T, P, 3) w ⊙ E / mouth width
    valid: np.ndarray  # (T,) tracked frames
    closures: np.ndarray  # (T,) frames at the centre of a p/b/m
    gap0: np.ndarray  # (3,) closed inner-lip offset (lower − upper) of K_c, mouth widths
    scale: float  # inter-ocular distance over the mouth width (for % IOD figures)
    lag: int = 0  # frames by which the tracked lips are late (moved back before training)
    visemes: np.ndarray | None = None  # (T, P, 3) the viseme driver's ΔE (default library)

    @property
    def frame_count(self) -> int:
        return len(self.lips)

    def target(self) -> np.ndarray:
        """The lips moved by the clip's lag: target[t] = lips[t + lag], edges held."""
        idx = np.clip(np.arange(self.frame_count) + self.lag, 0, self.frame_count - 1)
        return self.lips[idx]

    def target_valid(self) -> np.ndarray:
        idx = np.arange(self.frame_count) + self.lag
        inside = (idx >= 0) & (idx < self.frame_count)
        return inside & self.valid[np.clip(idx, 0, self.frame_count - 1)]


@dataclass
class ClipReport:
    name: str
    speaker: str
    frames: int = 0
    face_share: float = 0.0
    words: int = 0
    used: bool = False
    reason: str = ""
    lag: int | None = None


def lip_point_set(clips: Sequence[ClipFeatures]) -> np.ndarray:
    """The points any clip's lower face moves (the union of their w > 0 sets)."""
    return np.unique(np.concatenate([c.points for c in clips]))


def closure_frames(feats: ClipFeatures) -> np.ndarray:
    """(T,) True at the centre frame of every p/b/m of the clip's own alignment."""
    out = np.zeros(feats.frame_count, bool)
    if feats.alignment is None:
        return out
    for p in feats.alignment.phones:
        if viseme_of(p.label) in CLOSURES:
            f = int((p.start + p.end) / 2 * feats.fps)
            if 0 <= f < len(out):
                out[f] = True
    return out


def to_lip_clip(feats: ClipFeatures, speaker: str, points: np.ndarray, mel: MelConfig,
                regions: RegionSet) -> LipClip:
    """A clip's features in the shared space."""
    e, _ = feats.expression_on(points)
    canonical = np.asarray(feats.canonical, np.float32)
    full = np.zeros((feats.frame_count, regions.n_points, 3), np.float32)
    full[:, points] = e
    lips = canonical_lips(full, canonical, regions, points)
    mw = mouth_width(canonical, regions)
    lm = regions.landmarks
    gap0 = (canonical[lm["lower_lip_inner"]] - canonical[lm["upper_lip_inner"]]) / mw
    iod = float(np.linalg.norm(canonical[EYES[0], :2] - canonical[EYES[1], :2]))
    power = torch.from_numpy(np.asarray(feats.power, np.float32))
    vis = VisemeDriver(default_library(canonical, regions)).motion(
        feats.alignment, feats.frame_count, feats.fps).delta[:, points] / mw
    return LipClip(feats.name, speaker, feats.fps, log_mel(power, mel).T.contiguous(), lips,
                   np.asarray(feats.validity) == 1, closure_frames(feats),
                   gap0.astype(np.float32), iod / mw, visemes=vis.astype(np.float32))


def prepare_corpus(
    corpus: str | Path, cache_root: Path, *, mel: MelConfig | None = None,
    only: Sequence[str] | None = None, points: np.ndarray | None = None,
    progress: Progress | None = None,  # stage: the clip's name
) -> tuple[list[LipClip], list[ClipReport], np.ndarray]:
    """Analyse every clip of a corpus folder (``corpus.json`` beside its media), cached.

    Returns the usable clips, one report per clip (used or why not) and the point set.
    """
    mel = mel or MelConfig()
    folder = Path(corpus)
    manifest = folder / "corpus.json"
    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise StudioError(manifest, f"cannot read the corpus manifest ({exc})") from None
    regions = load_regions("mediapipe")
    feats: list[tuple[ClipFeatures, str]] = []
    reports: list[ClipReport] = []
    for k, entry in enumerate(entries):
        path = folder / entry["file"]
        if only is not None and path.name not in only and entry["file"] not in only:
            continue
        rep = ClipReport(path.name, str(entry.get("speaker", path.stem)))
        reports.append(rep)
        if progress:
            progress(path.name, k, len(entries))
        try:
            f = clip_features(path, cache_root, mel=mel)
        except StudioError as exc:
            rep.reason = exc.problem if hasattr(exc, "problem") else str(exc)
            continue
        except Exception as exc:  # a corrupt file must not stop the corpus
            rep.reason = f"cannot be analysed ({type(exc).__name__}: {exc})"
            continue
        rep.frames = f.frame_count
        rep.face_share = float((np.asarray(f.validity) == 1).mean()) if f.frame_count else 0.0
        rep.words = 0 if f.alignment is None else len(f.alignment.words)
        if f.frame_count == 0 or rep.face_share < 0.5:
            rep.reason = f"face found in only {rep.face_share:.0%} of the frames"
            continue
        if float(np.asarray(f.power).max(initial=0.0)) < SILENT_POWER:
            rep.reason = "the audio is silent"
            continue
        feats.append((f, rep.speaker))
    if not feats:
        raise StudioError(folder, "no usable clip in the corpus")
    if points is None:
        points = lip_point_set([f for f, _ in feats])
    clips = [to_lip_clip(f, spk, points, mel, regions) for f, spk in feats]
    for rep in reports:
        rep.used = not rep.reason
    return clips, reports, points


def lip_basis(clips: Sequence[LipClip], k: int) -> torch.Tensor:
    """(k, P·3) orthonormal main directions of the clips' lips (uncentred, so 0 stays
    reachable), each clip weighted by the square root of its length."""
    rows = []
    for c in clips:
        x = c.target()[c.target_valid()].reshape(-1, c.lips.shape[1] * 3).astype(np.float64)
        if len(x):
            rows.append(x / math.sqrt(len(x)) ** 0.5)
    x = np.concatenate(rows)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return torch.from_numpy(vt[:k].astype(np.float32))


@dataclass
class TrainSettings:
    steps: int = 1500
    batch: int = 16
    crop: int = 300  # mel frames (3 s)
    lr: float = 2e-3
    weight_decay: float = 1e-3
    velocity: float = 0.5
    correlation: float = 0.05
    closure: float = 1.0
    contour: float = 1.0  # extra weight of the lip contour points
    gain_db: float = 6.0
    seed: int = 0
    threads: int = 2
    vis_dropout: float = 0.3  # share of crops trained without phones (any language)
    average: float = 0.0  # last share of the steps whose weights are averaged (0: off)


@dataclass
class _Batch:
    mel: torch.Tensor  # (B, n_mels, crop)
    pos: torch.Tensor  # (B, F) mel position of each target frame within the crop
    target: torch.Tensor  # (B, F, P·3)
    mask: torch.Tensor  # (B, F)
    closure: torch.Tensor  # (B, F)
    vis: torch.Tensor | None = None  # (B, basis, crop) viseme coefficients


class Sampler:
    """Random crops of the clips, drawn ∝ √length, targets moved by each clip's lag."""

    def __init__(self, clips: Sequence[LipClip], mel: MelConfig, s: TrainSettings,
                 basis: torch.Tensor | None = None) -> None:
        self.clips = list(clips)
        self.mel, self.s = mel, s
        n = np.array([c.frame_count for c in self.clips], np.float64)
        self.p = np.sqrt(n) / np.sqrt(n).sum()
        self.targets = [torch.from_numpy(c.target().reshape(c.frame_count, -1))
                        for c in self.clips]
        self.valid = [torch.from_numpy(c.target_valid()) for c in self.clips]
        self.closures = [torch.from_numpy(c.closures) for c in self.clips]
        self.vis = [None if basis is None or c.visemes is None else frames_to_mel(
            c.visemes.reshape(c.frame_count, -1) @ basis.numpy().T, c.fps, c.feats.shape[1],
            mel) for c in self.clips]
        self.max_frames = int(math.ceil(s.crop / mel.frames_per_second
                                        * max(c.fps for c in self.clips))) + 2

    def batch(self, rng: np.random.Generator) -> _Batch:
        s, mel = self.s, self.mel
        b, f = s.batch, self.max_frames
        p_dim = self.targets[0].shape[1]
        out_mel = torch.zeros(b, mel.n_mels, s.crop)
        k = self.vis[0].shape[0] if self.vis[0] is not None else 0
        out_vis = torch.zeros(b, k, s.crop)
        pos = torch.zeros(b, f)
        target = torch.zeros(b, f, p_dim)
        mask = torch.zeros(b, f)
        closure = torch.zeros(b, f)
        for i, ci in enumerate(rng.choice(len(self.clips), size=b, p=self.p)):
            c = self.clips[ci]
            length = c.feats.shape[1]
            m0 = int(rng.integers(-s.crop // 4, max(1, length - 3 * s.crop // 4)))
            lo, hi = max(0, m0), min(length, m0 + s.crop)
            x = c.feats[:, lo:hi]
            if s.gain_db:
                # a level change moves every band by the same number of dB (log_mel scale:
                # 100 dB per unit); silence stays exactly silent
                g = float(rng.uniform(-s.gain_db, s.gain_db)) / 100.0
                x = torch.where(x > 0, (x + g).clamp_min(0.0), x)
            out_mel[i, :, lo - m0:hi - m0] = x
            if k and self.vis[ci] is not None and rng.random() >= s.vis_dropout:
                out_vis[i, :, lo - m0:hi - m0] = self.vis[ci][:, lo:hi]
            fp = frame_positions(c.frame_count, c.fps, mel)
            sel = np.flatnonzero((fp >= max(lo, m0 + 8)) & (fp < min(hi, m0 + s.crop - 8)))
            sel = sel[:f]
            k = len(sel)
            pos[i, :k] = torch.from_numpy(fp[sel] - m0).float()
            target[i, :k] = self.targets[ci][sel]
            mask[i, :k] = self.valid[ci][sel].float()
            closure[i, :k] = self.closures[ci][sel].float()
        return _Batch(out_mel, pos, target, mask, closure, out_vis if k else None)


def _gather(seq: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(B, C, L) read at fractional (B, F) positions → (B, F, C)."""
    p = pos.clamp(0, seq.shape[-1] - 1)
    lo = p.floor().long()
    hi = (lo + 1).clamp(max=seq.shape[-1] - 1)
    f = (p - lo.float())[:, None]
    a = torch.gather(seq, 2, lo[:, None].expand(-1, seq.shape[1], -1))
    b = torch.gather(seq, 2, hi[:, None].expand(-1, seq.shape[1], -1))
    return (a * (1 - f) + b * f).transpose(1, 2)


@dataclass
class Losses:
    net: LipNet
    point_weight: torch.Tensor  # (P·3,)
    open_idx: tuple[int, int]  # positions of the upper and lower inner-lip points in P
    s: TrainSettings

    def opening(self, flat: torch.Tensor) -> torch.Tensor:
        """(…, P·3) lips → (…,) vertical inner-lip opening change, mouth widths."""
        up, low = self.open_idx
        return flat[..., 3 * low + 1] - flat[..., 3 * up + 1]

    def __call__(self, batch: _Batch) -> tuple[torch.Tensor, dict[str, float]]:
        coef = _gather(self.net(batch.mel, batch.vis), batch.pos)  # (B, F, k)
        pred = coef @ self.net.basis  # (B, F, P·3)
        m = batch.mask
        err = ((pred - batch.target) ** 2 * self.point_weight).mean(-1)
        n = m.sum().clamp_min(1.0)
        point = (err * m).sum() / n
        mv = m[:, 1:] * m[:, :-1]
        dv = (pred[:, 1:] - pred[:, :-1]) - (batch.target[:, 1:] - batch.target[:, :-1])
        velocity = ((dv**2 * self.point_weight).mean(-1) * mv).sum() / mv.sum().clamp_min(1)
        po, to = self.opening(pred), self.opening(batch.target)
        pc = (po - (po * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)) * m
        tc = (to - (to * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)) * m
        corr = (pc * tc).sum(1) / ((pc**2).sum(1) * (tc**2).sum(1)).clamp_min(1e-12).sqrt()
        correlation = 1.0 - corr.mean()
        cm = batch.closure * m
        closure = ((po - to) ** 2 * cm).sum() / cm.sum().clamp_min(1.0)
        s = self.s
        total = point + s.velocity * velocity + s.correlation * correlation * point.detach() \
            + s.closure * closure
        return total, {"point": float(point.detach()), "velocity": float(velocity.detach()),
                       "corr": float(corr.mean().detach()), "closure": float(closure.detach())}


def new_model(clips: Sequence[LipClip], points: np.ndarray, mel: MelConfig,
              cfg: LipConfig | None = None) -> LipModel:
    cfg = cfg or LipConfig()
    cfg = LipConfig(**{**cfg.to_json(), "n_points": len(points),
                       "dilations": tuple(cfg.dilations)})
    net = LipNet(cfg)
    net.basis.copy_(lip_basis(clips, cfg.basis))
    return LipModel(net, np.asarray(points, np.int64), mel,
                    {"tracker": "mediapipe", "n_points_total": 478})


class WeightAverage:
    """The running mean of a network's weights from step ``start`` on (stochastic weight
    averaging): the same inference cost as the last weights, often a smoother function."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = 0
        self.state: dict[str, torch.Tensor] = {}

    def __call__(self, step: int, net: torch.nn.Module) -> None:
        if step < self.start:
            return
        self.count += 1
        with torch.no_grad():
            for k, v in net.state_dict().items():
                if k not in self.state:
                    self.state[k] = v.detach().clone().float()
                else:
                    self.state[k] += (v.detach().float() - self.state[k]) / self.count

    def apply(self, net: torch.nn.Module) -> None:
        """Load the averaged weights into ``net`` (nothing when no step was averaged)."""
        if self.count:
            net.load_state_dict(self.state)


def train(model: LipModel, clips: Sequence[LipClip], s: TrainSettings | None = None,
          log: Callable[[int, dict], None] | None = None,
          validate: Callable[[LipModel], float] | None = None,
          on_step: Callable[[int, torch.nn.Module], None] | None = None) -> list[dict]:
    """Train ``model`` in place on ``clips``; returns the log (every 100 steps). With
    ``s.average`` the model ends with the mean weights of that last share of the steps;
    ``on_step`` sees the network after every step."""
    s = s or TrainSettings()
    average = WeightAverage(int(math.ceil(s.steps * (1.0 - s.average)))) \
        if s.average > 0 else None
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    net = model.net
    regions = load_regions("mediapipe")
    p = model.points
    lm = regions.landmarks
    contour = np.isin(p, regions.lips).astype(np.float32)
    pw = np.repeat(1.0 + s.contour * contour, 3)
    losses = Losses(net, torch.from_numpy(pw / pw.mean()).float(),
                    (int(np.searchsorted(p, lm["upper_lip_inner"])),
                     int(np.searchsorted(p, lm["lower_lip_inner"]))), s)
    sampler = Sampler(clips, model.mel, s, net.basis if net.cfg.visemes else None)
    params = [q for n, q in net.named_parameters()]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, s.lr, total_steps=s.steps,
                                                pct_start=0.1)
    history: list[dict] = []
    started = time.perf_counter()
    net.train()
    try:
        for step in range(1, s.steps + 1):
            loss, parts = losses(sampler.batch(rng))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            if average is not None:
                average(step, net)
            if on_step is not None:
                on_step(step, net)
            if step % 100 == 0 or step == s.steps:
                entry = {"step": step, "loss": float(loss.detach()), **parts,
                         "seconds": round(time.perf_counter() - started, 1)}
                if validate is not None:
                    net.eval()
                    entry["val"] = validate(model)
                    net.train()
                history.append(entry)
                if log:
                    log(step, entry)
        if average is not None:
            average.apply(net)
    finally:
        net.eval()
        torch.set_num_threads(threads)
    return history


def add_members(model: LipModel, clips: Sequence[LipClip], s: TrainSettings, count: int,
                log: Callable[[int, dict], None] | None = None) -> None:
    """Train members 2..``count`` of ``model``'s ensemble on the same clips, from seeds
    s.seed + 1000 · j (the first member is ``model.net``, trained by the caller)."""
    for j in range(1, count):
        other = new_model(clips, model.points, model.mel, model.net.cfg)
        train(other, clips, replace(s, seed=s.seed + 1000 * j), log)
        model.others.append(other.net)


# -- figures ----------------------------------------------------------------------------------


def opening(lips: np.ndarray, gap0: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap of K_c + lips in mouth widths (as ``mouth_opening`` measures)."""
    lm = load_regions("mediapipe").landmarks
    up = int(np.searchsorted(points, lm["upper_lip_inner"]))
    low = int(np.searchsorted(points, lm["lower_lip_inner"]))
    return np.linalg.norm(gap0[None] + lips[:, low] - lips[:, up], axis=-1)


def lip_distance(pred: np.ndarray, truth: np.ndarray, points: np.ndarray, scale: float
                 ) -> float:
    """Mean 2-D distance of the lip contour points, % of the inter-ocular distance."""
    sel = np.isin(points, load_regions("mediapipe").lips)
    d = np.linalg.norm(pred[:, sel, :2] - truth[:, sel, :2], axis=-1)
    return float(100.0 * d.mean() / scale)


def predict_clip(model: LipModel, clip: LipClip, phones: bool = True) -> np.ndarray:
    """(T, P, 3) predicted lips of a clip from its own sound (and its visemes unless
    ``phones`` is False), with no gate and no style."""
    vis = None
    if phones and model.net.cfg.visemes and clip.visemes is not None:
        vis = frames_to_mel(clip.visemes.reshape(clip.frame_count, -1)
                            @ model.net.basis.numpy().T, clip.fps, clip.feats.shape[1],
                            model.mel)[None]
    with torch.no_grad():  # an ensemble's members averaged
        seq = torch.stack([net(clip.feats[None], vis)[0] for net in model.nets]).mean(0)
    coef = sample_frames(seq, frame_positions(clip.frame_count, clip.fps, model.mel))
    return model.shapes(coef.numpy())


def clip_lags(model: LipModel, clips: Sequence[LipClip], max_lag: int = 8) -> list[int]:
    """Per clip, the lag of its tracked opening behind the model's prediction."""
    out = []
    for c in clips:
        pred = opening(predict_clip(model, c), c.gap0, model.points)
        truth = opening(c.lips, c.gap0, model.points)
        ok = c.valid
        out.append(best_lag(np.where(ok, pred, pred[ok].mean() if ok.any() else 0),
                            np.where(ok, truth, truth[ok].mean() if ok.any() else 0), max_lag))
    return out


@dataclass
class ClipScore:
    name: str
    speaker: str
    corr: float
    dist: float
    lag: int
    frames: int
    extra: dict = field(default_factory=dict)


def score(pred: np.ndarray, clip: LipClip, points: np.ndarray, name: str = "") -> ClipScore:
    """Opening correlation, lip distance (% IOD) and lag of a prediction against the
    clip's tracked lips (as published: no lag correction), tracked frames only."""
    ok = clip.valid
    po = opening(pred, clip.gap0, points)
    to = opening(clip.lips, clip.gap0, points)
    return ClipScore(name or clip.name, clip.speaker, pearson(po[ok], to[ok]),
                     lip_distance(pred[ok], clip.lips[ok], points, clip.scale),
                     best_lag(po, to), int(ok.sum()))


def lower_weight_points(canonical: np.ndarray, points: np.ndarray) -> np.ndarray:
    return lower_face_weight(canonical, load_regions("mediapipe"))[points]


def validation_loss(model: LipModel, clips: Sequence[LipClip]) -> float:
    """Mean squared error of the lip points on whole clips (lag-corrected targets)."""
    err, n = 0.0, 0
    for c in clips:
        pred = predict_clip(model, c)
        ok = c.target_valid()
        err += float(((pred[ok] - c.target()[ok]) ** 2).mean(axis=(1, 2)).sum())
        n += int(ok.sum())
    return err / max(n, 1)


def speaker_folds(clips: Sequence[LipClip], folds: int, seed: int = 0) -> list[int]:
    """Fold of each clip, by speaker (a speaker's clips share one fold)."""
    speakers = sorted({c.speaker for c in clips})
    np.random.default_rng(seed).shuffle(speakers)
    fold_of = {s: i % folds for i, s in enumerate(speakers)}
    return [fold_of[c.speaker] for c in clips]


def set_lags(clips: Sequence[LipClip], lags: Sequence[int], keep: int = 4
             ) -> tuple[list[LipClip], list[tuple[str, int, bool]]]:
    """Each clip's lag (relative to the corpus' median), set on the clip; clips further
    than ``keep`` frames out are dropped as out of sync as published. Returns the kept
    clips and (name, lag, kept) per clip."""
    median = int(np.median(lags))
    kept, table = [], []
    for c, lag in zip(clips, lags, strict=True):
        rel = lag - median
        ok = abs(rel) <= keep
        c.lag = rel if ok else 0
        table.append((c.name, rel, ok))
        if ok:
            kept.append(c)
    return kept, table


def ridge_lags(clips: Sequence[LipClip], points: np.ndarray, mel: MelConfig, folds: int = 6,
               max_lag: int = 8, reach: int = 20, ridge: float = 10.0, seed: int = 0
               ) -> list[int]:
    """Per clip, the lag of its tracked opening behind a prediction that never saw its
    speaker: a ridge regression from ±``reach`` mel frames to the opening, fitted on the
    other folds' speakers (a clip's own timing cannot bias its estimate)."""

    def design(c: LipClip) -> np.ndarray:
        x = c.feats.numpy()
        pos = np.round(frame_positions(c.frame_count, c.fps, mel)).astype(np.int64)
        idx = np.clip(pos[:, None] + np.arange(-reach, reach + 1, 2), 0, x.shape[1] - 1)
        return np.concatenate([x[:, idx].transpose(1, 2, 0).reshape(len(pos), -1),
                               np.ones((len(pos), 1), np.float32)], axis=1)

    xs = [design(c) for c in clips]
    ys = [opening(c.lips, c.gap0, points) for c in clips]
    fold = speaker_folds(clips, folds, seed)
    lags = [0] * len(clips)
    for f in range(folds):
        tr = [i for i, k in enumerate(fold) if k != f]
        if not tr:
            continue
        w_clip = [1.0 / math.sqrt(len(ys[i])) for i in tr]  # √length weighting, as training
        x = np.concatenate([xs[i][clips[i].valid] * math.sqrt(w) for i, w in zip(tr, w_clip,
                                                                               strict=True)])
        y = np.concatenate([ys[i][clips[i].valid] * math.sqrt(w) for i, w in zip(tr, w_clip,
                                                                               strict=True)])
        gram = x.T.astype(np.float64) @ x
        coef = np.linalg.solve(gram + ridge * np.eye(len(gram)), x.T.astype(np.float64) @ y)
        for i, k in enumerate(fold):
            if k == f:
                lags[i] = best_lag(xs[i] @ coef, ys[i], max_lag)
    return lags
