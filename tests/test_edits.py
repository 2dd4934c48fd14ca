"""Editing controls on a real take: word styles, loudness, emotions per region, undo, and
projects that render the same after a save and reopen, even when a save is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.dub import DubOptions, apply_project_edits, open_project_take, open_take
from core.keypoints.decompose import mouth_opening
from core.motion.emotion import EmotionClip, region_weights
from core.motion.words import WordStyle, word_window
from core.project.commands import AddEmotionClip, SetSetting, SetWordStyle
from core.project.history import History
from core.project.project import Project

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
SPEECH, TEXT = SAMPLES / "speech.wav", SAMPLES / "speech.txt"


@pytest.fixture(scope="module")
def take(shared_data, cache_root):
    t = open_take(shared_data / "video" / "woman_glasses.mp4", SPEECH, transcript=TEXT,
                  cache_root=cache_root)
    yield t
    t.close()


def _reset(t) -> None:
    t.word_styles, t.word_timing, t.emotion_clips = {}, {}, []
    t.compose(DubOptions())


def _word(t, text: str) -> int:
    return next(i for i, w in enumerate(t.dub_alignment.words) if w.text == text)


def _window(t) -> slice:
    """Frames of the one styled word and its ramps."""
    (w,) = t.styled_words()
    span, _ = word_window(w.start, w.end, t.ramp_ms / 1000 * t.fps, t.frame_count)
    return span


def _inside(t) -> np.ndarray:
    (w,) = t.styled_words()
    return np.arange(int(np.ceil(w.start)), int(np.floor(w.end)) + 1)


def _corners(t, edited: np.ndarray) -> np.ndarray:
    lm = t.regions.landmarks
    k = t.cache.canonical[None] + edited
    return np.linalg.norm(k[:, lm["mouth_left"], :2] - k[:, lm["mouth_right"], :2], axis=-1)


def test_open_on_duck_opens_the_word_and_nothing_else(take):
    _reset(take)
    before = take.compose().copy()
    i = _word(take, "duck")
    take.word_styles = {i: WordStyle(open=2.0)}
    after = take.compose()
    inside = _inside(take)
    op0 = mouth_opening(take.cache.canonical[None] + before[inside], take.regions).mean()
    op1 = mouth_opening(take.cache.canonical[None] + after[inside], take.regions).mean()
    assert op1 >= 1.4 * op0
    span = _window(take)
    outside = np.ones(take.frame_count, bool)
    outside[span] = False
    assert np.abs(after[outside] - before[outside]).max() <= 1e-6
    _reset(take)


def test_wide_on_bee_widens_and_round_on_too_narrows(take):
    _reset(take)
    base = _corners(take, take.compose())
    bee, too = _word(take, "bee"), len(take.dub_alignment.words) - 1
    assert take.dub_alignment.words[too].text == "too"
    take.word_styles = {bee: WordStyle(wide=2.0)}
    wide = _corners(take, take.compose())
    inside = _inside(take)
    assert wide[inside].mean() > base[inside].mean()
    take.word_styles = {too: WordStyle(round=2.0)}
    rnd = _corners(take, take.compose())
    inside = _inside(take)
    assert rnd[inside].mean() < base[inside].mean()
    _reset(take)


def test_silent_word_and_word_alpha(take):
    _reset(take)
    i = _word(take, "duck")
    take.word_styles = {i: WordStyle(silent=True)}
    edited = take.compose()
    inside = _inside(take)
    neutral = mouth_opening(take.cache.canonical + take.rest, take.regions)
    assert np.all(mouth_opening(take.cache.canonical[None] + edited[inside], take.regions)
                  <= neutral + 1e-5)
    with pytest.raises(ValueError):
        WordStyle(open=3.5)
    _reset(take)


def test_loudness_opens_louder_syllables_more(shared_data, cache_root, tmp_path):
    samples, rate = sf.read(SPEECH, dtype="float32")
    half = len(samples) // 2 + rate // 4  # "the duck and the bee" | "went to the zoo too"
    samples[half:] *= 0.2
    quiet_end = tmp_path / "quiet_end.wav"
    sf.write(quiet_end, samples, rate)
    t = open_take(shared_data / "video" / "woman_glasses.mp4", quiet_end, transcript=TEXT,
                  cache_root=cache_root)
    try:
        lips = t.lip_weight > 0
        plain = t.compose(DubOptions(beta=0.0))[:, lips]
        loud = t.compose(DubOptions(beta=1.0))[:, lips]
        mid = round(half / rate * t.fps)
        gain = np.linalg.norm(loud, axis=(1, 2)) / np.maximum(
            np.linalg.norm(plain, axis=(1, 2)), 1e-9)
        speech = np.linalg.norm(plain, axis=(1, 2)) > 1e-3
        first = gain[:mid][speech[:mid]].mean()
        second = gain[mid:][speech[mid:]].mean()
        assert first > 1.3 * second
    finally:
        t.close()


def test_emotions_move_only_their_regions(take):
    _reset(take)
    before = take.compose().copy()
    take.emotion_clips = [EmotionClip("mouth", 0.5, 3.5, "sad"),
                          EmotionClip("brows", 0.5, 3.5, "surprised")]
    after = take.compose()
    moved = np.abs(after - before).max(axis=(0, 2)) > 1e-6
    allowed = (region_weights(take.regions, "mouth") > 0) | (
        region_weights(take.regions, "brows") > 0)
    assert moved.any() and not moved[~allowed].any()
    assert moved[take.regions["left_brow"]].any() and moved[take.regions["lips_outer"]].any()
    take.emotion_clips = [EmotionClip("mouth", 0.5, 3.5, "sad", intensity=0.0)]
    np.testing.assert_array_equal(take.compose(), before)
    _reset(take)


def test_the_warm_composer_equals_the_pure_composition(take):
    from core.dub import shift_frames
    from core.motion.compose import compose

    _reset(take)
    take.word_styles = {1: WordStyle(open=2.0, alpha=1.5), 3: WordStyle(round=0.5)}
    take.emotion_clips = [EmotionClip("mouth", 0.5, 3.5, "happy")]
    opts = DubOptions(alpha=1.2, beta=0.5, smoothing=1.0, av_offset_frames=1)
    warm = take.compose(opts)
    take.word_styles = {3: WordStyle(round=0.5)}
    take.update()
    take.word_styles = {1: WordStyle(open=2.0, alpha=1.5), 3: WordStyle(round=0.5)}
    again = take.compose()  # reached through an incremental word edit
    pure = compose(
        take.cache.expression(take.source_index), shift_frames(take.lips.delta, 1),
        take.lip_weight, alpha=1.2, loudness=take.loudness, beta=0.5, smoothing=1.0,
        hold=shift_frames(take.lips.hold, 1), rest=take.rest, emotion=take.emotion(),
        words=take.styled_words(), directions=take.directions,
        ramp=take.ramp_ms / 1000 * take.fps, limits=take.limits)
    np.testing.assert_allclose(warm, pure, atol=1e-6)
    np.testing.assert_allclose(again, pure, atol=1e-6)
    _reset(take)


@pytest.fixture()
def project(shared_data, cache_root, tmp_path):
    p = Project.new(tmp_path / "p", shared_data / "video" / "woman_glasses.mp4", SPEECH, TEXT)
    p.save()
    return p


def test_undo_restores_the_exact_arrays(project):
    take = open_project_take(project)
    try:
        history = History(project)
        states = [take.edited.copy()]
        for cmd in (SetSetting("alpha", 1.6), SetWordStyle([1], "open", 2.5),
                    SetWordStyle([3], "wide", 0.5),
                    AddEmotionClip({"id": "c1", "region": "brows", "emotion": "angry",
                                    "start": 0.4, "end": 2.0, "fade_in": 0.2, "fade_out": 0.2,
                                    "intensity": 1.2})):
            history.push(cmd)
            apply_project_edits(take, project)
            states.append(take.edited.copy())
        assert all(not np.array_equal(a, b) for a, b in zip(states, states[1:], strict=False))
        for expected in reversed(states[:-1]):
            history.undo()
            apply_project_edits(take, project)
            np.testing.assert_array_equal(take.edited, expected)
        for expected in states[1:]:
            history.redo()
            apply_project_edits(take, project)
            np.testing.assert_array_equal(take.edited, expected)
    finally:
        take.close()


def test_saved_and_reopened_project_renders_identical_frames(project):
    project.set_setting("alpha", 1.4)
    project.set_word_field([1], "open", 2.0)
    project.add_clip({"id": "c1", "region": "mouth", "emotion": "happy", "start": 0.5,
                      "end": 3.0, "fade_in": 0.3, "fade_out": 0.3, "intensity": 1.0})
    project.save()
    take = open_project_take(project)
    try:
        frames = {j: take.render(j, take.source.frame(int(take.source_index[j])))
                  for j in (20, 45)}
    finally:
        take.close()
    again = Project.open(project.folder)
    take = open_project_take(again)
    try:
        for j, expected in frames.items():
            got = take.render(j, take.source.frame(int(take.source_index[j])))
            np.testing.assert_array_equal(got, expected)
    finally:
        take.close()


_SAVER = """
import sys
from core.project.project import Project
p = Project.open(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    i += 1
    p.set_setting("alpha", 1.0 + (i % 100) / 100)
    p.words = {k: {"open": 2.0} for k in range(2000)}  # a big file: slow to write
    p.save()
"""


def test_killing_a_save_leaves_a_valid_project(project):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for delay in (0.15, 0.3, 0.45):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(project.folder)], env=env,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads((project.folder / "project.json").read_text(encoding="utf-8"))
        assert data["schema"] == 2
        reopened = Project.open(project.folder)
        assert 1.0 <= reopened.setting("alpha") <= 2.0


def test_an_edited_emotion_clip_recomposes_like_a_fresh_take(take):
    _reset(take)
    take.emotion_clips = [EmotionClip("mouth", 0.5, 2.0, "happy"),
                          EmotionClip("brows", 1.0, 3.0, "angry")]
    take.update()
    take.emotion_clips = [EmotionClip("mouth", 0.5, 2.5, "happy", intensity=1.3),
                          EmotionClip("brows", 1.0, 3.0, "angry")]
    incremental = take.compose()
    take._emotion_key = None  # forget: compose everything again
    np.testing.assert_allclose(incremental, take.compose(), atol=1e-6)
    _reset(take)
