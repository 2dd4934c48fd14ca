"""The Audio2Exp adapter's network and its audio features, shared by the driver and trainer.

It lives in core (not trainer/) because core may never import the trainer, yet the
``audio2exp`` driver must run the network on any dub. The trainer imports it from here.

Features: 80-band log-mel at 16 kHz with a 10 ms hop, the speech brought to a fixed level
first, so a whisper and a shout of the same words look alike. Each video frame sees a
window of mel frames centred on the middle of its span (the convention of
``core.media.rms_envelope``); ±12 frames (±120 ms) cover the 60-120 ms by which lips lead
the sound. Zero-energy audio maps to an all-zero window: "silent" is one exact input.

Network (ControlTalk §3.2): a small 1-D conv encoder over the mel window, plus a silent-lip
reference S(E) of the lip points (the closed-mouth expression: identity and the non-lip
face, with no lip shape to copy, as in the stabilised-sync paper's silent-lip generator),
into an MLP whose last layer is a zero-initialised linear layer ("zero module"). Its output
is multiplied by the lip weight of each point, so it can never move what the lips do not
carry.

Residual on the viseme driver (``ModelConfig.vis_context >= 0``, the default of every model
trained since format 2): ControlTalk's zero module adds a residual on top of a reference
lip expression, and ours is the viseme driver's trajectory ΔE_vis for the same audio. The
network also sees ΔE_vis over ±``vis_context`` frames (so it can retime and rescale it) and
ΔE = ΔE_vis + zero_module(mel, ΔE_vis window, S(E)). Untrained, its own contribution is
exactly 0 and the adapter *is* the viseme driver; fine-tuning on seconds of footage can
then only add what the validation split says generalises. ``forward`` returns that
contribution; callers add ΔE_vis. A model with ``vis_context = -1`` (format 1) gives the
whole ΔE itself and ignores the visemes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

SPEECH_LEVEL_DBFS = -20.0  # active speech is brought to this level before the mel
SILENT_DBFS = -50.0  # below this (50 ms RMS peak) audio counts as silent and is left alone


@dataclass(frozen=True)
class MelConfig:
    """How audio becomes the adapter's input; stored in every checkpoint."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    floor_db: float = -100.0  # maps to 0; 0 dB (a full-scale sine) maps to 1
    context: int = 12  # mel frames each side of a video frame's centre

    @property
    def window(self) -> int:
        return 2 * self.context + 1

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> MelConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(cfg: MelConfig) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK filters with unit peak."""
    freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None]) / np.maximum(hi - mid, 1e-9)
    return np.clip(np.minimum(up, down), 0.0, None).astype(np.float32)


def normalise_level(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Scale speech so its loud 50 ms stretches sit at SPEECH_LEVEL_DBFS; silence stays."""
    x = np.asarray(samples, np.float32)
    w = max(1, int(0.05 * sample_rate))
    n = len(x) // w
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * w].reshape(n, w).astype(np.float64) ** 2, axis=1))
    if 20 * np.log10(max(rms.max(), 1e-12)) < SILENT_DBFS:
        return x
    level = np.percentile(rms, 95)
    return (x * (10 ** (SPEECH_LEVEL_DBFS / 20) / max(level, 1e-9))).astype(np.float32)


