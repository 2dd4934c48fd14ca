"""The learned lip driver: the shipped model loads and is refused when damaged, it is
deterministic, it is the default of a dub, and every control still works on top of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.dub import DubOptions, open_take
from core.errors import StudioError
from core.keypoints.decompose import mouth_opening
from core.keypoints.regions import load_regions
from core.motion.lipsync import (
    METADATA_KEY,
    AdaptPool,
    LearnedDriver,
    LipModel,
    Readout,
    SpeakerFit,
    choose_adaptation,
    fit_style,
    ridge_paths,
    shift,
    shipped_model_path,
    smooth,
)
from core.motion.mouth import inner_gap
from core.motion.visemes import viseme_of
from core.motion.words import WordStyle

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
PORTRAIT, SPEECH, TEXT = SAMPLES / "portrait.jpg", SAMPLES / "speech.wav", SAMPLES / "speech.txt"
REG = load_regions("mediapipe")


@pytest.fixture(scope="module")
def take(cache_root):
    t = open_take(PORTRAIT, SPEECH, transcript=TEXT, cache_root=cache_root)
    yield t
    t.close()


def _rewrite(src: Path, dst: Path, meta_change) -> None:
    """Copy a model with its metadata changed by ``meta_change(meta)``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()[METADATA_KEY])
    meta_change(meta)
    save_file(load_file(str(src)), str(dst), {METADATA_KEY: json.dumps(meta)})


def test_the_shipped_model_loads_and_is_small():
    model = LipModel.load(shipped_model_path(), REG)
    params = sum(p.numel() for net in model.nets for p in net.parameters())
    assert params <= 5_000_000
    assert shipped_model_path().stat().st_size <= 20e6
    assert model.meta["data"].endswith("corpus.json")
    assert len(model.meta["clips"]) >= 30  # trained across the corpus' speakers


@pytest.mark.parametrize("damage", ["truncated", "version", "version_text", "tracker",
                                    "not_a_model"])
def test_a_damaged_or_foreign_model_is_refused_naming_the_file(tmp_path, damage):
    src = shipped_model_path()
    bad = tmp_path / "lips.safetensors"
    if damage == "truncated":
        bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    elif damage == "version":
        _rewrite(src, bad, lambda m: m.update(version=99))
    elif damage == "version_text":
        _rewrite(src, bad, lambda m: m.update(version="two"))
    elif damage == "tracker":
        _rewrite(src, bad, lambda m: m.update(tracker="face_alignment"))
    else:
        bad.write_bytes(b"\x00" * 64)
    with pytest.raises(StudioError) as err:
        LipModel.load(bad, REG)
    assert str(bad) in str(err.value)


def _two_members(tmp_path: Path) -> tuple[LipModel, Path]:
    """The shipped model with a second member: its first network with shaken weights."""
    import copy

    model = LipModel.load(shipped_model_path(), REG)
    first = model.nets[0]
    other = copy.deepcopy(first)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for w in other.parameters():
            w.add_(0.2 * w.std() * torch.randn(w.shape, generator=gen))
    pair = LipModel(first, model.points, model.mel, dict(model.meta), None, [other])
    path = tmp_path / "pair.safetensors"
    pair.save(path)
    return pair, path


def test_an_ensemble_loads_and_averages_its_members(tmp_path, take):
    pair, path = _two_members(tmp_path)
    loaded = LipModel.load(path, REG)
    assert len(loaded.nets) == 2 and loaded.meta["members"] == 2
    assert loaded.meta["version"] == 2  # an older studio refuses it by its version
    for a, b in zip(pair.nets, loaded.nets, strict=True):
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(),
                                      strict=True):
            assert ka == kb and torch.equal(va, vb)
    from core.motion.lipsync import sound_features

    feats = sound_features(take.dub.samples, loaded.mel)
    n, fps = take.frame_count, take.fps
    each = [m.coefficients_and_hidden(feats, n, fps)[0] for m in loaded.members()]
    assert not np.allclose(each[0], each[1], atol=1e-3)  # the members differ
    np.testing.assert_allclose(loaded.coefficients_of(feats, n, fps), np.mean(each, axis=0),
                               rtol=1e-6, atol=1e-7)
    one = LearnedDriver(LipModel.load(shipped_model_path(), REG)).motion(
        take.dub.samples, n, fps, take.cache.canonical, REG)
    both = LearnedDriver(loaded).motion(take.dub.samples, n, fps, take.cache.canonical, REG)
    assert np.isfinite(both.delta).all() and not np.allclose(one.delta, both.delta)


