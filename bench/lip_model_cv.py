"""Leave-speakers-out cross-validation of the learned lip model on ../shared/corpus.

Speakers are split into --folds groups; each fold trains the shipped recipe (the lags and
dropped clips recorded in the shipped model's file, the same settings) on the other groups
and scores the held-out speakers' clips as published (no lag correction), beside the
viseme driver (default library, the clip's own recognised phones) on the same frames:
  corr   Pearson correlation of the inner-lip opening with the tracked truth
  dist   mean 2-D distance of the lip contour points, % of the inter-ocular distance
  lag    the lag of the best cross-correlation of the predicted opening with the truth
         (positive: the truth is late)
Then the means by language (the manifest's guess: German, French and Chinese clips beside
the English ones), with the learned model on the sound alone too (no phones, what a
language the recogniser does not know would give).
    python bench/lip_model_cv.py [--folds 6] [--steps 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _data import need_data

from core.keypoints.regions import load_regions
from core.motion.audio2exp_model import MelConfig
from core.motion.lipsync import LipModel, shipped_model_path
from core.paths import user_cache_dir
from trainer import lipsync as L


def corpus_as_shipped(shipped: LipModel) -> tuple[list, object, set[str]]:
    """The corpus' clips prepared as the shipped model was trained on them: its lip points,
    each clip moved by the lag it recorded; and the names of the clips it dropped."""
    meta = shipped.meta
    lags = {c["name"]: int(c["lag"]) for c in meta.get("clips", [])}
    dropped = {c["name"] for c in meta.get("dropped", [])}
    corpus = need_data().parent / "corpus"
    clips, _, points = L.prepare_corpus(corpus, user_cache_dir(), points=shipped.points)
    for c in clips:
        c.lag = lags.get(c.name, 0)
    return clips, points, dropped


def corpus_languages() -> dict[str, str]:
    """Clip name → the corpus manifest's language guess."""
    manifest = need_data().parent / "corpus" / "corpus.json"
    return {Path(c["file"]).name: c.get("lang", "?")
            for c in json.loads(manifest.read_text())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=None, help="default: the shipped model's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=None,
                    help="networks per fold, trained from seeds seed, seed + 1000, … and "
                         "averaged (default: the shipped model's)")
    args = ap.parse_args()
    shipped = LipModel.load(shipped_model_path(), load_regions("mediapipe"))
    steps = args.steps or int(shipped.meta.get("steps", 1500))
    members = args.members or len(shipped.nets)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; {args.folds} "
          f"folds by speaker, {members} member(s) of {steps} steps each; lags from "
          f"{shipped_model_path().name}")
    clips, points, dropped = corpus_as_shipped(shipped)
    fold = L.speaker_folds(clips, args.folds, args.seed)
    rows = []
    language: list[str] = []
    languages = corpus_languages()
    print(f"{'fold':>4} {'clip':<48} {'frames':>6} {'learned corr':>12} {'visemes corr':>12} "
          f"{'learned dist':>12} {'visemes dist':>12} {'lag l/v':>7}")
    started = time.perf_counter()
    for f in range(args.folds):
        train = [c for c, k in zip(clips, fold, strict=True) if k != f and c.name not in dropped]
        test = [c for c, k in zip(clips, fold, strict=True) if k == f]
        model = L.new_model(train, points, MelConfig(), shipped.net.cfg)
        L.train(model, train, L.TrainSettings(steps=steps, seed=args.seed))
        L.add_members(model, train, L.TrainSettings(steps=steps, seed=args.seed), members)
        fold_rows = []
        for c in test:
            a = L.score(L.predict_clip(model, c), c, points)
            v = L.score(c.visemes, c, points)
            heard = L.score(L.predict_clip(model, c, phones=False), c, points)
            fold_rows.append((a.corr, v.corr, a.dist, v.dist, a.lag, v.lag, c.frame_count,
                              heard.corr))
            language.append(languages.get(c.name, "?"))
            print(f"{f:>4} {c.name[:48]:<48} {c.frame_count:>6} {a.corr:>12.3f} "
                  f"{v.corr:>12.3f} {a.dist:>12.2f} {v.dist:>12.2f} {a.lag:>+3d}/{v.lag:<+3d}",
                  flush=True)
        r = np.array(fold_rows, float)
        print(f"{f:>4} {'FOLD MEAN (' + str(len(test)) + ' clips)':<48} {int(r[:, 6].sum()):>6} "
              f"{np.nanmean(r[:, 0]):>12.3f} {np.nanmean(r[:, 1]):>12.3f} "
              f"{np.nanmean(r[:, 2]):>12.2f} {np.nanmean(r[:, 3]):>12.2f}", flush=True)
        rows.extend(fold_rows)
    r = np.array(rows, float)
    w = r[:, 6]
    ok = np.isfinite(r[:, 0]) & np.isfinite(r[:, 1])
    print(f"\nall {len(rows)} clips: learned corr {np.nanmean(r[:, 0]):.3f} (frame-weighted "
          f"{np.average(r[ok, 0], weights=w[ok]):.3f}), visemes {np.nanmean(r[:, 1]):.3f} "
          f"({np.average(r[ok, 1], weights=w[ok]):.3f}); learned better on "
          f"{int((r[ok, 0] > r[ok, 1]).sum())} of {int(ok.sum())}; dist {np.mean(r[:, 2]):.2f} "
          f"vs {np.mean(r[:, 3]):.2f} % IOD; median lag learned {np.median(r[:, 4]):+.0f}, "
          f"visemes {np.median(r[:, 5]):+.0f}; {time.perf_counter() - started:.0f} s")
    print("by language (corpus.json's guess), mean opening correlation of held-out speakers: "
          "learned / learned on the sound alone (no phones) / visemes")
    for lang in sorted(set(language), key=lambda g: (g != "en", g)):
        sel = np.array([g == lang for g in language])
        print(f"  {lang}: {int(sel.sum())} clip(s), {np.nanmean(r[sel, 0]):.3f} / "
              f"{np.nanmean(r[sel, 7]):.3f} / {np.nanmean(r[sel, 1]):.3f}")


if __name__ == "__main__":
    main()
