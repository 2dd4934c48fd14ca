"""The dub job end to end: lips follow the dub, α behaves, closures close, the background
stays still, lengths are handled and README's main-job command makes a playable MP4."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from core.align import Alignment
from core.dub import DubOptions, dub, open_take, source_in_order
from core.errors import Cancelled, StudioError
from core.keypoints.decompose import mouth_opening
from core.motion.idle import blink_curve, idle_pose
from core.motion.library import default_library
from core.motion.mouth import inner_gap
from core.motion.timeline import output_frame_count, source_frames
from core.motion.visemes import viseme_of

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
PORTRAIT, SPEECH, TEXT = SAMPLES / "portrait.jpg", SAMPLES / "speech.wav", SAMPLES / "speech.txt"


@pytest.fixture(scope="module")
def portrait_take(cache_root):
    take = open_take(PORTRAIT, SPEECH, transcript=TEXT, cache_root=cache_root)
    yield take
    take.close()


@pytest.fixture(scope="module")
def video_take(shared_data, cache_root):
    take = open_take(shared_data / "video" / "woman_glasses.mp4", SPEECH, transcript=TEXT,
                     cache_root=cache_root)
    yield take
    take.close()


def _openings(take, options: DubOptions) -> np.ndarray:
    edited = take.compose(options)
    return mouth_opening(take.cache.canonical[None] + edited, take.regions)


def _neutral_opening(take) -> float:
    return float(mouth_opening(take.cache.canonical + take.rest, take.regions))


def _phone_frames(take, classes: set[str]) -> np.ndarray:
    """Frames at the visible centre of each phone of these viseme classes."""
    from core.motion.coarticulation import ANTICIPATION

    frames = [round(((p.start + p.end) / 2 - ANTICIPATION) * take.fps)
              for p in take.dub_alignment.phones if viseme_of(p.label) in classes]
    return np.asarray([f for f in frames if 0 <= f < take.frame_count])


@pytest.mark.parametrize("which", ["portrait", "video"])
def test_alpha_zero_closes_the_mouth_in_every_frame(which, request):
    take = request.getfixturevalue(f"{which}_take")
    opening = _openings(take, DubOptions(alpha=0.0))
    assert np.all(opening <= _neutral_opening(take) + 1e-5)
    take.compose(DubOptions())


@pytest.mark.parametrize("which", ["portrait", "video"])
def test_alpha_exaggerates_open_vowels(which, request):
    take = request.getfixturevalue(f"{which}_take")
    vowels = _phone_frames(take, {"aa"})
    assert len(vowels) >= 2
    nominal = _openings(take, DubOptions(alpha=1.0))[vowels]
    bigger = _openings(take, DubOptions(alpha=1.5))[vowels]
    assert np.all(bigger > nominal)
    assert nominal.mean() > _neutral_opening(take) * 1.05 + 1e-3  # the vowels do open


@pytest.fixture(scope="module")
def radio_take(shared_data, cache_root):
    """A longer dub (8 s of radio speech, recognised) over a 4.9 s clip: ping-pong."""
    take = open_take(shared_data / "video" / "woman_glasses.mp4",
                     shared_data / "audio" / "en_radio31.wav", cache_root=cache_root)
    yield take
    take.close()


@pytest.mark.parametrize("which", ["portrait", "video", "radio"])
@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_every_bilabial_reaches_closure(which, alpha, request):
    take = request.getfixturevalue(f"{which}_take")
    edited = take.compose(DubOptions(alpha=alpha, smoothing=1.0))
    centres = _phone_frames(take, {"PP"})
    assert len(centres) >= (1 if which != "radio" else 5)
    assert np.all(take.lips.hold[centres] == 1.0)
    gap = inner_gap(take.cache.canonical[None] + edited[centres], take.regions)
    assert np.all(gap <= inner_gap(take.cache.canonical + take.rest, take.regions) + 1e-5)
    take.compose(DubOptions())


def test_a_longer_dub_plays_the_video_back_and_forth(radio_take):
    take = radio_take
    n = take.source.frame_count
    assert take.frame_count == round(8.0 * 25) and take.frame_count > n
    assert take.source_index[n] == n - 2 and take.source_index.max() == n - 1


def test_pixels_outside_the_face_hull_are_unchanged(video_take):
    take = video_take
    for j in (10, 40, 60):
        frame = take.source.frame(int(take.source_index[j]))
        out = take.render(j, frame)
        src, dst = take.keypoints(slice(j, j + 1))
        hull = take.renderer.hull(src[0], dst[0], frame.shape[:2])
        assert not np.array_equal(out, frame)  # the face did change
        assert np.array_equal(out[~hull], frame[~hull])


def test_frames_without_a_face_pass_through(video_take):
    take = video_take
    saved = take.cache._arrays["validity"]
    try:
        lost = np.array(saved)
        lost[int(take.source_index[5])] = 0  # as if the face were lost in this frame
        take.cache._arrays["validity"] = lost
        frame = take.source.frame(int(take.source_index[5]))
        assert not take.valid(5)
        assert np.array_equal(take.render(5, frame), frame)
    finally:
        take.cache._arrays["validity"] = saved



def test_a_detached_take_renders_alike_beside_the_original_and_closes_alone(video_take):
    """An export's twin: same pictures, its own composer and reader, usable from another
    thread while the original renders, and closing it leaves the original working."""
    import itertools
    import threading

    from core.motion.words import WordStyle

    take = video_take
    take.word_styles = {1: WordStyle(open=2.0)}
    take.update(DubOptions(alpha=1.4))
    try:
        twin = take.detached()
        assert twin.source is not take.source and twin.renderer is not take.renderer
        assert twin.cache is take.cache and twin.bank is take.bank
        js = (3, 20, 45, 70)
        ref = {j: take.render(j, take.source.frame(int(take.source_index[j]))) for j in js}
        for j in js:
            got = twin.render(j, twin.source.frame(int(twin.source_index[j])))
            assert np.array_equal(got, ref[j]), j
        first = list(itertools.islice(take.frames(), 10))

        # the twin exports while the original renders, on two threads at once
        out: list[np.ndarray] = []
        worker = threading.Thread(target=lambda: out.extend(itertools.islice(twin.frames(), 10)))
        worker.start()
        while worker.is_alive():
            for j in js:
                frame = take.source.frame(int(take.source_index[j]))
                assert np.array_equal(take.render(j, frame), ref[j])
        worker.join()
        assert all(np.array_equal(a, b) for a, b in zip(out, first, strict=True))

        twin.update(DubOptions(alpha=0.0))  # the twin's edits are its own
        j = js[2]
        assert not np.array_equal(twin.render(j, twin.source.frame(int(twin.source_index[j]))),
                                  ref[j])
        twin.close()
        assert np.array_equal(take.render(j, take.source.frame(int(take.source_index[j]))),
                              ref[j])
    finally:
        take.word_styles = {}
        take.update(DubOptions())

def test_speaker_library_is_learned_from_the_video(video_take, portrait_take):
    cov = video_take.library.coverage()
    assert cov["learned"] and cov["share"] > 0.3
    assert any("classes learned from the speaker" in w for w in video_take.warnings)
    assert portrait_take.library.coverage()["learned"] == []
    assert set(portrait_take.library.coverage()["default"]) >= {"PP", "aa", "O", "U", "FF"}


def test_default_library_ships_every_class_and_scales_with_the_mouth(portrait_take):
    k = portrait_take.cache.canonical
    lib = default_library(k, portrait_take.regions)
    wide = default_library(k * np.array([1.5, 1.5, 1.5], np.float32), portrait_take.regions)
    for c in ("aa", "O", "U", "I", "FF"):
        assert np.abs(lib.targets[c]).max() > 0
        np.testing.assert_allclose(wide.targets[c], lib.targets[c] * 1.5, rtol=1e-4, atol=1e-6)


def test_length_handling():
    assert source_frames(7, 4).tolist() == [0, 1, 2, 3, 2, 1, 0]
    assert source_frames(6, 4, "hold").tolist() == [0, 1, 2, 3, 3, 3]
    assert source_frames(3, 1).tolist() == [0, 0, 0]
    assert output_frame_count(100, 2.0, 25.0, "silent") == 100  # rest plays, lips closed
    assert output_frame_count(100, 2.0, 25.0, "trim") == 50
    assert output_frame_count(20, 2.0, 25.0, "silent") == 50  # longer dub: ping-pong on
    assert output_frame_count(1, 4.1, 25.0, "silent", is_image=True) == 103


def test_backward_runs_are_read_forward_in_chunks(shared_data):
    from core.media import open_media

    with open_media(shared_data / "edge" / "very_short.mp4") as src:
        index = source_frames(src.frame_count + 40, src.frame_count)
        got = list(source_in_order(src, index))
        assert [j for j, _ in got] == list(range(len(index)))
        for j in (src.frame_count + 3, len(index) - 1):
            assert np.array_equal(got[j][1], src.frame(int(index[j])))


def test_portrait_idle_motion_and_blinks(portrait_take):
    rot, drift = idle_pose(250, 25.0)
    angle = np.degrees(np.arccos(np.clip((np.trace(rot, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert 0.2 < angle.max() < 3.0 and np.allclose(rot[0], np.eye(3))
    blinks = blink_curve(250, 25.0)
    assert (blinks >= 0.99).sum() >= 2 and (blinks > 0).mean() < 0.2
    take = portrait_take
    _, moving = take.keypoints(slice(None))
    assert np.ptp(moving[:, take.regions["rigid"], 0], axis=0).max() > 0.5  # the head sways
    still = DubOptions(idle_motion=False)
    take.compose(still)
    take._pose_cache = None
    take.options = still
    _, fixed = take.keypoints(slice(None))
    assert np.ptp(fixed[:, take.regions["rigid"], :2], axis=0).max() < 1e-3
    take.options = DubOptions()
    take._pose_cache = None
    take.compose()


def test_silent_dub_keeps_the_mouth_closed_and_warns(shared_data, cache_root, tmp_path):
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(16000 * 2, np.float32), 16000)
    take = open_take(PORTRAIT, quiet, cache_root=cache_root)
    try:
        assert any("silent" in w for w in take.warnings)
        opening = mouth_opening(take.cache.canonical[None] + take.edited, take.regions)
        assert np.all(opening <= _neutral_opening(take) + 1e-5)
        assert take.dub_alignment is None
    finally:
        take.close()


def test_bad_output_folder_fails_before_any_work(tmp_path):
    calls = []
    with pytest.raises(StudioError, match="missing"):
        dub(PORTRAIT, SPEECH, tmp_path / "missing" / "out.mp4",
            progress=lambda *a: calls.append(a))
    assert calls == []


def test_cancelled_dub_leaves_no_file(cache_root, tmp_path):
    out = tmp_path / "out.mp4"
    seen = []

    def cancel() -> bool:
        return len(seen) > 10

    with pytest.raises(Cancelled):
        dub(PORTRAIT, SPEECH, out, transcript=TEXT, cache_root=cache_root, cancel=cancel,
            progress=lambda stage, d, t: seen.append(stage) if stage == "exporting" else None)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_readme_main_job_makes_a_playable_mp4(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if ln.strip().startswith("studio dub "))
    assert "resources/samples/portrait.jpg" in line
    out = tmp_path / "dub.mp4"
    env = dict(os.environ, STUDIO_CACHE_DIR=str(tmp_path / "cache"))
    args = line.split()[2:]
    args[args.index("-o") + 1] = str(out)
    run = subprocess.run([sys.executable, "-m", "studio", "dub", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        frames = sum(1 for _ in c.decode(video=0))
    dub_s = sf.info(str(SPEECH)).duration
    assert abs(frames / 25.0 - dub_s) <= 1 / 25.0
    with av.open(str(out)) as c:
        audio_s = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate
    assert abs(audio_s - dub_s) <= 1 / 25.0 + 0.025  # AAC frames are 1024 samples


def test_music_or_silence_is_no_speech(monkeypatch, cache_root):
    # a recogniser that hears no words: the mouth stays relaxed, with a warning
    import core.analysis as d  # the one analysis sequence aligns beside the tracking

    class HearsNothing:  # the speech is aligned beside the tracking: stand in for that
        def __init__(self, jobs, workers=None):
            self.jobs = jobs

        def result(self, *a, **k):
            return [Alignment([], [], "recognition", 4.1, ["No words were recognised."])
                    for _ in self.jobs]

        def close(self):
            pass

    monkeypatch.setattr(d, "AlignBeside", HearsNothing)
    take = open_take(PORTRAIT, SPEECH, cache_root=cache_root)
    try:
        assert any("no speech" in w for w in take.warnings)
        assert np.abs(take.lips.delta).max() == 0
    finally:
        take.close()
