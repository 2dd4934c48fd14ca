"""Which keypoints the lips and jaw carry, and how a mouth shape is made to close.

Lip motion does not stop at the lip contours: the flesh between the outer and inner lips,
the chin and the lower cheeks move with them. So lip edits act on the whole lower face with
a weight that is 1 from the upper lip down and fades to 0 at the nose tip, rather than on a
hard index set, which would tear the mesh between moving and still points.
"""

from __future__ import annotations

import numpy as np

from core.keypoints.regions import RegionSet


def mouth_width(canonical: np.ndarray, regions: RegionSet) -> float:
    """Corner-to-corner width of the closed mouth: the unit the default library is kept in."""
    lm = regions.landmarks
    k = np.asarray(canonical, np.float64)
    return float(np.linalg.norm(k[lm["mouth_left"], :2] - k[lm["mouth_right"], :2]))


def lower_face_weight(canonical: np.ndarray, regions: RegionSet) -> np.ndarray:
    """(N,) weight in [0, 1] of each keypoint in lip and jaw motion, from K_c's geometry."""
    y = np.asarray(canonical, np.float64)[:, 1]
    lm = regions.landmarks
    y_nose = y[lm["nose_tip"]]
    y_lip = y[regions["lips_outer"]].min()
    u = np.clip((y - y_nose) / max(y_lip - y_nose, 1e-6), 0.0, 1.0)
    w = u * u * (3 - 2 * u)  # smoothstep: no kink where the weight starts
    w[regions["mouth"]] = 1.0
    return w.astype(np.float32)


def below_mouth_weight(canonical: np.ndarray, regions: RegionSet) -> np.ndarray:
    """(N,) weight of the part that drops when the jaw opens: 1 below the lip line, else 0,
    with a soft band between the inner lips so the lips themselves part evenly."""
    k = np.asarray(canonical, np.float64)
    lm = regions.landmarks
    up, low = k[lm["upper_lip_inner"], 1], k[lm["lower_lip_inner"], 1]
    mid, band = (up + low) / 2, max(abs(low - up), 0.02)
    u = np.clip((k[:, 1] - (mid - band)) / (2 * band), 0.0, 1.0)
    return (u * u * (3 - 2 * u) * lower_face_weight(k, regions)).astype(np.float32)


def inner_gap(shape: np.ndarray, regions: RegionSet) -> np.ndarray:
    """Signed vertical inner-lip gap (lower minus upper lip), in the shape's units."""
    lm = regions.landmarks
    s = np.asarray(shape)
    return s[..., lm["lower_lip_inner"], 1] - s[..., lm["upper_lip_inner"], 1]


def close_lips(target: np.ndarray, canonical: np.ndarray, regions: RegionSet) -> np.ndarray:
    """The mouth target with its inner-lip gap brought back to the closed neutral's.

    Used for bilabials (p/b/m): whatever the examples averaged to, the lips must meet. The
    excess gap is taken up by raising the lower lip and jaw, so the shape stays natural.
    Because the fix makes the gap of the deformation zero, any α scaling keeps it closed.
    """
    t = np.array(target, np.float32, copy=True)
    excess = float(inner_gap(canonical + t, regions) - inner_gap(canonical, regions))
    if excess > 0:
        t[:, 1] -= excess * below_mouth_weight(canonical, regions)
    # a residual from the band weights: pull both inner lips to meet exactly
    lm = regions.landmarks
    rest = float(inner_gap(canonical + t, regions) - inner_gap(canonical, regions))
    if rest > 0:
        t[lm["lower_lip_inner"], 1] -= rest
    return t


def _lip_gap_profile(shape: np.ndarray, regions: RegionSet) -> tuple[np.ndarray, np.ndarray]:
    """x positions across the mouth and the inner-lip gap there (lower minus upper y)."""
    inner = np.asarray(shape, np.float64)[regions["lips_inner"]]
    lm = regions.landmarks
    mid = (shape[lm["upper_lip_inner"], 1] + shape[lm["lower_lip_inner"], 1]) / 2
    upper, lower = inner[inner[:, 1] <= mid], inner[inner[:, 1] > mid]
    x0, x1 = inner[:, 0].min(), inner[:, 0].max()
    xs = np.linspace(x0, x1, 33)
    up = np.interp(xs, *_sorted(upper, x0, x1, shape[lm["upper_lip_inner"], 1]))
    low = np.interp(xs, *_sorted(lower, x0, x1, shape[lm["lower_lip_inner"], 1]))
    return xs, np.maximum(low - up, 0.0)


def _sorted(pts: np.ndarray, x0: float, x1: float, y_mid: float) -> tuple[np.ndarray, np.ndarray]:
    if len(pts) == 0:
        return np.array([x0, x1]), np.array([y_mid, y_mid])
    order = np.argsort(pts[:, 0])
    return pts[order, 0], pts[order, 1]


def closed_rest(canonical: np.ndarray, regions: RegionSet, tolerance: float = 0.03
                ) -> np.ndarray:
    """(N, 3) expression that closes a mouth caught open in ``canonical``, else zeros.

    A clip's K_c already has the mouth shut (it comes from its closed frames), but a single
    portrait's K_c is that one picture, often a smile with parted lips. Then the closed
    neutral is that face with the lips brought together: the lower lip and jaw rise by 60 %
    of the gap and the upper lip comes down by 40 %, fading with distance from the mouth.
    ``tolerance`` is the gap, in mouth widths, that still counts as closed.
    """
    k = np.asarray(canonical, np.float64)
    out = np.zeros_like(k, dtype=np.float32)
    lm = regions.landmarks
    width = mouth_width(k, regions)
    xs, gap = _lip_gap_profile(k, regions)
    if gap.max() <= tolerance * width:
        return out
    g = np.interp(k[:, 0], xs, gap, left=0.0, right=0.0)
    centre = float(np.interp(k[lm["upper_lip_inner"], 0], xs, gap))
    # beyond the corners the chin still rises with the middle of the mouth, fading out
    side = np.clip(1 - np.abs(k[:, 0] - k[lm["upper_lip_inner"], 0]) / width, 0, 1)
    below = below_mouth_weight(k, regions)
    lower_move = np.maximum(g, centre * side * (k[:, 1] > k[lm["lower_lip_inner"], 1]))
    y_nose = k[lm["nose_tip"], 1]
    y_up = k[lm["upper_lip_inner"], 1]
    u = np.clip((k[:, 1] - y_nose) / max(y_up - y_nose, 1e-6), 0, 1)
    above = (1 - below) * u * u * (3 - 2 * u) * lower_face_weight(k, regions)
    out[:, 1] = (-0.6 * lower_move * below + 0.4 * g * above).astype(np.float32)
    return out