def test_a_single_network_is_still_written_as_version_1(tmp_path):
    model = LipModel.load(shipped_model_path(), REG)
    single = LipModel(model.nets[0], model.points, model.mel, dict(model.meta))
    single.save(tmp_path / "one.safetensors")
    again = LipModel.load(tmp_path / "one.safetensors", REG)
    assert again.meta["version"] == 1 and again.meta["members"] == 1 and not again.others


@pytest.mark.parametrize("damage", ["member_missing", "stray_member", "count_zero",
                                    "count_text"])
def test_a_damaged_ensemble_is_refused_naming_the_file(tmp_path, damage):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    _, path = _two_members(tmp_path)
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()[METADATA_KEY])
    state = load_file(str(path))
    if damage == "member_missing":
        state = {k: v for k, v in state.items() if not k.startswith("member1.")}
    elif damage == "stray_member":
        state |= {"member2." + k[len("member1."):]: v.clone() for k, v in state.items()
                  if k.startswith("member1.")}
    else:
        meta["members"] = 0 if damage == "count_zero" else "two"
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), {METADATA_KEY: json.dumps(meta)})
    with pytest.raises(StudioError) as err:
        LipModel.load(bad, REG)
    assert str(bad) in str(err.value)


def test_the_same_input_gives_the_same_output(take):
    a = LearnedDriver.load(None, REG).motion(take.dub.samples, take.frame_count, take.fps,
                                             take.cache.canonical, REG,
                                             alignment=take.dub_alignment, library=take.library)
    b = LearnedDriver.load(None, REG).motion(take.dub.samples, take.frame_count, take.fps,
                                             take.cache.canonical, REG,
                                             alignment=take.dub_alignment, library=take.library)
    np.testing.assert_array_equal(a.delta, b.delta)
    np.testing.assert_array_equal(a.hold, b.hold)
    assert np.abs(a.delta).max() > 0  # it does move the lips


def test_a_dub_uses_the_learned_driver_by_default(take):
    assert take.driver_name == "learned"
    assert not any("visemes instead" in w for w in take.warnings)


def _opening(take, options: DubOptions) -> np.ndarray:
    return mouth_opening(take.cache.canonical[None] + take.compose(options), take.regions)


def test_alpha_zero_closes_the_mouth(take):
    closed = float(mouth_opening(take.cache.canonical + take.rest, take.regions))
    assert np.all(_opening(take, DubOptions(alpha=0.0)) <= closed + 1e-5)
    assert _opening(take, DubOptions()).max() > closed * 1.2 + 1e-3  # it opens at α = 1
    take.compose(DubOptions())


def test_bilabials_reach_closure(take):
    from core.motion.coarticulation import ANTICIPATION

    edited = take.compose(DubOptions(alpha=2.0, smoothing=1.0))
    centres = [round(((p.start + p.end) / 2 - ANTICIPATION) * take.fps)
               for p in take.dub_alignment.phones if viseme_of(p.label) == "PP"]
    assert centres
    gap = inner_gap(take.cache.canonical[None] + edited[centres], take.regions)
    assert np.all(gap <= inner_gap(take.cache.canonical + take.rest, take.regions) + 1e-5)
    take.compose(DubOptions())


def test_a_word_opened_twice_opens_more_than_its_neighbours(take):
    words = take.dub_alignment.words
    i = max(range(1, len(words) - 1), key=lambda k: words[k].end - words[k].start)
    base = _opening(take, DubOptions())
    take.word_styles = {i: WordStyle(open=2.0)}
    opened = _opening(take, DubOptions())
    take.word_styles = {}
    take.compose(DubOptions())

    def span(k):
        w = words[k]
        return slice(int(w.start * take.fps), int(np.ceil(w.end * take.fps)))

    gain = opened - base
    assert gain[span(i)].max() > 0
    for k in (i - 1, i + 1):
        inside = np.zeros(take.frame_count, bool)
        inside[span(k)] = True
        inside[span(i)] = False
        assert gain[inside].max(initial=0.0) < gain[span(i)].max()


