"""Does a short CPU fine-tune of the Audio2Exp adapter beat the viseme driver?

On each clip of ../shared/data/video: train the adapter on the first 60 % only (the
trainer's own cross-validation folds, and so its early stopping, lie inside it), then re-dub
the held-out last 40 % from its own audio and compare the edited lips with the tracked
ones. The held-out part is never seen by training, model selection or the viseme library.
Methods, all through the same edit composition (α = 1, default smoothing):

- adapter:  the fine-tuned Audio2Exp driver on the held-out audio: a residual on the viseme
            driver below (same library, same alignment of the held-out audio);
- visemes:  the viseme driver, library learned from the first 60 % (its audio aligned by
            recognition) completed by the default library, the held-out audio aligned alone
            as a dub would be;
- closed:   α = 0, the silent lips S(E);
- replay:   the source's own lip motion of the first 60 %, replayed from its start.

Figures: mouth landmark distance (M-LDM: mean 2-D distance of the 40 lip-contour points
in the image, % of the outer-eye-corner distance) and the Pearson correlation of the
inner-lip opening with the tracked one; plus the training time on this CPU. The target:
with at most 5 minutes of training per clip, the adapter's mean M-LDM is lower and its
mean opening correlation higher than the viseme driver's.

    python bench/train_quality.py [--steps 300] [--threads 2] [--clips a.mp4 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _data import need_data

from core.align import align
from core.hashing import file_hash
from core.keypoints.analyze import analyze_keypoints
from core.keypoints.decompose import mouth_opening, recompose
from core.keypoints.regions import load_regions
from core.media import load_audio, open_media
from core.motion.audio2exp import Audio2ExpDriver
from core.motion.audio2exp_model import MelConfig
from core.motion.compose import compose
from core.motion.driver import VisemeDriver
from core.motion.library import default_library, learn_library
from core.motion.mouth import lower_face_weight
from core.paths import user_cache_dir
from core.tracking.registry import get_tracker
from trainer.data import clip_features, fold_corpora
from trainer.loop import TrainConfig, publish, train

REG = load_regions("mediapipe")
TRAIN_SHARE = 0.6
TIME_LIMIT_S = 300.0


def metrics(edited: np.ndarray, truth: np.ndarray, cache, frames: np.ndarray) -> dict:
    """M-LDM (% inter-ocular) on the lip points and opening correlation, tracked frames."""
    ok = np.asarray(cache.validity)[frames] == 1
    rot = np.asarray(cache.rotation[frames], np.float64)[ok]
    scale = np.asarray(cache.scale[frames], np.float64)[ok]
    trans = np.asarray(cache.translation[frames], np.float64)[ok]
    k_c = cache.canonical.astype(np.float64)
    a = recompose(k_c, edited[ok].astype(np.float64), rot, scale, trans)[..., :2]
    b = recompose(k_c, truth[ok].astype(np.float64), rot, scale, trans)[..., :2]
    lm = REG.landmarks
    iod = np.linalg.norm(b[:, lm["eye_right_outer"]] - b[:, lm["eye_left_outer"]], axis=-1)
    lips = REG.lips
    dist = np.linalg.norm(a[:, lips] - b[:, lips], axis=-1).mean(axis=1) / iod
    oa = mouth_opening(k_c + edited[ok], REG)
    ob = mouth_opening(k_c + truth[ok], REG)
    corr = float(np.corrcoef(oa, ob)[0, 1]) if oa.std() > 1e-9 and ob.std() > 1e-9 else 0.0
    return {"mldm_pct": round(float(dist.mean() * 100), 3), "open_corr": round(corr, 3)}


def run_clip(path: Path, root: Path, cfg: TrainConfig, work: Path) -> dict:
    source = open_media(path)
    try:
        cache = analyze_keypoints(source, media_hash=file_hash(path), root=root,
                                  tracker=get_tracker("mediapipe")).cache
    finally:
        source.close()
    feats = clip_features(path, root)
    t_count, fps = cache.frame_count, cache.fps
    n_tr = int(TRAIN_SHARE * t_count)
    held = np.arange(n_tr, t_count)
    audio = load_audio(path, 16000)
    cut = int(round(n_tr / fps * audio.sample_rate))
    train_audio, held_audio = audio.samples[:cut], audio.samples[cut:]
    expression = cache.expression()
    truth = expression[held]
    w = lower_face_weight(cache.canonical, REG)

    # the first 60 % as a project would see its source: its audio recognised alone, the
    # speaker's viseme library learned from it; the held-out audio aligned alone, as a dub
    own = align(train_audio, None, cache_dir=root / "align")
    lib = learn_library(expression[:n_tr], np.asarray(cache.validity)[:n_tr], own, fps,
                        cache.canonical, REG, default_library(cache.canonical, REG))
    dub_alignment = align(held_audio, None, cache_dir=root / "align")

    # adapter: trained on the first 60 % (its folds and early stopping inside it)
    corpora = fold_corpora([feats.head(n_tr, own)], feats.points, MelConfig(), cfg.folds)
    started, cpu0 = time.perf_counter(), time.process_time()
    result = train(corpora, work / path.stem, cfg, emit=None)
    train_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu0
    model = publish(result, work / f"{path.stem}.safetensors")
    driver = Audio2ExpDriver.load(model, REG)
    lips = driver.motion(held_audio, truth, w, len(held), fps, alignment=dub_alignment,
                         library=lib)
    out = {"adapter": compose(truth, lips.delta, w, hold=lips.hold)}

    # visemes: the same library and alignment, no adapter
    vis = VisemeDriver(lib).motion(dub_alignment, len(held), fps)
    out["visemes"] = compose(truth, vis.delta, w, hold=vis.hold)
    out["closed"] = compose(truth, np.zeros_like(truth), w, alpha=0.0)
    replay = expression[np.arange(len(held)) % n_tr] * w[None, :, None]
    out["replay"] = compose(truth, replay, w)
    row = {"clip": path.name, "frames_train": n_tr, "frames_heldout": len(held),
           "train_s": round(train_s, 1), "train_cpu_s": round(cpu_s, 1),
           "steps": result.step, "best_step": result.best_step, "folds": cfg.folds,
           "status": result.status, "val_initial": round(result.initial_val, 5),
           "val_best": round(result.best_val, 5),
           "learned_classes": len(lib.coverage()["learned"])}
    for name, edited in out.items():
        row[name] = metrics(edited, truth, cache, held)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="the trainer's seed")
    ap.add_argument("--folds", type=int, default=TrainConfig.folds,
                    help="cross-validation folds of the trainer (1: last 20 %% validates)")
    ap.add_argument("--clips", nargs="*", type=Path)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = need_data()
    clips = args.clips or sorted((data / "video").glob("*.mp4"))
    root = Path(os.environ.get("STUDIO_CACHE_DIR") or user_cache_dir())
    cfg = TrainConfig(steps=args.steps, device="cpu", log_every=10**9, checkpoint_every=10**9,
                      folds=args.folds, seed=args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            row = run_clip(clip, root, cfg, Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    methods = ("adapter", "visemes", "closed", "replay")
    print(f"\n{'clip':24s} {'train s':>7s} " + " ".join(f"{m + ' LDM/r':>16s}" for m in methods))
    for r in rows:
        cells = " ".join(f"{r[m]['mldm_pct']:8.2f} / {r[m]['open_corr']:5.2f}" for m in methods)
        print(f"{r['clip']:24s} {r['train_s']:7.1f} {cells}")
    mean = {m: (np.mean([r[m]["mldm_pct"] for r in rows]),
                np.mean([r[m]["open_corr"] for r in rows])) for m in methods}
    cells = " ".join(f"{mean[m][0]:8.2f} / {mean[m][1]:5.2f}" for m in methods)
    total = sum(r["train_s"] for r in rows)
    print(f"{'mean':24s} {total / len(rows):7.1f} {cells}")
    wins = sum(r["adapter"]["mldm_pct"] < r["visemes"]["mldm_pct"] for r in rows)
    slowest = max(r["train_s"] for r in rows)
    met = (mean["adapter"][0] < mean["visemes"][0] and mean["adapter"][1] > mean["visemes"][1]
           and slowest <= TIME_LIMIT_S)
    print(f"\nadapter vs visemes: M-LDM {mean['adapter'][0]:.3f} vs {mean['visemes'][0]:.3f} "
          f"({mean['adapter'][0] - mean['visemes'][0]:+.3f}), opening r "
          f"{mean['adapter'][1]:.3f} vs {mean['visemes'][1]:.3f} "
          f"({mean['adapter'][1] - mean['visemes'][1]:+.3f}); lower M-LDM on {wins} of "
          f"{len(rows)} clips; training {slowest:.1f} s at most on {args.threads} threads "
          f"(limit {TIME_LIMIT_S:.0f} s)")
    print(f"target {'MET' if met else 'NOT met'}: the adapter must have the lower mean M-LDM "
          f"and the higher mean opening correlation, in at most {TIME_LIMIT_S:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
