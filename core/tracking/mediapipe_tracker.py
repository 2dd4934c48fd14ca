"""MediaPipe FaceMesh (legacy solution, 478 points): the default tracker.

Its models ship inside the wheel, so it works with no download.
"""

from __future__ import annotations

import numpy as np

from core.quiet import StderrCapture, quiet_environment
from core.tracking.base import FaceCandidate

N_POINTS = 478


#: Frames after a (re)start whose processing may still print library chatter.
_NOISY_FRAMES = 2


class MediaPipeSession:
    """FaceMesh opened in video mode (tracks between frames) or image mode."""

    def __init__(self, *, static: bool, max_faces: int) -> None:
        quiet_environment()  # glog/absl chatter would drown the progress bar
        # the graph's threads load their models (and log) after FaceMesh() returns: the
        # capture lasts until the first frames are through
        self._quiet: StderrCapture | None = StderrCapture()
        from mediapipe.python.solutions import face_mesh

        self._mesh = face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )
        self._noisy = _NOISY_FRAMES

    def reset(self) -> None:
        """Forget every frame seen: the next frame is tracked exactly as by a new session
        (same graph state, same timestamps), so a resumed run repeats an uninterrupted one."""
        if self._quiet is None:
            self._quiet = StderrCapture()
        self._mesh.reset()
        self._mesh._simulated_timestamp = 0  # SolutionBase counts from 0 in a new session
        self._noisy = _NOISY_FRAMES

    def _quiet_done(self) -> None:
        if self._quiet is not None:
            self._quiet.release()
            self._quiet = None

    def detect(self, frame: np.ndarray) -> list[FaceCandidate]:
        h, w = frame.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(frame))
        if self._noisy:
            self._noisy -= 1
            if not self._noisy:
                self._quiet_done()
        faces = []
        for lm in result.multi_face_landmarks or ():
            pts = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
            pts *= np.array([w, h, w], dtype=np.float32)
            faces.append(FaceCandidate(pts))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def close(self) -> None:
        self._mesh.close()
        self._quiet_done()


class MediaPipeTracker:
    name = "mediapipe"
    n_points = N_POINTS

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"facemesh-refined-{version('mediapipe')}"

    def open_session(self, *, static: bool, max_faces: int) -> MediaPipeSession:
        return MediaPipeSession(static=static, max_faces=max_faces)
