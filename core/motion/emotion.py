"""Emotions per facial region: preset and reference deformations, clips and their sum.

The emotion term of the edit composition (PC-Talk §3.3):

    Σ_r λ_r(t) · M_r ⊙ D_{e_r}

- D_e, an emotion deformation in canonical space (N, 3): a preset shipped in
  ``resources/emotions/<tracker>.json`` and rescaled to the target identity, or a reference
  (an image's or a source frame's expression minus the neutral one: the PC-Talk
  subtraction, which leaves the pure emotion without the lip motion).
- M_r, a region's mask over the keypoints (``region_weights``): 1 on the region's points,
  softer at the border where the region meets skin that does not move; 0 everywhere else,
  so the rest of the face never moves.
- λ_r(t), the intensity of the emotion clips on region r's track (``intensity_curve``).

Presets are stored per region in units of that region's own size (mouth width, eye width
and height, brow-to-eye distance, eye distance), so an emotion taken from one face moves
another face by the same fraction of its features (``preset_deformation``).

Lip sync: a mouth emotion adds to the lip motion, so it must not open or close the lips.
``keep_lip_gap`` removes a deformation's jaw-opening component (a mode learned from talking
footage and shipped with the presets) and then makes every inner-lip pair move together,
so the inner-lip gap of every frame, and with it each p/b/m closure, is what the driver
made it. The corners, lip shape and chin may move freely.

Everything here is a pure function over numpy arrays; ``emotion_offsets`` evaluates a whole
clip at once (one small matrix product, no loop over frames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from core.keypoints.regions import RegionSet
from core.paths import resources_dir
from core.vocabulary import EMOTIONS, INTENSITY, REGION_PARTS, REGIONS  # noqa: F401 - re-exported

INTENSITY_MAX = INTENSITY.hi

# the tracker's region sets that make up each emotion region (core/vocabulary.py)
_MEMBERS: dict[str, tuple[str, ...]] = {r: parts for r, (parts, _) in REGION_PARTS.items()}
# weight of a region's points that border skin outside every emotion region (the soft edge)
_BORDER_WEIGHT: dict[str, float] = {r: w for r, (_, w) in REGION_PARTS.items()}
# size clamp: a target's region size is kept within this factor of the presets' typical size,
# so a face tracked mid-squint or mid-smile does not shrink or blow up the emotion
_SIZE_CLAMP = (0.5, 2.0)

# MediaPipe inner-lip pairs (upper, lower), corner to corner; 13/14 is the midline
_MEDIAPIPE_LIP_PAIRS = np.array(
    [(191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318),
     (415, 324)], dtype=np.int64,
)
# mouth corners, inner (78, 308) and outer (61, 291)
_MEDIAPIPE_CORNERS = np.array([78, 308, 61, 291], dtype=np.int64)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# --- regions ------------------------------------------------------------------------------
def _by_identity(store: dict, regions: RegionSet, key: str, make):
    """Memoise per RegionSet object (it holds dicts, so it cannot be hashed)."""
    hit = store.get((id(regions), key))
    if hit is None or hit[0] is not regions:
        hit = store[(id(regions), key)] = (regions, make())
    return hit[1]


_CACHE: dict[tuple[int, str], tuple[RegionSet, np.ndarray]] = {}


def lip_points(regions: RegionSet) -> np.ndarray:
    """Every point of the lips: both contours and the lip body between them.

    Found on the mesh: everything reachable from the inner lip contour without crossing
    the outer one. The region sets name only the contours; the body points between them
    (and the corners') must move with the lips or the warp folds the lips over.
    """
    def make() -> np.ndarray:
        tri = regions.triangles
        edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
        adj: dict[int, set[int]] = {}
        for a, b in edges.tolist():
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
        outer = set(regions["lips_outer"].tolist())
        seen = set(regions["lips_inner"].tolist()) | outer
        todo = list(regions["lips_inner"].tolist())
        while todo:
            for j in adj.get(todo.pop(), ()):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        if len(seen) > regions.n_points // 3:  # an open outer ring: keep the contours only
            seen = set(regions.lips.tolist())
        return np.array(sorted(seen), dtype=np.int64)

    return _by_identity(_CACHE, regions, "lips", make)


def region_indices(regions: RegionSet, region: str) -> np.ndarray:
    """The point indices of an emotion region (sorted, unique).

    The tracker's region sets, with one correction: the mouth takes every lip point
    (``lip_points``), and the cheeks give up those that their set holds.
    """
    if region not in _MEMBERS:
        raise ValueError(f"unknown region {region!r}; expected one of {REGIONS}")

    def make() -> np.ndarray:
        idx = np.unique(np.concatenate([regions[name] for name in _MEMBERS[region]]))
        if region == "mouth":
            idx = np.union1d(idx, lip_points(regions))
        elif region == "cheeks":
            idx = np.setdiff1d(idx, lip_points(regions))
        return idx

    return _by_identity(_CACHE, regions, "region:" + region, make)


def _compute_weights(regions: RegionSet, region: str) -> np.ndarray:
    idx = region_indices(regions, region)
    w = np.zeros(regions.n_points, dtype=np.float32)
    w[idx] = 1.0
    border = _BORDER_WEIGHT[region]
    if border < 1.0 and len(regions.triangles):
        moving = emotion_mask(regions)
        tri = regions.triangles
        edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
        edges = np.concatenate([edges, edges[:, ::-1]])
        touches = edges[(w[edges[:, 0]] > 0) & ~moving[edges[:, 1]], 0]
        w[np.unique(touches)] = border
    w.setflags(write=False)
    return w


def region_weights(regions: RegionSet, region: str) -> np.ndarray:
    """M_r: (N,) weights in [0, 1], nonzero only on the region's points.

    The cheeks' points that touch skin outside every emotion region get half weight, so a
    raised cheek fades into the still face instead of tearing a seam in the warp.
    """
    return _by_identity(_CACHE, regions, "weights:" + region,
                        lambda: _compute_weights(regions, region))


def emotion_mask(regions: RegionSet) -> np.ndarray:
    """(N,) bool: the points any emotion may move (the union of the four regions)."""
    m = np.zeros(regions.n_points, dtype=bool)
    for r in REGIONS:
        m[region_indices(regions, r)] = True
    return m


def region_sizes(canonical: np.ndarray, regions: RegionSet) -> dict[str, np.ndarray]:
    """Per region, the (x, y, z) size its deformations are measured in.

    brows: eye width across, brow-to-eye distance up and down; eyes: eye width across, open
    eye height up and down; mouth: mouth width on every axis; cheeks: the distance between
    the outer eye corners. Presets divide by these on the source face and multiply by them
    on the target, which factors out the identity's proportions.
    """
    k = np.asarray(canonical, dtype=np.float64)
    if regions.n_points != 478:
        raise ValueError(f"region sizes are defined for MediaPipe's 478 points, not "
                         f"{regions.n_points}")
    eye_w = 0.5 * (np.linalg.norm(k[33] - k[133]) + np.linalg.norm(k[263] - k[362]))
    eye_h = 0.5 * (abs(k[145, 1] - k[159, 1]) + abs(k[374, 1] - k[386, 1]))
    eye_y = 0.5 * (k[[33, 133, 159, 145], 1].mean() + k[[263, 362, 386, 374], 1].mean())
    brow_y = k[np.concatenate([regions["left_brow"], regions["right_brow"]]), 1].mean()
    brow_h = abs(eye_y - brow_y)
    lm = regions.landmarks
    mouth_w = np.linalg.norm(k[lm["mouth_left"]] - k[lm["mouth_right"]])
    eyes_d = np.linalg.norm(k[lm["eye_left_outer"]] - k[lm["eye_right_outer"]])
    return {
        "brows": np.array([eye_w, brow_h, eye_w]),
        "eyes": np.array([eye_w, eye_h, eye_w]),
        "mouth": np.array([mouth_w, mouth_w, mouth_w]),
        "cheeks": np.array([eyes_d, eyes_d, eyes_d]),
    }


# --- lip sync -----------------------------------------------------------------------------
def lip_pairs(regions: RegionSet) -> np.ndarray:
    """(P, 2) inner-lip point pairs (upper, lower) whose gap a mouth emotion must keep."""
    if regions.n_points != 478:
        lm = regions.landmarks
        return np.array([[lm["upper_lip_inner"], lm["lower_lip_inner"]]], dtype=np.int64)
    return _MEDIAPIPE_LIP_PAIRS


def keep_lip_gap(
    deformation: np.ndarray,
    regions: RegionSet,
    opening_mode: np.ndarray | None = None,
    canonical: np.ndarray | None = None,
    lip_thickness: float = 0.0,
) -> np.ndarray:
    """The deformation with its inner-lip opening taken out, so lip sync survives it.

    First the vertical and depth part of the jaw-opening component is removed
    (``opening_mode``: the displacement per unit of inner-lip gap, learned from talking
    footage), which takes the chin and lower lip back up with the lips; then each
    inner-lip pair (and each corner) gets its mean displacement, so the gap between upper
    and lower inner lip is exactly unchanged and closures still close.
    With ``canonical`` the lips also move up and down as one line: each lip point's vertical
    offset becomes that of the inner lip line at its x (interpolated between the corners
    and the inner pairs), plus ``lip_thickness`` times its own difference from it, so the
    lips neither swell nor thin around the kept gap while the corners still rise or fall;
    and the mouth region's vertical offsets are taken relative to the lips' centre, which
    stays where the lip motion puts it (an open-mouthed source would otherwise drag it).
    """
    d = np.array(deformation, dtype=np.float64, copy=True)
    lm = regions.landmarks
    up, low = lm["upper_lip_inner"], lm["lower_lip_inner"]
    if opening_mode is not None:
        gap = d[low, 1] - d[up, 1]
        mode = np.asarray(opening_mode, dtype=np.float64)
        d[:, 1:] -= gap * mode[:, 1:]  # the vertical and depth part: widening is kept
    pairs = lip_pairs(regions)
    if regions.n_points == 478:  # each corner moves as one: no sliver of mouth opens there
        corners = _MEDIAPIPE_CORNERS.reshape(2, 2).T  # (inner, outer) per side
        d[corners[:, 0]] = d[corners[:, 1]] = 0.5 * (d[corners[:, 0]] + d[corners[:, 1]])
    mean = 0.5 * (d[pairs[:, 0]] + d[pairs[:, 1]])
    d[pairs[:, 0]] = mean
    d[pairs[:, 1]] = mean
    if canonical is not None and regions.n_points == 478:
        k = np.asarray(canonical, dtype=np.float64)
        anchors = np.concatenate([pairs[:, 0], _MEDIAPIPE_CORNERS])
        order = np.argsort(k[anchors, 0])
        ax, ay = k[anchors[order], 0], d[anchors[order], 1]
        lips = lip_points(regions)
        line = np.interp(k[lips, 0], ax, ay)
        d[lips, 1] = line + lip_thickness * (d[lips, 1] - line)
        d[pairs[:, 1], 1] = d[pairs[:, 0], 1]
        # pin the lips' centre: the mouth does not drift up or down, its corners move
        d[region_indices(regions, "mouth"), 1] -= d[lm["upper_lip_inner"], 1]
    return d


# --- presets ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmotionPresets:
    """The shipped emotion library of one tracker, in region-size units."""

    tracker: str
    n_points: int
    # emotion -> region -> (N, 3) offsets divided by the region's size (zeros off the region)
    normalised: dict[str, dict[str, np.ndarray]]
    typical_sizes: dict[str, np.ndarray]  # the source faces' region sizes (for the clamp)
    opening_mode: np.ndarray  # (N, 3) displacement per unit of inner-lip gap
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.normalised)


@cache
def load_presets(tracker: str = "mediapipe") -> EmotionPresets:
    """Read ``resources/emotions/<tracker>.json`` (cached; arrays are read-only)."""
    path = resources_dir() / "emotions" / f"{tracker}.json"
    data = json.loads(path.read_text())
    n = int(data["points"])

    def dense(block: dict) -> np.ndarray:
        out = np.zeros((n, 3), dtype=np.float64)
        idx = np.asarray(block["indices"], dtype=np.int64)
        if len(idx):
            out[idx] = np.asarray(block["offsets"], dtype=np.float64).reshape(-1, 3)
        out.setflags(write=False)
        return out

    normalised = {
        name: {r: dense(entry["regions"][r]) for r in REGIONS}
        for name, entry in data["emotions"].items()
    }
    return EmotionPresets(
        tracker=data["tracker"],
        n_points=n,
        normalised=normalised,
        typical_sizes={r: np.asarray(v, dtype=np.float64) for r, v in data["sizes"].items()},
        opening_mode=dense(data["opening_mode"]),
        notes={name: entry.get("notes", "") for name, entry in data["emotions"].items()},
    )


def target_sizes(
    canonical: np.ndarray, regions: RegionSet, presets: EmotionPresets | None = None
) -> dict[str, np.ndarray]:
    """The target's region sizes, clamped near the presets' typical sizes."""
    presets = presets or load_presets(regions.tracker)
    lo, hi = _SIZE_CLAMP
    sizes = region_sizes(canonical, regions)
    return {r: np.clip(sizes[r], lo * presets.typical_sizes[r], hi * presets.typical_sizes[r])
            for r in REGIONS}


def preset_deformation(
    name: str,
    canonical: np.ndarray,
    regions: RegionSet,
    presets: EmotionPresets | None = None,
) -> np.ndarray:
    """D_e of a preset for the target identity whose canonical shape is ``canonical``: (N, 3).

    Each region's stored offsets are multiplied by the target's own region size, so a smile
    raises the corners by the same share of this face's mouth width as on the source face.
    Unweighted: the region masks are applied where clips are summed.
    """
    presets = presets or load_presets(regions.tracker)
    if name not in presets.normalised:
        raise KeyError(f"no emotion preset {name!r}; expected one of {presets.names}")
    sizes = target_sizes(canonical, regions, presets)
    out = np.zeros((regions.n_points, 3), dtype=np.float64)
    for r in REGIONS:
        out += presets.normalised[name][r] * sizes[r]
    return out.astype(np.float32)


def reference_deformation(
    expression: np.ndarray,
    neutral_expression: np.ndarray | None,
    regions: RegionSet,
    *,
    keep_gap: bool = False,
    opening_mode: np.ndarray | None = None,
) -> np.ndarray:
    """D_e from a reference: its expression minus the neutral one (the PC-Talk subtraction).

    ``expression`` is (N, 3) (an image or one source frame) or (T, N, 3) (a span of source
    frames, whose median is taken). ``neutral_expression`` is the same person's neutral:
    None for the closed neutral (zeros in canonical space), or e.g. the median expression of
    the clip. The result is the difference on the four emotion regions and zero elsewhere;
    ``keep_gap`` also takes out its lip opening (see ``keep_lip_gap``) for a mouth clip.
    """
    e = np.asarray(expression, dtype=np.float64)
    if e.ndim == 3:
        e = np.median(e, axis=0)
    neutral = 0.0 if neutral_expression is None else np.asarray(neutral_expression, np.float64)
    if np.ndim(neutral) == 3:
        neutral = np.median(neutral, axis=0)
    d = e - neutral
    still = ~emotion_mask(regions)
    d[still] = 0.0
    if keep_gap:
        d = keep_lip_gap(d, regions, opening_mode)
        d[still] = 0.0
    return d.astype(np.float32)


# --- clips and their sum ------------------------------------------------------------------
@dataclass(frozen=True)
class EmotionClip:
    """One emotion on one region's track, from ``start`` to ``end`` seconds.

    The intensity ramps up over ``fade_in`` after the start and down over ``fade_out``
    before the end (smoothstep); ``key`` names its deformation (a preset's name or a
    reference's key).
    """

    region: str
    start: float
    end: float
    key: str
    intensity: float = 1.0
    fade_in: float = 0.3
    fade_out: float = 0.3

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(f"unknown region {self.region!r}; expected one of {REGIONS}")
        if not self.end > self.start:
            raise ValueError(f"clip ends ({self.end}) before it starts ({self.start})")
        if not 0.0 <= self.intensity <= INTENSITY_MAX:
            raise ValueError(f"intensity {self.intensity} outside 0..{INTENSITY_MAX}")
        if self.fade_in < 0 or self.fade_out < 0:
            raise ValueError("fades must not be negative")


def clip_envelope(clip: EmotionClip, times: np.ndarray) -> np.ndarray:
    """(T,) the clip's shape in [0, 1]: 0 outside it, smoothstep fades, 1 in the middle.

    Fades longer than the clip together are shortened in proportion so both still fit.
    """
    t = np.asarray(times, dtype=np.float64)
    length = clip.end - clip.start
    fi, fo = clip.fade_in, clip.fade_out
    if fi + fo > length:
        k = length / (fi + fo)
        fi, fo = fi * k, fo * k
    up = _smoothstep((t - clip.start) / fi) if fi > 0 else (t >= clip.start).astype(np.float64)
    down = _smoothstep((clip.end - t) / fo) if fo > 0 else (t <= clip.end).astype(np.float64)
    env = np.minimum(up, down)
    env[(t < clip.start) | (t > clip.end)] = 0.0
    return env


def intensity_curve(clip: EmotionClip, times: np.ndarray) -> np.ndarray:
    """λ(t) of one clip alone: intensity × its fade envelope, (T,)."""
    return clip.intensity * clip_envelope(clip, times)


def track_weights(clips: list[EmotionClip], times: np.ndarray) -> np.ndarray:
    """(C, T) the weight of each clip in the sum, with the crossfade rule applied.

    Clips on one region's track share it: where their envelopes sum to more than 1 (they
    overlap), every envelope on that track is divided by the sum. So two clips fading into
    each other crossfade, two fully overlapping clips average, and a track's total weight
    Σ_c λ_c(t) never exceeds the largest intensity among its clips. Different regions'
    tracks are independent and simply add (they touch disjoint points).
    """
    times = np.asarray(times, dtype=np.float64)
    if not clips:
        return np.zeros((0, len(times)))
    env = np.stack([clip_envelope(c, times) for c in clips])
    inten = np.array([c.intensity for c in clips])[:, None]
    out = np.empty_like(env)
    regions = np.array([c.region for c in clips])
    for r in np.unique(regions):
        sel = regions == r
        total = env[sel].sum(axis=0)
        out[sel] = inten[sel] * env[sel] / np.maximum(total, 1.0)
    return out


def emotion_offsets(
    clips: list[EmotionClip],
    deformations: dict[str, np.ndarray],
    regions: RegionSet,
    times: np.ndarray,
) -> np.ndarray:
    """Σ_r λ_r(t) · M_r ⊙ D for every frame: (T, N, 3) float32, added to E'.

    ``deformations`` maps each clip's key to its (N, 3) D_e (``preset_deformation``,
    ``reference_deformation``); ``times`` are the frames' times in seconds. No loop over
    frames: one small product per run of equal weights, then one gather (a 10-minute clip
    at 25 fps costs about as much as writing its 86 MB of offsets).
    """
    times = np.asarray(times, dtype=np.float64)
    n = regions.n_points
    if not clips:
        return np.zeros((len(times), n, 3), dtype=np.float32)
    missing = sorted({c.key for c in clips} - set(deformations))
    if missing:
        raise KeyError(f"no deformation for {missing}")
    weights = track_weights(clips, times)
    # clips with the same (region, key) share one basis row
    rows: dict[tuple[str, str], int] = {}
    for c in clips:
        rows.setdefault((c.region, c.key), len(rows))
    basis = np.empty((len(rows), n * 3), dtype=np.float32)
    for (region, key), i in rows.items():
        d = np.asarray(deformations[key], dtype=np.float32)
        if d.shape != (n, 3):
            raise ValueError(f"deformation {key!r} is {d.shape}, expected {(n, 3)}")
        basis[i] = (region_weights(regions, region)[:, None] * d).reshape(-1)
    lam = np.zeros((len(rows), len(times)), dtype=np.float32)
    for c, w in zip(clips, weights, strict=True):
        lam[rows[(c.region, c.key)]] += w.astype(np.float32)
    # λ(t) is constant outside the fades: evaluate each distinct run of frames once and
    # copy rows out (one gather), instead of a product over every frame
    lt = lam.T
    change = np.ones(len(times), dtype=bool)
    change[1:] = (lt[1:] != lt[:-1]).any(axis=1)
    run = np.cumsum(change) - 1
    table = lt[change] @ basis
    return table[run].reshape(len(times), n, 3)
