"""Which keypoints the lips and jaw carry, and how a mouth shape is made to close.

Lip motion does not stop at the lip contours: the flesh between the outer and inner lips,
the chin and the lower cheeks move with them. So lip edits act on the whole lower face with
a weight that is 1 from the upper lip down and fades to 0 at the nose tip, rather than on a
hard index set, which would tear the mesh between moving and still points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    # a residual from the band weights: the lips meet along the whole mouth, not only at its
    # middle (closing one point alone left a W-shaped notch that α then widened)
    facing = facing_lips(canonical, regions)
    up, low = facing[:, 0], facing[:, 1]
    k = np.asarray(canonical, np.float32)
    rest = (k + t)[low, 1] - (k + t)[up, 1] - (k[low, 1] - k[up, 1])
    t[low, 1] -= np.maximum(rest, 0.0)
    return t


def facing_lips(canonical: np.ndarray, regions: RegionSet) -> np.ndarray:
    """(M, 2) inner-lip points facing each other across the mouth, (upper, lower): the
    ring's two sides between its corners, paired from one corner to the other."""
    inner = np.asarray(regions["lips_inner"])
    n = len(inner)
    first, second = inner[1 : n // 2], inner[n // 2 + 1 :][::-1]
    y = np.asarray(canonical)[:, 1]
    if y[first].mean() > y[second].mean():  # image y grows towards the chin
        first, second = second, first
    return np.stack([first, second], axis=1).astype(np.int64)


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


# --- how far the lips and the jaw can go ---------------------------------------------------

#: the widest inner-lip gap a face gives, in mouth widths (a shout; speech stays under 0.5)
MAX_GAP = 0.7
#: the largest change of the corner-to-corner width, in mouth widths (a broad smile, an "oo")
MAX_WIDTH = 0.35
#: the farthest any lip landmark or point of the jaw line travels, in mouth widths
MAX_MOVE = 0.8
#: how much thicker each lip may grow, as a share of its rest thickness: a wide-open mouth
#: stretches its lips thinner, it never swells them (scaled far past a viseme, the lips'
#: own motion did: a thick pink band below the opening, a dark roll above it)
MAX_THICK = 0.15
#: share of the limit that passes untouched; above it the motion bends smoothly to the limit
KNEE = 0.6
#: share of the rest distance from the lower lip to the chin that the lip may close in on the
#: chin before the jaw has to follow (the flesh between them squeezes only so far)
SLACK = 0.2


@dataclass(frozen=True)
class LipLimits:
    """What the face can give, as linear measures of a lip deformation ΔE (N, 3).

    ``gap``, ``width`` and ``closing`` are (N, 3) vectors: ⟨ΔE, gap⟩ is the change of the
    inner-lip gap, ⟨ΔE, width⟩ of the corner-to-corner width, ⟨ΔE, closing⟩ how much nearer
    the lower lip comes to the chin. ``jaw`` (N, 3) is how the jaw drops: nothing at the
    inner lower lip, fully at the chin and below, so adding it to ΔE moves the chin without
    changing the opening. Limits are in canonical units.
    """

    gap: np.ndarray
    width: np.ndarray
    closing: np.ndarray
    jaw: np.ndarray
    max_gap: float
    max_width: float
    slack: float
    knee: float = KNEE
    #: points whose travel is bounded by ``max_move`` (the lips' landmarks and the jaw
    #: line): loudness can swell the lips and jaw without opening the mouth at all
    anchors: np.ndarray | None = None
    max_move: float = np.inf
    #: ⟨ΔE, thick⟩: how much thicker the lower lip grows (outer minus inner lip line), and
    #: ``lip_body`` (N, 3), how the lower lip and all below it move as one: a thickening
    #: beyond ``max_thick`` lifts them back (the lip rides on the jaw, it does not swell)
    thick: np.ndarray | None = None
    lip_body: np.ndarray | None = None
    max_thick: float = np.inf
    #: the same for the upper lip: ⟨ΔE, thick_up⟩ its thickening (inner minus outer lip
    #: line), ``upper_body`` (N, 3) how its outer line and the flesh above it (fading to
    #: the nose) come down to keep it within ``max_thick_up``
    thick_up: np.ndarray | None = None
    upper_body: np.ndarray | None = None
    max_thick_up: float = np.inf

    def on(self, points: np.ndarray) -> LipLimits:
        """The same limits over a subset of the keypoints (all the measured ones in it)."""
        p = np.asarray(points)
        anchors = self.anchors
        if anchors is not None:
            where = {int(k): i for i, k in enumerate(p)}
            anchors = np.array([where[int(a)] for a in anchors if int(a) in where], np.int64)
        return replace(self, gap=self.gap[p], width=self.width[p], closing=self.closing[p],
                       jaw=self.jaw[p], anchors=anchors,
                       thick=None if self.thick is None else self.thick[p],
                       lip_body=None if self.lip_body is None else self.lip_body[p],
                       thick_up=None if self.thick_up is None else self.thick_up[p],
                       upper_body=None if self.upper_body is None else self.upper_body[p])


def lip_limits(canonical: np.ndarray, regions: RegionSet) -> LipLimits:
    """The :class:`LipLimits` of a face, from its neutral K_c (N, 3)."""
    k = np.asarray(canonical, np.float64)
    lm = regions.landmarks
    n = len(k)
    width = mouth_width(k, regions)
    up, low, chin = lm["upper_lip_inner"], lm["lower_lip_inner"], lm["chin"]
    left, right = lm["mouth_left"], lm["mouth_right"]
    gap, wide, closing = (np.zeros((n, 3), np.float32) for _ in range(3))
    gap[low, 1], gap[up, 1] = 1.0, -1.0
    sign = 1.0 if k[left, 0] >= k[right, 0] else -1.0
    wide[left, 0], wide[right, 0] = sign, -sign
    closing[low, 1], closing[chin, 1] = 1.0, -1.0
    depth = max(k[chin, 1] - k[low, 1], 1e-6)
    weight = lower_face_weight(k, regions)
    oval = np.asarray(regions["face_oval"])
    outer = np.asarray(regions["lips_outer"])
    below = outer[k[outer, 1] > k[low, 1]]
    low_out = int(below[np.argmin(np.abs(k[below, 0] - k[low, 0]))])
    # the jaw takes the flesh from the lower lip's outer line down: the lip itself rides
    # on it as the lip term says (dropping from the inner line stretched the lip thick)
    u = np.clip((k[:, 1] - k[low_out, 1]) / max(k[chin, 1] - k[low_out, 1], 1e-6), 0.0, 1.0)
    jaw = np.zeros((n, 3), np.float32)
    jaw[:, 1] = u * u * (3 - 2 * u) * weight
    jaw[low] = 0.0
    mid = outer[np.argsort(np.abs(k[outer, 0] - k[low, 0]))[:2]]  # outer lips' middles
    jaw_line = oval[(weight[oval] > 0.5) & (k[oval, 1] > k[low, 1])]
    # the lips' landmarks and the jaw line below them: a dozen points bound the reach
    anchors = np.unique(np.concatenate([[up, low, chin, left, right], mid,
                                        jaw_line[::2]])).astype(np.int64)
    thickness = max(k[low_out, 1] - k[low, 1], 1e-6)
    thick = np.zeros((n, 3), np.float32)
    thick[low_out, 1], thick[low, 1] = 1.0, -1.0
    v = np.clip((k[:, 1] - k[low, 1]) / thickness, 0.0, 1.0)
    body = np.zeros((n, 3), np.float32)
    body[:, 1] = v * v * (3 - 2 * v) * weight
    body[low] = 0.0
    above = outer[k[outer, 1] < k[up, 1]]
    up_out = int(above[np.argmin(np.abs(k[above, 0] - k[up, 0]))])
    thickness_up = max(k[up, 1] - k[up_out, 1], 1e-6)
    thick_up = np.zeros((n, 3), np.float32)
    thick_up[up, 1], thick_up[up_out, 1] = 1.0, -1.0
    v = np.clip((k[up, 1] - k[:, 1]) / thickness_up, 0.0, 1.0)
    upper = np.zeros((n, 3), np.float32)
    upper[:, 1] = v * v * (3 - 2 * v) * weight
    upper[up] = 0.0
    return LipLimits(gap, wide, closing, jaw, MAX_GAP * width, MAX_WIDTH * width,
                     SLACK * depth, anchors=anchors, max_move=MAX_MOVE * width,
                     thick=thick, lip_body=body, max_thick=MAX_THICK * thickness,
                     thick_up=thick_up, upper_body=upper,
                     max_thick_up=MAX_THICK * thickness_up)


def soft_limit(ratio: np.ndarray, knee: float = KNEE) -> np.ndarray:
    """Per-frame factor in (0, 1] that bends ``ratio`` (asked / limit, ≥ 0) smoothly to at
    most 1: 1 up to ``knee``, then knee + (1 − knee)·tanh(…), which meets the identity with
    the same slope and never reaches the limit. Monotone: asking more still gives more."""
    r = np.asarray(ratio, np.float64)
    out = np.ones(r.shape, np.float32)
    over = r > knee
    if over.any():
        span = 1.0 - knee
        given = knee + span * np.tanh((r[over] - knee) / span)
        out[over] = (given / r[over]).astype(np.float32)
    return out


def limit_factor(gap: np.ndarray, width: np.ndarray, limits: LipLimits,
                 move: np.ndarray | None = None) -> np.ndarray:
    """(T,) factor scaling each frame's lip motion so its opening, its width and (given
    ``move``, the farthest travel of an anchor) its reach stay inside what the face gives
    (1 on every frame that asks for less than the knee)."""
    ratio = np.maximum(np.maximum(np.asarray(gap, np.float64), 0.0) / limits.max_gap,
                       np.abs(np.asarray(width, np.float64)) / limits.max_width)
    if move is not None:
        ratio = np.maximum(ratio, np.asarray(move, np.float64) / limits.max_move)
    return soft_limit(ratio, limits.knee)


def farthest_move(lips: np.ndarray, limits: LipLimits) -> np.ndarray | None:
    """(T,) the longest travel of the limits' anchors in each frame (None without them)."""
    if limits.anchors is None or not len(limits.anchors):
        return None
    a = np.asarray(lips)[:, limits.anchors]
    return np.sqrt(np.einsum("tkc,tkc->tk", a, a).max(axis=1))


def swelling(thick: np.ndarray, limits: LipLimits) -> np.ndarray | None:
    """(T,) how far the lower lip's body must rise so it grows no thicker than allowed
    (None when the limits have no lip body)."""
    if limits.thick is None or limits.lip_body is None:
        return None
    return np.maximum(np.asarray(thick, np.float32) - np.float32(limits.max_thick), 0.0)


def upper_swelling(thick_up: np.ndarray, limits: LipLimits) -> np.ndarray | None:
    """(T,) how far the upper lip's outer line must come down so it grows no thicker than
    allowed (None when the limits have no upper lip body)."""
    if limits.thick_up is None or limits.upper_body is None:
        return None
    return np.maximum(np.asarray(thick_up, np.float32) - np.float32(limits.max_thick_up), 0.0)


def jaw_follow(closing: np.ndarray, limits: LipLimits) -> np.ndarray:
    """(T,) how far the jaw must drop (along ``limits.jaw``) so the lower lip never comes
    nearer the chin than the slack allows: 0 in ordinary speech."""
    return np.maximum(np.asarray(closing, np.float32) - np.float32(limits.slack), 0.0)


def measure(lips: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """(T,) ⟨ΔE_t, vector⟩ for lip motion (T, N, 3): a limit's measure touches two points,
    so only those are read."""
    i, k = np.nonzero(vector)
    return (np.asarray(lips)[:, i, k] * vector[i, k]).sum(axis=1)


def lip_measures(lips: np.ndarray, limits: LipLimits) -> np.ndarray:
    """(T, 6) what the limits read of each frame of a lip term: gap, width, closing and the
    lower lip's thickening (linear in it), the farthest travel of an anchor (homogeneous)
    and the upper lip's thickening (linear): scaling a frame by α scales all six, so a
    caller may keep them and multiply."""
    zero = np.zeros(len(lips), np.float32)
    move = farthest_move(lips, limits)
    return np.stack([
        measure(lips, limits.gap), measure(lips, limits.width),
        measure(lips, limits.closing),
        zero if limits.thick is None else measure(lips, limits.thick),
        zero if move is None else move,
        zero if limits.thick_up is None else measure(lips, limits.thick_up)],
        axis=1).astype(np.float32)


@dataclass(frozen=True)
class LipPlan:
    """Per frame (T,): the factor on the lip term, how far the lower lip's body rises, how
    far the jaw drops and how far the upper lip's outer line comes down; ``saturation`` is
    1 − factor."""

    factor: np.ndarray
    lift: np.ndarray | None
    drop: np.ndarray
    lower: np.ndarray | None = None

    @property
    def saturation(self) -> np.ndarray:
        return 1.0 - self.factor


def lip_plan(measures: np.ndarray, limits: LipLimits) -> LipPlan:
    """The :class:`LipPlan` of frames whose lip term reads ``measures`` (T, 6)."""
    m = np.asarray(measures, np.float32)
    has_move = limits.anchors is not None and len(limits.anchors) > 0
    factor = limit_factor(m[:, 0], m[:, 1], limits, m[:, 4] if has_move else None)
    closing = m[:, 2] * factor
    lift = None
    if limits.thick is not None and limits.lip_body is not None:
        lift = swelling(m[:, 3] * factor, limits)
        # the body's rise takes the chin up with the lip: the lip closes in on it less
        closing = closing - lift * np.float32((limits.closing * limits.lip_body).sum())
    lower = None if m.shape[1] < 6 else upper_swelling(m[:, 5] * factor, limits)
    return LipPlan(factor, lift, jaw_follow(closing, limits), lower)


def apply_plan(lips: np.ndarray, plan: LipPlan, limits: LipLimits) -> None:
    """Scale, lift and drop a lip term (T, N, 3) in place as ``plan`` says; frames it
    leaves alone (under the knee, the lip clear of the chin) are not written."""
    over = np.flatnonzero(plan.factor < 1)
    if len(over):
        lips[over] *= plan.factor[over, None, None]
    if plan.lift is not None:
        rows = np.flatnonzero(plan.lift > 0)
        if len(rows):
            lips[rows] -= plan.lift[rows, None, None] * limits.lip_body[None]
    if plan.lower is not None:
        rows = np.flatnonzero(plan.lower > 0)
        if len(rows):
            lips[rows] += plan.lower[rows, None, None] * limits.upper_body[None]
    rows = np.flatnonzero(plan.drop > 0)
    if len(rows):
        lips[rows] += plan.drop[rows, None, None] * limits.jaw[None]


def hold_lips(lips: np.ndarray, limits: LipLimits) -> np.ndarray:
    """Hold the lip term α·ΔE (T, N, 3) inside the face, in place; returns the per-frame
    saturation (T,): 0 where the motion passed untouched, up to 1 for the share withheld."""
    plan = lip_plan(lip_measures(lips, limits), limits)
    apply_plan(lips, plan, limits)
    return plan.saturation


def limit_lips(lips: np.ndarray, limits: LipLimits) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hold_lips` on a copy: (the held lip term, the per-frame saturation)."""
    out = np.array(lips, np.float32, copy=True)
    return out, hold_lips(out, limits)
