"""Choose the adapter's training settings without looking at the held-out part.

For each clip of ../shared/data/video, only its first 60 % (what bench/train_quality.py
trains on) is used: the trainer's blocked K-fold cross-validation runs on it for each
setting given, without early stopping, and the cross-validated loss (each fold's net on its
own held-out block, pooled) is printed every ``eval_every`` steps relative to step 0, the
viseme driver. A setting is worth having where the mean curve dips below 1.000; the
trainer's early stopping then picks the step per run. The last 40 % of each clip is never
read here, so choosing settings by these curves leaves the held-out figures honest.

    python bench/train_select.py '[{}, {"lr": 1e-3}, {"hidden": 32, "channels": 16}]'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _data import need_data

from core.align import align
from core.media import load_audio
from core.motion.audio2exp_model import MelConfig
from core.paths import user_cache_dir
from trainer.data import ClipFeatures, clip_features, fold_corpora
from trainer.loop import TrainConfig, train
from trainer.losses import LossWeights

TRAIN_SHARE = 0.6


def training_part(path: Path, root: Path) -> ClipFeatures:
    """The first 60 % of a clip, its audio recognised alone (as the quality bench does)."""
    feats = clip_features(path, root)
    n_tr = int(TRAIN_SHARE * feats.frame_count)
    audio = load_audio(path, 16000)
    cut = int(round(n_tr / feats.fps * audio.sample_rate))
    return feats.head(n_tr, align(audio.samples[:cut], None, cache_dir=root / "align"))


def curve(part: ClipFeatures, setting: dict, work: Path) -> list[float]:
    """The cross-validated loss at step 0, eval_every, … for one setting on one clip."""
    kw = dict(setting)
    losses = LossWeights(**kw.pop("losses", {}))
    cfg = TrainConfig(**{"device": "cpu", "log_every": 10**9, "checkpoint_every": 10**9,
                         "steps": 300, **kw, "patience": 10**9}, losses=losses)
    vals: list[float] = []

    def keep(r: dict) -> None:
        if r.get("event") == "start":
            vals.append(float(r["val"]))
        elif "event" not in r and r.get("val") is not None:
            vals.append(float(r["val"]))

    cfg.log_every = cfg.eval_every  # every evaluation reaches the progress line
    folds = fold_corpora([part], part.points, MelConfig(), cfg.folds)
    train(folds, work, cfg, emit=keep)
    return vals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("settings", help="a JSON list of TrainConfig overrides, e.g. '[{}]'")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clips", nargs="*", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = need_data()
    clips = args.clips or sorted((data / "video").glob("*.mp4"))
    root = Path(os.environ.get("STUDIO_CACHE_DIR") or user_cache_dir())
    parts = {c.stem: training_part(c, root) for c in clips}
    for setting in json.loads(args.settings):
        started = time.perf_counter()
        rows = {}
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, part) in enumerate(parts.items()):
                vals = np.asarray(curve(part, setting, Path(tmp) / str(i)))
                rows[name] = vals / vals[0]
        n = min(len(v) for v in rows.values())
        every = int(setting.get("eval_every", TrainConfig.eval_every))
        print(f"{json.dumps(setting)}  ({time.perf_counter() - started:.0f} s)")
        print(f"  {'step':22s}" + "".join(f"{every * i:7d}" for i in range(n)))
        for name, rel in rows.items():
            print(f"  {name[:22]:22s}" + "".join(f"{x:7.3f}" for x in rel[:n]))
        mean = np.mean([rel[:n] for rel in rows.values()], axis=0)
        best = int(np.argmin(mean))
        print(f"  {'mean':22s}" + "".join(f"{x:7.3f}" for x in mean)
              + f"   best {mean[best]:.3f} at step {every * best}"
              + ("" if math.isfinite(mean[best]) else " (no validation)"), flush=True)


if __name__ == "__main__":
    main()
