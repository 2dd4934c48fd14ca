"""Word-level mouth styles (PC-Talk §3.2): open, wide and round scales per word.

Inside a word w the lip deformation is pushed along three directions taken from the
speaker's viseme library, open ("duck": the aa shape), wide ("bee": the I shape) and round
("too": the U shape):

    ΔE ← ΔE + Σ_d (s_{w,d} − 1) · c_w(t) · ⟨ΔE, v̂_d⟩ v̂_d

c_w is 1 over the word and ramps to 0 over ``ramp`` frames at its edges, so a change never
jumps. A word can also carry its own α, or be silent (α = 0: the mouth closes for it).
Word times are on the audio's clock; the lips lead the sound, so each word's window is
moved earlier by the driver's anticipation. Everything here touches only the frames of the
edited words and their ramps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.motion.library import VisemeLibrary
from core.vocabulary import WORD_ALPHA, WORD_SHAPE

DIRECTIONS: dict[str, str] = {"open": "aa", "wide": "I", "round": "U"}
SCALE_RANGE = (WORD_SHAPE.lo, WORD_SHAPE.hi)  # core/vocabulary.py


@dataclass(frozen=True)
class WordStyle:
    """One word's edit; the defaults change nothing."""

    open: float = 1.0
    wide: float = 1.0
    round: float = 1.0
    alpha: float | None = None
    silent: bool = False

    def __post_init__(self) -> None:
        for name in DIRECTIONS:
            v = getattr(self, name)
            if not SCALE_RANGE[0] <= v <= SCALE_RANGE[1]:
                raise ValueError(f"{name} must be from {SCALE_RANGE[0]:g} to "
                                 f"{SCALE_RANGE[1]:g}, got {v}")
        if self.alpha is not None and not WORD_ALPHA.lo <= self.alpha <= WORD_ALPHA.hi:
            raise ValueError(f"a word's alpha must be from {WORD_ALPHA.lo:g} to "
                             f"{WORD_ALPHA.hi:g}, got {self.alpha}")

    @property
    def shapes(self) -> bool:
        return any(getattr(self, d) != 1.0 for d in DIRECTIONS)

    @property
    def gain(self) -> float | None:
        """The word's own α, 0 when silent, None to follow the global α."""
        return 0.0 if self.silent else self.alpha


@dataclass(frozen=True)
class StyledWord:
    """A word's span in output frames (fractional) and its style."""

    start: float
    end: float
    style: WordStyle


def style_directions(library: VisemeLibrary) -> dict[str, np.ndarray]:
    """Unit vectors v̂_d (N, 3) from the library's shapes of each direction's viseme."""
    out = {}
    for d, cls in DIRECTIONS.items():
        v = np.asarray(library.targets[cls], np.float64)
        n = np.linalg.norm(v)
        out[d] = (v / n if n > 0 else v).astype(np.float32)
    return out


def word_window(start: float, end: float, ramp: float, count: int
                ) -> tuple[slice, np.ndarray]:
    """Frames touched by a word (its span and ramps) and c_w over them (1 inside)."""
    lo = max(0, int(np.floor(start - ramp)))
    hi = max(lo, min(count, int(np.ceil(end + ramp)) + 1))
    t = np.arange(lo, hi, dtype=np.float64)
    if ramp > 0:
        up = np.clip((t - (start - ramp)) / ramp, 0, 1)
        down = np.clip(((end + ramp) - t) / ramp, 0, 1)
        c = np.minimum(up, down)
        c = c * c * (3 - 2 * c)
    else:
        c = ((t >= start) & (t <= end)).astype(np.float64)
    return slice(lo, hi), c.astype(np.float32)


def apply_word_shapes(lips: np.ndarray, words: Sequence[StyledWord],
                      directions: dict[str, np.ndarray], ramp: float,
                      hold: np.ndarray | None = None) -> np.ndarray:
    """ΔE with every word's open/wide/round scales applied (a copy when anything changes).

    ``hold`` (T,) marks the driver's forced closures (p/b/m): a word's style reshapes its
    vowels, never reopens its bilabials, so it fades out on them."""
    shaped = [w for w in words if w.style.shapes]
    if not shaped:
        return lips
    out = np.array(lips, copy=True)
    for w in shaped:
        span, c = word_window(w.start, w.end, ramp, len(lips))
        if hold is not None:
            c = c * (1.0 - np.asarray(hold[span], np.float32))
        seg = lips[span]
        add = np.zeros_like(seg)
        for d, v in directions.items():
            s = getattr(w.style, d)
            if s != 1.0:
                proj = np.einsum("tnk,nk->t", seg, v)
                add += ((s - 1.0) * c * proj)[:, None, None] * v[None]
        out[span] += add
    return out


def alpha_curve(alpha: float, words: Sequence[StyledWord], count: int, ramp: float
                ) -> np.ndarray:
    """(T,) α per frame: the global α, eased into each word's own α (0 for silent words)."""
    a = np.full(count, alpha, np.float32)
    for w in words:
        g = w.style.gain
        if g is None:
            continue
        span, c = word_window(w.start, w.end, ramp, count)
        a[span] = a[span] * (1 - c) + g * c
    return a
