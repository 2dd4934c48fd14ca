"""The learned lip driver: a speaker-independent model from the sound to the lips.

Trained across the 36 speakers of ``../shared/corpus`` (``tools/train_lip_model.py``), it
hears the dub's sound, not English phones, so it follows the rhythm of syllables in any
language and needs no transcript.

Space. Every speaker's lips live in one shared space: the lower-face expression of a fixed
set of points with the speaker's closed-mouth neutral taken out (K_c's mouth is its closed
frames, so ΔE = w ⊙ E) and divided by the closed mouth's width, the unit of the default
viseme library. The model predicts ``basis`` coefficients per frame of an orthonormal lip
basis learned from the corpus (uncentred, so the closed mouth, 0, stays exact); the basis
maps them back to the points, and the target face's mouth width and lower-face weight bring
them onto its keypoints.

Network: a temporal convolution over the whole log-mel sequence (10 ms hop) whose
receptive field is about ±200 ms, read at each video frame's centre. It is fully
convolutional, so one pass serves a dub of any length and frame rate.

The driver adds what a professional needs on top: silences close the mouth (a gate from the
sound's own loudness), p/b/m close fully where the alignment has them (the viseme driver's
forced closures), and a speaker's own footage rescales the predicted motion to their style
(:func:`fit_style`, a ridge map shrunk towards the identity) and, where cross-validation on
that footage says it helps, mixes in their own ridge readout of the network's last hidden
layer (:class:`Readout`, :func:`choose_adaptation`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from core.align import Alignment
from core.errors import StudioError
from core.keypoints.regions import RegionSet
from core.motion.audio2exp_model import MelConfig, log_mel, mel_power
from core.motion.driver import LipMotion, VisemeDriver
from core.motion.library import VisemeLibrary
from core.motion.mouth import lower_face_weight, mouth_width
from core.paths import resources_dir

FORMAT = "studio-lipsync"
VERSION = 2  # 2: an ensemble of members (version 1: one network, the same layout)
MAX_MEMBERS = 8
METADATA_KEY = "lipsync"
BACKEND = "landmarks"
NAME = "learned"
SHIPPED = "lipsync/mediapipe.safetensors"  # under resources/


@dataclass(frozen=True)
class LipConfig:
    """The network's shape; stored in every model file so the driver rebuilds it."""

    n_mels: int = 80
    channels: int = 96  # 64 before: 96 predicted the corpus' held-out speakers better
    kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4, 8, 4)
    basis: int = 12
    n_points: int = 0
    dropout: float = 0.1
    visemes: bool = True  # also hears the viseme driver's trajectory (its coefficients)

    @property
    def reach(self) -> int:
        """Mel frames each side that one output hears."""
        return self.kernel // 2 + sum(self.dilations)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LipConfig:
        out = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "dilations" in out:
            out["dilations"] = tuple(int(d) for d in out["dilations"])
        return cls(**out)


class _Block(nn.Module):
    """A dilated residual convolution over time."""

    def __init__(self, c: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(c, c, 1)
        self.norm = nn.GroupNorm(8, c)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.drop(nn.functional.gelu(self.norm(self.conv(x)))))


