"""Keypoint decomposition, face selection, gap filling and the keypoint cache."""

from __future__ import annotations

import numpy as np
import pytest

from core.keypoints.cache import CacheInvalid, KeypointCache
from core.keypoints.decompose import (
    decompose,
    euler_angles,
    face_size,
    recompose,
    robust_similarity_fit,
)
from core.keypoints.regions import load_regions
from core.tracking.base import FaceCandidate
from core.tracking.gaps import INTERPOLATED, NO_FACE, TRACKED, fill_gaps
from core.tracking.selection import FaceSelector

REG = load_regions("mediapipe")


def _rot(pitch: float, yaw: float, roll: float) -> np.ndarray:
    p, y, r = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def test_region_sets_are_data_and_cover_the_face():
    assert REG.n_points == 478
    for name in ("lips_outer", "lips_inner", "jaw", "left_eye", "right_eye", "left_brow",
                 "right_brow", "nose", "cheeks", "face_oval", "rigid"):
        idx = REG[name]
        assert len(idx) > 0 and idx.max() < 478, name
    assert not set(REG["rigid"]) & set(REG.lips)
    assert len(REG.triangles) > 800
    fa = load_regions("face_alignment")
    assert fa.n_points == 68 and list(fa["lips_inner"]) == list(range(60, 68))


def test_robust_fit_recovers_pose_despite_moving_points():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(40, 3))
    rot = _rot(5, -20, 12)
    dst = 3.0 * src @ rot.T + np.array([10.0, -4.0, 2.0])
    dst[:5] += rng.normal(scale=2.0, size=(5, 3))  # a few points that moved (expression)
    r, s, t = robust_similarity_fit(src, dst[None])
    assert np.allclose(r[0], rot, atol=1e-2)
    assert s[0] == pytest.approx(3.0, rel=1e-2)
    assert np.allclose(euler_angles(r)[0], [5, -20, 12], atol=0.5)


def test_decomposition_recomposes_synthetic_clip_exactly():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(478, 3)) * 40
    frames = []
    for t in range(30):
        shape = base.copy()
        shape[REG["lips_inner"], 1] += 5 * np.sin(t / 3)  # the mouth moves
        rot = _rot(rng.normal() * 5, rng.normal() * 10, rng.normal() * 8)
        frames.append(1.5 * shape @ rot.T + rng.normal(size=3) * 20)
    pts = np.stack(frames)
    dec = decompose(pts, np.ones(30, dtype=np.uint8), REG)
    back = recompose(dec.canonical, dec.expression, dec.rotation, dec.scale, dec.translation)
    err = np.abs(back - pts).max(axis=(1, 2)) / face_size(pts)
    assert err.max() < 1e-9
    # the rigid points carry (almost) no expression: the pose explains them
    assert np.abs(dec.expression[:, REG["rigid"]]).max() < 1e-6


def test_fill_gaps_interpolates_short_gaps_and_reports_long_ones():
    found = np.ones(40, dtype=bool)
    found[5:8] = False  # 3 frames: filled
    found[20:30] = False  # 10 frames: reported
    found[38:] = False  # at the end: nothing to interpolate towards
    pts = np.arange(40, dtype=float)[:, None, None] * np.ones((40, 2, 3))
    out, validity, gaps = fill_gaps(pts, found)
    assert (validity[5:8] == INTERPOLATED).all()
    assert np.allclose(out[5:8, 0, 0], [5, 6, 7])
    assert (validity[20:30] == NO_FACE).all() and (validity[:5] == TRACKED).all()
    assert gaps == [(20, 30), (38, 40)]


def _face(x0: float, y0: float, size: float) -> FaceCandidate:
    pts = np.array([[x0, y0, 0], [x0 + size, y0 + size, 0]], dtype=np.float32)
    return FaceCandidate(pts)


def test_selector_keeps_the_largest_face_when_another_grows():
    sel = FaceSelector()
    first = sel.pick([_face(100, 100, 80), _face(300, 100, 50)])
    assert first.box[0] == 100
    # the other face comes closer and becomes the largest: the track stays on ours
    picked = sel.pick([_face(280, 90, 120), _face(104, 102, 80)])
    assert picked.box[0] == 104


def test_selector_follows_a_named_face_by_index_or_box():
    faces = [_face(100, 100, 80), _face(300, 100, 50)]
    assert FaceSelector(face_index=1).pick(faces).box[0] == 300
    assert FaceSelector(face_box=(290, 90, 360, 160)).pick(faces).box[0] == 300
    assert FaceSelector(face_index=5).pick(faces) is None


def test_cache_round_trip_budget_and_corruption(tmp_path):
    rng = np.random.default_rng(2)
    t_count = 1500  # one minute at 25 fps
    base = rng.normal(size=(478, 3)) * 50
    pts = np.stack([base + rng.normal(scale=0.5, size=(478, 3)) for _ in range(t_count)])
    pts += np.array([256.0, 256.0, 0.0])
    dec = decompose(pts, np.ones(t_count, dtype=np.uint8), REG)
    folder = tmp_path / "kp"
    KeypointCache.write(folder, dec, {"media_hash": "x", "tracker": "mediapipe",
                                      "tracker_version": "v", "fps": 25.0, "gaps": []})
    cache = KeypointCache.open(folder)
    assert cache.frame_count == t_count
    assert cache.nbytes_on_disk() <= 6e6, "a minute of 25 fps video must fit in 6 MB"
    err = np.abs(cache.points() - pts).max(axis=(1, 2)) / face_size(pts)
    assert err.max() < 1e-4
    assert cache.points2d(slice(0, 3)).shape == (3, 478, 2)

    with pytest.raises(CacheInvalid, match="tracker"):
        KeypointCache.open(folder, {"tracker": "face_alignment"})
    raw = bytearray((folder / "expression.npy").read_bytes())
    raw[-10] ^= 0xFF
    (folder / "expression.npy").write_bytes(bytes(raw))
    with pytest.raises(CacheInvalid, match="checksum"):
        KeypointCache.open(folder)
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(CacheInvalid):
        KeypointCache.open(folder)
