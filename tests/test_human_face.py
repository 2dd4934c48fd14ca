"""Only human faces are analysed: an animal's face that FaceMesh fits is refused, while
painted, drawn, rendered and photographed people are all accepted."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from core.hashing import file_hash
from core.keypoints.analyze import analyze_keypoints
from core.media import open_media
from core.tracking.human import THRESHOLD, sample_frames
from studio.cli import main

MONKEY = "no_human_face_1.jpg"


def _analyze_cli(capsys, path: Path, cache: Path) -> tuple[int, str]:
    code = main(["analyze", str(path), "--cache", str(cache)])
    return code, capsys.readouterr().err


def _assert_refused(code: int, err: str, name: str, cache: Path) -> None:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert name in lines[0] and "no human face" in lines[0], lines[0]
    assert "does not look human" in lines[0], lines[0]
    kp = cache / "keypoints"
    if kp.exists():  # nothing left behind, finished or partial
        assert not list(kp.iterdir()), list(kp.iterdir())


def _monkey_video(shared: Path, path: Path, frames: int = 10) -> Path:
    img = cv2.cvtColor(cv2.imread(str(shared / "negative" / MONKEY)), cv2.COLOR_BGR2RGB)
    h, w = (s - s % 2 for s in img.shape[:2])
    img = np.ascontiguousarray(img[:h, :w])
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height = w, h
        s.pix_fmt = "yuv420p"
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(img, 3 * k, axis=1), format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def test_a_monkey_photo_is_refused_with_one_line_naming_the_file(shared_data, tmp_path, capsys):
    cache = tmp_path / "cache"
    code, err = _analyze_cli(capsys, shared_data / "negative" / MONKEY, cache)
    _assert_refused(code, err, MONKEY, cache)


def test_a_video_of_the_monkey_is_refused_too(shared_data, tmp_path, capsys):
    video = _monkey_video(shared_data, tmp_path / "monkey.mp4")
    cache = tmp_path / "cache"
    code, err = _analyze_cli(capsys, video, cache)
    _assert_refused(code, err, "monkey.mp4", cache)


def test_every_portrait_is_accepted_painted_drawn_rendered_or_photographed(shared_data, tmp_path):
    images = sorted((shared_data / "image").iterdir())
    assert len(images) >= 7
    for path in images:
        res = analyze_keypoints(open_media(path), media_hash=file_hash(path), root=tmp_path)
        assert res.cache.frame_count == 1
        assert res.cache.meta["human_score"] >= THRESHOLD, (path.name, res.cache.meta)


def test_frames_sampled_for_the_check_are_spread_over_the_found_ones():
    found = np.zeros(100, bool)
    found[10:90] = True
    picks = sample_frames(found, 5)
    assert picks[0] == 10 and picks[-1] == 89 and len(picks) == 5
    assert all(found[i] for i in picks)
    assert sample_frames(np.zeros(4, bool)) == []
    assert sample_frames(np.array([0, 1, 0], bool), 5) == [1]
