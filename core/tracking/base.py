"""What every face tracker gives: candidate faces per frame, as 3-D points in pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class FaceCandidate:
    """One face seen in one frame.

    ``points`` is (N, 3) float32: x right and y down in pixels, z into the screen in the same
    unit as x (the tracker's depth scaled by the frame width).
    """

    points: np.ndarray
    score: float = 1.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) around the points."""
        x0, y0 = self.points[:, :2].min(axis=0)
        x1, y1 = self.points[:, :2].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


class TrackerSession(Protocol):
    """A tracker opened for one pass over a clip (video mode keeps state between frames)."""

    def detect(self, frame: np.ndarray) -> list[FaceCandidate]:
        """All faces in an RGB uint8 frame, largest first."""
        ...

    def reset(self) -> None:
        """Forget the frames seen: the next one is tracked as by a new session."""
        ...

    def close(self) -> None: ...


class Tracker(Protocol):
    """A face-landmark backend: its name and version key the keypoint cache."""

    name: str
    version: str
    n_points: int

    def open_session(self, *, static: bool, max_faces: int) -> TrackerSession: ...