def test_silence_closes_the_mouth(take):
    silence = np.zeros(16000 * 2, np.float32)
    lips = LearnedDriver.load(None, REG).motion(silence, 50, 25.0, take.cache.canonical, REG)
    assert np.abs(lips.delta).max() == 0.0


def test_a_corrupt_model_falls_back_to_the_visemes_and_says_so(take, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a model at all")
    take.use_driver(f"learned:{bad}")
    try:
        assert take.driver_name == "visemes"
        assert any(str(bad) in w and "visemes" in w for w in take.warnings)
        np.testing.assert_array_equal(take.lips.delta, take.viseme_lips.delta)
    finally:
        take.use_driver("learned")


def test_style_map_is_the_identity_without_evidence_and_fits_a_gain():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(500, 4)).astype(np.float32)
    a = fit_style(c, c * 1.5, shrink=0.01)
    np.testing.assert_allclose(np.diag(a), 1.5, atol=0.05)
    z = fit_style(np.zeros((10, 4), np.float32), np.zeros((10, 4), np.float32))
    np.testing.assert_allclose(z, np.eye(4), atol=1e-6)


@pytest.mark.parametrize("frames", [40, 400])
def test_the_readouts_ridge_is_the_same_from_either_side(frames):
    # short footage is solved through the frames (fewer than the features), long footage
    # through the features: both must be the ridge itself
    rng = np.random.default_rng(frames)
    x = rng.normal(size=(frames, 120))
    y = x[:, :3] @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(frames, 12))
    xt = rng.normal(size=(15, 120))
    xc, yc, xtc = x - x.mean(0), y - y.mean(0), xt - x.mean(0)
    paths = ridge_paths(xc, yc, xtc, (1.0, 10.0))
    for s, pred in paths.items():
        lam = s * float((xc**2).sum()) / x.shape[1]
        w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ yc)
        np.testing.assert_allclose(pred, xtc @ w, atol=1e-9)
    assert np.abs(paths[1.0]).mean() > np.abs(paths[10.0]).mean()  # more shrink, less reach


def _speaker(seed: int = 0, frames: int = 600):
    """Coefficients and a hidden layer as the model would give them, smooth in time."""
    rng = np.random.default_rng(seed)
    kernel = np.hanning(9) / np.hanning(9).sum()
    hidden = np.stack([np.convolve(rng.normal(size=frames), kernel, "same")
                       for _ in range(16)], axis=1)
    coef = hidden[:, :4] @ rng.normal(size=(4, 4))
    return rng, hidden, coef


def test_a_speaker_the_style_map_explains_keeps_the_style_map_alone():
    rng, hidden, coef = _speaker()
    truth = coef @ np.diag([1.4, 0.8, 1.0, 1.2])
    use = np.ones(len(coef), bool)
    a = choose_adaptation(coef, hidden, truth, use, lambda c: c[:, 0])
    assert a.mix == 0 and a.smooth == 0  # no readout, and no smoothing of clean lips


def test_a_speaker_who_opens_for_other_sounds_gets_their_own_readout():
    """Their opening follows what the model heard but did not map to the lips (another
    hidden direction, a frame later): only a readout of the hidden layer can learn that,
    and the choice is made on held-out parts of their own footage."""
    rng, hidden, coef = _speaker(1)
    truth = coef.copy()
    truth[:, 0] = shift(hidden[:, 9], 1) + 0.05 * rng.normal(size=len(coef))
    use = np.ones(len(coef), bool)
    a = choose_adaptation(coef, hidden, truth, use, lambda c: c[:, 0])
    assert a.mix > 0 and a.width > 0 and a.shrink > 0
    from core.motion.lipsync import fit_readout, windowed

    w, b = fit_readout(windowed(hidden, a.width)[:400], truth[:400], a.shrink)
    r = Readout(w, b, a.width, a.mix)
    pred = r(hidden, coef @ fit_style(coef[:400], truth[:400], a.style_shrink))
    assert np.corrcoef(pred[400:, 0], truth[400:, 0])[0, 1] > 0.8


