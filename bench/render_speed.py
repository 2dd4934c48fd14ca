"""Warp renderer speed (ms per rendered frame) at 512² and at 1080p on this machine.

Real frames with a real edited mouth (the jaw dropped by 8 % of the face height over a
closed source mouth): warp only, warp + shaded cavity, warp + mouth-bank fill, and a 1080p
frame rendered at a 640x360 preview size. The 1080p frame is a real 844² talking-head frame
scaled so the face is ~500 px tall and widened to 1920x1080 by mirroring its sides; its
points are tracked on the 1080p frame itself.
    python bench/render_speed.py
"""

from __future__ import annotations

import os
import time

import av
import cv2
import numpy as np
import torch
from _data import need_data

from core.keypoints.regions import load_regions
from core.render.mouth import MouthBank, MouthFill, inner_lip_shapes, polygon_area
from core.render.warp import WarpRenderer
from core.tracking.registry import get_tracker

REG = load_regions("mediapipe")


def open_jaw(points: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip, chin and jaw by ``amount`` pixels; the upper lip stays."""
    p = points.copy()
    down = p[REG.landmarks["chin"]] - p[REG.landmarks["forehead"]]
    height = np.linalg.norm(down)
    down /= height
    s = (p - p[REG.landmarks["upper_lip_inner"]]) @ down
    t = np.clip((s + 0.05 * height) / (0.13 * height), 0, 1)
    w = t * t * (3 - 2 * t)
    for ring in (REG["lips_inner"], REG["lips_outer"]):
        n = len(ring)
        w[ring[1 : n // 2]], w[ring[n // 2 + 1 :]], w[ring[[0, n // 2]]] = 1.0, 0.0, 0.4
    return p + (amount * w)[:, None] * down


def read_clip(path, count: int) -> tuple[np.ndarray, np.ndarray]:
    session = get_tracker().open_session(static=False, max_faces=1)
    frames, points = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            faces = session.detect(rgb)
            if faces:
                frames.append(rgb)
                points.append(faces[0].points[:, :2].astype(np.float64))
            if len(frames) == count:
                break
    session.close()
    return np.stack(frames), np.stack(points)


def widen_to_1080p(frame: np.ndarray, face_height: float) -> np.ndarray:
    """A 1920x1080 frame with the face ~500 px tall, from a square talking-head frame."""
    scale = 500.0 / face_height
    big = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    h, w = big.shape[:2]
    if h > 1080:
        top = (h - 1080) // 2
        big = big[top : top + 1080]
    pad = max(0, 1920 - w)
    return cv2.copyMakeBorder(big, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)[:, :1920]


def timed(fn, repeats: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def measure(label: str, frame, src, bank: MouthBank) -> None:
    r = WarpRenderer()
    height = np.linalg.norm(src[REG.landmarks["chin"]] - src[REG.landmarks["forehead"]])
    dst = open_jaw(src, 0.08 * height)
    fill = bank.fill(int(bank.choose(inner_lip_shapes(dst[None], REG))[0]))
    head = open_jaw(src, 0.08 * height) + (2.0, 1.0)  # every face point moves
    h, w = frame.shape[:2]
    rows = [
        ("warp", lambda: r.render(frame, src, dst)),
        ("warp + cavity", lambda: r.render(frame, src, dst, mouth=MouthFill())),
        ("warp + bank fill", lambda: r.render(frame, src, dst, mouth=fill)),
        ("whole face moves + bank", lambda: r.render(frame, src, head, mouth=fill)),
    ]
    if w > 1000:
        rows.append(
            (
                "preview 640x360 + bank",
                lambda: r.render(frame, src, dst, out_size=(640, 360), mouth=fill),
            )
        )
    face = src.max(axis=0) - src.min(axis=0)
    print(f"{label} ({w}x{h}, face {face[0]:.0f}x{face[1]:.0f} px, {r.device}):")
    for name, fn in rows:
        print(f"  {name:<26} {timed(fn):7.1f} ms/frame")


if __name__ == "__main__":
    data = need_data()
    print(
        f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
        f"load average: {os.getloadavg()[0]:.1f}"
    )
    frames, points = read_clip(data / "video" / "katie_hill.mp4", 100)
    bank = MouthBank.from_frames(iter(frames), points, REG)
    print(f"mouth bank: {len(bank)} entries from {len(frames)} frames")
    t = int(np.argmin(polygon_area(inner_lip_shapes(points, REG))))
    measure("512²", frames[t], points[t], bank)

    man, man_pts = read_clip(data / "video" / "man_map.mp4", 30)
    t = int(np.argmin(polygon_area(inner_lip_shapes(man_pts, REG))))
    big = widen_to_1080p(man[t], float(np.ptp(man_pts[t][:, 1])))
    faces = get_tracker().open_session(static=True, max_faces=1).detect(big)
    if not faces:
        raise SystemExit("no face found on the 1080p frame")
    measure("1080p", big, faces[0].points[:, :2].astype(np.float64), bank)
