"""Re-composition time after one edit, and memory per minute of project.

A 10-minute take at 25 fps (15000 frames × 478 points) is built from the sample portrait's
real canonical face with a real viseme trajectory tiled over the length; then one edit of
each kind is timed through DubTake's warm composer (what the studio calls per edit).

    python bench/edit_compose.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.dub import DubOptions, open_take  # noqa: E402
from core.motion.composer import Composer  # noqa: E402
from core.motion.emotion import EmotionClip, emotion_mask, emotion_offsets  # noqa: E402
from core.motion.words import StyledWord, WordStyle  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def timed(fn, repeat: int = 7) -> float:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        take = open_take(SAMPLES / "portrait.jpg", SAMPLES / "speech.wav",
                         transcript=SAMPLES / "speech.txt", cache_root=Path(tmp))
    fps = 25.0
    t_count = int(args.minutes * 60 * fps)
    reps = -(-t_count // take.frame_count)
    delta = np.tile(take.lips.delta, (reps, 1, 1))[:t_count]
    hold = np.tile(take.lips.hold, reps)[:t_count]
    loud = np.tile(take.loudness, reps)[:t_count]
    rng = np.random.default_rng(0)
    expression = (rng.standard_normal((t_count, delta.shape[1], 3)) * 1e-3).astype(np.float32)
    words = [StyledWord(s, s + 8, WordStyle()) for s in range(0, t_count - 10, 12)]
    print(f"take: {t_count} frames ({args.minutes:g} min at {fps:g} fps), "
          f"{delta.shape[1]} points, {len(words)} words")

    tracemalloc.start()
    composer = Composer(expression, take.lip_weight, take.rest, delta, hold, loud,
                        take.directions, movable=emotion_mask(take.regions),
                        limits=take.limits)
    composer.update(alpha=1.0, smoothing=0.5, words=(), ramp=1.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held = sum(a.nbytes for a in (composer.base_lips, composer.base_other, composer.delta,
                                  composer.edited_lips, composer.edited_other, composer.lips)
               if a is not None)
    print(f"points an edit can move: {len(composer.active)} of {delta.shape[1]}; lip motion "
          + ("filtered point by point" if composer.basis is None else
             f"in a {len(composer.basis)}-dimensional subspace (smoothing runs on its "
             f"coefficients)"))
    print(f"memory: composer holds {held / 1e6:.0f} MB "
          f"({held / 1e6 / args.minutes:.1f} MB per minute; plus the source expression "
          f"{expression.nbytes / 1e6 / args.minutes:.1f} MB/min, memory-mapped from the "
          f"keypoint cache in a project); peak while building {peak / 1e6:.0f} MB")

    state = {"k": 0}

    def word_edit():
        state["k"] += 1
        i = 100 + state["k"] % 50
        styled = list(words[:])
        styled[i] = StyledWord(styled[i].start, styled[i].end,
                               WordStyle(open=1.0 + (state["k"] % 5) / 2))
        composer.update(alpha=1.0, smoothing=0.5, words=styled, ramp=1.0,
                        emotion_changed=False)

    def alpha_edit():
        state["k"] += 1
        composer.update(alpha=1.0 + (state["k"] % 7) / 10, smoothing=0.5, words=(),
                        ramp=1.0, emotion_changed=False)

    times = np.arange(t_count) / fps
    clip_defs = {"happy": take.deformation("happy")}

    def emotion_edit():
        # what DubTake.update does when a clip is dragged: the term over its span only
        state["k"] += 1
        clip = EmotionClip("mouth", 10.0, 10.0 + 5 + state["k"] % 3, "happy")
        span = np.arange(int(9.9 * fps), int(18.1 * fps))
        emo = emotion_offsets([clip], clip_defs, take.regions, times[span])
        composer.update_emotion(slice(span[0], span[-1] + 1), emo)

    def smoothing_edit():
        state["k"] += 1
        composer.update(alpha=1.0, smoothing=0.5 + (state["k"] % 3) / 4, words=(), ramp=1.0,
                        emotion_changed=False)

    composer.update(alpha=1.0, smoothing=0.5, words=words, ramp=1.0)
    print(f"one word's open scale:   {timed(word_edit):7.2f} ms   (target ≤ 20 ms)")
    print(f"global α:                {timed(alpha_edit):7.2f} ms   (target ≤ 20 ms)")
    print(f"an emotion clip (5-8 s): {timed(emotion_edit):7.2f} ms")
    print(f"smoothing strength:      {timed(smoothing_edit):7.2f} ms   (target ≤ 20 ms; "
          f"re-filters every frame)")
    full = timed(lambda: take.compose(DubOptions(alpha=1.1)), 3)
    print(f"(the sample's own {take.frame_count}-frame take, full materialised compose: "
          f"{full:.2f} ms)")
    take.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