def test_smoothing_keeps_a_constant_and_a_slow_signal_and_damps_jitter():
    t = np.arange(200, dtype=np.float32)
    assert smooth(np.full((50, 3), 2.0, np.float32), 2.0) == pytest.approx(2.0)
    slow = np.sin(t / 15)[:, None]
    np.testing.assert_allclose(smooth(slow, 1.0)[10:-10], slow[10:-10], atol=0.01)
    jitter = np.where(t % 2 == 0, 1.0, -1.0)[:, None]
    assert np.abs(smooth(jitter, 1.5)[10:-10]).max() < 0.1  # (the held edges keep some)
    assert smooth(jitter, 0.0) is jitter


def test_a_speaker_whose_lips_are_smoother_than_the_model_gets_smoothing():
    """The model jitters where this speaker glides: held-out parts of their own footage
    say so, and only a pool that offers smoothing can choose it."""
    rng, hidden, coef = _speaker(2)
    truth = coef.copy()
    noisy = coef + 0.8 * rng.normal(size=coef.shape) * coef.std(axis=0)
    use = np.ones(len(coef), bool)
    # (no readout: the clean hidden layer would read them exactly)
    style_only = AdaptPool(widths=(), smooths=(0.0, 0.03, 0.06))
    a = choose_adaptation(noisy, hidden, truth, use, lambda c: c[:, 0], 25.0, style_only)
    assert a.smooth > 0
    never = choose_adaptation(noisy, hidden, truth, use, lambda c: c[:, 0], 25.0,
                              AdaptPool(widths=(), smooths=(0.0,)))
    assert never.smooth == 0


def test_a_speakers_fit_moves_maps_and_smooths_in_that_order():
    rng, hidden, coef = _speaker(3, frames=100)
    style = np.diag([2.0, 1.0, 0.5, 1.0]).astype(np.float32)
    fit = SpeakerFit(style, None, lead=0.08, smooth=0.04)
    np.testing.assert_allclose(fit.apply(coef, hidden, 25.0),
                               smooth(shift(coef, 2) @ style, 1.0), atol=1e-5)


def test_the_speakers_adaptation_runs_on_one_blas_thread(take, monkeypatch):
    # a second OpenBLAS thread spins while the cores are busy: adapting at take open took
    # 10-25x longer beside an export or another program
    from threadpoolctl import threadpool_info

    from core.motion import lipsync

    seen = []
    real = lipsync.fit_speaker

    def spy(*args, **kwargs):
        seen.append(max([i["num_threads"] for i in threadpool_info()
                         if i["user_api"] == "blas"], default=1))
        return real(*args, **kwargs)

    monkeypatch.setattr(lipsync, "fit_speaker", spy)
    samples = take.dub.samples
    n = int(len(samples) / 16000 * 25)
    rng = np.random.default_rng(0)
    k_c = take.cache.canonical
    expression = np.zeros((n, len(k_c), 3), np.float32)
    expression[:, REG.landmarks["lower_lip_inner"], 1] = np.abs(rng.normal(size=n)) * 0.02
    d = LearnedDriver.load(None, REG)
    d.adapt(samples, expression, np.ones(n, np.uint8), 25.0, k_c, REG)
    assert len(seen) == len(d.model.nets) and set(seen) == {1}


def test_the_style_is_learned_from_a_speaking_video(shared_data, cache_root):
    t = open_take(shared_data / "video" / "woman_glasses.mp4", SPEECH, transcript=TEXT,
                  cache_root=cache_root)
    try:
        assert t.driver_name == "learned"
        assert t.source_speech is not None
        d = LearnedDriver.load(None, REG)
        used = d.adapt(t.source_speech[0], t.cache.expression(), np.asarray(t.cache.validity),
                       t.cache.fps, t.cache.canonical, REG)
        assert used > 0 and d.style is not None and np.isfinite(d.style).all()
        if d.readout is not None:  # chosen on her footage only when it predicts it better
            assert np.isfinite(d.readout.weights).all() and 0 < d.readout.mix <= 1
        lips = d.motion(t.dub.samples, t.frame_count, t.fps, t.cache.canonical, REG)
        assert np.isfinite(lips.delta).all() and np.abs(lips.delta).max() > 0
    finally:
        t.close()


