"""The ``audio2exp`` driver: a fine-tuned ControlTalk adapter turns any dub into ΔE_t.

The adapter is a residual on the viseme driver (format 2): it takes the viseme trajectory
ΔE_vis of the dub (its alignment through the speaker's viseme library) as the "original
lip expression" and adds what it has learned from the audio itself and from how this
speaker's lips really moved in the footage it was trained on: ΔE = ΔE_vis + zero_module(…).
Seconds of footage cannot teach a network speech from scratch; they can teach it how this
face departs from its visemes. An untrained (or step-0) adapter is the viseme driver.

A model is one safetensors file written by ``trainer/``:

- tensors: the :class:`~core.motion.audio2exp_model.Audio2Exp` state dict;
- metadata ``"audio2exp"``: a JSON block with ``format``, ``version``, ``step``, the
  keypoint ``backend`` and ``tracker`` it was trained on, the lip ``points`` (indices into
  the tracker's layout), the ``mel`` and ``model`` configs (``model.vis_context`` ≥ 0: the
  viseme input's half window), the training settings and the best validation loss.

Version-1 files (before the viseme input) still load, in their old mode: the network's
output is all of ΔE and the visemes are ignored. Loading refuses a corrupt file, a newer
format and a model made for other keypoints with one clear ``StudioError(path, problem)``:
lip indices of one tracker mean nothing on another's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.align import Alignment
from core.errors import StudioError
from core.keypoints.regions import RegionSet
from core.media.audio import Audio
from core.motion.audio2exp_model import (
    Audio2Exp,
    Audio2ExpEnsemble,
    MelConfig,
    ModelConfig,
    build_network,
    mel_power,
    predict,
)
from core.motion.driver import LipMotion, VisemeDriver
from core.motion.library import VisemeLibrary

FORMAT = "studio-audio2exp"
VERSION = 3  # 3: "base" names the driver corrected (learned | visemes); 2: residual on the
# viseme driver (model.vis_context); 1: absolute ΔE
METADATA_KEY = "audio2exp"
BACKEND = "landmarks"  # the keypoint backend of every tracker we have; liveportrait later


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON block of a model or checkpoint file, or a StudioError saying what is wrong."""
    from core.safemeta import safetensors_metadata

    p, described = safetensors_metadata(
        path, missing="no such model file",
        unreadable="not a readable model (corrupt or truncated safetensors")
    raw = described.get(METADATA_KEY)
    if raw is None:
        raise StudioError(p, "not an audio2exp model (no studio metadata in the file)")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise StudioError(p, "the model's metadata is not valid JSON (corrupt file)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StudioError(p, "not an audio2exp model (unknown format)")
    version = meta.get("version", 0)
    if type(version) is not int or version < 0:
        raise StudioError(p, f"the model's metadata version is not a whole number "
                             f"({str(version)[:40]!r}; corrupt file)")
    if version > VERSION:
        raise StudioError(p, f"made by a newer studio (model version {meta.get('version')}, "
                             f"this one reads up to {VERSION}); update the studio")
    return meta


def check_backend(path: str | Path, meta: dict[str, Any], regions: RegionSet) -> None:
    """Refuse a model trained on another keypoint backend or tracker than ``regions``'."""
    backend, tracker = meta.get("backend"), meta.get("tracker")
    if backend != BACKEND or tracker != regions.tracker:
        raise StudioError(
            path, f"trained on {backend}/{tracker} keypoints, but this face uses "
                  f"{BACKEND}/{regions.tracker}; train an adapter on this tracker's keypoints")
    if int(meta.get("n_points_total", -1)) != regions.n_points:
        raise StudioError(path, f"made for {meta.get('n_points_total')} keypoints, this "
                                f"tracker has {regions.n_points}")


def load_model(path: str | Path, meta: dict[str, Any], device: str | torch.device = "cpu"
               ) -> Audio2Exp | Audio2ExpEnsemble:
    """The network of a checked file, in evaluation mode."""
    from safetensors.torch import load_file

    p = Path(path)
    try:
        cfg = ModelConfig.from_json(meta["model"])
        model = build_network(cfg)
        state = load_file(str(p), device=str(device))
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise StudioError(p, f"the model's weights do not fit its description ({exc})"
                          ) from None
    if any(not torch.isfinite(t).all() for t in state.values()):
        raise StudioError(p, "the model's weights hold NaN or infinite values (corrupt file)")
    return model.to(device).eval()


@dataclass
class Audio2ExpDriver:
    """The adapter as a driver: dub audio (+ the output frames' expression) → LipMotion."""

    model: Audio2Exp | Audio2ExpEnsemble
    points: np.ndarray
    mel: MelConfig
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    name: str = "audio2exp"

    @classmethod
    def load(cls, path: str | Path, regions: RegionSet, device: str | torch.device = "cpu"
             ) -> Audio2ExpDriver:
        """Open a model file for the tracker of ``regions``; StudioError if it cannot serve."""
        p = Path(path)
        meta = read_metadata(p)
        check_backend(p, meta, regions)
        try:
            points = np.asarray(meta["points"], np.int64)
            mel = MelConfig.from_json(meta["mel"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError(p, f"the model's metadata is incomplete ({exc})") from None
        if points.ndim != 1 or len(points) == 0 or points.min() < 0 or \
                points.max() >= regions.n_points:
            raise StudioError(p, "the model's lip points do not fit this tracker's layout")
        model = load_model(p, meta, device)
        if model.cfg.n_points != len(points) or model.cfg.window != mel.window or \
                model.cfg.n_mels != mel.n_mels:
            raise StudioError(p, "the model's network does not match its lip points or mel "
                                 "settings (corrupt metadata)")
        if (model.cfg.residual or model.cfg.members > 1) and int(meta.get("version", 0)) < 2:
            raise StudioError(p, "a version-1 model cannot have a viseme input or members "
                                 "(corrupt metadata)")
        return cls(model, points, mel, meta, p)

    @property
    def base(self) -> str:
        """The driver a residual adapter corrects: "learned" (format 3) or "visemes"."""
        return str(self.meta.get("base", "visemes"))

    @property
    def residual(self) -> bool:
        """True when the model corrects the viseme driver (needs alignment and library)."""
        return self.model.cfg.residual

    def motion(self, dub_audio16k: Audio | np.ndarray, expression: np.ndarray,
               lip_weight: np.ndarray, frame_count: int, fps: float, *,
               alignment: Alignment | None = None, library: VisemeLibrary | None = None,
               canonical: np.ndarray | None = None, regions: RegionSet | None = None
               ) -> LipMotion:
        """ΔE (frame_count, N, 3) for the dub, zero off the lip points.

        ``expression`` is E of the output frames (T ≥ frame_count; the lips are ignored,
        only S(E) is seen), ``lip_weight`` (N,) the face's lower-face weight. A residual
        model needs the dub's ``alignment`` (None: no speech) and the speaker's viseme
        ``library``: ΔE_vis and the forced closures come from the viseme driver on them,
        and the network's correction is added; a version-1 model ignores both.
        """
        if isinstance(dub_audio16k, Audio):
            if dub_audio16k.sample_rate != self.mel.sample_rate:
                raise ValueError(f"the dub must be at {self.mel.sample_rate} Hz, got "
                                 f"{dub_audio16k.sample_rate}")
            samples = dub_audio16k.samples
        else:
            samples = np.asarray(dub_audio16k, np.float32)
        if samples.ndim != 1:
            raise ValueError("the dub must be mono")
        e = np.asarray(expression, np.float32)
        if len(e) < frame_count:
            raise ValueError(f"expression has {len(e)} frames, {frame_count} needed")
        w = np.asarray(lip_weight, np.float32)
        n = e.shape[1]
        if self.residual and library is None:
            raise ValueError(f"{self.path or 'this adapter'} corrects the viseme driver: "
                             "pass the dub's alignment and the speaker's viseme library")
        if frame_count == 0 or not math.isfinite(fps) or fps <= 0:
            return LipMotion(np.zeros((frame_count, n, 3), np.float32),
                             np.zeros(frame_count, np.float32))
        if self.residual and self.base == "learned":
            if canonical is None or regions is None:
                raise ValueError(f"{self.path or 'this adapter'} corrects the learned lip "
                                 "model: pass the face's canonical shape and regions")
            from core.motion.lipsync import LearnedDriver

            base = LearnedDriver.load(None, regions).motion(
                samples, frame_count, fps, canonical, regions, alignment, library)
        if self.residual and self.base != "learned":
            base = VisemeDriver(library).motion(alignment, frame_count, fps)
        if self.residual:
            if base.delta.shape[1:] != (n, 3):
                raise ValueError("the viseme library does not fit this face's keypoints")
            delta, hold = base.delta.astype(np.float32, copy=True), base.hold
        else:
            delta = np.zeros((frame_count, n, 3), np.float32)
            hold = np.zeros(frame_count, np.float32)
        idx = self.points
        ref = e[:frame_count, idx] * (1.0 - w[idx])[None, :, None]  # S(E) with a closed rest
        power = mel_power(samples, self.mel)
        vis = delta[:, idx] if self.residual else None
        delta[:, idx] += predict(self.model, power, ref, w[idx], frame_count, fps, self.mel,
                                 vis=vis)
        return LipMotion(delta, hold)
