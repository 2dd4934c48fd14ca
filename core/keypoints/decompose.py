"""Keypoint decomposition: K_t = s_t · (K_c + E_t) · R_tᵀ + τ_t (the LivePortrait form).

Pure functions over arrays. Pose comes from a robust similarity fit on rigid points, the
identity's canonical shape K_c from the whole clip (lips from its closed-mouth frames), and
the expression E_t is what is left, in canonical space, so recomposition is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.keypoints.regions import RegionSet


@dataclass
class Decomposition:
    canonical: np.ndarray  # (N, 3) K_c, upright, unit RMS radius of the rigid points
    rotation: np.ndarray  # (T, 3, 3) R_t
    scale: np.ndarray  # (T,) s_t, pixels per canonical unit
    translation: np.ndarray  # (T, 3) τ_t, pixels
    expression: np.ndarray  # (T, N, 3) E_t, canonical units
    validity: np.ndarray  # (T,) uint8: 0 no face, 1 tracked, 2 interpolated


def similarity_fit(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Umeyama fit per frame: dst ≈ s · src · Rᵀ + t.

    src is (M, 3) or (T, M, 3), dst (T, M, 3), weights (T, M). Returns R (T,3,3), s (T,),
    t (T,3).
    """
    dst = np.asarray(dst, dtype=np.float64)
    src = np.broadcast_to(np.asarray(src, dtype=np.float64), dst.shape)
    w = np.ones(dst.shape[:2]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum(axis=1, keepdims=True)
    mx = np.einsum("tm,tmk->tk", w, src)
    my = np.einsum("tm,tmk->tk", w, dst)
    xc = src - mx[:, None]
    yc = dst - my[:, None]
    cov = np.einsum("tm,tmi,tmj->tij", w, yc, xc)
    u, d, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    fix = np.ones_like(d)
    fix[:, 2] = sign
    rot = np.einsum("tij,tj,tjk->tik", u, fix, vt)
    var_x = np.einsum("tm,tmk,tmk->t", w, xc, xc)
    scale = (d * fix).sum(axis=1) / var_x
    trans = my - scale[:, None] * np.einsum("tij,tj->ti", rot, mx)
    return rot, scale, trans


def robust_similarity_fit(
    src: np.ndarray, dst: np.ndarray, iterations: int = 4, k: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity fit that down-weights points that moved (Huber weights, IRLS)."""
    dst = np.asarray(dst, dtype=np.float64)
    src = np.broadcast_to(np.asarray(src, dtype=np.float64), dst.shape)
    w = None
    for _ in range(iterations):
        rot, scale, trans = similarity_fit(src, dst, w)
        pred = scale[:, None, None] * np.einsum("tmk,tjk->tmj", src, rot) + trans[:, None]
        r = np.linalg.norm(dst - pred, axis=-1)
        sigma = 1.4826 * np.median(r, axis=1, keepdims=True) + 1e-9
        w = np.minimum(1.0, k * sigma / np.maximum(r, 1e-12))
    return rot, scale, trans


def upright(shape: np.ndarray, regions: RegionSet) -> np.ndarray:
    """Put a face shape in the canonical frame.

    Centred on its rigid points, scaled to unit RMS radius over them, x along the eye line
    (image right), y from forehead to chin (image down), z into the screen. An absolute
    frame, so a still portrait still gets a meaningful head roll.
    """
    lm = regions.landmarks
    rigid = regions["rigid"]
    x = shape[lm["eye_left_outer"]] - shape[lm["eye_right_outer"]]
    x = x / np.linalg.norm(x)
    y = shape[lm["chin"]] - shape[lm["forehead"]]
    y = y - x * (x @ y)
    y = y / np.linalg.norm(y)
    axes = np.stack([x, y, np.cross(x, y)])
    centred = shape - shape[rigid].mean(axis=0)
    radius = np.sqrt((centred[rigid] ** 2).sum(axis=1).mean())
    return centred @ axes.T / radius


def to_canonical(
    points: np.ndarray, rotation: np.ndarray, scale: np.ndarray, translation: np.ndarray
) -> np.ndarray:
    """Undo the pose: X_t = (P_t − τ_t) · R_t / s_t."""
    return np.einsum("tmk,tkj->tmj", points - translation[:, None], rotation) / scale[
        :, None, None
    ]


def recompose(
    canonical: np.ndarray,
    expression: np.ndarray,
    rotation: np.ndarray,
    scale: np.ndarray,
    translation: np.ndarray,
) -> np.ndarray:
    """K_t = s_t · (K_c + E_t) · R_tᵀ + τ_t for every frame."""
    shape = canonical[None] + expression
    return (
        scale[:, None, None] * np.einsum("tmk,tjk->tmj", shape, rotation)
        + translation[:, None]
    )


def mouth_opening(shapes: np.ndarray, regions: RegionSet) -> np.ndarray:
    """Inner-lip gap per frame, in the shapes' own units (canonical units for K_c + E)."""
    lm = regions.landmarks
    return np.linalg.norm(
        shapes[..., lm["upper_lip_inner"], :] - shapes[..., lm["lower_lip_inner"], :], axis=-1
    )


def decompose(
    points: np.ndarray,
    validity: np.ndarray,
    regions: RegionSet,
    closed_quantile: float = 0.15,
    iterations: int = 3,
) -> Decomposition:
    """Split tracked points (T, N, 3) into canonical shape, pose and expression."""
    points = np.asarray(points, dtype=np.float64)
    t_count, n = points.shape[:2]
    valid = np.asarray(validity) > 0
    if not valid.any():
        raise ValueError("no frame has a face")
    pv = points[valid]
    rigid = regions["rigid"]
    mouth = regions["mouth"]

    canonical = upright(pv[0], regions)
    for _ in range(iterations):
        rot, scale, trans = robust_similarity_fit(canonical[rigid], pv[:, rigid])
        shapes = to_canonical(pv, rot, scale, trans)
        new = np.median(shapes, axis=0)
        opening = mouth_opening(shapes, regions)
        closed = opening <= np.quantile(opening, closed_quantile)
        new[mouth] = np.median(shapes[closed][:, mouth], axis=0)
        canonical = upright(new, regions)

    rot, scale, trans = robust_similarity_fit(canonical[rigid], pv[:, rigid])
    shapes = to_canonical(pv, rot, scale, trans)

    rotation = np.tile(np.eye(3), (t_count, 1, 1))
    scale_all = np.ones(t_count)
    translation = np.zeros((t_count, 3))
    expression = np.zeros((t_count, n, 3))
    rotation[valid], scale_all[valid], translation[valid] = rot, scale, trans
    expression[valid] = shapes - canonical
    return Decomposition(
        canonical=canonical,
        rotation=rotation,
        scale=scale_all,
        translation=translation,
        expression=expression,
        validity=np.asarray(validity, dtype=np.uint8),
    )


def euler_angles(rotation: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) in degrees per frame, for R = Rz(roll) · Ry(yaw) · Rx(pitch)."""
    r = np.asarray(rotation)
    pitch = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    yaw = np.arcsin(np.clip(-r[..., 2, 0], -1.0, 1.0))
    roll = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.degrees(np.stack([pitch, yaw, roll], axis=-1))


def face_size(points: np.ndarray) -> np.ndarray:
    """Diagonal of the 2-D box around each frame's points: the unit of error bounds."""
    lo = points[..., :2].min(axis=-2)
    hi = points[..., :2].max(axis=-2)
    return np.linalg.norm(hi - lo, axis=-1)
