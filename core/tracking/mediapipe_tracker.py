"""MediaPipe FaceMesh (legacy solution, 478 points): the default tracker.

Its models ship inside the wheel, so it works with no download.
"""

from __future__ import annotations

import os

import numpy as np

from core.tracking.base import FaceCandidate

N_POINTS = 478


def _quiet_mediapipe() -> None:
    # glog/absl chatter goes to stderr and would drown the progress bar.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class MediaPipeSession:
    """FaceMesh opened in video mode (tracks between frames) or image mode."""

    def __init__(self, *, static: bool, max_faces: int) -> None:
        _quiet_mediapipe()
        from mediapipe.python.solutions import face_mesh

        self._mesh = face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def detect(self, frame: np.ndarray) -> list[FaceCandidate]:
        h, w = frame.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(frame))
        faces = []
        for lm in result.multi_face_landmarks or ():
            pts = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
            pts *= np.array([w, h, w], dtype=np.float32)
            faces.append(FaceCandidate(pts))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def close(self) -> None:
        self._mesh.close()


class MediaPipeTracker:
    name = "mediapipe"
    n_points = N_POINTS

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"facemesh-refined-{version('mediapipe')}"

    def open_session(self, *, static: bool, max_faces: int) -> MediaPipeSession:
        return MediaPipeSession(static=static, max_faces=max_faces)
