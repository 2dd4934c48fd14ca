"""The Audio2Exp adapter: zero start (the viseme driver exactly), learning, the folds'
ensemble, resume, cancel, refusal of bad files, old files in their old mode, the job's JSON
lines. One short real clip, a few hundred steps in all (well under a minute)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import StudioError
from core.keypoints.regions import load_regions
from core.motion.audio2exp import Audio2ExpDriver, read_metadata
from core.motion.audio2exp_model import MelConfig, mel_power
from core.motion.driver import VisemeDriver
from trainer.data import Corpus, clip_features, clip_library, fold_corpora
from trainer.loop import TrainConfig, publish, save_weights, train
from trainer.model import ModelConfig, build_model, silent_mel

ROOT = Path(__file__).resolve().parents[1]
REG = load_regions("mediapipe")
CLIP = "video/woman_glasses.mp4"


def small(**kw) -> TrainConfig:
    base = dict(steps=120, batch=8, eval_every=25, checkpoint_every=50, log_every=10,
                device="cpu")
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The net is tiny: one thread is as fast and does not fight other tests for cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    old = os.environ.get("STUDIO_CACHE_DIR")
    os.environ["STUDIO_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("STUDIO_CACHE_DIR", None)
    else:
        os.environ["STUDIO_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def clip(shared_data, cache_root):
    return clip_features(shared_data / CLIP, cache_root)


@pytest.fixture(scope="module")
def corpus(clip) -> Corpus:
    return Corpus([clip], clip.points, MelConfig())


@pytest.fixture(scope="module")
def unheard(clip) -> Corpus:
    """The clip as if its speech could not be recognised: ΔE_vis = 0, so the adapter must
    learn the lips from the sound alone (what shows that learning works at all)."""
    return Corpus([dataclasses.replace(clip, alignment=None)], clip.points, MelConfig())


@pytest.fixture(scope="module")
def trained(unheard, tmp_path_factory):
    lines: list[str] = []
    run = tmp_path_factory.mktemp("run")
    result = train(unheard, run, small(), emit=lambda r: lines.append(json.dumps(r)))
    return result, lines, run


def _meta(model, clip, version: int = 2) -> dict:
    return {"format": "studio-audio2exp", "version": version, "step": 0,
            "backend": "landmarks", "tracker": "mediapipe", "n_points_total": REG.n_points,
            "points": clip.points.tolist(), "mel": MelConfig().to_json(),
            "model": model.cfg.to_json()}


def test_zero_module_starts_at_no_change(corpus):
    model = build_model(ModelConfig(n_points=len(corpus.points), basis=6, vis_context=2,
                                    members=3))
    b = corpus.batch(4, torch.Generator().manual_seed(0), vis_context=2)
    assert b["vis"].shape[1] == 5 and b["vis_now"].abs().sum() > 0
    with torch.no_grad():
        out = model(b["mel"], b["ref"], b["weight"], b["vis"])
    assert torch.count_nonzero(out) == 0


def test_untrained_adapter_is_exactly_the_viseme_driver(corpus, clip, tmp_path):
    model = build_model(ModelConfig(n_points=len(corpus.points), basis=6, vis_context=2))
    path = tmp_path / "zero.safetensors"
    save_weights(path, model.state_dict(), _meta(model, clip))
    driver = Audio2ExpDriver.load(path, REG)
    assert driver.residual
    t = 60
    e = np.random.default_rng(0).normal(0, 0.02, (t, REG.n_points, 3)).astype(np.float32)
    audio = np.random.default_rng(1).normal(0, 0.1, 16000 * 3).astype(np.float32)
    library = clip_library(clip, np.ones(clip.frame_count, bool))
    lips = driver.motion(audio, e, np.ones(REG.n_points, np.float32), t, 25.0,
                         alignment=clip.alignment, library=library)
    visemes = VisemeDriver(library).motion(clip.alignment, t, 25.0)
    assert np.abs(visemes.delta).max() > 0
    np.testing.assert_array_equal(lips.delta, visemes.delta)
    np.testing.assert_array_equal(lips.hold, visemes.hold)
    with pytest.raises(ValueError, match="viseme library"):
        driver.motion(audio, e, np.ones(REG.n_points, np.float32), t, 25.0)


def test_a_version_1_model_loads_in_its_old_mode(corpus, clip, tmp_path):
    """Before the viseme input the network gave all of ΔE: such a file still drives (its
    untrained form leaves the silent lips S(E)) and ignores the visemes."""
    model = build_model(ModelConfig(n_points=len(corpus.points)))
    assert not model.cfg.residual
    path = tmp_path / "v1.safetensors"
    save_weights(path, model.state_dict(), _meta(model, clip, version=1))
    driver = Audio2ExpDriver.load(path, REG)
    assert not driver.residual
    t = 20
    e = np.random.default_rng(0).normal(0, 0.02, (t, REG.n_points, 3)).astype(np.float32)
    audio = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    lips = driver.motion(audio, e, np.ones(REG.n_points, np.float32), t, 25.0)
    assert lips.delta.shape == (t, REG.n_points, 3) and not lips.delta.any()
    residual = build_model(ModelConfig(n_points=len(corpus.points), vis_context=2))
    bad = tmp_path / "v1-residual.safetensors"
    save_weights(bad, residual.state_dict(), _meta(residual, clip, version=1))
    with pytest.raises(StudioError, match="v1-residual.safetensors.*version-1"):
        Audio2ExpDriver.load(bad, REG)


def test_training_lowers_the_validation_loss(trained):
    result, _, _ = trained
    assert result.step == 120
    assert result.best_val < 0.97 * result.initial_val, (result.best_val, result.initial_val)


def test_the_gain_is_measured_held_out_against_the_base_driver(trained, unheard, tmp_path):
    """The verdict shown at the end of a run: an untrained adapter is exactly its base (no
    change); the trained one, which learned the lips from the sound where the base (no
    speech recognised) keeps them still, opens with the tracked lips and comes closer."""
    from core.motion.audio2exp import load_model
    from trainer.verdict import heldout_gain

    result, _, _ = trained
    untrained = build_model(ModelConfig.from_json(result.meta["model"]))
    same = heldout_gain([unheard], untrained, REG)
    assert same is not None and same.frames == len(unheard.val_frames)
    assert same.corr_adapter == same.corr_base and same.dist_adapter == same.dist_base
    assert same.verdict == "no change" and not same.helped
    model = publish(result, tmp_path / "m.safetensors")
    gain = heldout_gain([unheard], load_model(model, read_metadata(model)), REG)
    assert gain.base == "visemes" and gain.corr_base == 0.0  # a still mouth follows nothing
    assert gain.corr_adapter > 0.2 and gain.dist_adapter < gain.dist_base, gain
    assert gain.helped and "helped" in gain.summary()
    back = type(gain).from_json(json.loads(json.dumps(gain.to_json())))
    assert back.verdict == gain.verdict
    assert dataclasses.astuple(back) == pytest.approx(dataclasses.astuple(gain), abs=1e-6)


def test_the_verdict_needs_a_gain_beyond_the_noise():
    from trainer.verdict import Gain

    def verdict(dc: float, dd: float) -> str:
        return Gain("learned", 100, 0.4, 0.4 + dc, 5.0, 5.0 - dd).verdict

    assert verdict(0.05, 0.0) == "helped" and verdict(0.0, 0.3) == "helped"
    assert verdict(0.005, 0.01) == "no change"
    assert verdict(-0.05, 0.0) == "worse" and verdict(-0.05, -0.3) == "worse"
    assert verdict(0.05, -0.3) == "mixed"  # better on one, worse on the other


def test_folds_train_an_ensemble_that_keeps_only_what_validates(clip, tmp_path):
    """Three folds, one net each: the validation loss is theirs on their own held-out
    block; the step-0 ensemble (the viseme driver) is a candidate, so the published model
    is never worse there than the visemes, and exactly the visemes when chosen."""
    folds = fold_corpora([clip], clip.points, MelConfig(), 3)
    assert len({tuple(f.val_frames.tolist()) for f in folds}) == 3
    for f in folds:  # no training frame within the guard of its fold's validation
        val = f.val_frames
        near = (val[:, None] + torch.arange(-3, 4)).clamp(0, len(f.train_frame) - 1)
        assert not f.train_frame[near].any()
    result = train(folds, tmp_path / "run", small(steps=60, folds=3), emit=None)
    assert result.best_val <= result.initial_val
    model = publish(result, tmp_path / "m.safetensors")
    meta = read_metadata(model)
    assert meta["model"]["members"] == 3 and meta["model"]["vis_context"] == 2
    driver = Audio2ExpDriver.load(model, REG)
    library = clip_library(clip, np.ones(clip.frame_count, bool))
    w = np.zeros(REG.n_points, np.float32)
    w[clip.points] = clip.weight
    t = 50
    e = np.zeros((t, REG.n_points, 3), np.float32)
    audio = np.random.default_rng(1).normal(0, 0.1, 16000 * 2).astype(np.float32)
    lips = driver.motion(audio, e, w, t, 25.0, alignment=clip.alignment, library=library)
    visemes = VisemeDriver(library).motion(clip.alignment, t, 25.0)
    if result.best_step == 0:
        np.testing.assert_array_equal(lips.delta, visemes.delta)
    else:
        assert not np.array_equal(lips.delta, visemes.delta)


def test_progress_lines_parse(trained):
    _, lines, _ = trained
    records = [json.loads(line) for line in lines]
    progress = [r for r in records if "event" not in r]
    assert progress and all(
        set(r) == {"step", "loss", "l1", "vel", "silent", "val", "eta_s"} for r in progress)
    assert [r["step"] for r in progress] == sorted(r["step"] for r in progress)
    assert records[-1]["event"] == "done"


def test_trained_model_drives_the_lips_and_keeps_silence_closed(trained, clip, tmp_path):
    result, _, _ = trained
    model = publish(result, tmp_path / "m.safetensors")
    meta = read_metadata(model)
    assert meta["tracker"] == "mediapipe" and meta["points"] == clip.points.tolist()
    assert meta["mel"]["n_mels"] == 80 and meta["best_val"] is not None
    driver = Audio2ExpDriver.load(model, REG)
    frames = 50
    e = np.zeros((frames, REG.n_points, 3), np.float32)
    w = np.zeros(REG.n_points, np.float32)
    w[clip.points] = clip.weight
    library = clip_library(clip, np.ones(clip.frame_count, bool))
    silent = driver.motion(np.zeros(2 * 16000, np.float32), e, w, frames, 25.0,
                           alignment=None, library=library)
    scale = np.abs(clip.expression * clip.weight[None, :, None]).mean()
    assert np.abs(silent.delta).mean() < 0.25 * scale
    assert not silent.delta[:, np.setdiff1d(np.arange(REG.n_points), clip.points)].any()


def test_resume_continues_from_the_saved_step(corpus, tmp_path):
    first = train(corpus, tmp_path, small(steps=40, checkpoint_every=20), emit=None)
    assert first.step == 40 and read_metadata(tmp_path / "last.safetensors")["step"] == 40
    lines: list[dict] = []
    second = train(corpus, tmp_path, small(steps=60, checkpoint_every=20), resume=True,
                   emit=lines.append)
    assert lines[0]["event"] == "resumed" and lines[0]["step"] == 40
    steps = [r["step"] for r in lines if "event" not in r]
    assert steps[0] == 50 and second.step == 60
    assert read_metadata(tmp_path / "last.safetensors")["step"] == 60


def test_cancel_leaves_a_loadable_checkpoint(corpus, tmp_path):
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 7

    result = train(corpus, tmp_path, small(), cancel=cancel, emit=None)
    assert result.status == "cancelled" and result.step == 7
    meta = read_metadata(result.last)
    assert meta["status"] == "cancelled" and meta["step"] == 7
    Audio2ExpDriver.load(result.last, REG)


def test_a_corrupt_checkpoint_is_refused(trained, tmp_path):
    result, _, _ = trained
    data = result.last.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(StudioError, match="truncated.safetensors.*corrupt"):
        Audio2ExpDriver.load(bad, REG)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(StudioError, match="junk.safetensors"):
        Audio2ExpDriver.load(junk, REG)
    with pytest.raises(StudioError, match="no such model"):
        Audio2ExpDriver.load(tmp_path / "absent.safetensors", REG)


def test_a_checkpoint_of_another_keypoint_backend_is_refused(trained, tmp_path):
    from safetensors.torch import load_file

    result, _, _ = trained
    meta = read_metadata(result.last)
    state = load_file(str(result.last))
    other = tmp_path / "fa.safetensors"
    save_weights(other, state, dict(meta, tracker="face_alignment"))
    with pytest.raises(StudioError, match="trained on landmarks/face_alignment"):
        Audio2ExpDriver.load(other, REG)
    lp = tmp_path / "lp.safetensors"
    save_weights(lp, state, dict(meta, backend="liveportrait"))
    with pytest.raises(StudioError, match="liveportrait"):
        Audio2ExpDriver.load(lp, REG)


def test_silent_input_is_exactly_zero_features():
    cfg = MelConfig()
    power = mel_power(np.zeros(16000, np.float32), cfg)
    assert power.shape[1] == 80 and not power.any()
    assert not silent_mel((2, 80, cfg.window), cfg).any()


def test_resume_continues_the_folds_ensemble(clip, tmp_path):
    folds = fold_corpora([clip], clip.points, MelConfig(), 2)
    first = train(folds, tmp_path, small(steps=30, checkpoint_every=10, folds=2), emit=None)
    assert first.step == 30 and read_metadata(first.last)["model"]["members"] == 2
    second = train(folds, tmp_path, small(steps=50, checkpoint_every=10, folds=2),
                   resume=True, emit=None)
    assert second.step == 50
    with pytest.raises(ValueError, match="folds"):
        train(fold_corpora([clip], clip.points, MelConfig(), 3), tmp_path,
              small(steps=60, folds=3), resume=True, emit=None)


def test_the_job_runs_as_its_own_process(shared_data, cache_root, tmp_path):
    from core.project.project import Project

    src = tmp_path / "clip.mp4"
    shutil.copy(shared_data / CLIP, src)
    Project.new(tmp_path / "proj", src)
    # reuse the module's tracking: the project's cache gets the keypoints already made
    shutil.copytree(cache_root / "keypoints", tmp_path / "proj" / "cache" / "keypoints")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-m", "trainer", str(tmp_path / "proj"), "--steps", "20",
         "--batch", "4"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert any("eta_s" in r for r in records)
    model = Path(records[-1]["path"])
    assert records[-1]["event"] == "model" and model.parent == tmp_path / "proj" / "models"
    assert model.name.startswith("audio2exp-") and model.suffix == ".safetensors"
    start = next(r for r in records if r.get("event") == "start")
    assert start["folds"] == TrainConfig().folds
    assert Audio2ExpDriver.load(model, REG).model.cfg.members == TrainConfig().folds
    # the held-out verdict the window shows before keep or discard
    from trainer.verdict import Gain

    gain = Gain.from_json(records[-1]["gain"])
    assert gain.base == "learned" and gain.frames > 0.8 * start["frames_val"]
    assert -1 <= gain.corr_adapter <= 1 and gain.dist_adapter > 0
    assert records[-1]["gain"]["verdict"] == gain.verdict


def test_a_project_can_dub_with_the_trained_adapter(trained, shared_data, cache_root, tmp_path):
    from core.dub import DubOptions, open_take

    result, _, _ = trained
    model = publish(result, tmp_path / "m.safetensors")
    samples = ROOT / "resources" / "samples"
    # this adapter was trained on a corpus whose base is the viseme driver (Corpus' default)
    assert result.meta["base"] == "visemes"
    take = open_take(shared_data / CLIP, samples / "speech.wav",
                     transcript=samples / "speech.txt", cache_root=cache_root,
                     driver="visemes")
    zero = build_model(ModelConfig(n_points=len(result.meta["points"]), basis=6,
                                   vis_context=2))
    save_weights(tmp_path / "zero.safetensors", zero.state_dict(),
                 dict(result.meta, model=zero.cfg.to_json()))
    try:
        visemes = take.compose(DubOptions()).copy()
        take.use_driver(f"audio2exp:{tmp_path / 'zero.safetensors'}")  # untrained: visemes
        np.testing.assert_array_equal(take.compose(DubOptions()), visemes)
        take.use_driver(f"audio2exp:{model}")
        assert take.driver_name.startswith("audio2exp:")
        adapted = take.compose(DubOptions())
        assert np.abs(take.lips.delta).max() > 0
        assert not np.array_equal(adapted, visemes)
        closed = take.compose(DubOptions(alpha=0.0))  # α = 0 still closes the mouth
        np.testing.assert_allclose(closed[:, take.lip_weight >= 1],
                                   0.0 * closed[:, take.lip_weight >= 1], atol=1e-6)
        with pytest.raises(ValueError):
            take.use_driver("wav2lip")
    finally:
        take.close()
