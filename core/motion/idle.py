"""Life for a still portrait: a subtle idle head motion and natural blinks.

A photo driven by lips alone looks pasted on. People at rest sway by about a degree and
blink every few seconds (closing in ~80 ms, opening in ~150 ms). Both come from a seeded
generator, so the same project renders the same video every time.
"""

from __future__ import annotations

import numpy as np

from core.keypoints.regions import RegionSet

SWAY_DEG = (0.7, 0.9, 0.45)  # pitch, yaw, roll amplitude in degrees
DRIFT = 0.004  # translation amplitude, in face scales
BLINK_EVERY_S = (2.5, 5.5)


def _slow_noise(rng: np.random.Generator, t: np.ndarray, periods=(7.0, 4.3, 2.9)) -> np.ndarray:
    """A smooth wander in [-1, 1]: a few incommensurate sines with random phases."""
    out = np.zeros_like(t)
    for p, amp in zip(periods, (0.6, 0.3, 0.15), strict=True):
        out += amp * np.sin(2 * np.pi * t / (p * rng.uniform(0.85, 1.15)) + rng.uniform(0, 6.3))
    return out / 1.05


def _rotation(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(T, 3, 3) R = Rz(roll)·Ry(yaw)·Rx(pitch) from radians."""
    cp, sp, cy, sy, cr, sr = (np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw),
                              np.cos(roll), np.sin(roll))
    r = np.empty((len(pitch), 3, 3))
    r[:, 0] = np.stack([cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp], -1)
    r[:, 1] = np.stack([sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp], -1)
    r[:, 2] = np.stack([-sy, cy * sp, cy * cp], -1)
    return r


def idle_pose(frame_count: int, fps: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, a small head rotation (T, 3, 3) in the head's own frame and a drift (T, 3)
    in face scales; both start at rest (identity, zero) on frame 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(frame_count) / float(fps)
    ang = [np.radians(a) * _slow_noise(rng, t) for a in SWAY_DEG]
    ang = [a - a[0] for a in ang]
    drift = np.stack([DRIFT * _slow_noise(rng, t) for _ in range(2)] + [0 * t], -1)
    drift -= drift[:1]
    return _rotation(*ang), drift


def blink_curve(frame_count: int, fps: float, seed: int = 0) -> np.ndarray:
    """(T,) eyelid closure from 0 (open) to 1 (shut), with blinks at natural intervals."""
    rng = np.random.default_rng(seed + 1)
    t = np.arange(frame_count) / float(fps)
    out = np.zeros(frame_count)
    close, open_ = 0.08, 0.15
    at = rng.uniform(0.8, 2.0)
    while frame_count and at < t[-1] + close:
        at = round(at * fps) / fps  # shut exactly on a frame
        rise = np.clip(1 - (at - t) / close, 0, 1)
        fall = np.clip(1 - (t - at) / open_, 0, 1)
        out = np.maximum(out, np.where(t <= at, rise, fall))
        at += rng.uniform(*BLINK_EVERY_S)
    return out


def blink_shape(canonical: np.ndarray, regions: RegionSet) -> np.ndarray:
    """(N, 3) deformation that shuts both eyes: upper lids come down to meet the lower."""
    k = np.asarray(canonical, np.float64)
    out = np.zeros_like(k)
    for eye in ("left_eye", "right_eye"):
        idx = regions[eye]
        pts = k[idx]
        x0, x1 = pts[:, 0].min(), pts[:, 0].max()
        u = (pts[:, 0] - x0) / max(x1 - x0, 1e-9)
        # the lids meet a little below the corners' line, where the lower lid sits
        corners_y = pts[[pts[:, 0].argmin(), pts[:, 0].argmax()], 1]
        lower = pts[:, 1] > np.interp(u, [0, 1], corners_y)
        seam = np.interp(u, [0, 1], corners_y) + 0.2 * (
            pts[lower, 1].max() - corners_y.mean() if lower.any() else 0.0
        )
        dy = seam - pts[:, 1]
        out[idx, 1] = np.where(lower, 0.6 * dy, 0.95 * dy)
    return out.astype(np.float32)
