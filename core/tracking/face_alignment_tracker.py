"""face-alignment (68 points, 3-D): the optional second tracker.

Its weights are downloaded by the package on first use; with no network and no cached
weights we say so plainly instead of failing deep inside a URL fetch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.errors import TrackerUnavailable
from core.tracking.base import FaceCandidate

N_POINTS = 68


def _hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


class FaceAlignmentSession:
    def __init__(self, *, static: bool, max_faces: int) -> None:
        try:
            import face_alignment
        except ImportError as exc:
            raise TrackerUnavailable(
                None,
                "the face_alignment tracker needs the optional package: "
                "pip install 'talking-face-studio[face-alignment]'",
            ) from exc
        ckpt = _hub_checkpoints()
        have = sorted(p.name for p in ckpt.glob("*")) if ckpt.is_dir() else []
        try:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            types = face_alignment.LandmarksType
            kind = getattr(types, "THREE_D", None) or types._3D
            self._fa = face_alignment.FaceAlignment(kind, device=device, flip_input=False)
        except Exception as exc:  # URLError, HTTPError, RuntimeError from a partial file
            raise TrackerUnavailable(
                ckpt,
                "face-alignment weights are missing and could not be downloaded "
                f"({type(exc).__name__}: {exc}); found {have or 'nothing'} there. "
                "Copy the weights into that folder or use the mediapipe tracker",
            ) from exc
        self._max_faces = max_faces

    def detect(self, frame: np.ndarray) -> list[FaceCandidate]:
        found = self._fa.get_landmarks_from_image(frame) or []
        faces = [FaceCandidate(np.asarray(p, dtype=np.float32)) for p in found]
        for f in faces:  # depth in pixel units like mediapipe's x·width convention
            f.points[:, 2] -= f.points[:, 2].mean()
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[: self._max_faces]

    def reset(self) -> None:
        """Nothing to forget: every frame is detected on its own."""

    def close(self) -> None:
        self._fa = None


class FaceAlignmentTracker:
    name = "face_alignment"
    n_points = N_POINTS

    @property
    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"fan-3d-{version('face-alignment')}"
        except PackageNotFoundError:
            return "fan-3d-missing"

    def open_session(self, *, static: bool, max_faces: int) -> FaceAlignmentSession:
        return FaceAlignmentSession(static=static, max_faces=max_faces)