def mel_power(samples: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """(frames, n_mels) mel power of level-normalised audio, frame j centred at j·hop."""
    x = torch.from_numpy(normalise_level(samples, cfg.sample_rate))
    if len(x) < cfg.n_fft:
        x = torch.nn.functional.pad(x, (0, cfg.n_fft - len(x)))
    window = torch.hann_window(cfg.win_length)
    spec = torch.stft(x, cfg.n_fft, cfg.hop_length, cfg.win_length, window, center=True,
                      return_complex=True)
    power = (spec.abs() / window.sum()) ** 2  # a full-scale sine peaks near 0.25 (-6 dB)
    fb = torch.from_numpy(mel_filterbank(cfg))
    return (fb @ power).T.contiguous().numpy().astype(np.float32)


def log_mel(power: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Mel power to the network's scale: floor_db → 0, 0 dB → 1, silence exactly 0."""
    db = 10.0 * torch.log10(power.clamp_min(10 ** (cfg.floor_db / 10)))
    return (db - cfg.floor_db) / -cfg.floor_db


def window_index(frame_count: int, fps: float, cfg: MelConfig, shift: int = 0) -> np.ndarray:
    """(frame_count, window) mel frame indices seen by each video frame (may be < 0)."""
    centre = np.round((np.arange(frame_count) + 0.5) / fps * cfg.frames_per_second)
    return centre.astype(np.int64)[:, None] + shift + np.arange(-cfg.context, cfg.context + 1)


def gather_windows(power: np.ndarray | torch.Tensor, index: np.ndarray | torch.Tensor
                   ) -> torch.Tensor:
    """(…, n_mels, window) power at ``index`` (…, window); outside the audio is silence."""
    p = torch.as_tensor(power)
    idx = torch.as_tensor(index)
    inside = (idx >= 0) & (idx < len(p))
    out = p[idx.clamp(0, max(len(p) - 1, 0))] * inside[..., None]
    return out.transpose(-1, -2)


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape; stored in every checkpoint so the driver rebuilds it."""

    n_points: int
    n_mels: int = 80
    window: int = 25
    channels: int = 64
    hidden: int = 128
    ref_dim: int = 32
    dropout: float = 0.1
    out_scale: float = 0.05  # canonical units of one network output unit
    basis: int = 0  # > 0: ΔE is a mix of this many fixed lip-motion modes (else free)
    vis_context: int = -1  # ≥ 0: residual on ΔE_vis, seen ±this many frames; -1: absolute
    vis_dim: int = 8  # per-frame features of ΔE_vis when there is no mode basis
    members: int = 1  # > 1: an ensemble of this many nets (the folds of a cross-validation)

    @property
    def residual(self) -> bool:
        """Whether ΔE = ΔE_vis + the network's output (else the output is all of ΔE)."""
        return self.vis_context >= 0

    @property
    def vis_window(self) -> int:
        return 2 * self.vis_context + 1 if self.residual else 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def zero_module(module: nn.Module) -> nn.Module:
    """Zero every parameter: the adapter starts as the identity edit (ControlNet's trick)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def vis_windows(delta: np.ndarray | torch.Tensor, frames: np.ndarray | torch.Tensor,
                context: int, lo: np.ndarray | torch.Tensor | int = 0,
                hi: np.ndarray | torch.Tensor | int | None = None) -> torch.Tensor:
    """(…, 2·context+1, P, 3) ΔE_vis around each of ``frames`` (…), the edge frame repeated
    beyond [lo, hi) (a clip's own span), as the network's viseme input."""
    d = torch.as_tensor(delta)
    f = torch.as_tensor(frames)
    lo_t = torch.as_tensor(lo)
    hi_t = torch.as_tensor(len(d) if hi is None else hi)
    idx = f[..., None] + torch.arange(-context, context + 1)
    if lo_t.dim():
        lo_t, hi_t = lo_t[..., None], hi_t[..., None]
    idx = torch.maximum(torch.minimum(idx, hi_t - 1), lo_t)
    return d[idx]


class Audio2Exp(nn.Module):
    """(mel window, silent-lip reference, lip weight[, ΔE_vis window]) → the adapter's ΔE
    contribution on the lip points (all of ΔE for a format-1 model)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        act = nn.LeakyReLU(0.2)
        self.audio = nn.Sequential(
            nn.Conv1d(cfg.n_mels, c, 3, padding=1), act,
            nn.Conv1d(c, c, 3, stride=2, padding=1), act,
            nn.Conv1d(c, c, 3, stride=2, padding=1), act,
            nn.Conv1d(c, c, 3, stride=2, padding=1), act,
        )
        t = cfg.window
        for _ in range(3):
            t = (t + 1) // 2
        self.audio_out = nn.Linear(c * t, cfg.hidden)
        self.ref = nn.Linear(cfg.n_points * 3, cfg.ref_dim)
        vis_in = 0
        if cfg.residual:
            # ΔE_vis per frame as a few numbers: its coordinates on the mode basis (fixed),
            # else a learned projection; the window of them is flattened
            per_frame = cfg.basis if cfg.basis > 0 else cfg.vis_dim
            if cfg.basis <= 0:
                self.vis = nn.Linear(cfg.n_points * 3, cfg.vis_dim)
            vis_in = per_frame * cfg.vis_window
        self.fuse = nn.Sequential(
            nn.LeakyReLU(0.2), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden + cfg.ref_dim + vis_in, cfg.hidden), nn.LeakyReLU(0.2),
        )
        if cfg.basis > 0:
            # the speaker's main lip-motion modes (from the trainer's SVD of its targets):
            # few degrees of freedom generalise from seconds of footage
            self.register_buffer("modes", torch.zeros(cfg.basis, cfg.n_points * 3))
            self.out = zero_module(nn.Linear(cfg.hidden, cfg.basis))
        else:
            self.out = zero_module(nn.Linear(cfg.hidden, cfg.n_points * 3))

    def vis_features(self, vis: torch.Tensor) -> torch.Tensor:
        """(B, W, P, 3) ΔE_vis window → (B, W·k) input features, in output units."""
        b, w = vis.shape[:2]
        x = vis.reshape(b, w, -1) / self.cfg.out_scale
        if self.cfg.basis > 0:
            # coordinates on the (orthogonal, scaled) modes: x · m / |m|²
            norm = (self.modes**2).sum(dim=1).clamp_min(1e-12)
            return ((x @ self.modes.T) / norm).flatten(1)
        return self.vis(x).flatten(1)

    def forward(self, mel: torch.Tensor, ref: torch.Tensor, weight: torch.Tensor,
                vis: torch.Tensor | None = None) -> torch.Tensor:
        """mel (B, n_mels, window) on the log_mel scale, ref (B, P, 3) S(E) of the lip
        points, weight (B, P) or (P,) their lip weight, vis (B, vis_window, P, 3) ΔE_vis
        around each frame (residual models) → (B, P, 3) in canonical units: the correction
        added to ΔE_vis, or all of ΔE for a format-1 model."""
        b = mel.shape[0]
        a = self.audio_out(self.audio(mel).flatten(1))
        r = self.ref(ref.reshape(b, -1) / self.cfg.out_scale)
        parts = [a, r]
        if self.cfg.residual:
            if vis is None:
                raise ValueError("this adapter corrects the viseme driver: pass ΔE_vis")
            parts.append(self.vis_features(vis))
        h = self.fuse(torch.cat(parts, dim=1))
        d = self.out(h)
        if self.cfg.basis > 0:
            d = d @ self.modes
        d = d.view(b, self.cfg.n_points, 3) * self.cfg.out_scale
        return d * weight[..., None]


class Audio2ExpEnsemble(nn.Module):
    """``cfg.members`` adapters, each trained with one block of the footage held out; the
    mean of their outputs. Averaging the folds' nets shrinks what each learned by chance
    from seconds of footage, and keeps what they agree on; all zero, the mean is zero."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.nets = nn.ModuleList(Audio2Exp(cfg) for _ in range(cfg.members))

    def forward(self, mel: torch.Tensor, ref: torch.Tensor, weight: torch.Tensor,
                vis: torch.Tensor | None = None) -> torch.Tensor:
        """The members' mean output (see :meth:`Audio2Exp.forward`)."""
        return torch.stack([net(mel, ref, weight, vis) for net in self.nets]).mean(dim=0)


def build_network(cfg: ModelConfig) -> Audio2Exp | Audio2ExpEnsemble:
    """The network a config describes: one adapter, or an ensemble of ``members``."""
    return Audio2ExpEnsemble(cfg) if cfg.members > 1 else Audio2Exp(cfg)


def members_of(model: Audio2Exp | Audio2ExpEnsemble) -> list[Audio2Exp]:
    """The single nets of a model (itself, for one adapter)."""
    return list(model.nets) if isinstance(model, Audio2ExpEnsemble) else [model]


def predict(model: Audio2Exp | Audio2ExpEnsemble, power: np.ndarray, ref: np.ndarray,
            weight: np.ndarray, frame_count: int, fps: float, mel_cfg: MelConfig, batch: int = 512,
            vis: np.ndarray | None = None) -> np.ndarray:
    """The network's output (frame_count, P, 3) for every frame (for a residual model, the
    correction to ``vis``, ΔE_vis (frame_count, P, 3)), without gradients, in eval mode."""
    device = next(model.parameters()).device
    p = torch.from_numpy(np.asarray(power, np.float32)).to(device)
    idx = torch.from_numpy(window_index(frame_count, fps, mel_cfg)).to(device)
    r = torch.from_numpy(np.asarray(ref, np.float32)).to(device)
    w = torch.from_numpy(np.asarray(weight, np.float32)).to(device)
    v = None
    if model.cfg.residual:
        if vis is None:
            raise ValueError("this adapter corrects the viseme driver: pass ΔE_vis")
        v = torch.from_numpy(np.asarray(vis, np.float32)).to(device)
    out = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for a in range(0, frame_count, batch):
            b = min(frame_count, a + batch)
            mel = log_mel(gather_windows(p, idx[a:b]), mel_cfg)
            vw = None if v is None else vis_windows(v, torch.arange(a, b, device=device),
                                                    model.cfg.vis_context)
            out.append(model(mel, r[a:b], w, vw).cpu().numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, len(weight), 3), np.float32)
    return np.concatenate(out).astype(np.float32)
