"""The viseme driver: the dub's alignment to a lip deformation ΔE_t per source frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.align import Alignment
from core.motion.coarticulation import ANTICIPATION, Segment, trajectory
from core.motion.library import VisemeLibrary
from core.motion.phones import phone_viseme


def segments_of(alignment: Alignment | None) -> list[Segment]:
    """(viseme class, start, end) per phone of the alignment, silences included."""
    if alignment is None:
        return []
    return [(phone_viseme(p), p.start, p.end) for p in alignment.phones if p.end > p.start]


@dataclass
class LipMotion:
    """What a driver gives the edit composition: ΔE (T, N, 3) and forced closures (T,)."""

    delta: np.ndarray
    hold: np.ndarray


@dataclass
class VisemeDriver:
    """Phones → viseme targets → coarticulated trajectory, on the output's frame times."""

    library: VisemeLibrary
    anticipation: float = ANTICIPATION
    name: str = "visemes"

    def motion(self, alignment: Alignment | None, frame_count: int, fps: float) -> LipMotion:
        segments = segments_of(alignment)
        if not any(c != "sil" for c, _, _ in segments):
            shape = self.library.targets["sil"].shape
            return LipMotion(
                np.zeros((frame_count, *shape), np.float32), np.zeros(frame_count, np.float32)
            )
        delta, hold = trajectory(
            segments, self.library.targets, frame_count, fps, self.anticipation
        )
        return LipMotion(delta, hold)
