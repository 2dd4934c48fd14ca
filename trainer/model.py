"""The Audio2Exp adapter as the trainer sees it.

The network itself is defined in :mod:`core.motion.audio2exp_model`, because the driver in
core must run it and core may never import the trainer. What is training-only lives here:
the α ramp of ControlTalk Eq. 3 (E' = S(E) + α·ΔE, α growing from 0 to 1 so the young
adapter's first, random-ish outputs barely touch the face) and the silent input of the
dual training (§3.3: zero-energy audio must give the closed neutral, ΔE = 0).
"""

from __future__ import annotations

import torch

from core.motion.audio2exp_model import (
    Audio2Exp,
    Audio2ExpEnsemble,
    MelConfig,
    ModelConfig,
    build_network,
    gather_windows,
    log_mel,
    mel_power,
    members_of,
    predict,
    window_index,
    zero_module,
)

__all__ = [
    "Audio2Exp", "Audio2ExpEnsemble", "MelConfig", "ModelConfig", "alpha_at", "build_model",
    "gather_windows", "log_mel", "mel_power", "members_of", "predict", "silent_mel",
    "window_index", "zero_module",
]


def build_model(cfg: ModelConfig, seed: int = 0) -> Audio2Exp | Audio2ExpEnsemble:
    """A fresh adapter (or ensemble) with seeded weights (last layers zero, so ΔE = 0)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = build_network(cfg)
    torch.random.set_rng_state(gen_state)
    return model


def alpha_at(step: int, ramp_steps: int) -> float:
    """α of Eq. 3 at ``step``: a linear ramp from 0 to 1 over ``ramp_steps`` (then 1)."""
    if ramp_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / ramp_steps)


def silent_mel(shape: tuple[int, ...], cfg: MelConfig, noise: torch.Tensor | None = None
               ) -> torch.Tensor:
    """Log-mel windows of silence (B, n_mels, window), optionally of faint noise power
    ``noise`` (B, n_mels, 1): what a pause or a zero-energy dub looks like."""
    power = torch.zeros(shape)
    if noise is not None:
        power = power + noise
    return log_mel(power, cfg)
