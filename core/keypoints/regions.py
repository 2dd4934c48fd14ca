"""Facial regions as index sets per tracker, read from resources/regions/*.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np

from core.paths import resources_dir


@dataclass(frozen=True)
class RegionSet:
    """The index sets and named landmarks of one tracker's point layout."""

    tracker: str
    n_points: int
    regions: dict[str, np.ndarray]
    landmarks: dict[str, int]
    triangles: np.ndarray
    # per point, the MediaPipe point at the same place (None for MediaPipe itself): lets
    # data learned on MediaPipe footage serve this layout
    from_mediapipe: np.ndarray | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.regions[name]

    @property
    def lips(self) -> np.ndarray:
        return np.union1d(self.regions["lips_outer"], self.regions["lips_inner"])

    def mask(self, *names: str) -> np.ndarray:
        """Boolean mask over points covering the named regions."""
        m = np.zeros(self.n_points, dtype=bool)
        for n in names:
            m[self.regions[n]] = True
        return m


@cache
def load_regions(tracker: str = "mediapipe") -> RegionSet:
    path = resources_dir() / "regions" / f"{tracker}.json"
    data = json.loads(path.read_text())
    return RegionSet(
        tracker=data["tracker"],
        n_points=int(data["points"]),
        regions={k: np.asarray(v, dtype=np.int64) for k, v in data["regions"].items()},
        landmarks={k: int(v) for k, v in data["landmarks"].items()},
        triangles=np.asarray(data["triangles"], dtype=np.int64).reshape(-1, 3),
        from_mediapipe=(np.asarray(data["from_mediapipe"], dtype=np.int64)
                        if "from_mediapipe" in data else None),
    )
