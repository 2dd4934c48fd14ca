"""Keep one face per project across frames.

The largest face is picked by default; the user may name another by its index (by size,
largest first, in the first frame where faces appear) or by a box. From then on the face
with the best overlap with the previous pick is kept (IoU tracking), so a second person
walking into the shot never steals the track.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.tracking.base import FaceCandidate

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceSelector:
    """Chooses the project's face in each frame from the tracker's candidates."""

    def __init__(
        self,
        face_index: int | None = None,
        face_box: Box | None = None,
        min_iou: float = 0.2,
    ) -> None:
        self.face_index = face_index
        self.face_box = face_box
        self.min_iou = min_iou
        self.last: Box | None = None

    def pick(self, faces: Sequence[FaceCandidate]) -> FaceCandidate | None:
        if not faces:
            return None
        if self.last is None:
            chosen = self._first(faces)
        else:
            scored = [(iou(self.last, f.box), f) for f in faces]
            best_iou, chosen = max(scored, key=lambda t: t[0])
            if best_iou < self.min_iou:
                chosen = self._reacquire(faces)
        if chosen is not None:
            self.last = chosen.box
        return chosen

    def _first(self, faces: Sequence[FaceCandidate]) -> FaceCandidate | None:
        if self.face_box is not None:
            best = max(faces, key=lambda f: iou(self.face_box, f.box))
            return best if iou(self.face_box, best.box) > 0 else None
        index = self.face_index or 0
        return faces[index] if index < len(faces) else None

    def _reacquire(self, faces: Sequence[FaceCandidate]) -> FaceCandidate | None:
        """After a jump: the face nearest the last known place, within one face size."""
        assert self.last is not None
        lx, ly = (self.last[0] + self.last[2]) / 2, (self.last[1] + self.last[3]) / 2
        size = max(self.last[2] - self.last[0], self.last[3] - self.last[1])

        def dist(f: FaceCandidate) -> float:
            x0, y0, x1, y1 = f.box
            return ((x0 + x1) / 2 - lx) ** 2 + ((y0 + y1) / 2 - ly) ** 2

        near = min(faces, key=dist)
        return near if dist(near) <= size**2 else None
