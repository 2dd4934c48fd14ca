"""The learned driver's speaker adaptation, judged on the corpus' held-out speakers.

The self re-dub of bench/dub_quality.py fits a speaker's adaptation on the first 60 % of
their clip and scores the last 40 %; its five clips are test speakers, so no recipe may be
chosen on them. This bench runs the same protocol on the corpus instead: leave-speakers-
out folds (as bench/lip_model_cv.py: the shipped recipe's lags and dropped clips, --steps
per fold), and on every held-out speaker's clip the adaptation is fitted on its first 60 %
(``fit_speaker``) and scored on the last 40 % (inner-lip opening correlation with the
tracked lips, as published), for each candidate pool of ``core.motion.lipsync``.

Each fold's model is kept in --models (trained once; a second run starts at once), both
as trained and with its weights averaged over the last --average share of the steps, so
the two are compared on the same folds (with and without the adaptation).
``--members 2 --channels 64`` against ``--channels 96`` (and ``--seed 1000``: members from
seeds 1000 and 2000) is how the shipped width was chosen.
    python bench/lip_adapt_cv.py [--folds 5] [--steps 800] [--average 0.3] [--members K]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from lip_model_cv import corpus_as_shipped

from core.keypoints.regions import load_regions
from core.motion import lipsync as M
from core.motion.audio2exp_model import MelConfig
from core.paths import user_cache_dir
from trainer import lipsync as L

REG = load_regions("mediapipe")
TRAIN_SHARE = 0.6
BEFORE = M.AdaptPool(style_shrinks=(1.0,), smooths=(0.0,), folds=(3,))  # up to 4aa649e
POOLS = {
    "before": BEFORE,
    "+ smoothing": replace(BEFORE, smooths=(0.0, 0.03, 0.06)),
    "+ style shrink": replace(BEFORE, style_shrinks=(0.3, 1.0, 3.0)),
    "+ folds 3,4,5": replace(BEFORE, folds=(3, 4, 5)),
    "+ smoothing, folds": replace(BEFORE, smooths=(0.0, 0.03, 0.06), folds=(3, 4, 5)),
    "all three": M.AdaptPool(smooths=(0.0, 0.03, 0.06), style_shrinks=(0.3, 1.0, 3.0),
                             folds=(3, 4, 5)),
}
if M.ADAPT_POOL not in POOLS.values():
    POOLS["shipped"] = M.ADAPT_POOL


def fold_models(clips, points, cfg, dropped, folds: int, steps: int, seed: int,
                share: float, where: Path, train_missing: bool = True, member: int = 0,
                only: set[int] | None = None) -> dict[tuple[int, str], M.LipModel]:
    """Per fold, the model trained on the other folds' speakers ("last" weights and the
    "average" of the last ``share`` of the steps), from ``where`` when already trained.
    ``member`` > 0: another member of an ensemble, the same folds trained from another seed
    (seed + 1000 · member); ``only``: these folds alone."""
    fold = L.speaker_folds(clips, folds, seed)
    out = {}
    tag = f"s{seed}" + (f"m{member}" if member else "") + (
        "" if cfg.channels == 64 else f"c{cfg.channels}")
    for f in range(folds):
        if only is not None and f not in only:
            continue
        paths = {k: where / f"fold{f}of{folds}-{steps}-{tag}-{k}{'' if k == 'last' else share}"
                ".safetensors" for k in ("last", "average")}
        if not all(p.is_file() for p in paths.values()):
            if not train_missing:
                continue
            train = [c for c, k in zip(clips, fold, strict=True)
                     if k != f and c.name not in dropped]
            model = L.new_model(train, points, MelConfig(), cfg)
            avg = L.WeightAverage(int(math.ceil(steps * (1 - share))))
            t = time.perf_counter()
            L.train(model, train,
                    L.TrainSettings(steps=steps, seed=seed + 1000 * member), on_step=avg)
            model.save(paths["last"])
            avg.apply(model.net)
            model.save(paths["average"])
            print(f"  fold {f} ({tag}): trained in {time.perf_counter() - t:.0f} s",
                  flush=True)
        for k, p in paths.items():
            out[f, k] = M.LipModel.load(p, REG)
    return out


def opening_of(model: M.LipModel):
    lm = REG.landmarks
    up, low = (int(np.searchsorted(model.points, lm[k]))
               for k in ("upper_lip_inner", "lower_lip_inner"))

    def opening(coef: np.ndarray) -> np.ndarray:
        lips = model.shapes(coef)
        return lips[:, low, 1] - lips[:, up, 1]
    return opening


def predictions(model: M.LipModel, c: L.LipClip, pool: M.AdaptPool | None
                ) -> tuple[np.ndarray, np.ndarray, M.SpeakerFit | None]:
    """(the model's coefficients, adapted ones: the same where nothing was fitted, the fit)
    on the whole clip, the adaptation fitted on its first 60 %."""
    coef, hidden = model.coefficients_and_hidden(c.feats, c.frame_count, c.fps, c.visemes)
    if pool is None:
        return coef, coef, None
    split = int(round(TRAIN_SHARE * c.frame_count))
    gate = M.speech_gate(c.feats, M.frame_positions(c.frame_count, c.fps, model.mel))
    fit = M.fit_speaker(coef[:split], hidden[:split], model.project(c.lips)[:split],
                        c.valid[:split], c.valid[:split] & (gate[:split] > 0.5),
                        opening_of(model), c.fps, pool)
    return coef, coef if fit is None else fit.apply(coef, hidden, c.fps), fit


def held_out_corr(model: M.LipModel, c: L.LipClip, coef: np.ndarray) -> float:
    """The opening correlation of gated ``coef`` with the tracked lips on the last 40 %."""
    gate = M.speech_gate(c.feats, M.frame_positions(c.frame_count, c.fps, model.mel))
    ok = c.valid & (np.arange(c.frame_count) >= int(round(TRAIN_SHARE * c.frame_count)))
    po = L.opening(model.shapes(coef * gate[:, None]), c.gap0, model.points)
    return M.pearson(po[ok], L.opening(c.lips, c.gap0, model.points)[ok])


def adapted(model: M.LipModel, c: L.LipClip, pool: M.AdaptPool | None
            ) -> tuple[float, float, M.SpeakerFit | None]:
    """(correlation without, with the adaptation) on the clip's last 40 %, and the fit."""
    coef, moved, fit = predictions(model, c, pool)
    return held_out_corr(model, c, coef), held_out_corr(model, c, moved), fit


def ensemble_rows(clips, fold, members: list[dict]) -> None:
    """Per held-out clip: one model against the mean of the members' predictions, without
    and with each member's own adaptation (the shipped pool)."""
    rows = []
    for c, f in zip(clips, fold, strict=True):
        ms = [m[f, "last"] for m in members if (f, "last") in m]
        if len(ms) < len(members):
            continue
        assert all(np.allclose(m.net.basis, ms[0].net.basis) for m in ms)
        preds = [predictions(m, c, M.ADAPT_POOL) for m in ms]
        row = []
        for k in range(1, len(ms) + 1):
            row.append(held_out_corr(ms[0], c, np.mean([p[0] for p in preds[:k]], axis=0)))
            row.append(held_out_corr(ms[0], c, np.mean([p[1] for p in preds[:k]], axis=0)))
        rows.append(row)
        print(f"{f} {c.name[:44]:<44} " + " ".join(f"{v:6.3f}" for v in row), flush=True)
    r = np.array(rows, float)
    print(f"\n{len(rows)} held-out clips, opening correlation on the last 40 % (mean), "
          "the members' predictions averaged:")
    for j in range(r.shape[1]):
        k, how = j // 2 + 1, ("no adaptation", "each member adapted (shipped pool)")[j % 2]
        print(f"  {k} member(s), {how:<36} {np.nanmean(r[:, j]):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--average", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=str(user_cache_dir() / "lip_adapt_cv"))
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--members", type=int, default=1,
                    help="> 1: also train that many members per fold (other seeds) and "
                         "score their ensemble against one model")
    ap.add_argument("--only-folds", default=None, help="comma-separated folds (default: all)")
    ap.add_argument("--channels", type=int, default=None,
                    help="the networks' width (default: the shipped model's)")
    ap.add_argument("--trained-only", action="store_true",
                    help="score only the folds whose models are already in --models")
    args = ap.parse_args()
    shipped = M.LipModel.load(M.shipped_model_path(), REG)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; {args.folds} "
          f"folds by speaker, {args.steps} steps each, average over the last {args.average}")
    clips, points, dropped = corpus_as_shipped(shipped)
    where = Path(args.models)
    where.mkdir(parents=True, exist_ok=True)
    only = None if args.only_folds is None else {int(f) for f in args.only_folds.split(",")}
    cfg = shipped.net.cfg if args.channels is None else replace(shipped.net.cfg,
                                                                 channels=args.channels)
    members = [fold_models(clips, points, cfg, dropped, args.folds, args.steps,
                           args.seed, args.average, where, not args.trained_only, j, only)
               for j in range(args.members)]
    if args.train_only:
        return
    fold = L.speaker_folds(clips, args.folds, args.seed)
    if args.members > 1:
        ensemble_rows(clips, fold, members)
        return
    models = members[0]
    pools = POOLS
    for kind in ("last", "average"):
        rows = []
        for c, f in zip(clips, fold, strict=True):
            if (f, kind) not in models:
                continue
            model = models[f, kind]
            row = [L.score(L.predict_clip(model, c), c, points).corr,
                   adapted(model, c, None)[0]]
            for pool in pools.values():
                row.append(adapted(model, c, pool)[1])
            rows.append(row)
            print(f"{kind:<8} {f} {c.name[:44]:<44} " + " ".join(f"{v:6.3f}" for v in row),
                  flush=True)
        r = np.array(rows, float)
        names = ["whole clip, no gate", "no adaptation", *pools]
        print(f"\n{kind} weights, {len(rows)} held-out clips: opening correlation on the "
              f"whole clip as bench/lip_model_cv.py scores it, then on the last 40 % (mean):")
        for j, n in enumerate(names):
            ok = np.isfinite(r[:, j])
            print(f"  {n:<24} {np.nanmean(r[:, j]):.3f}  (defined on {int(ok.sum())})")
        print()


if __name__ == "__main__":
    main()
