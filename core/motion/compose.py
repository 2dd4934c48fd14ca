"""The edit composition, one pure vectorised function over all frames.

    E'_t = S(E_t) + α_t · g(loud_t)^β · ΔE_t   then temporal smoothing

S (silent lips) replaces the mouth region of the source expression by the speaker's
closed-mouth neutral, which is zero in canonical space because K_c's mouth comes from the
clip's closed-mouth frames. So α = 0 closes the mouth whatever the audio says, α = 1 is
nominal and α up to 2 exaggerates. Moving a slider re-runs only this function.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


def silent_lips(expression: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """S(E): the expression with the mouth region set to the closed neutral."""
    out = np.array(expression, dtype=np.float32, copy=True)
    out[:, mouth] = 0.0
    return out


def loudness_gain(envelope: np.ndarray, beta: float) -> np.ndarray:
    """g(loud_t)^β: loudness over the clip's median, 1 everywhere when β = 0."""
    env = np.asarray(envelope, dtype=np.float64)
    if beta == 0 or env.size == 0:
        return np.ones_like(env)
    voiced = env[env > env.max() * 0.05] if env.max() > 0 else env
    median = np.median(voiced) if voiced.size else 1.0
    return np.clip(env / max(median, 1e-9), 0.0, 4.0) ** beta


def smooth(deformation: np.ndarray, strength: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time; strength is sigma in frames (0 = off)."""
    if strength <= 0 or len(deformation) < 2:
        return deformation
    return gaussian_filter1d(deformation, sigma=strength, axis=0, mode="nearest")


def compose(
    expression: np.ndarray,
    delta: np.ndarray,
    mouth: np.ndarray,
    *,
    alpha: float | np.ndarray = 1.0,
    loudness: np.ndarray | None = None,
    beta: float = 0.0,
    smoothing: float = 0.5,
) -> np.ndarray:
    """E'_t for every frame: (T, N, 3) float32.

    ``alpha`` is a scalar or a per-frame array; ``mouth`` the indices S(E) silences.
    """
    t_count = len(expression)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float32), (t_count,))
    gain = a if loudness is None else a * loudness_gain(loudness, beta).astype(np.float32)
    lips = gain[:, None, None] * smooth(np.asarray(delta, dtype=np.float32), smoothing)
    return silent_lips(expression, mouth) + lips
