"""From the studio's edit of the tracked landmarks to LivePortrait's implicit keypoints.

Every driver, word style and emotion of the studio edits the tracker's landmarks (K_t →
K'_t). The neural renderer needs driving keypoints x_d in its own 21-point space. Two
ways to get them:

- ``transfer_offsets`` (used by the renderer; no learning, works for a single portrait):
  each implicit keypoint, placed in the frame through the crop, moves exactly as the warp
  renderer would move the image point under it: the landmark mesh's piecewise-affine
  motion (with its static anchor ring outside the face, so keypoints off the face stay
  put), and the depth change interpolated the same way. LivePortrait's keypoints live in
  the crop's coordinates (the warping grid's) and cluster on the face, so the face's
  motion is carried over where it happens.
- ``fit_expression_map`` (learned from footage): a ridge regression from the landmark
  expression E_t (canonical space) to LivePortrait's expression exp_t (rotated back to the
  canonical frame), fitted over the frames of a video where both are known (the tracker
  and the motion extractor on the same frames). ``map_expression`` then turns an edited
  E'_t into an implicit expression. It needs the real weights and a talking clip to mean
  anything; with stand-in weights it only proves the algebra.
"""

from __future__ import annotations

import numpy as np

from core.render.liveportrait.crop import Crop
from core.render.mesh import MeshTopology, mesh_vertices


def normalised_to_frame(x: np.ndarray, crop: Crop) -> np.ndarray:
    """(…, 2|3) keypoints in the crop's [-1, 1] units → frame pixels (x, y)."""
    q = (np.asarray(x, np.float64)[..., :2] + 1) / 2 * crop.size
    return crop.to_frame(q)


def frame_offsets_to_normalised(delta: np.ndarray, crop: Crop) -> np.ndarray:
    """(…, 3) displacements in frame pixels (z in the same unit as x) → crop units."""
    d = np.asarray(delta, np.float64)
    k = crop.scale * 2 / crop.size
    out = np.empty(d.shape[:-1] + (3,))
    out[..., :2] = (d[..., :2] @ crop.rotation.T) * k
    out[..., 2] = d[..., 2] * k if d.shape[-1] > 2 else 0.0
    return out


def mesh_motion(points: np.ndarray, topology: MeshTopology, src_pts: np.ndarray,
                dst_pts: np.ndarray) -> np.ndarray:
    """(K, 3) motion at 2-D frame ``points`` of the warp mesh moved from src to dst
    (x, y by the piecewise-affine map; z interpolated alike); zero outside the mesh."""
    vs, vd = mesh_vertices(topology, src_pts, dst_pts)
    n = topology.n_face
    motion = np.zeros((len(vs), 3))
    motion[:, :2] = vd - vs
    motion[:n, 2] = np.asarray(dst_pts, np.float64)[:, 2] - np.asarray(src_pts, np.float64)[:, 2]
    tri = topology.triangles
    a, b, c = vs[tri[:, 0]], vs[tri[:, 1]], vs[tri[:, 2]]
    e1, e2 = b - a, c - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-9  # a closed mouth's strip has no area
    p = np.asarray(points, np.float64)[:, None, :2] - a[None]  # (K, T, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1 = (p[..., 0] * e2[:, 1] - p[..., 1] * e2[:, 0]) / det
        l2 = (e1[:, 0] * p[..., 1] - e1[:, 1] * p[..., 0]) / det
    l0 = 1 - l1 - l2
    inside = ok & (np.minimum(np.minimum(l0, l1), l2) >= -1e-9)
    out = np.zeros((len(p), 3))
    for k in range(len(p)):
        hit = np.flatnonzero(inside[k])
        if len(hit):
            t = hit[0]
            out[k] = (l0[k, t] * motion[tri[t, 0]] + l1[k, t] * motion[tri[t, 1]]
                      + l2[k, t] * motion[tri[t, 2]])
    return out


def transfer_offsets(x_s: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray,
                     crop: Crop, topology: MeshTopology) -> np.ndarray:
    """(21, 3) offsets (crop units) for the implicit keypoints ``x_s`` that follow the
    landmarks' move from ``src_pts`` to ``dst_pts`` ((N, 3) frame pixels)."""
    src = np.asarray(src_pts, np.float64)
    dst = np.asarray(dst_pts, np.float64)
    if src.shape[-1] == 2:
        src = np.concatenate([src, np.zeros((len(src), 1))], axis=1)
        dst = np.concatenate([dst, np.zeros((len(dst), 1))], axis=1)
    moved = mesh_motion(normalised_to_frame(x_s, crop), topology, src, dst)
    return frame_offsets_to_normalised(moved, crop).astype(np.float32)


def fit_expression_map(landmark_exp: np.ndarray, implicit_exp: np.ndarray,
                       ridge: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Ridge fit implicit ≈ landmark · W + c over frames: landmark_exp (T, N, 3) and
    implicit_exp (T, 21, 3), both in their canonical frames. Returns (W (3N, 63), c (63,)).
    ``ridge`` is relative to the mean landmark variance, so it does not depend on units."""
    a = np.asarray(landmark_exp, np.float64).reshape(len(landmark_exp), -1)
    y = np.asarray(implicit_exp, np.float64).reshape(len(implicit_exp), -1)
    if len(a) != len(y) or len(a) < 2:
        raise ValueError("need the same frames, at least two, in both expressions")
    ma, my = a.mean(axis=0), y.mean(axis=0)
    a0, y0 = a - ma, y - my
    lam = ridge * max(float((a0 * a0).sum()) / a0.shape[1], 1e-12)
    # dual form: T is much smaller than 3N for a clip's landmarks
    k = a0 @ a0.T + lam * np.eye(len(a0))
    w = a0.T @ np.linalg.solve(k, y0)
    return w, my - ma @ w


def map_expression(landmark_exp: np.ndarray, weights: np.ndarray, bias: np.ndarray
                   ) -> np.ndarray:
    """(T, N, 3) landmark expressions → (T, 21, 3) implicit expressions."""
    a = np.asarray(landmark_exp, np.float64).reshape(len(landmark_exp), -1)
    return (a @ weights + bias).reshape(len(a), -1, 3).astype(np.float32)
