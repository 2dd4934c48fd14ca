"""The ``liveportrait`` keypoint backend: LivePortrait's implicit keypoints in the keypoint
cache under the contract K = s·(K_c + E)·Rᵀ + τ, its region data, and the viseme library
and emotions in that space."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from core.align.result import Alignment, Phone
from core.hashing import file_hash
from core.keypoints.decompose import recompose
from core.keypoints.liveportrait import (
    decompose_implicit,
    implicit_emotion,
    implicit_points,
    implicit_viseme_library,
)
from core.keypoints.regions import load_regions
from core.motion.words import style_directions
from core.render.liveportrait.crop import crop_box

ROOT = Path(__file__).resolve().parents[1]
LP = load_regions("liveportrait")


def test_region_index_sets_are_data():
    assert LP.n_points == 21 and LP.tracker == "liveportrait"
    assert LP["lips"].tolist() == [6, 12, 14, 17, 19, 20]
    assert LP["eyes"].tolist() == [11, 13, 15, 16, 18]
    assert LP["brows"].tolist() == [1, 2]
    assert set(LP["lips"]) <= set(LP["mouth"]) and not set(LP["mouth"]) & set(LP["eyes"])


def _info(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"pitch": rng.uniform(-30, 30, 1), "yaw": rng.uniform(-40, 40, 1),
            "roll": rng.uniform(-30, 30, 1), "t": rng.normal(0, 0.1, 3),
            "scale": rng.uniform(1.2, 1.8, 1), "kp": rng.normal(0, 0.2, (21, 3)),
            "exp": rng.normal(0, 0.05, (21, 3))}


def test_decomposition_keeps_the_contract_exactly():
    rng = np.random.default_rng(0)
    infos, crops = [], []
    for _ in range(6):
        pts = rng.uniform(100, 400, (40, 2))
        crops.append(crop_box(pts, rng.uniform(150, 250, 2), rng.uniform(250, 350, 2),
                              rng.uniform(300, 400, 2)))
        infos.append(_info(rng))
    infos[3] = None  # no face in that frame
    dec = decompose_implicit(infos, crops)
    assert dec.canonical.shape == (21, 3) and dec.validity.tolist() == [1, 1, 1, 0, 1, 1]
    k = recompose(dec.canonical, dec.expression, dec.rotation, dec.scale, dec.translation)
    for t, (info, crop) in enumerate(zip(infos, crops, strict=True)):
        if info is not None:
            assert np.allclose(k[t], implicit_points(info, crop), atol=1e-9)
            assert np.allclose(dec.rotation[t] @ dec.rotation[t].T, np.eye(3), atol=1e-12)
            assert np.linalg.det(dec.rotation[t]) == pytest.approx(1.0)


def test_viseme_library_word_directions_and_emotions_in_the_implicit_space():
    rng = np.random.default_rng(1)
    fps, t_count = 25.0, 400
    shapes = {c: rng.normal(0, 0.05, (21, 3)) for c in ("aa", "I", "U", "PP")}
    labels = {"aa": "AA", "I": "IY", "U": "UW", "PP": "M"}
    phones, exp = [], rng.normal(0, 1e-3, (t_count, 21, 3))
    validity = np.ones(t_count, np.uint8)
    for n in range(60):
        cls = list(shapes)[n % 4]
        start = n * 0.25
        phones.append(Phone(labels[cls], start, start + 0.12))
        f = int(round((start + 0.06 - 0.0) * fps))
        exp[max(f - 3, 0):f + 4] = shapes[cls]  # held around the phone's centre
    al = Alignment([], phones, "transcript", t_count / fps)
    lib = implicit_viseme_library(exp, validity, al, fps, LP)
    mouth = LP.mask("mouth")
    for cls, shape in shapes.items():
        assert lib.origin[cls] == "speaker" and lib.counts[cls] == 15
        assert np.allclose(lib.targets[cls][mouth], shape[mouth], atol=1e-6)
        assert np.all(lib.targets[cls][~mouth] == 0)
    assert lib.origin["SS"] == "missing" and lib.origin["sil"] == "neutral"
    dirs = style_directions(lib)  # the word projections take their directions from it
    assert np.linalg.norm(dirs["open"]) == pytest.approx(1.0, abs=1e-6)
    d = implicit_emotion(shapes["aa"], shapes["U"], LP, "eyes")
    assert np.allclose(d[LP["eyes"]], (shapes["aa"] - shapes["U"])[LP["eyes"]], atol=1e-7)
    assert np.all(d[~LP.mask("eyes")] == 0)


@pytest.mark.slow
def test_backend_fills_the_keypoint_cache_from_a_clip(liveportrait_weights, tmp_path):
    from core.keypoints.analyze import analyze_keypoints
    from core.keypoints.liveportrait import analyze_implicit_keypoints
    from core.media import open_media
    from core.render.liveportrait.crop import crop_for, cut
    from core.render.liveportrait.model import LivePortrait
    from core.render.liveportrait.pose import keypoint_info

    img = cv2.imread(str(ROOT / "resources" / "samples" / "portrait.jpg"))[..., ::-1]
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.pix_fmt = "yuv420p"
        s.height, s.width = img.shape[:2]
        for k in range(4):
            f = np.ascontiguousarray(np.roll(img, 3 * k, axis=1))
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    regions = load_regions("mediapipe")
    lp = LivePortrait.load(liveportrait_weights, device="cpu")
    with open_media(clip) as src:
        marks = analyze_keypoints(src, media_hash=file_hash(clip), root=tmp_path).cache
        cache = analyze_implicit_keypoints(src, marks, regions, lp, root=tmp_path,
                                           media_hash=file_hash(clip), batch=3)
        again = analyze_implicit_keypoints(src, marks, regions, lp, root=tmp_path,
                                           media_hash=file_hash(clip))
        frames = [f for _, f in src.frames()]
    assert again.folder == cache.folder
    assert (cache.tracker, cache.n_points, cache.frame_count) == ("liveportrait", 21, 4)
    assert np.asarray(cache.validity).tolist() == [1, 1, 1, 1]
    pts = marks.points()
    for t in (0, 3):
        crop = crop_for(pts[t], regions)
        image = torch.from_numpy(cut(frames[t], crop)).permute(2, 0, 1)[None].float() / 255
        info = {k: v[0].double().numpy() for k, v in keypoint_info(lp.motion_raw(image)).items()}
        want = implicit_points(info, crop)
        face = np.ptp(want[:, :2], axis=0).max()
        # the cache stores E_t as int16 steps of 2^-14 canonical units: far below a pixel
        assert np.abs(cache.points(slice(t, t + 1))[0] - want).max() < 1e-3 * face
