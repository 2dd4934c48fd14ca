"""``studio analyze`` as a user runs it: summaries, warnings and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from studio.cli import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_analyze_prints_a_json_summary(shared_data, tmp_path, capsys):
    video = shared_data / "edge" / "very_short.mp4"
    code, out, _ = _run(capsys, "analyze", str(video), "--cache", str(tmp_path), "--json")
    assert code == 0
    s = json.loads(out)
    assert s["frames"] == 62 and s["fps"] == pytest.approx(29.97, abs=0.01)
    assert s["face_found_share"] >= 0.98
    assert s["words_aligned"] > 0 and s["alignment_source"] == "recognition"
    assert s["keypoints_from_cache"] is False
    code, out, _ = _run(capsys, "analyze", str(video), "--cache", str(tmp_path), "--json")
    assert json.loads(out)["keypoints_from_cache"] is True


def test_analyze_with_dub_audio_and_transcript(shared_data, tmp_path, capsys):
    from core.paths import resources_dir

    video = shared_data / "video" / "woman_glasses.mp4"
    speech = resources_dir() / "samples" / "speech.wav"
    text = resources_dir() / "samples" / "speech.txt"
    code, out, _ = _run(capsys, "analyze", str(video), "--audio", str(speech),
                        "--transcript", str(text), "--cache", str(tmp_path))
    assert code == 0
    assert "face found in 100.0% of frames" in out
    n_words = len(text.read_text().split())
    assert f"words aligned: {n_words} (transcript)" in out


def test_no_audio_track_is_fine_and_silent_audio_warns(shared_data, tmp_path, capsys):
    code, out, _ = _run(capsys, "analyze", str(shared_data / "edge" / "no_audio_track.mp4"),
                        "--cache", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["audio"] is None
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 2, dtype=np.float32), 16000)
    code, out, _ = _run(capsys, "analyze", str(shared_data / "video" / "woman_glasses.mp4"),
                        "--audio", str(silent), "--cache", str(tmp_path), "--json")
    assert code == 0
    assert any("silent" in w for w in json.loads(out)["warnings"])


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 3])
    return dst


def _bad_inputs(shared: Path, tmp: Path) -> list[tuple[list[str], str, str]]:
    (tmp / "notes.mp4").write_text("this is not a video\n" * 50)
    sf.write(tmp / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    (tmp / "empty.txt").write_text("   \n")
    (tmp / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    video = str(shared / "video" / "woman_glasses.mp4")
    with av.open(str(tmp / "noface.mp4"), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width = s.height = 626
        s.pix_fmt = "yuv420p"
        import cv2

        img = cv2.imread(str(shared / "negative" / "no_human_face_2.jpg"))
        for k in range(10):
            frame = av.VideoFrame.from_ndarray(np.roll(img, 3 * k, axis=1)[..., ::-1].copy(),
                                               format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return [
        ([str(tmp / "missing.mp4")], "missing.mp4", ""),
        ([str(tmp / "notes.mp4")], "notes.mp4", ""),
        ([str(_truncated(shared / "video" / "katie_hill.mp4", tmp / "cut.mp4"))], "cut.mp4", ""),
        ([str(tmp / "noface.mp4")], "noface.mp4", "no human face"),
        ([str(shared / "negative" / "no_human_face_2.jpg")], "no_human_face_2.jpg",
         "no human face"),
        ([video, "--audio", str(tmp / "empty.wav")], "empty.wav", ""),
        ([video, "--transcript", str(tmp / "empty.txt")], "empty.txt", ""),
        ([video, "--transcript", str(tmp / "latin1.txt")], "latin1.txt", "UTF-8"),
    ]


def test_bad_input_gets_one_line_error_naming_the_file(shared_data, tmp_path, capsys):
    cache = tmp_path / "cache"
    for args, name, words in _bad_inputs(shared_data, tmp_path):
        code, out, err = _run(capsys, "analyze", *args, "--cache", str(cache))
        assert code == 1, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert name in lines[0] and words in lines[0], lines[0]
    # nothing half-made was left that looks like a valid cache
    kp = cache / "keypoints"
    if kp.exists():
        leftovers = [p for p in kp.iterdir() if (p / "meta.json").exists()]
        assert not leftovers, leftovers
