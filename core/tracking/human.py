"""Does the tracked face belong to a person? A check run once per clip, after tracking.

FaceMesh fits its mesh to anything face-like, an ape's face included, and its own
face-presence flag saturates on such faces too. MediaPipe's person detector (the BlazePose
detector, ``pose_detection.tflite``, shipped in the mediapipe wheel) was trained to find
*people* by their head, so it tells a human head (photographed, painted, drawn or
rendered) from an animal's. It is run with the LiteRT interpreter (``ai-edge-litert``) on a
few square crops around the tracked face, on a few frames where a face was found.

The score of a frame is the detector's best probability for a person whose head box is
centred inside the tracked face box, taken as the median over a few crop sizes (the
detector is sensitive to framing, and one lucky framing must not decide); the clip's score
is the median over the sampled frames. A face is human when it
reaches :data:`THRESHOLD`, the detector's own default (MediaPipe Pose's
``min_detection_confidence``), not a value tuned here.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import cv2
import numpy as np

from core.quiet import filtered_stderr
from core.tracking.base import FaceCandidate

THRESHOLD = 0.5
#: Crop sides, in multiples of the face box's longer side.
SCALES = (1.6, 1.8, 2.0, 2.2, 2.5)
#: Frames sampled per clip (spread over the frames where a face was found).
SAMPLE_FRAMES = 5

_INPUT = 224
_lock = threading.Lock()


def _model_path() -> str:
    import mediapipe

    return os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_detection",
                        "pose_detection.tflite")


@lru_cache(maxsize=1)
def _detector():
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=_model_path(), num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    if tuple(inp["shape"]) != (1, _INPUT, _INPUT, 3):
        raise RuntimeError(f"unexpected pose detector input {inp['shape']}")
    outs = it.get_output_details()
    boxes = next(o["index"] for o in outs if o["shape"][-1] == 12)
    scores = next(o["index"] for o in outs if o["shape"][-1] == 1)
    return it, inp["index"], boxes, scores, _anchors()


def _anchors() -> np.ndarray:
    """SSD anchor centres of the pose detector (MediaPipe's pose_detection_cpu graph:
    strides 8, 16, 32, 32, 32 on 224², two anchors per cell, fixed size)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):  # the three 32-stride layers merge
        g = _INPUT // stride
        ys, xs = np.mgrid[0:g, 0:g]
        c = np.stack([(xs.ravel() + 0.5) / g, (ys.ravel() + 0.5) / g], axis=1)
        centres.append(np.repeat(c, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def _square_crop(frame: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """A side×side square centred at (cx, cy), padded with black, resized to 224²."""
    side_i = max(1, int(round(side)))
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = frame.shape[:2]
    canvas = np.zeros((side_i, side_i, 3), np.uint8)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(w, x0 + side_i), min(h, y0 + side_i)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1, :3]
    interp = cv2.INTER_AREA if side_i > _INPUT else cv2.INTER_LINEAR
    return cv2.resize(canvas, (_INPUT, _INPUT), interpolation=interp)


def person_score(frame: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Probability that the face in ``box`` (x0, y0, x1, y1 in pixels) is a person's head,
    for one RGB uint8 frame: the median over the crop sizes in :data:`SCALES`."""
    it, inp, boxes_i, scores_i, anchors = _detector()
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    size = max(x1 - x0, y1 - y0, 1.0)
    logits = []
    for k in SCALES:
        side = k * size
        crop = _square_crop(frame, cx, cy, side)
        with _lock:
            it.set_tensor(inp, (crop.astype(np.float32) / 127.5 - 1.0)[None])
            it.invoke()
            reg = it.get_tensor(boxes_i)[0]
            logit = it.get_tensor(scores_i)[0, :, 0]
        centre = reg[:, :2] / _INPUT + anchors  # detected head box centres, 0..1 in the crop
        # the face box, in the same units (the crop is centred on it)
        inside = (np.abs(centre[:, 0] - 0.5) < (x1 - x0) / side / 2) & \
                 (np.abs(centre[:, 1] - 0.5) < (y1 - y0) / side / 2)
        logits.append(float(logit[inside].max()) if inside.any() else -100.0)
    best = float(np.clip(np.median(logits), -100.0, 100.0))
    return float(1.0 / (1.0 + np.exp(-best)))


def sample_frames(found: np.ndarray, n: int = SAMPLE_FRAMES) -> list[int]:
    """Up to ``n`` frame indices spread evenly over the frames where a face was found."""
    idx = np.flatnonzero(np.asarray(found, dtype=bool))
    if len(idx) == 0:
        return []
    picks = np.linspace(0, len(idx) - 1, min(n, len(idx))).round().astype(int)
    return sorted({int(idx[p]) for p in picks})


def human_face_score(source, points, found, n: int = SAMPLE_FRAMES) -> float:
    """Median :func:`person_score` of the tracked face over a few frames of ``source``.

    ``points`` (frames, N, 3) and ``found`` (frames,) are the raw tracking result; only the
    sampled frames are read from them and decoded from ``source``.
    """
    scores = []
    with filtered_stderr():  # LiteRT announces its XNNPACK delegate on first use
        for i in sample_frames(found, n):
            box = FaceCandidate(np.asarray(points[i], dtype=np.float32)).box
            scores.append(person_score(np.asarray(source.frame(i)), box))
    return float(np.median(scores)) if scores else 0.0


def is_human(score: float) -> bool:
    return score >= THRESHOLD
