"""The face crop the networks see, and the paste-back of their 512² output (facts §3, §6).

The crop follows the official geometry from tracked landmarks: the vertical axis runs from
the midpoint of the eyes to the centre of the lips (so the crop turns with the head's
roll), the box is the points' extent on those axes made square, ×2.3, and moved up by
0.125 of its size. Coordinates are continuous pixels (pixel (i, j) covers
[i, i+1) × [j, j+1)), as everywhere in the studio; OpenCV's integer-centred convention is
handled here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from core.keypoints.regions import RegionSet

CROP_SIZE = 512  # the crop is cut at 512², then area-resized for the networks
NET_SIZE = 256
SCALE = 2.3
VX, VY = 0.0, -0.125
#: the regions whose extent sizes the box (what the official 106 detector points cover:
#: contour, brows, eyes, nose and lips, not the forehead)
BOX_REGIONS = ("jaw", "cheeks", "left_brow", "right_brow", "left_eye", "right_eye", "nose",
               "lips_outer")


@dataclass(frozen=True)
class Crop:
    """A similarity from the frame to the 512² crop: q = A·p + b (continuous pixels)."""

    matrix: np.ndarray  # (2, 3) frame → crop
    size: int = CROP_SIZE

    @property
    def inverse(self) -> np.ndarray:
        """(2, 3) crop → frame."""
        a = self.matrix[:, :2]
        ai = np.linalg.inv(a)
        return np.concatenate([ai, -ai @ self.matrix[:, 2:]], axis=1)

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def rotation(self) -> np.ndarray:
        """(2, 2): rows are the crop's x and y axes in the frame."""
        return self.matrix[:, :2] / self.scale

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float64)[..., :2]
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        inv = self.inverse
        q = np.asarray(points, np.float64)[..., :2]
        return q @ inv[:, :2].T + inv[:, 2]


def crop_box(points: np.ndarray, eye_left: np.ndarray, eye_right: np.ndarray,
             lips: np.ndarray, scale: float = SCALE, vx: float = VX, vy: float = VY,
             size: int = CROP_SIZE) -> Crop:
    """The crop of facts §3 from 2-D points and the eye and lip centres."""
    pts = np.asarray(points, np.float64)[:, :2]
    uy = np.asarray(lips, np.float64)[:2] - (np.asarray(eye_left, np.float64)[:2]
                                             + np.asarray(eye_right, np.float64)[:2]) / 2
    norm = np.linalg.norm(uy)
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("the eyes and the lips coincide: no face orientation")
    uy = uy / norm
    ux = np.array([uy[1], -uy[0]])
    axes = np.stack([ux, uy])  # rows: the crop's x and y directions
    proj = pts @ axes.T
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    side = float((hi - lo).max()) * scale
    if side <= 0:
        raise ValueError("the face points have no extent")
    centre = ((lo + hi) / 2) @ axes + ux * (vx * side) + uy * (vy * side)
    a = axes * (size / side)
    b = size / 2 - a @ centre
    return Crop(np.concatenate([a, b[:, None]], axis=1), size)


def crop_for(points: np.ndarray, regions: RegionSet) -> Crop:
    """The crop of a tracked face: (N, 2|3) points in frame pixels in ``regions``' layout."""
    box = np.unique(np.concatenate([regions[r] for r in BOX_REGIONS if r in regions.regions]))
    left, right, lips = regions["left_eye"], regions["right_eye"], regions["lips_outer"]
    p = np.asarray(points, np.float64)
    return crop_box(p[box], p[left].mean(axis=0), p[right].mean(axis=0), p[lips].mean(axis=0))


def _cv_matrix(m: np.ndarray) -> np.ndarray:
    """A continuous-pixel affine as OpenCV's (integer pixel centres) one."""
    out = np.array(m, np.float64)
    out[:, 2] = m[:, 2] + m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return out


def cut(frame: np.ndarray, crop: Crop, net_size: int = NET_SIZE) -> np.ndarray:
    """The network's input: the 512² crop (bilinear, black outside the frame), area-resized
    to 256²: (256, 256, 3) uint8 RGB."""
    big = cv2.warpAffine(frame, _cv_matrix(crop.matrix), (crop.size, crop.size),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if net_size == crop.size:
        return big
    return cv2.resize(big, (net_size, net_size), interpolation=cv2.INTER_AREA)


@cache
def feather_mask(size: int = CROP_SIZE, border: float = 0.04, ramp: float = 0.14) -> np.ndarray:
    """(size, size) float32 in [0, 1]: 1 over the face, falling smoothly to 0 over a band
    ``border`` … ``border + ramp`` of the size from each edge, so the paste-back has no seam.
    Made here (the official template image is not shipped)."""
    u = (np.arange(size, dtype=np.float64) + 0.5) / size
    d = np.minimum(u, 1 - u)
    t = np.clip((d - border) / ramp, 0, 1)
    r = t * t * (3 - 2 * t)
    m = (r[:, None] * r[None, :]).astype(np.float32)
    m.setflags(write=False)
    return m


def paste_back(frame: np.ndarray, image: np.ndarray, crop: Crop,
               mask: np.ndarray | None = None) -> np.ndarray:
    """The frame with the 512² ``image`` (uint8 RGB) warped back into place and blended
    through the feathered mask; only the crop's footprint is touched."""
    h, w = frame.shape[:2]
    mask = feather_mask(crop.size) if mask is None else mask
    corners = crop.to_frame(np.array([[0, 0], [crop.size, 0], [0, crop.size],
                                      [crop.size, crop.size]], np.float64))
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int), (w, h))
    out = np.array(frame, copy=True)
    if x1 <= x0 or y1 <= y0:
        return out
    inv = crop.inverse.copy()
    inv[:, 2] -= (x0, y0)
    m = _cv_matrix(inv)
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    blended = alpha * warped.astype(np.float32) + (1 - alpha) * region
    out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
