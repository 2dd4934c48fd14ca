"""Does a short CPU fine-tune of the Audio2Exp adapter beat the viseme driver?

On each clip of ../shared/data/video: train the adapter on the first 60 % (its own last
20 % of that is the early-stopping validation), then re-dub the held-out last 40 % from its
own audio and compare the edited lips with the tracked ones. Methods, all through the same
edit composition (α = 1, default smoothing):

- adapter:  the fine-tuned Audio2Exp driver on the held-out audio;
- visemes:  the viseme driver, library learned from the first 60 % (its audio aligned by
            recognition) completed by the default library, the held-out audio aligned alone
            as a dub would be;
- closed:   α = 0, the silent lips S(E);
- replay:   the source's own lip motion of the first 60 %, replayed from its start.

Figures: mouth landmark distance (M-LDM: mean 2-D distance of the 40 lip-contour points
in the image, % of the outer-eye-corner distance) and the Pearson correlation of the
inner-lip opening with the tracked one; plus the training time on this CPU.

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
from core.tracking.base import get_tracker
from trainer.data import Corpus, clip_features
from trainer.loop import TrainConfig, publish, train

REG = load_regions("mediapipe")
TRAIN_SHARE = 0.6


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

    # adapter
    corpus = Corpus([feats.head(n_tr)], feats.points, MelConfig())
    started, cpu0 = time.perf_counter(), time.process_time()
    result = train(corpus, work / path.stem, cfg, emit=None)
    train_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu0
    model = publish(result, work / f"{path.stem}.safetensors")
    driver = Audio2ExpDriver.load(model, REG)
    lips = driver.motion(held_audio, truth, w, len(held), fps)
    out = {"adapter": compose(truth, lips.delta, w, hold=lips.hold)}

    # visemes: the speaker's library from the first 60 %, the held-out audio as the dub
    own = align(train_audio, None, cache_dir=root / "align")
    lib = learn_library(expression[:n_tr], np.asarray(cache.validity)[:n_tr], own, fps,
                        cache.canonical, REG, default_library(cache.canonical, REG))
    dub_alignment = align(held_audio, None, cache_dir=root / "align")
    vis = VisemeDriver(lib).motion(dub_alignment, len(held), fps)
    out["visemes"] = compose(truth, vis.delta, w, hold=vis.hold)
    out["closed"] = compose(truth, np.zeros_like(truth), w, alpha=0.0)
    replay = expression[np.arange(len(held)) % n_tr] * w[None, :, None]
    out["replay"] = compose(truth, replay, w)
    row = {"clip": path.name, "frames_train": n_tr, "frames_heldout": len(held),
           "train_s": round(train_s, 1), "train_cpu_s": round(cpu_s, 1),
           "steps": result.step, "best_step": result.best_step,
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
    ap.add_argument("--clips", nargs="*", type=Path)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = need_data()
    clips = args.clips or sorted((data / "video").glob("*.mp4"))
    root = Path(os.environ.get("STUDIO_CACHE_DIR") or user_cache_dir())
    cfg = TrainConfig(steps=args.steps, device="cpu", log_every=10**9, checkpoint_every=10**9)
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
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
