"""Inner-mouth filling for where an edit opens the mouth wider than the source frame shows.

A warp can only stretch what the source has: a closed source mouth opened by an edit
would show smeared lip. For a video source a :class:`MouthBank` of the speaker's own open
mouths (teeth, tongue) supplies the inside, chosen along time so it does not flicker; for a
single image :func:`shaded_cavity` paints a dark cavity that keeps the source's visible
teeth.

Inner-lip polygons are in the region's ring order: corner, one lip, the other corner (at
the middle index), the other lip. The normalised mouth frame puts the first corner at
(-1, 0) and the second at (1, 0), y pointing towards the chin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from core.keypoints.regions import RegionSet, load_regions
from core.render.mesh import polygon_mask

# The canonical patch: x in [-1.25, 1.25], y in [Y_TOP, Y_TOP + PATCH_H / PPU] mouth half-widths.
PATCH_W, PATCH_H = 96, 84
X_LEFT, Y_TOP = -1.25, -0.95
PPU = PATCH_W / (2 * -X_LEFT)  # patch pixels per mouth half-width
TONGUE = np.array([0.62, 0.36, 0.36], np.float32)  # the tongue's colour, as a share of the lips'
#: how much taller than its bank entry an opening may be before the entry is parted (its
#: halves ride the two lips) rather than stretched
MAX_STRETCH = 1.4


# --- the normalised mouth frame ------------------------------------------------------------


def _complex(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64)
    return p[..., 0] + 1j * p[..., 1]


def mouth_axis(inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, half-axis) as complex numbers from an inner-lip polygon's two corners."""
    z = _complex(inner)
    n = z.shape[-1]
    c1, c2 = z[..., 0], z[..., n // 2]
    return (c1 + c2) / 2, (c2 - c1) / 2


def normalise_inner_lip(inner: np.ndarray) -> np.ndarray:
    """Inner-lip polygons (..., n, 2) in pixels → the normalised mouth frame (..., n, 2)."""
    centre, axis = mouth_axis(inner)
    axis = np.where(np.abs(axis) < 1e-9, 1.0, axis)
    z = (_complex(inner) - centre[..., None]) / axis[..., None]
    return np.stack([z.real, z.imag], axis=-1)


def inner_lip_shapes(points: np.ndarray, regions: RegionSet | None = None) -> np.ndarray:
    """Normalised inner-lip polygons (T, n, 2) of tracked or edited points (T, N, 2|3)."""
    regions = regions if regions is not None else load_regions("mediapipe")
    return normalise_inner_lip(np.asarray(points)[..., regions["lips_inner"], :2])


def polygon_area(poly: np.ndarray) -> np.ndarray:
    """Unsigned shoelace area of polygons (..., n, 2)."""
    x, y = poly[..., 0], poly[..., 1]
    return 0.5 * np.abs((x * np.roll(y, -1, -1) - np.roll(x, -1, -1) * y).sum(-1))


def shape_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean point distance between normalised polygons, broadcast over leading axes."""
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, scale, shift) taking src points to dst."""
    zs, zd = _complex(src), _complex(dst)
    ms, md = zs.mean(), zd.mean()
    den = np.sum(np.abs(zs - ms) ** 2)
    b = np.sum((zd - md) * np.conj(zs - ms)) / den if den > 1e-12 else 1.0
    t = md - b * ms
    return np.array([[b.real, -b.imag, t.real], [b.imag, b.real, t.imag]])


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares affine taking src points to dst."""
    a = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    return np.linalg.lstsq(a, dst, rcond=None)[0].T


def _index_matrix(m: np.ndarray, origin_in=(0, 0), origin_out=(0, 0)) -> np.ndarray:
    """A continuous-pixel affine as OpenCV wants it: pixel indices, boxes' own origins."""
    lin = m[:, :2]
    t = m[:, 2] + lin @ (np.asarray(origin_in, float) + 0.5) - 0.5 - np.asarray(origin_out)
    return np.concatenate([lin, t[:, None]], axis=1)


def patch_matrix(inner: np.ndarray) -> np.ndarray:
    """2x3 continuous-pixel affine from a frame to the canonical patch of its mouth."""
    centre, axis = mouth_axis(inner)
    b = PPU / axis if abs(axis) > 1e-9 else PPU
    off = PPU * complex(X_LEFT, Y_TOP)
    t = -b * centre - off
    return np.array([[b.real, -b.imag, t.real], [b.imag, b.real, t.imag]])


def to_patch_pixels(shape: np.ndarray) -> np.ndarray:
    """Normalised polygon → continuous pixels of the canonical patch."""
    return (np.asarray(shape) - (X_LEFT, Y_TOP)) * PPU


def _box(points: np.ndarray, pad: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    lo, hi = points.min(axis=0) - pad, points.max(axis=0) + pad
    return (
        max(0, int(np.floor(lo[0]))),
        max(0, int(np.floor(lo[1]))),
        min(w, int(np.ceil(hi[0]))),
        min(h, int(np.ceil(hi[1]))),
    )


def _feather(mask: np.ndarray, width: float) -> np.ndarray:
    """0 at the polygon's edge rising to 1 ``width`` pixels inside: no visible seam."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(dist / max(width, 1.0), 0.0, 1.0)


def _blend(out: np.ndarray, box, layer: np.ndarray, alpha: np.ndarray) -> None:
    x0, y0, x1, y1 = box
    region = out[y0:y1, x0:x1].astype(np.float32)
    a = alpha[..., None].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region + (layer - region) * a + 0.5, 0, 255).astype(np.uint8)


# --- the bank ------------------------------------------------------------------------------


@dataclass
class MouthFill:
    """What to put inside the edited mouth of one frame.

    ``patch``/``shape``: a bank entry (canonical inner-mouth crop and its normalised
    inner-lip polygon); without them, a shaded cavity. The fill fades in as the source's
    opening area falls from ``start`` to ``full`` times the edited one.
    """

    patch: np.ndarray | None = None
    shape: np.ndarray | None = None
    keep_teeth: bool = True
    start: float = 0.85
    full: float = 0.45

    def weight(self, src_area: float, dst_area: float, dst_width: float) -> float:
        """How much of the fill to show, from the openings' areas in pixels²."""
        if dst_area < 0.01 * dst_width**2 or dst_area <= 0:
            return 0.0  # the edited mouth is (nearly) shut: nothing to fill
        ratio = src_area / dst_area
        return float(np.clip((self.start - ratio) / (self.start - self.full), 0.0, 1.0))


class MouthBank:
    """The speaker's own open mouths, as canonical patches with their inner-lip shapes."""

    def __init__(self, patches: np.ndarray, shapes: np.ndarray, frames: np.ndarray) -> None:
        if len(patches) == 0:
            raise ValueError("a mouth bank needs at least one open-mouth frame")
        self.patches = np.asarray(patches, np.uint8)
        self.shapes = np.asarray(shapes, np.float32)
        self.frames = np.asarray(frames, np.int64)

    def __len__(self) -> int:
        return len(self.patches)

    @staticmethod
    def select(
        points: np.ndarray,
        regions: RegionSet | None = None,
        *,
        min_open: float = 0.25,
        cap: int = 300,
    ) -> np.ndarray:
        """Frames worth keeping: mouth open (normalised area > ``min_open``), shapes spread.

        Beyond ``cap`` candidates, farthest-point sampling over shapes keeps the variety
        (nearly closed to wide open, round to wide) rather than many copies of the
        commonest shape.
        """
        shapes = inner_lip_shapes(points, regions)
        ok = np.isfinite(shapes).all(axis=(1, 2))
        area = np.where(ok, polygon_area(np.nan_to_num(shapes)), 0.0)
        cand = np.flatnonzero(ok & (area > min_open))
        if len(cand) <= cap:
            return cand
        flat = shapes[cand]
        chosen = [int(np.argmax(area[cand]))]
        dist = shape_distance(flat, flat[chosen[0]])
        for _ in range(cap - 1):
            k = int(np.argmax(dist))
            chosen.append(k)
            dist = np.minimum(dist, shape_distance(flat, flat[k]))
        return np.sort(cand[chosen])

    @classmethod
    def from_frames(
        cls,
        frames: Iterable[np.ndarray],
        points: np.ndarray,
        regions: RegionSet | None = None,
        *,
        min_open: float = 0.25,
        cap: int = 300,
    ) -> MouthBank:
        """Build from a clip's frames (in order, aligned with ``points`` (T, N, 2|3)).

        Only the selected frames are kept; iteration stops after the last one.
        """
        regions = regions if regions is not None else load_regions("mediapipe")
        pick = cls.select(points, regions, min_open=min_open, cap=cap)
        wanted = set(pick.tolist())
        last = int(pick[-1]) if len(pick) else -1
        patches, shapes, kept = [], [], []
        for t, frame in enumerate(frames):
            if t > last:
                break
            if t not in wanted:
                continue
            inner = np.asarray(points[t])[regions["lips_inner"], :2]
            patches.append(extract_patch(frame, inner))
            shapes.append(normalise_inner_lip(inner))
            kept.append(t)
        if not patches:
            raise ValueError(f"no frame opens the mouth beyond {min_open} (normalised area)")
        return cls(np.stack(patches), np.stack(shapes), np.asarray(kept))

    def choose(self, target_shapes: np.ndarray, switch_cost: float = 0.05) -> np.ndarray:
        """Bank index per frame (T,): Viterbi over shape distance + ``switch_cost`` per switch.

        ``switch_cost`` is in the same unit as the shape distance (mean point distance in
        mouth half-widths): an entry is kept while it stays within that much of the best.
        Frames with no target (NaN) keep whatever their neighbours use.
        """
        target = np.asarray(target_shapes, np.float64)
        bank = self.shapes[None].astype(np.float64)
        cost = np.concatenate(
            [shape_distance(target[i : i + 256, None], bank) for i in range(0, len(target), 256)]
            or [np.zeros((0, len(self)))]
        )
        cost = np.nan_to_num(cost, nan=0.0)
        t_count, m = cost.shape
        if t_count == 0:
            return np.zeros(0, np.int64)
        back = np.empty((t_count, m), np.int64)
        acc = cost[0].copy()
        stay = np.arange(m)
        for t in range(1, t_count):
            best = int(np.argmin(acc))
            switch = acc[best] + switch_cost
            move = switch < acc
            back[t] = np.where(move, best, stay)
            acc = np.where(move, switch, acc) + cost[t]
        path = np.empty(t_count, np.int64)
        path[-1] = int(np.argmin(acc))
        for t in range(t_count - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path

    def fill(self, index: int, **options) -> MouthFill:
        """The :class:`MouthFill` that draws entry ``index``."""
        return MouthFill(patch=self.patches[index], shape=self.shapes[index], **options)


def extract_patch(frame: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The frame's mouth resampled into the canonical (PATCH_H, PATCH_W, 3) patch."""
    m = _index_matrix(patch_matrix(inner))
    return cv2.warpAffine(
        frame, m, (PATCH_W, PATCH_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


# --- filling -------------------------------------------------------------------------------


def fill_mouth(
    frame_out: np.ndarray,
    bank_patch: np.ndarray,
    patch_shape: np.ndarray,
    dst_inner: np.ndarray,
    *,
    weight: float = 1.0,
) -> None:
    """Warp a bank patch into the edited inner-lip polygon and feather it in (in place)."""
    dst_inner = np.asarray(dst_inner, np.float64)[:, :2]
    h, w = frame_out.shape[:2]
    width = float(np.abs(mouth_axis(dst_inner)[1])) * 2
    box = _box(dst_inner, 2, (w, h))
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0 or weight <= 0:
        return
    size = (x1 - x0, y1 - y0)
    stretch = opening_height(normalise_inner_lip(dst_inner)) / max(
        opening_height(np.asarray(patch_shape, np.float64)), 1e-6)
    if stretch <= MAX_STRETCH:
        m = _affine(to_patch_pixels(patch_shape), dst_inner)
        layer = cv2.warpAffine(
            bank_patch, _index_matrix(m, origin_out=(x0, y0)), size, flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    else:
        layer = _parted(bank_patch, patch_shape, dst_inner, (x0, y0), size)
    mask = polygon_mask(dst_inner, (y1 - y0, x1 - x0), origin=(x0, y0))
    alpha = _feather(mask, 0.05 * width) * weight
    _blend(frame_out, box, layer, alpha)


def opening_height(shape: np.ndarray) -> float:
    """The opening's height at its middle, in half-widths, of a normalised polygon."""
    z = _complex(shape)
    up, low = _sides_of(z)
    return float(_interp_side(low, np.array([0.0]))[0] - _interp_side(up, np.array([0.0]))[0])


def _sides_of(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) sides of a normalised polygon given as complex points."""
    n = len(z)
    first = z[: n // 2 + 1]
    second = np.concatenate([z[n // 2 :], z[:1]])
    if first[1:-1].imag.mean() > second[1:-1].imag.mean():
        return second, first
    return first, second


def _parted(patch: np.ndarray, patch_shape: np.ndarray, dst_inner: np.ndarray,
            origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """A bank patch opened wider than it was taken: its upper half rides on the upper lip
    and its lower half on the lower lip (the teeth stay with their jaws, at their own
    size); between them the mouth's own darkest colour, with the tongue. Stretching the
    whole patch instead drew teeth three times their height."""
    src = to_patch_pixels(patch_shape)
    up_s, low_s = _sides(src)
    up_d, low_d = _sides(dst_inner)
    ph, pw = patch.shape[:2]
    ys, xs = np.mgrid[0:ph, 0:pw] + 0.5
    centre, axis = mouth_axis(src)
    zn = ((xs + 1j * ys) - centre) / axis
    up_n = (_complex(up_s) - centre) / axis
    low_n = (_complex(low_s) - centre) / axis
    middle = (_interp_side(up_n, zn.real) + _interp_side(low_n, zn.real)) / 2
    upper = (zn.imag < middle).astype(np.float32)
    inside = polygon_mask(src, (ph, pw))
    px = patch.reshape(-1, 3).astype(np.float32)
    luma = px @ np.array([0.299, 0.587, 0.114], np.float32)
    dark = px[inside.ravel()] if inside.any() else px
    dark_luma = luma[inside.ravel()] if inside.any() else luma
    cavity = np.median(dark[dark_luma <= np.percentile(dark_luma, 15)], axis=0)
    out = np.empty((size[1], size[0], 3), np.float32)
    out[:] = cavity
    # the space the jaws opened shows the tongue lying behind the lower teeth
    ring = cv2.dilate(inside.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~inside
    tongue = _tongue_mask(dst_inner, (origin[0], origin[1], origin[0] + size[0],
                                      origin[1] + size[1]))
    if tongue is not None and ring.any():
        lip = np.median(patch[ring].astype(np.float32), axis=0)
        out += (lip * TONGUE - out) * (0.9 * tongue)[..., None]
    soft = max(1.0, 0.02 * pw)
    for side_s, side_d, part in ((up_s, up_d, upper), (low_s, low_d, 1.0 - upper)):
        m = _index_matrix(_similarity(side_s, side_d), origin_out=origin)
        layer = cv2.warpAffine(patch, m, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        w = cv2.warpAffine(cv2.GaussianBlur(part, (0, 0), soft), m, size,
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
        out += (layer - out) * w[..., None]
    return out


def _sides(inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) halves of an inner-lip polygon, both corners included in each."""
    n = len(inner)
    first = inner[: n // 2 + 1]
    second = np.concatenate([inner[n // 2 :], inner[:1]])
    y = normalise_inner_lip(inner)[:, 1]
    if y[1 : n // 2].mean() > y[n // 2 + 1 :].mean():
        return second, first
    return first, second


def _lip_colour(region: np.ndarray, lips: np.ndarray) -> np.ndarray:
    if lips.any():
        return np.median(region[lips].astype(np.float32), axis=0)
    return region.reshape(-1, 3).astype(np.float32).mean(axis=0)


def teeth_mask(rgb: np.ndarray, lip_colour: np.ndarray) -> np.ndarray:
    """Bright, unsaturated pixels (teeth) relative to the lips' own colour, as 0..1."""
    px = rgb.astype(np.float32)
    luma = px @ np.array([0.299, 0.587, 0.114], np.float32)
    sat = px.max(axis=-1) - px.min(axis=-1)
    lip_luma = float(lip_colour @ np.array([0.299, 0.587, 0.114]))
    lip_sat = float(lip_colour.max() - lip_colour.min())
    bright = np.clip((luma - (lip_luma + 12)) / 25, 0, 1)
    pale = np.clip(((max(lip_sat, 40) * 0.9) - sat) / 20, 0, 1)
    return bright * pale


def shaded_cavity(
    frame_out: np.ndarray,
    dst_inner: np.ndarray,
    dst_outer: np.ndarray,
    *,
    src_frame: np.ndarray | None = None,
    src_inner: np.ndarray | None = None,
    weight: float = 1.0,
) -> None:
    """Paint the edited opening as a cavity (in place): lip-dark at the edges, darkest inside.

    With the source frame and its inner-lip polygon, the source's visible teeth stay: the
    upper teeth move with the upper lip and the lower teeth with the lower lip.
    """
    dst_inner = np.asarray(dst_inner, np.float64)[:, :2]
    dst_outer = np.asarray(dst_outer, np.float64)[:, :2]
    h, w = frame_out.shape[:2]
    box = _box(dst_outer, 2, (w, h))
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0 or weight <= 0:
        return
    shape = (y1 - y0, x1 - x0)
    region = frame_out[y0:y1, x0:x1]
    inside = polygon_mask(dst_inner, shape, origin=(x0, y0))
    lips = polygon_mask(dst_outer, shape, origin=(x0, y0)) & ~inside
    lip = _lip_colour(region, lips)
    width = float(np.abs(mouth_axis(dst_inner)[1])) * 2
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)
    depth = np.clip(depth / max(depth.max(), 1.0), 0, 1) ** 0.6
    layer = lip[None, None] * (0.55 - 0.42 * depth)[..., None]
    # a wide opening shows the tongue lying behind the lower teeth, not a black hole
    tongue = _tongue_mask(dst_inner, box)
    if tongue is not None:
        layer = layer + (lip * TONGUE - layer) * (0.9 * tongue)[..., None]

    if src_frame is not None and src_inner is not None:
        teeth, tmask = _moved_teeth(src_frame, np.asarray(src_inner)[:, :2], dst_inner, box, lip)
        if teeth is not None:
            layer = layer + (teeth - layer) * tmask[..., None]

    alpha = _feather(inside, 0.05 * width) * weight
    _blend(frame_out, box, layer.astype(np.float32), alpha)


def _tongue_mask(inner: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """(H, W) 0..1 over ``box``: a soft ellipse in the lower part of the opening, where the
    tongue shows; None while the mouth is too little open for one to be seen."""
    x0, y0, x1, y1 = box
    centre, axis = mouth_axis(inner)
    half = abs(axis)
    if half < 1e-6:
        return None
    up, low = _sides(inner)
    up_n, low_n = (_complex(up) - centre) / axis, (_complex(low) - centre) / axis
    bottom = float(_interp_side(low_n, np.array([0.0]))[0])
    top = float(_interp_side(up_n, np.array([0.0]))[0])
    height = bottom - top  # in half-widths, the opening's height at its middle
    if height < 0.5:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    z = ((xs + 0.5) + 1j * (ys + 0.5) - centre) / axis
    r = (z.real / 0.65) ** 2 + ((z.imag - (bottom - 0.2 * height)) / (0.32 * height)) ** 2
    grow = np.clip((height - 0.5) / 0.4, 0.0, 1.0)  # fades in as the mouth opens
    return (np.clip(1.0 - r, 0.0, 1.0) ** 0.5 * grow).astype(np.float32)


def _moved_teeth(
    src_frame: np.ndarray,
    src_inner: np.ndarray,
    dst_inner: np.ndarray,
    box: tuple[int, int, int, int],
    lip: np.ndarray,
) -> tuple[np.ndarray | None, np.ndarray]:
    """The source's teeth carried into the output box: (colours, 0..1 mask) or (None, _)."""
    x0, y0, x1, y1 = box
    shape = (y1 - y0, x1 - x0)
    h, w = src_frame.shape[:2]
    sbox = _box(src_inner, 3, (w, h))
    sx0, sy0, sx1, sy1 = sbox
    if sx1 <= sx0 or sy1 <= sy0:
        return None, np.zeros(shape, np.float32)
    src_region = src_frame[sy0:sy1, sx0:sx1]
    src_open = polygon_mask(src_inner, (sy1 - sy0, sx1 - sx0), origin=(sx0, sy0))
    if src_open.sum() < 4:
        return None, np.zeros(shape, np.float32)
    src_teeth = teeth_mask(src_region, lip) * cv2.erode(src_open.astype(np.uint8), None)
    if src_teeth.max() <= 0:
        return None, np.zeros(shape, np.float32)

    src_upper = _above_middle(src_inner, sbox)
    up_s, low_s = _sides(src_inner)
    up_d, low_d = _sides(dst_inner)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    colour = np.zeros(shape + (3,), np.float32)
    weight = np.zeros(shape, np.float32)
    # Upper teeth ride on the upper lip, lower teeth on the lower lip.
    for s_side, d_side, part in ((up_s, up_d, src_upper), (low_s, low_d, ~src_upper)):
        m = _index_matrix(_similarity(d_side, s_side), origin_in=(x0, y0), origin_out=(sx0, sy0))
        layer = cv2.warpAffine(
            src_region, m, shape[::-1], flags=flags, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        mask = cv2.warpAffine(
            (src_teeth * part).astype(np.float32),
            m,
            shape[::-1],
            flags=flags,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        colour += layer * mask[..., None]
        weight += mask
    teeth = colour / np.maximum(weight, 1e-6)[..., None]
    return teeth, np.clip(weight, 0.0, 1.0)


def _above_middle(inner: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(H, W) bool over ``box``: pixels nearer the upper lip than the lower one."""
    x0, y0, x1, y1 = box
    centre, axis = mouth_axis(inner)
    if abs(axis) < 1e-6:
        return np.ones((y1 - y0, x1 - x0), bool)
    up, low = _sides(inner)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    z = ((xs + 0.5) + 1j * (ys + 0.5) - centre) / axis
    up_n, low_n = (_complex(up) - centre) / axis, (_complex(low) - centre) / axis
    return z.imag < (_interp_side(up_n, z.real) + _interp_side(low_n, z.real)) / 2


def _interp_side(side: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The side's y (complex points in the mouth frame) at each x."""
    order = np.argsort(side.real)
    return np.interp(x, side.real[order], side.imag[order])


def apply_mouth_fill(
    out: np.ndarray,
    src_frame: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    fill: MouthFill,
    regions: RegionSet,
) -> None:
    """Fill the warped frame's inner mouth (in place) where the edit opens it wider."""
    inner, outer = regions["lips_inner"], regions["lips_outer"]
    src_in, dst_in = src_pts[inner, :2], dst_pts[inner, :2]
    width = float(np.abs(mouth_axis(dst_in)[1])) * 2
    weight = fill.weight(float(polygon_area(src_in)), float(polygon_area(dst_in)), width)
    if weight <= 0:
        return
    if fill.patch is not None and fill.shape is not None:
        fill_mouth(out, fill.patch, fill.shape, dst_in, weight=weight)
    else:
        shaded_cavity(
            out,
            dst_in,
            dst_pts[outer, :2],
            src_frame=src_frame if fill.keep_teeth else None,
            src_inner=src_in,
            weight=weight,
        )