@pytest.mark.parametrize("language", ["de", "fr", "zh"])
def test_non_english_speech_moves_the_lips_and_silence_does_not(shared_data, take, language):
    """The model hears sound, not English phones: with no transcript and no alignment the
    mouth still opens and closes with the syllables."""
    from core.media import load_audio

    audio = load_audio(shared_data / "audio" / f"{language}_speech.wav", 16000)
    frames = int(audio.duration * 25)
    face = take.cache.canonical
    lips = LearnedDriver.load(None, REG).motion(audio.samples, frames, 25.0, face, REG)
    opening = mouth_opening(face[None] + lips.delta, REG)
    iod = np.linalg.norm(face[33, :2] - face[263, :2])
    assert np.ptp(opening) > 0.03 * iod  # syllables open the mouth
    closed = opening <= opening.min() + 0.01 * iod
    assert closed.any() and (~closed).sum() > frames // 4  # and it closes between them


def test_a_short_tools_run_on_three_clips_lowers_its_validation_loss(tmp_path):
    corpus = ROOT.parent / "shared" / "corpus"
    if not (corpus / "corpus.json").is_file():
        pytest.skip(f"../shared/corpus is absent: the training corpus belongs in {corpus}")
    out = tmp_path / "lips.safetensors"
    env = dict(os.environ, STUDIO_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run(
        [sys.executable, "tools/train_lip_model.py", "--out", str(out), "--clips",
         "rizkiarm__LipNet__lbax4n.mpg,rizkiarm__LipNet__lbbc2a.mpg,"
         "rizkiarm__LipNet__sbia1a.mpg", "--steps", "60", "--lags", "none",
         "--validate", "1", "--threads", "1", "--members", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("validation loss"))
    before, after = (float(x.split()[0]) for x in line.split(": ")[1].split(", "))
    assert after < before
    model = LipModel.load(out, REG)
    assert model.meta["validation"]["after"] == pytest.approx(after, abs=1e-6)
    assert torch.isfinite(model.net.basis).all()
    assert len(model.nets) == 2 and model.meta["members"] == 2  # two seeds, averaged


def test_the_weight_average_is_the_mean_of_the_steps_it_saw():
    from trainer.lipsync import WeightAverage

    net = torch.nn.Linear(3, 2)
    avg = WeightAverage(start=2)
    seen = []
    for step in range(1, 5):
        with torch.no_grad():
            net.weight.fill_(float(step))
        avg(step, net)
        if step >= 2:
            seen.append(float(step))
    avg.apply(net)
    assert torch.allclose(net.weight, torch.full_like(net.weight, np.mean(seen)))
    untouched = torch.nn.Linear(3, 2)
    before = untouched.weight.clone()
    WeightAverage(start=10).apply(untouched)  # no step averaged: the weights stay
    assert torch.equal(untouched.weight, before)


def test_corpus_preparation_skips_bad_clips_and_says_why(shared_data, tmp_path):
    from trainer.lipsync import prepare_corpus

    corpus = ROOT.parent / "shared" / "corpus"
    if not (corpus / "corpus.json").is_file():
        pytest.skip(f"../shared/corpus is absent: the training corpus belongs in {corpus}")
    folder = tmp_path / "corpus"
    (folder / "media").mkdir(parents=True)
    good = "rizkiarm__LipNet__lbax4n.mpg"
    (folder / "media" / good).symlink_to(corpus / "media" / good)
    (folder / "media" / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 999)
    for name in ("silent_audio_track.mp4", "no_audio_track.mp4"):
        (folder / "media" / name).symlink_to(shared_data / "edge" / name)
    entries = [{"file": f"media/{n}", "speaker": f"s{i}"} for i, n in
               enumerate([good, "corrupt.mp4", "silent_audio_track.mp4", "no_audio_track.mp4"])]
    (folder / "corpus.json").write_text(json.dumps(entries))
    clips, reports, points = prepare_corpus(folder, tmp_path / "cache")
    why = {r.name: (r.used, r.reason) for r in reports}
    assert [c.name for c in clips] == [good] and why[good] == (True, "")
    assert not why["corrupt.mp4"][0] and why["corrupt.mp4"][1]
    assert why["silent_audio_track.mp4"] == (False, "the audio is silent")
    assert not why["no_audio_track.mp4"][0] and "audio" in why["no_audio_track.mp4"][1]
    assert len(points) > 40
