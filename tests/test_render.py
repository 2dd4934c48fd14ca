"""The `warp` renderer on real frames: mesh, exactness outside the face, mouth filling."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from core.keypoints.regions import load_regions
from core.render.mesh import mesh_vertices, polygon_mask, signed_areas, unfold
from core.render.mouth import (
    MouthBank,
    MouthFill,
    inner_lip_shapes,
    polygon_area,
    shape_distance,
    teeth_mask,
)
from core.render.warp import WarpRenderer, resize_for

CLIP = "video/katie_hill.mp4"
N_FRAMES = 80
REG = load_regions("mediapipe")
INNER, OUTER = REG["lips_inner"], REG["lips_outer"]
LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def clip(shared_data):
    """First frames of a real talking-head clip with their tracked 2-D points."""
    path = shared_data / CLIP
    if not path.is_file():
        pytest.skip(f"{path} is absent: the render tests draw on this real clip")
    from core.tracking.registry import get_tracker

    session = get_tracker().open_session(static=False, max_faces=1)
    frames, points = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            faces = session.detect(rgb)
            assert faces, "the tracker lost the face in the test clip"
            frames.append(rgb)
            points.append(faces[0].points[:, :2].astype(np.float64))
            if len(frames) == N_FRAMES:
                break
    session.close()
    return np.stack(frames), np.stack(points)


@pytest.fixture(scope="module")
def closed(clip):
    """(frame, points) of the frame with the most closed mouth."""
    frames, points = clip
    t = int(np.argmin(polygon_area(inner_lip_shapes(points, REG))))
    return frames[t], points[t]


def open_jaw(points: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip, chin and jaw by ``amount`` pixels (upper lip stays): an edit."""
    p = points.copy()
    down = p[REG.landmarks["chin"]] - p[REG.landmarks["forehead"]]
    height = np.linalg.norm(down)
    down /= height
    s = (p - p[REG.landmarks["upper_lip_inner"]]) @ down
    t = np.clip((s + 0.05 * height) / (0.13 * height), 0, 1)
    w = t * t * (3 - 2 * t)
    n = len(INNER)
    for ring in (INNER, OUTER):
        w[ring[1 : n // 2]] = 1.0  # the lower lip (the ring's first half)
        w[ring[n // 2 + 1 :]] = 0.0  # the upper lip
        w[ring[[0, n // 2]]] = 0.4  # the corners
    return p + (amount * w)[:, None] * down


def luma(img: np.ndarray, mask: np.ndarray) -> float:
    return float((img[mask].astype(np.float64) @ LUMA).mean())


def inner_mask(points: np.ndarray, shape, erode: int = 2) -> np.ndarray:
    m = polygon_mask(points[INNER], shape).astype(np.uint8)
    return cv2.erode(m, np.ones((2 * erode + 1,) * 2, np.uint8)) > 0


def test_mesh_covers_the_hull_and_the_opened_mouth(closed):
    frame, src = closed
    dst = open_jaw(src, 25)
    r = WarpRenderer()
    topo = r.topology(src)
    _, vd = mesh_vertices(topo, src, dst)
    cover = np.zeros(frame.shape[:2], np.uint8)
    for tri in topo.triangles:
        pts = np.round((vd[tri] - 0.5) * 16).astype(np.int32)
        cv2.fillConvexPoly(cover, pts, 1, cv2.LINE_8, 4)
    hull = r.hull(src, dst, frame.shape[:2])
    inner_hull = cv2.erode(hull.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert cover[inner_hull].all(), "the warp mesh leaves holes inside the face hull"
    assert cover[polygon_mask(dst[INNER], frame.shape[:2])].all()
    assert topo.hole_triangles.sum() >= 18  # the inner mouth is triangulated, not a hole


def test_identity_warp_returns_the_source(closed):
    frame, src = closed
    r = WarpRenderer()
    assert np.array_equal(r.render(frame, src, src), frame)
    # A sub-pixel move runs the whole sampling path: near-exact inside, exact outside.
    out = r.render(frame, src, src + 0.01)
    diff = np.abs(out.astype(int) - frame.astype(int)).max(axis=2)
    assert diff.max() <= 3
    assert not diff[~r.hull(src, src + 0.01, frame.shape[:2])].any()


def test_a_fold_the_edit_makes_is_taken_out_and_drawn_without_seams(closed):
    """The lip's rolls lie a pixel or two apart at the corners: an edit that moves them by
    different amounts turns small triangles over, and the warp then drew whichever layer
    came last, a stair-stepped dark seam beside the mouth. The mesh is unfolded first."""
    frame, src = closed
    r = WarpRenderer()
    topo = r.topology(src)
    lm = REG.landmarks
    dst = src.copy()
    corner = lm["mouth_right"]
    near = np.argsort(np.linalg.norm(src - src[corner], axis=1))[1:4]
    dst[near] += (src[corner] - src[near]) * 2.5  # pushed past the corner: a fold
    vs, vd = mesh_vertices(topo, src, dst)
    face = ~topo.hole_triangles & (topo.triangles < topo.n_face).all(axis=1)
    tris = topo.triangles[face]
    turn = np.sign(signed_areas(vs, tris))
    folded = np.sign(signed_areas(vd, tris)) != turn
    assert folded.any(), "the test edit must fold the mesh"
    fixed = unfold(topo, vs, vd)
    assert not (np.sign(signed_areas(fixed, tris)) != turn).any()
    # only the vertices of the folded neighbourhood move; the rest of the edit is kept
    touched = np.flatnonzero(np.abs(fixed - vd).max(axis=1) > 1e-9)
    assert 0 < len(touched) < 40
    np.testing.assert_array_equal(unfold(topo, vs, vs + (2.0, 1.0)), vs + (2.0, 1.0))
    # drawn, the corner is one continuous picture: no pixel jumps to an unrelated source
    out = r.render(frame, src, dst)
    x, y = src[corner].astype(int)
    patch = out[y - 6 : y + 7, x - 6 : x + 7].astype(np.float32)
    source = frame[y - 12 : y + 13, x - 12 : x + 13].astype(np.float32)
    assert patch.min() >= source.min() - 2 and patch.max() <= source.max() + 2


def test_translation_moves_the_face_by_whole_pixels(closed):
    """Pixel convention: a face moved by (3, -2) px shows the source 3 px right, 2 px up."""
    frame, src = closed
    out = WarpRenderer().render(frame, src, src + (3.0, -2.0))
    face = polygon_mask(src[REG["face_oval"]], frame.shape[:2]).astype(np.uint8)
    face = cv2.erode(face, np.ones((21, 21), np.uint8)) > 0
    ys, xs = np.nonzero(face)
    assert np.abs(out[ys - 2, xs + 3].astype(int) - frame[ys, xs].astype(int)).max() <= 1


def test_pixels_outside_the_hull_stay_bit_identical(clip):
    frames, points = clip
    r = WarpRenderer()
    for t in (0, 30, 61):
        src = points[t]
        dst = open_jaw(src, 30)
        out = r.render(frames[t], src, dst, mouth=MouthFill())
        hull = r.hull(src, dst, frames[t].shape[:2])
        assert 0.05 < hull.mean() < 0.9
        assert np.array_equal(out[~hull], frames[t][~hull])


def test_opening_the_mouth_changes_the_mouth(closed):
    frame, src = closed
    dst = open_jaw(src, 25)
    out = WarpRenderer().render(frame, src, dst)
    opening = inner_mask(dst, frame.shape[:2])
    assert opening.sum() > 500
    changed = np.abs(out.astype(int) - frame.astype(int)).max(axis=2) > 10
    assert changed[opening].mean() > 0.3
    x0, y0 = dst[OUTER].min(axis=0).astype(int) - 5
    x1, y1 = dst[OUTER].max(axis=0).astype(int) + 5
    assert changed[y0:y1, x0:x1].sum() > 1000


def test_cavity_fills_the_new_opening_darker_than_a_stretch(closed):
    frame, src = closed
    dst = open_jaw(src, 25)
    r = WarpRenderer()
    stretch = r.render(frame, src, dst)
    cavity = r.render(frame, src, dst, mouth=MouthFill())
    opening = inner_mask(dst, frame.shape[:2])
    assert luma(cavity, opening) < 0.8 * luma(stretch, opening)
    # Shaded: darker in the middle than at the rim next to the lips.
    middle = inner_mask(dst, frame.shape[:2], erode=6)
    rim = opening & ~inner_mask(dst, frame.shape[:2], erode=4)
    assert middle.sum() > 50 and luma(cavity, middle) < luma(cavity, rim) - 5
    # The fill stays inside the lips: beyond the outer lip line nothing changes.
    lips = polygon_mask(dst[OUTER], frame.shape[:2]).astype(np.uint8)
    around = cv2.dilate(lips, np.ones((9, 9), np.uint8)) == 0
    assert np.array_equal(cavity[around], stretch[around])


def test_cavity_keeps_the_source_teeth(clip):
    frames, points = clip
    t = int(np.argmax(polygon_area(inner_lip_shapes(points, REG))))
    frame, src = frames[t], points[t]
    dst = open_jaw(src, 20)
    r = WarpRenderer()
    lip = np.median(frame[polygon_mask(src[OUTER], frame.shape[:2])].astype(float), axis=0)
    opening = inner_mask(dst, frame.shape[:2])
    assert (teeth_mask(frame[polygon_mask(src[INNER], frame.shape[:2])], lip) > 0.5).sum() > 30
    kept = r.render(frame, src, dst, mouth=MouthFill(keep_teeth=True, full=0.99, start=1.0))
    dark = r.render(frame, src, dst, mouth=MouthFill(keep_teeth=False, full=0.99, start=1.0))
    n_kept = (teeth_mask(kept[opening], lip) > 0.5).sum()
    n_dark = (teeth_mask(dark[opening], lip) > 0.5).sum()
    assert n_kept > 30 and n_kept > 3 * n_dark


def test_no_fill_when_the_edit_closes_the_mouth(clip):
    frames, points = clip
    t = int(np.argmax(polygon_area(inner_lip_shapes(points, REG))))
    src = points[t]
    dst = open_jaw(src, -0.5 * np.linalg.norm(src[13] - src[14]))
    r = WarpRenderer()
    plain = r.render(frames[t], src, dst)
    assert np.array_equal(r.render(frames[t], src, dst, mouth=MouthFill()), plain)


@pytest.fixture(scope="module")
def bank(clip):
    frames, points = clip
    return MouthBank.from_frames(iter(frames), points, REG)


def test_mouth_bank_fills_from_the_speakers_own_mouth(bank, closed):
    frame, src = closed
    assert 10 < len(bank) <= 300
    dst = open_jaw(src, 25)
    target = inner_lip_shapes(dst[None], REG)
    k = int(bank.choose(target)[0])
    dist = shape_distance(target[0], bank.shapes)
    assert dist[k] <= dist.min() + 1e-6
    r = WarpRenderer()
    stretch = r.render(frame, src, dst)
    filled = r.render(frame, src, dst, mouth=bank.fill(k))
    opening = inner_mask(dst, frame.shape[:2])
    diff = np.abs(filled.astype(int) - stretch.astype(int)).max(axis=2)
    assert diff[opening].mean() > 20
    hull = r.hull(src, dst, frame.shape[:2])
    assert np.array_equal(filled[~hull], frame[~hull])


def test_a_bank_mouth_opened_far_wider_parts_its_jaws_rather_than_stretching(bank, clip):
    """An opening three times the height of the entry: its upper teeth ride the upper lip
    and its lower teeth the lower lip, each at its own size, with the cavity between
    (stretching the whole entry drew teeth three times their height)."""
    from core.render.mouth import MAX_STRETCH, fill_mouth, opening_height, to_patch_pixels

    frames, points = clip
    heights = np.array([opening_height(s) for s in bank.shapes])
    k = int(np.argmax(heights))  # the widest entry: teeth show in it
    patch, shape = bank.patches[k], bank.shapes[k].astype(np.float64)
    lip = np.median(patch[:6].reshape(-1, 3).astype(float), axis=0)  # the upper lip's band
    own = polygon_mask(to_patch_pixels(shape), patch.shape[:2])
    teeth_in = (teeth_mask(patch[own], lip) > 0.5).sum()
    assert teeth_in > 20, "the test needs an entry that shows teeth"
    taller = shape * (1.0, 3.0)  # the same mouth, three times as open
    assert opening_height(taller) / opening_height(shape) > MAX_STRETCH
    canvas = np.zeros((240, 320, 3), np.uint8)
    dst = taller * 80.0 + (160.0, 120.0)  # 80 pixels per half-width, centred
    fill_mouth(canvas, patch, shape, dst)
    opening = polygon_mask(dst, canvas.shape[:2])
    teeth_out = (teeth_mask(canvas[opening], lip) > 0.5).sum()
    scale = (80.0 / (to_patch_pixels(np.array([[1.0, 0.0]])) -
                     to_patch_pixels(np.array([[0.0, 0.0]])))[0, 0]) ** 2
    assert teeth_out < 1.6 * teeth_in * scale, (teeth_out, teeth_in * scale)
    # and the middle of the opening is the cavity: darker than the teeth
    luma = canvas.astype(float) @ LUMA
    middle = luma[118:123, 150:171].mean()
    assert middle < np.percentile(luma[opening], 90) - 40


def test_bank_choice_is_temporally_smooth(bank, clip):
    _, points = clip
    rng = np.random.default_rng(0)
    smooth = inner_lip_shapes(points, REG)
    noisy = smooth + rng.normal(scale=0.03, size=smooth.shape)
    path = bank.choose(noisy, switch_cost=0.05)
    greedy = np.argmin(shape_distance(noisy[:, None], bank.shapes[None]), axis=1)
    switches = int((np.diff(path) != 0).sum())
    assert switches < 0.5 * int((np.diff(greedy) != 0).sum())
    # ...and still follows the shapes: on the clean shapes its mean cost is near the best.
    cost = shape_distance(smooth[:, None], bank.shapes[None])
    assert cost[np.arange(len(path)), path].mean() < cost.min(axis=1).mean() + 0.05
    # A bank entry's own shape, held still, picks that entry (or an identical shape).
    held = np.repeat(bank.shapes[5][None], 10, axis=0)
    chosen = bank.choose(held)
    assert (shape_distance(bank.shapes[chosen], bank.shapes[5]) < 1e-6).all()


def test_preview_size(closed):
    frame, src = closed
    dst = open_jaw(src, 25)
    r = WarpRenderer()
    full = r.render(frame, src, dst, mouth=MouthFill())
    small = r.render(frame, src, dst, out_size=(256, 256), mouth=MouthFill())
    assert small.shape == (256, 256, 3) and small.dtype == np.uint8
    assert np.abs(small.astype(int) - resize_for(full, (256, 256)).astype(int)).mean() < 2
    assert r.render(frame, src, dst, out_size=(300, 200)).shape == (200, 300, 3)


def test_frames_without_a_face_pass_through(closed):
    frame, src = closed
    nan = np.full_like(src, np.nan)
    assert np.array_equal(WarpRenderer().render(frame, nan, nan), frame)
