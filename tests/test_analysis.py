"""The analysis engine on real media: tracking, the cache, resume, pose, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from core.errors import Cancelled, NoFaceError
from core.hashing import file_hash
from core.keypoints.analyze import SEGMENT, analyze_keypoints
from core.keypoints.cache import KeypointCache
from core.keypoints.decompose import decompose, euler_angles, face_size, recompose
from core.keypoints.regions import load_regions
from core.media import open_media
from core.tracking.registry import get_tracker

ROOT = Path(__file__).resolve().parents[1]


def _write_video(path: Path, frames, fps: int = 25) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.height, stream.width = frames[0].shape[:2]
        for f in frames:
            for p in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return path


def _track_raw(path: Path) -> tuple[np.ndarray, np.ndarray]:
    src = open_media(path)
    session = get_tracker().open_session(static=src.is_image, max_faces=1)
    pts = np.zeros((src.frame_count, 478, 3))
    found = np.zeros(src.frame_count, dtype=np.uint8)
    for i, frame in src.frames():
        faces = session.detect(frame)
        if faces:
            pts[i], found[i] = faces[0].points, 1
    session.close()
    return pts, found


def test_face_found_in_98_percent_of_every_video(shared_data, tmp_path):
    videos = sorted((shared_data / "video").glob("*.mp4"))
    assert videos
    for video in videos:
        src = open_media(video)
        result = analyze_keypoints(src, media_hash=file_hash(video), root=tmp_path)
        assert result.face_share >= 0.98, f"{video.name}: {result.face_share:.3f}"
        assert result.cache.frame_count == src.frame_count


def test_second_run_reads_the_cache_without_tracking(shared_data, tmp_path, monkeypatch):
    video = shared_data / "video" / "woman_glasses.mp4"
    first = analyze_keypoints(open_media(video), media_hash=file_hash(video), root=tmp_path)
    assert not first.from_cache and first.tracked_now == first.cache.frame_count

    def no_tracking(*a, **k):
        raise AssertionError("the second run must not track")

    monkeypatch.setattr("core.tracking.mediapipe_tracker.MediaPipeTracker.open_session",
                        no_tracking)
    second = analyze_keypoints(open_media(video), media_hash=file_hash(video), root=tmp_path)
    assert second.from_cache
    assert np.array_equal(second.cache.points(), first.cache.points())


def test_corrupt_cache_is_rebuilt(shared_data, tmp_path):
    video = shared_data / "edge" / "very_short.mp4"
    first = analyze_keypoints(open_media(video), media_hash=file_hash(video), root=tmp_path)
    before = first.cache.points()
    with open(first.cache.folder / "scale.npy", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\xff\xff\xff\xff")
    again = analyze_keypoints(open_media(video), media_hash=file_hash(video), root=tmp_path)
    assert not again.from_cache and "checksum" in again.rebuilt_reason
    assert np.allclose(again.cache.points(), before, atol=1e-3)


def test_recomposition_of_real_tracking_is_within_bound(shared_data, tmp_path):
    video = shared_data / "video" / "katie_hill.mp4"
    pts, found = _track_raw(video)
    assert found.all()
    reg = load_regions("mediapipe")
    dec = decompose(pts, found, reg)
    back = recompose(dec.canonical, dec.expression, dec.rotation, dec.scale, dec.translation)
    size = face_size(pts)
    assert (np.abs(back - pts).max(axis=(1, 2)) / size).max() < 1e-6
    KeypointCache.write(tmp_path / "kp", dec, {"tracker": "mediapipe", "fps": 25.0, "gaps": []})
    stored = KeypointCache.open(tmp_path / "kp").points()
    assert (np.abs(stored - pts).max(axis=(1, 2)) / size).max() < 1e-4
    # lips of the canonical shape come from closed-mouth frames
    open_ = np.linalg.norm(pts[:, 13] - pts[:, 14], axis=-1) / size
    canon_open = np.linalg.norm(dec.canonical[13] - dec.canonical[14])
    shapes_open = np.linalg.norm((dec.canonical + dec.expression)[:, 13]
                                 - (dec.canonical + dec.expression)[:, 14], axis=-1)
    assert canon_open <= np.quantile(shapes_open, 0.3)
    assert open_.max() > 2 * open_.min()  # she speaks: the mouth does move


def test_rotating_a_portrait_by_10_degrees_changes_roll_by_10(shared_data, tmp_path):
    img = cv2.cvtColor(cv2.imread(str(shared_data / "image" / "art.png")), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    rolls = []
    for angle in (0.0, 10.0):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        rot = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        path = tmp_path / f"portrait_{int(angle)}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rot, cv2.COLOR_RGB2BGR))
        res = analyze_keypoints(open_media(path), media_hash=file_hash(path), root=tmp_path)
        dec_roll = euler_angles(np.asarray(res.cache.rotation))[0, 2]
        rolls.append(dec_roll)
        assert res.cache.frame_count == 1
    # OpenCV's positive angle turns the picture counter-clockwise: roll goes negative
    assert abs(rolls[0] - rolls[1]) == pytest.approx(10.0, abs=1.5)


def test_the_largest_of_two_faces_is_kept_and_another_can_be_named(shared_data, tmp_path):
    big = open_media(shared_data / "video" / "woman_glasses.mp4")
    small = open_media(shared_data / "video" / "man_map.mp4")
    frames = []
    for (_, a), (_, b) in zip(big.frames(0, 20), small.frames(0, 20), strict=True):
        canvas = np.full((520, 900, 3), 40, np.uint8)
        canvas[:500, :500] = cv2.resize(a, (500, 500))
        canvas[150:450, 560:860] = cv2.resize(b, (300, 300))
        frames.append(canvas)
    video = _write_video(tmp_path / "two_faces.mp4", frames)
    src = open_media(video)
    default = analyze_keypoints(src, media_hash=file_hash(video), root=tmp_path)
    named = analyze_keypoints(src, media_hash=file_hash(video), root=tmp_path, face_index=1)
    assert (default.cache.points2d()[..., 0].mean(axis=1) < 500).all()
    assert (named.cache.points2d()[..., 0].mean(axis=1) > 560).all()
    boxed = analyze_keypoints(src, media_hash=file_hash(video), root=tmp_path,
                              face_box=(560, 150, 860, 450))
    assert np.allclose(boxed.cache.points(), named.cache.points(), atol=1e-3)


def test_a_video_without_a_face_is_refused_and_leaves_no_cache(shared_data, tmp_path):
    img = cv2.cvtColor(cv2.imread(str(shared_data / "negative" / "no_human_face_2.jpg")),
                       cv2.COLOR_BGR2RGB)
    video = _write_video(tmp_path / "no_face.mp4", [np.roll(img, 2 * k, axis=1) for k in range(12)])
    with pytest.raises(NoFaceError, match="no_face.mp4: no human face"):
        analyze_keypoints(open_media(video), media_hash=file_hash(video), root=tmp_path / "c")
    assert not any((tmp_path / "c" / "keypoints").iterdir())


def test_killed_analysis_resumes_where_it_stopped(shared_data, tmp_path):
    # a 40 s clip, so a kill lands mid-way; the resumed run tracks only the rest
    src = open_media(shared_data / "video" / "child.mp4")
    frames = [f for _, f in src.frames()]
    video = _write_video(tmp_path / "long.mp4", [cv2.resize(f, (256, 256)) for f in frames] * 4)
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "studio", "analyze", str(video), "--cache", str(cache),
           "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    progress = None
    while time.time() < deadline:
        found = list((cache / "keypoints").glob("*.partial/progress.json")) if (
            cache / "keypoints").exists() else []
        if found:
            try:
                done = json.loads(found[0].read_text())["frames_done"]
            except (ValueError, OSError):
                done = 0
            if done >= SEGMENT + 44:
                progress = done
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert progress is not None, "the analysis never got under way"
    progress = json.loads(found[0].read_text())["frames_done"]  # where the kill landed
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    # it goes on from the start of the tracking segment the kill landed in
    assert summary["resumed_at_frame"] == progress // SEGMENT * SEGMENT >= SEGMENT
    assert summary["frames_tracked_now"] == summary["frames"] - summary["resumed_at_frame"]
    assert summary["face_found_share"] > 0.98


def _cache_arrays(cache: KeypointCache) -> dict[str, np.ndarray]:
    return {"rotation": np.asarray(cache.rotation), "scale": np.asarray(cache.scale),
            "translation": np.asarray(cache.translation),
            "expression": np.asarray(cache._arrays["expression"]),
            "validity": np.asarray(cache.validity), "canonical": cache.canonical}


def test_a_resumed_run_is_bit_exact(shared_data, tmp_path):
    """MediaPipe tracks from the frame before: a resume must not see the next frames
    differently. Stopped at frame 75 and resumed, the cache equals an uninterrupted run's."""
    video = shared_data / "video" / "woman_glasses.mp4"
    digest = file_hash(video)
    whole = analyze_keypoints(open_media(video), media_hash=digest, root=tmp_path / "a",
                              chunk=8, segment=32)
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 75

    with pytest.raises(Cancelled):
        analyze_keypoints(open_media(video), media_hash=digest, root=tmp_path / "b", chunk=8,
                          segment=32, cancel=stop)
    resumed = analyze_keypoints(open_media(video), media_hash=digest, root=tmp_path / "b",
                                chunk=8, segment=32)
    assert resumed.resumed_at == 64 and resumed.tracked_now == whole.cache.frame_count - 64
    a, b = _cache_arrays(whole.cache), _cache_arrays(resumed.cache)
    for name in a:
        assert np.array_equal(a[name], b[name]), name
