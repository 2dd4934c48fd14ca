"""Reproduce the studio's learned lip model from ../shared/corpus (resources/lipsync/).

    python tools/train_lip_model.py                       # the shipped model (~15 min, 2 cores)
    python tools/train_lip_model.py --out /tmp/lips.safetensors --clips a.mp4,b.mp4,c.mp4 \
        --steps 100 --lags none --validate 1           # a short run on three clips

1. Prepare: every corpus clip through the studio's own analysis (cached in --cache, so a
   second run starts at once), into the shared lip space; a table says per clip its frames,
   face share, words aligned, its lag and whether it was used, and why not.
2. Each clip's lag: its tracked opening against a first model's prediction (or, with
   --lags ridge, a ridge regression from the sound fitted on the other speakers), taken
   relative to the corpus' median. Clips more than --keep frames out are dropped as out of
   sync as published; the rest train on their lips moved by their lag.
3. The final model on the lag-corrected clips, written atomically with its model card
   figures in the file's metadata. ``--validate N`` holds N speakers out and prints their
   validation loss before and after training (the shipped model uses every speaker;
   ``bench/lip_model_cv.py`` measures it by speaker).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--cache", default=None, help="analysis cache (default: the user cache)")
    ap.add_argument("--out", default=str(ROOT / "resources" / "lipsync" / "mediapipe.safetensors"))
    ap.add_argument("--clips", default=None, help="comma-separated clip files (default: all)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lags", choices=["ridge", "model", "none"], default="model",
                    help="how each clip's lag is estimated: a first model on every clip "
                         "(default, the shipped model's), a ridge regression fitted on the "
                         "other speakers, or not at all")
    ap.add_argument("--first-steps", type=int, default=600,
                    help="steps of the first model, with --lags model")
    ap.add_argument("--keep", type=int, default=4, help="largest lag (frames) kept")
    ap.add_argument("--validate", type=int, default=0, help="speakers held out for validation")
    ap.add_argument("--average", type=float, default=0.0,
                    help="last share of the final model's steps whose weights are averaged")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=2,
                    help="networks of the final model, trained from seeds seed, seed + 1000, "
                         "…; the studio averages their predictions")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if not 1 <= args.members <= 8:
        print(f"error: --members {args.members}: a model holds 1 to 8 members", file=sys.stderr)
        return 2


    from core.errors import StudioError
    from core.motion.audio2exp_model import MelConfig
    from core.paths import user_cache_dir
    from trainer import lipsync as L

    out = Path(args.out).resolve()
    if out.suffix != ".safetensors":
        print(f"error: {out}: the model must be a .safetensors file", file=sys.stderr)
        return 2
    started = time.perf_counter()
    cache = Path(args.cache) if args.cache else user_cache_dir()
    only = None if args.clips is None else [c.strip() for c in args.clips.split(",")]
    try:
        clips, reports, points = L.prepare_corpus(
            args.corpus, cache, only=only,
            progress=lambda n, k, t: print(f"  analysing {k + 1}/{t} {n}", flush=True))
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"prepared {len(clips)} clips in {time.perf_counter() - started:.0f} s")
    mel = MelConfig()
    val: list = []
    if args.validate:
        folds = L.speaker_folds(clips, max(2, len({c.speaker for c in clips})), args.seed)
        held = sorted(set(folds))[: args.validate]
        val = [c for c, f in zip(clips, folds, strict=True) if f in held]
        clips = [c for c, f in zip(clips, folds, strict=True) if f not in held]
    settings = L.TrainSettings(steps=args.steps, seed=args.seed, threads=args.threads,
                               average=args.average)
    lag_table: dict[str, tuple[int, bool]] = {}
    if args.lags != "none" and len({c.speaker for c in clips}) >= 2:
        if args.lags == "model":
            first = L.new_model(clips, points, mel)
            L.train(first, clips, L.TrainSettings(steps=args.first_steps, seed=args.seed,
                                                  threads=args.threads))
            lags = L.clip_lags(first, clips)
        else:
            lags = L.ridge_lags(clips, points, mel, folds=min(6, len({c.speaker
                                                                      for c in clips})))
        kept, table = L.set_lags(clips, lags, keep=args.keep)
        lag_table = {n: (lag, ok) for n, lag, ok in table}
        print(f"lags ({args.lags}): {len(kept)} of {len(clips)} clips within "
              f"±{args.keep} frames")
        clips = kept
    model = L.new_model(clips, points, mel)
    before = L.validation_loss(model, val) if val else None
    def log(step: int, e: dict) -> None:
        print(f"  step {step}: loss {e['loss']:.5f} corr {e['corr']:.3f} ({e['seconds']} s)",
              flush=True)

    print(f"member 1 of {args.members} (seed {args.seed})", flush=True)
    history = L.train(model, clips, settings, log=log)
    if args.members > 1:
        print(f"members 2 to {args.members} (seeds {args.seed} + 1000 · member)", flush=True)
        L.add_members(model, clips, settings, args.members, log=log)
    after = L.validation_loss(model, val) if val else None

    print(f"\n{'clip':<52} {'frames':>6} {'face':>5} {'words':>5} {'lag':>4}  used")
    for r in reports:
        lag, ok = lag_table.get(r.name, (None, r.used))
        used = "yes" if r.used and ok and r.name not in {c.name for c in val} else "no"
        why = r.reason or ("" if ok else "out of sync") or \
            ("validation" if r.name in {c.name for c in val} else "")
        print(f"{r.name:<52} {r.frames:>6} {r.face_share:>5.0%} {r.words:>5} "
              f"{'' if lag is None else lag:>4}  {used} {why}")
    if val:
        print(f"\nvalidation loss ({len(val)} clips of held-out speakers): "
              f"{before:.6f} before, {after:.6f} after")
    minutes = (time.perf_counter() - started) / 60
    extra = {
        "data": "../shared/corpus/corpus.json",
        "clips": [{"name": c.name, "speaker": c.speaker, "frames": c.frame_count,
                   "lag": c.lag} for c in clips],
        "dropped": [{"name": n, "lag": lag} for n, (lag, ok) in lag_table.items() if not ok],
        "steps": args.steps, "seed": args.seed, "lags": args.lags, "keep": args.keep,
        "average": args.average,
        "train_minutes": round(minutes, 1),
        "final": history[-1] if history else None,
        "validation": None if not val else {"before": before, "after": after},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out, extra)
    params = sum(p.numel() for net in model.nets for p in net.parameters())
    print(f"\nwrote {out} ({out.stat().st_size / 1e6:.2f} MB, {params} parameters) "
          f"in {minutes:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