class LipNet(nn.Module):
    """(B, n_mels, L) log-mel → (B, basis, L) lip coefficients at the mel frame rate."""

    def __init__(self, cfg: LipConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        extra = cfg.basis if cfg.visemes else 0
        self.inp = nn.Conv1d(cfg.n_mels + extra, c, cfg.kernel, padding=cfg.kernel // 2)
        self.blocks = nn.Sequential(*(_Block(c, d, cfg.dropout) for d in cfg.dilations))
        self.out = nn.Conv1d(c, cfg.basis, 1)
        self.register_buffer("basis", torch.zeros(cfg.basis, cfg.n_points * 3))

    def forward(self, mel: torch.Tensor, vis: torch.Tensor | None = None) -> torch.Tensor:
        """``vis`` (B, basis, L): the viseme trajectory's coefficients at the mel rate
        (None or zeros: no phones, e.g. an unaligned language; the model hears sound only)."""
        return self.out(self.hidden(mel, vis))

    def hidden(self, mel: torch.Tensor, vis: torch.Tensor | None = None) -> torch.Tensor:
        """(B, channels, L) the last hidden layer: what the speaker's own readout hears."""
        if self.cfg.visemes:
            if vis is None:
                vis = mel.new_zeros(mel.shape[0], self.cfg.basis, mel.shape[-1])
            mel = torch.cat([mel, vis], dim=1)
        return self.blocks(nn.functional.gelu(self.inp(mel)))

    def shapes(self, coef: torch.Tensor) -> torch.Tensor:
        """(…, basis) coefficients → (…, P, 3) lips in mouth widths."""
        return (coef @ self.basis).reshape(*coef.shape[:-1], self.cfg.n_points, 3)


def sound_features(samples: np.ndarray, mel: MelConfig) -> torch.Tensor:
    """(n_mels, L) log-mel of level-normalised speech; silence is exactly 0."""
    return log_mel(torch.from_numpy(mel_power(samples, mel)), mel).T.contiguous()


def frame_positions(frame_count: int, fps: float, mel: MelConfig) -> np.ndarray:
    """(T,) fractional mel frame at the centre of each video frame."""
    return (np.arange(frame_count) + 0.5) / fps * mel.frames_per_second


def sample_frames(seq: torch.Tensor, pos: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(…, C, L) sequence read at fractional positions (T,) → (…, T, C), edges held."""
    p = torch.as_tensor(pos, dtype=torch.float32, device=seq.device)
    p = p.clamp(0, seq.shape[-1] - 1)
    lo = p.floor().long()
    hi = (lo + 1).clamp(max=seq.shape[-1] - 1)
    f = (p - lo.float())
    out = seq[..., lo] * (1 - f) + seq[..., hi] * f
    return out.transpose(-1, -2)


def frames_to_mel(values: np.ndarray, fps: float, length: int, mel: MelConfig
                  ) -> torch.Tensor:
    """(T, C) values per video frame → (C, length) at the mel rate (linear, edges held)."""
    v = np.asarray(values, np.float32)
    t = np.arange(length) / mel.frames_per_second * fps - 0.5
    if len(v) == 0:
        return torch.zeros(v.shape[1] if v.ndim == 2 else 0, length)
    out = np.stack([np.interp(t, np.arange(len(v)), v[:, c]) for c in range(v.shape[1])])
    return torch.from_numpy(out.astype(np.float32))


def speech_gate(features: torch.Tensor, pos: np.ndarray, floor: float = 0.25,
                full: float = 0.4) -> np.ndarray:
    """(T,) 0 in silence, 1 in speech, smooth between: the loudest mel band's level
    (0 = −100 dB, 1 = 0 dB on the log_mel scale) around each frame, ±50 ms."""
    level = features.max(dim=0).values[None, None]  # (1, 1, L)
    level = nn.functional.max_pool1d(level, 11, stride=1, padding=5)[0]
    g = sample_frames(level, pos)[:, 0].numpy()
    u = np.clip((g - floor) / (full - floor), 0.0, 1.0)
    return (u * u * (3 - 2 * u)).astype(np.float32)


@dataclass
class LipModel:
    """The network, its point set and its sound settings. An ensemble holds other members
    too: the same network trained from other seeds, whose predictions are averaged (they
    share the lip basis, so their coefficients mean the same)."""

    net: LipNet
    points: np.ndarray  # (P,) indices into the tracker's layout
    mel: MelConfig
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    others: list[LipNet] = field(default_factory=list)  # the ensemble's other members

    @property
    def nets(self) -> list[LipNet]:
        """Every member's network, the first one first."""
        return [self.net, *self.others]

    def members(self) -> list[LipModel]:
        """One model per member (sharing points, sound settings and description)."""
        return [LipModel(n, self.points, self.mel, self.meta, self.path) for n in self.nets]

    def coefficients(self, samples: np.ndarray, frame_count: int, fps: float,
                     visemes: np.ndarray | None = None) -> np.ndarray:
        """(T, basis) predicted lip coefficients per video frame; ``visemes`` (T, P, 3) is
        the viseme driver's motion in the shared space (None: sound only)."""
        return self.coefficients_of(sound_features(samples, self.mel), frame_count, fps,
                                    visemes)

    def coefficients_of(self, feats: torch.Tensor, frame_count: int, fps: float,
                        visemes: np.ndarray | None = None) -> np.ndarray:
        """:meth:`coefficients` from the sound's features (:func:`sound_features`), the
        mean of the members'."""
        return np.mean([m.coefficients_and_hidden(feats, frame_count, fps, visemes)[0]
                        for m in self.members()], axis=0).astype(np.float32)

    def coefficients_and_hidden(self, feats: torch.Tensor, frame_count: int, fps: float,
                                visemes: np.ndarray | None = None
                                ) -> tuple[np.ndarray, np.ndarray]:
        """((T, basis) coefficients, (T, channels) last hidden layer) per video frame of the
        first member, from one pass (the output layer is linear and pointwise, so reading it
        at the frames commutes with it)."""
        vis = None
        if visemes is not None and self.net.cfg.visemes:
            vis = frames_to_mel(self.project(visemes), fps, feats.shape[1], self.mel)[None]
        was = self.net.training
        self.net.eval()
        with torch.no_grad():
            seq = self.net.hidden(feats[None], vis)[0]
            h = sample_frames(seq, frame_positions(frame_count, fps, self.mel))
            coef = self.net.out(h.T[None])[0].T
        self.net.train(was)
        return coef.numpy(), h.numpy()

    def shapes(self, coef: np.ndarray) -> np.ndarray:
        """(T, basis) → (T, P, 3) lips in mouth widths."""
        with torch.no_grad():
            return self.net.shapes(torch.as_tensor(coef, dtype=torch.float32)).numpy()

    def project(self, lips: np.ndarray) -> np.ndarray:
        """(T, P, 3) lips in mouth widths → (T, basis) coefficients (the basis is
        orthonormal, so this is the least-squares fit)."""
        b = self.net.basis.numpy()
        return (np.asarray(lips, np.float32).reshape(len(lips), -1) @ b.T).astype(np.float32)

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write the model as safetensors with its description (atomic)."""
        from safetensors.torch import save as save_bytes

        from core.atomic import atomic_write_bytes

        meta = {
            "format": FORMAT, "version": VERSION if self.others else 1, "backend": BACKEND,
            "tracker": self.meta.get("tracker", "mediapipe"),
            "n_points_total": int(self.meta.get("n_points_total", 478)),
            "points": [int(i) for i in self.points], "mel": self.mel.to_json(),
            "model": self.net.cfg.to_json(), "members": len(self.nets),
        } | (extra or {})
        state = {}
        for j, net in enumerate(self.nets):  # the first member keeps version 1's keys
            state |= {("" if j == 0 else f"member{j}.") + k: v.detach().contiguous()
                      for k, v in net.state_dict().items()}
        atomic_write_bytes(Path(path), save_bytes(state, {METADATA_KEY: json.dumps(meta)}))
        self.meta = meta

    @classmethod
    def load(cls, path: str | Path, regions: RegionSet) -> LipModel:
        """Open a model file for the tracker of ``regions``; StudioError naming the file
        when it is corrupt, of another version or made for other keypoints."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from core.safemeta import safetensors_metadata

        p, described = safetensors_metadata(
            path, missing="no such lip model file",
            unreadable="not a readable lip model (corrupt or truncated")
        raw = described.get(METADATA_KEY)
        if raw is None:
            raise StudioError(p, "not a lip model (no lipsync description in the file)")
        try:
            meta = json.loads(raw)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise StudioError(p, "not a lip model (unknown format)")
            version = meta.get("version")
            if not isinstance(version, int) or isinstance(version, bool):
                raise StudioError(p, f"the lip model's version is not a number ({version!r})")
            if version not in (1, VERSION):
                raise StudioError(p, f"lip model version {version}; this studio reads "
                                     f"versions 1 to {VERSION}")
            if meta.get("backend") != BACKEND or meta.get("tracker") != regions.tracker \
                    or int(meta.get("n_points_total", -1)) != regions.n_points:
                raise StudioError(p, f"made for {meta.get('backend')}/{meta.get('tracker')} "
                                     f"keypoints, this face uses {BACKEND}/{regions.tracker}")
            points = np.asarray(meta["points"], np.int64)
            mel = MelConfig.from_json(meta["mel"])
            cfg = LipConfig.from_json(meta["model"])
            count = meta.get("members", 1)
            if not isinstance(count, int) or isinstance(count, bool) \
                    or not 1 <= count <= MAX_MEMBERS:
                raise StudioError(p, f"the lip model's member count is not 1 to "
                                     f"{MAX_MEMBERS} ({count!r})")
        except StudioError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise StudioError(p, f"the lip model's description is damaged ({exc})") from None
        if points.ndim != 1 or len(points) != cfg.n_points or len(points) == 0 \
                or points.min() < 0 or points.max() >= regions.n_points:
            raise StudioError(p, "the lip model's points do not fit this tracker's layout")
        try:
            state = load_file(str(p))
            nets = []
            for j in range(count):
                prefix = "" if j == 0 else f"member{j}."
                own = {k[len(prefix):]: v for k, v in state.items()
                       if k.startswith(prefix) and (j > 0 or not k.startswith("member"))}
                net = LipNet(cfg)
                net.load_state_dict(own, strict=True)
                nets.append(net.eval())
            if sum(len(n.state_dict()) for n in nets) != len(state):
                raise ValueError("it holds weights of no member")
        except (SafetensorError, RuntimeError, ValueError, TypeError) as exc:
            raise StudioError(p, f"the lip model's weights do not fit its description ({exc})"
                              ) from None
        if any(not torch.isfinite(t).all() for t in state.values()):
            raise StudioError(p, "the lip model's weights hold NaN or infinite values")
        if any(not torch.equal(n.basis, nets[0].basis) for n in nets[1:]):
            raise StudioError(p, "the lip model's members do not share one lip basis")
        return cls(nets[0], points, mel, meta, p, nets[1:])


def shipped_model_path() -> Path:
    """The model that ships in resources/ (the studio's default driver)."""
    return resources_dir() / SHIPPED


def canonical_lips(expression: np.ndarray, canonical: np.ndarray, regions: RegionSet,
                   points: np.ndarray) -> np.ndarray:
    """(T, P, 3) a face's lip motion in the shared space: w ⊙ E / mouth width."""
    w = lower_face_weight(canonical, regions)[points]
    return (np.asarray(expression)[:, points] * w[None, :, None]
            / mouth_width(canonical, regions)).astype(np.float32)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two signals; NaN when either is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or np.ptp(a) < 1e-9 or np.ptp(b) < 1e-9:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def best_lag(pred: np.ndarray, truth: np.ndarray, max_lag: int = 8) -> int:
    """k maximising corr(pred[t], truth[t + k]): k > 0 means the truth is late."""
    best, arg = -np.inf, 0
    n = len(pred)
    for k in range(-max_lag, max_lag + 1):
        lo, hi = max(0, -k), min(n, n - k)
        if hi - lo < 8:
            continue
        r = pearson(pred[lo:hi], truth[lo + k:hi + k])
        if np.isfinite(r) and r > best:
            best, arg = r, k
    return arg


def shift(values: np.ndarray, k: int) -> np.ndarray:
    """``values`` delayed by ``k`` frames along the first axis (advanced when k < 0),
    edges held."""
    if k == 0 or len(values) == 0:
        return values
    return values[np.clip(np.arange(len(values)) - k, 0, len(values) - 1)]


def fit_style(predicted: np.ndarray, truth: np.ndarray, shrink: float = 1.0) -> np.ndarray:
    """(k, k) map A with truth ≈ predicted · A: a speaker's own way of moving, from their
    footage, shrunk towards the identity (``shrink`` · mean energy per coefficient)."""
    c = np.asarray(predicted, np.float64)
    y = np.asarray(truth, np.float64)
    k = c.shape[1]
    gram = c.T @ c
    lam = shrink * max(np.trace(gram) / k, 1e-9)
    return np.linalg.solve(gram + lam * np.eye(k), c.T @ y + lam * np.eye(k)).astype(np.float32)


def windowed(hidden: np.ndarray, width: int) -> np.ndarray:
    """(T, C) → (T, C·(2·width + 1)): each frame with its ``width`` neighbours each side."""
    if width == 0:
        return hidden
    return np.concatenate([shift(hidden, k) for k in range(-width, width + 1)], axis=1)


def fit_readout(x: np.ndarray, y: np.ndarray, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge (W, b) with y ≈ x · W + b, shrunk by ``shrink`` · the mean feature energy."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    xc = x - xm
    gram = xc.T @ xc
    lam = shrink * max(np.trace(gram) / len(gram), 1e-9)
    w = np.linalg.solve(gram + lam * np.eye(len(gram)), xc.T @ (y - ym))
    return w.astype(np.float32), (ym - xm @ w).astype(np.float32)


def ridge_paths(xc: np.ndarray, yc: np.ndarray, xt: np.ndarray, shrinks: Sequence[float]
                ) -> dict[float, np.ndarray]:
    """``xt`` · W for the ridge W of centred ``yc`` on centred ``xc``, for every shrink
    (λ = shrink · the mean feature energy), from one eigendecomposition: of xcᵀxc, or of
    xc·xcᵀ when there are fewer frames than features (the same W, a smaller matrix: a
    speaker's short footage against the readout's ±4 frames of hidden channels)."""
    n, d = xc.shape
    scale = max(float(np.einsum("ij,ij->", xc, xc)) / d, 1e-9)
    if n < d:
        vals, u = np.linalg.eigh(xc @ xc.T)
        proj = u.T @ yc
        reach = (xt @ xc.T) @ u
    else:
        vals, u = np.linalg.eigh(xc.T @ xc)
        proj = u.T @ (xc.T @ yc)
        reach = xt @ u
    vals = np.maximum(vals, 0)
    return {s: reach @ (proj / (vals + s * scale)[:, None]) for s in shrinks}


@dataclass(frozen=True)
class Readout:
    """A speaker's own readout of the lip model's last hidden layer, mixed with the
    style-mapped coefficients: it learns what a 12×12 map cannot (their timing within a
    syllable, which sounds they open for)."""

    weights: np.ndarray  # (C·(2·width + 1), basis)
    bias: np.ndarray  # (basis,)
    width: int
    mix: float

    def __call__(self, hidden: np.ndarray, styled: np.ndarray) -> np.ndarray:
        own = windowed(hidden, self.width) @ self.weights + self.bias
        return ((1 - self.mix) * styled + self.mix * own).astype(np.float32)


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` (T, …) under a Gaussian of ``sigma`` frames along time, edges held."""
    if sigma <= 0 or len(values) < 2:
        return values
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    idx = np.clip(np.arange(len(values))[:, None] + np.arange(-r, r + 1), 0, len(values) - 1)
    return np.tensordot(k, np.asarray(values)[idx], axes=([0], [1])).astype(np.float32)


@dataclass(frozen=True)
class AdaptPool:
    """What a speaker's footage may choose between, by cross-validation on it (contiguous
    parts, each fold count in ``folds`` in turn, their scores averaged): how much of their
    own readout to mix in (0: the style map alone), how many neighbouring frames it hears
    each side and how hard it is shrunk, how hard the style map is shrunk to the identity,
    and how much the output is smoothed in time (σ in seconds)."""

    mixes: tuple[float, ...] = (0.5, 1.0)
    widths: tuple[int, ...] = (0, 2, 4)
    shrinks: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
    style_shrinks: tuple[float, ...] = (1.0,)
    smooths: tuple[float, ...] = (0.0,)
    folds: tuple[int, ...] = (3, 4, 5)


#: the pool the studio chooses from: the one that predicted the corpus' 39 held-out
#: speakers' clips best (bench/lip_adapt_cv.py, 5 leave-speakers-out folds: scores averaged
#: over 3, 4 and 5 folds +0.002; the smoothing −0.006, the style map's shrinkage −0.001).
#: The five shared clips never choose one.
ADAPT_POOL = AdaptPool()


@dataclass(frozen=True)
class Adaptation:
    """One speaker's choice from the pool (mix 0: no readout)."""

    mix: float = 0.0
    width: int = 0
    shrink: float = 0.0
    style_shrink: float = 1.0
    smooth: float = 0.0  # seconds


def choose_adaptation(coef: np.ndarray, hidden: np.ndarray, truth: np.ndarray,
                      use: np.ndarray, opening: Any, fps: float = 25.0,
                      pool: AdaptPool = ADAPT_POOL) -> Adaptation:
    """The choice whose predictions of held-out parts of the speaker's own footage open
    and close most like them (``opening``: coefficients → (T,) opening, linear). One
    eigendecomposition per width and fold serves every shrink."""
    n = len(coef)
    target = opening(truth[use])
    cands: dict[tuple, float] = {}
    splits = []
    for folds in pool.folds:
        edges = np.linspace(0, n, folds + 1).astype(int)
        parts = []
        for f in range(folds):
            test = np.zeros(n, bool)
            test[edges[f]:edges[f + 1]] = True
            train = use & ~test
            if train.sum() < 8:
                return Adaptation()
            parts.append((test, train))
        splits.append(parts)

    def score(pred: np.ndarray) -> dict[float, float]:
        out = {}
        for sigma in pool.smooths:
            r = pearson(opening(smooth(pred, sigma * fps)[use]), target)
            out[sigma] = r if np.isfinite(r) else -np.inf
        return out

    for parts in splits:
        styled = {}
        for ss in pool.style_shrinks:
            st = np.zeros_like(truth, dtype=np.float64)
            for test, train in parts:
                st[test] = coef[test] @ fit_style(coef[train], truth[train], ss)
            styled[ss] = st
            for sigma, r in score(st).items():
                key = (0.0, 0, 0.0, ss, sigma)
                cands[key] = cands.get(key, 0.0) + r / len(splits)
        for width in pool.widths:
            x = windowed(hidden, width).astype(np.float64)
            own = {s: np.zeros_like(truth, dtype=np.float64) for s in pool.shrinks}
            for test, train in parts:
                xm, ym = x[train].mean(axis=0), truth[train].mean(axis=0)
                for s, pred in ridge_paths(x[train] - xm, truth[train] - ym, x[test] - xm,
                                           pool.shrinks).items():
                    own[s][test] = pred + ym
            for s in pool.shrinks:
                for mix in pool.mixes:
                    for ss in (pool.style_shrinks if mix < 1 else pool.style_shrinks[:1]):
                        for sigma, r in score((1 - mix) * styled[ss] + mix * own[s]).items():
                            key = (mix, width, s, ss, sigma)
                            cands[key] = cands.get(key, 0.0) + r / len(splits)
    # ties go to the simplest: no readout, the default shrink, no smoothing
    plain = (0.0, 0, 0.0, 1.0 if 1.0 in pool.style_shrinks else pool.style_shrinks[0],
             pool.smooths[0])
    best = max(cands, key=lambda k: (cands[k], k == plain))
    return Adaptation(*best)


@dataclass(frozen=True)
class SpeakerFit:
    """A speaker's adaptation: the style map, their readout if chosen, their timing and
    the smoothing of the output."""

    style: np.ndarray  # (k, k)
    readout: Readout | None
    lead: float  # seconds by which this speaker's lips are later than the model's
    smooth: float = 0.0  # seconds (σ)

    def apply(self, coef: np.ndarray, hidden: np.ndarray, fps: float) -> np.ndarray:
        """(T, basis) the model's coefficients in this speaker's style and timing."""
        lag = int(round(self.lead * fps))
        out = shift(coef, lag) @ self.style
        if self.readout is not None:
            out = self.readout(shift(hidden, lag), out)
        return smooth(out, self.smooth * fps)


def fit_speaker(coef: np.ndarray, hidden: np.ndarray, truth: np.ndarray, valid: np.ndarray,
                use: np.ndarray, opening: Any, fps: float, pool: AdaptPool = ADAPT_POOL,
                max_lead: float = 0.2) -> SpeakerFit | None:
    """Fit a speaker's adaptation on their own footage: ``coef``/``hidden`` the model's
    output on its sound, ``truth`` (T, basis) their lips, ``valid`` the tracked frames,
    ``use`` those in speech; None under two seconds of speech."""
    if use.sum() < 2 * fps:
        return None
    def held(c: np.ndarray) -> np.ndarray:
        o = opening(c)
        return np.where(valid, o, o[valid].mean() if valid.any() else 0.0)

    # the speaker's own timing: how much later than the model their lips move
    lag = best_lag(held(coef), held(truth), int(round(max_lead * fps)))
    moved, heard = shift(coef, lag), shift(hidden, lag)
    a = choose_adaptation(moved, heard, truth, use, opening, fps, pool)
    readout = None
    if a.mix > 0:
        w, b = fit_readout(windowed(heard, a.width)[use], truth[use], a.shrink)
        readout = Readout(w, b, a.width, a.mix)
    return SpeakerFit(fit_style(moved[use], truth[use], a.style_shrink), readout, lag / fps,
                      a.smooth)


@dataclass
class LearnedDriver:
    """The lip model as a driver: dub sound (+ its alignment for p/b/m) → LipMotion."""

    model: LipModel
    fits: list[SpeakerFit | None] = field(default_factory=list)  # per member, from the
    #   speaker's own footage (empty: not adapted)
    pool: AdaptPool = ADAPT_POOL  # what their footage chooses it from
    name: str = NAME
    max_lead: float = 0.2  # the most a speaker's own timing may move the model's

    @classmethod
    def load(cls, path: str | Path | None, regions: RegionSet) -> LearnedDriver:
        """The model at ``path`` (None: the one shipped with the studio)."""
        return cls(LipModel.load(shipped_model_path() if path is None else path, regions))

    def visemes(self, alignment: Alignment | None, library: VisemeLibrary | None,
                frame_count: int, fps: float, canonical: np.ndarray, regions: RegionSet
                ) -> tuple[np.ndarray | None, LipMotion | None]:
        """(the viseme driver's motion in the shared space, its LipMotion), or Nones."""
        if library is None or alignment is None:
            return None, None
        lips = VisemeDriver(library).motion(alignment, frame_count, fps)
        vis = lips.delta[:, self.model.points] / mouth_width(canonical, regions)
        return vis.astype(np.float32), lips

    def adapt(self, samples: np.ndarray, expression: np.ndarray, validity: np.ndarray,
              fps: float, canonical: np.ndarray, regions: RegionSet, *,
              alignment: Alignment | None = None, library: VisemeLibrary | None = None
              ) -> int:
        """Fit the speaker's style on their own speaking footage (its sound and, when
        given, its alignment); returns the frames used (0: too few, no style). Only the
        frames the sound covers count (the studio passes the first seconds of speech)."""
        n = min(len(expression), int(len(samples) / self.model.mel.sample_rate * fps))
        expression, validity = expression[:n], np.asarray(validity)[:n]
        vis, _ = self.visemes(alignment, library, n, fps, canonical, regions)
        feats = sound_features(samples, self.model.mel)
        gate = speech_gate(feats, frame_positions(n, fps, self.model.mel))
        valid = np.asarray(validity) == 1
        use = valid & (gate > 0.5)
        self.fits = []
        truth = self.model.project(canonical_lips(expression, canonical, regions,
                                                  self.model.points))
        fits = []
        for member in self.model.members():  # each member adapts on its own
            coef, hidden = member.coefficients_and_hidden(feats, n, fps, vis)
            # one BLAS thread: its second thread spins while the cores are busy (an
            # export, another program), which made this 10-25x slower there
            with threadpool_limits(limits=1, user_api="blas"):
                fits.append(fit_speaker(coef, hidden, truth, valid, use,
                                        self._opening_of(regions), fps, self.pool,
                                        self.max_lead))
        self.fits = [] if fits[0] is None else fits
        return 0 if self.fit is None else int(use.sum())

    @property
    def fit(self) -> SpeakerFit | None:
        """The first member's adaptation (None: not adapted)."""
        return self.fits[0] if self.fits else None

    @property
    def style(self) -> np.ndarray | None:
        """The speaker's style map (None: not adapted)."""
        return None if self.fit is None else self.fit.style

    @property
    def readout(self) -> Readout | None:
        """The speaker's own readout, where their footage chose one."""
        return None if self.fit is None else self.fit.readout

    def _opening_of(self, regions: RegionSet) -> Any:
        """coefficients → (T,) the inner-lip opening change (linear in them)."""
        lm = regions.landmarks
        up, low = (int(np.searchsorted(self.model.points, lm[k]))
                   for k in ("upper_lip_inner", "lower_lip_inner"))

        def opening(coef: np.ndarray) -> np.ndarray:
            lips = self.model.shapes(coef)
            return lips[:, low, 1] - lips[:, up, 1]
        return opening

    def motion(self, samples: np.ndarray, frame_count: int, fps: float,
               canonical: np.ndarray, regions: RegionSet,
               alignment: Alignment | None = None, library: VisemeLibrary | None = None
               ) -> LipMotion:
        """ΔE (T, N, 3) for the dub on this face, and the p/b/m closures of its alignment
        (with ``library``, the viseme trajectory is also the model's second input)."""
        feats = sound_features(np.asarray(samples, np.float32), self.model.mel)
        return self.motion_of(feats, frame_count, fps, canonical, regions, alignment, library)

    def motion_of(self, feats: torch.Tensor, frame_count: int, fps: float,
                  canonical: np.ndarray, regions: RegionSet,
                  alignment: Alignment | None = None, library: VisemeLibrary | None = None
                  ) -> LipMotion:
        """:meth:`motion` from the sound's features (:func:`sound_features`)."""
        n = regions.n_points
        delta = np.zeros((frame_count, n, 3), np.float32)
        if frame_count == 0 or not np.isfinite(fps) or fps <= 0:
            return LipMotion(delta, np.zeros(frame_count, np.float32))
        m = self.model
        vis, phones = self.visemes(alignment, library, frame_count, fps, canonical, regions)
        each = []
        for j, member in enumerate(m.members()):  # the members' predictions, averaged
            c, hidden = member.coefficients_and_hidden(feats, frame_count, fps, vis)
            fit = self.fits[j] if self.fits else None
            each.append(c if fit is None else fit.apply(c, hidden, fps))
        coef = np.mean(each, axis=0).astype(np.float32)
        coef *= speech_gate(feats, frame_positions(frame_count, fps, m.mel))[:, None]
        moves = lower_face_weight(canonical, regions)[m.points] > 0
        lips = m.shapes(coef) * (mouth_width(canonical, regions) * moves)[None, :, None]
        delta[:, m.points] = lips
        if phones is None:
            return LipMotion(delta, np.zeros(frame_count, np.float32))
        # p/b/m close fully where the alignment has them: the viseme driver's closed shape,
        # blended in over the frame either side
        near = np.maximum(phones.hold, 0.5 * np.maximum(shift(phones.hold, 1),
                                                        shift(phones.hold, -1)))
        k = near[:, None, None]
        return LipMotion((1 - k) * delta + k * phones.delta, phones.hold)
