"""Lip-sync quality of the dub's drivers, measured by a self re-dub of every shared clip.

For each clip in ../shared/data/video: track it, align its own audio by recognition, learn
the viseme library from the first 60 % of the frames only (phones inside that span; the
shipped default library fills the classes seen too rarely), then re-dub the last 40 % from
its own audio and compare with what the speaker's lips really did there.

The held-out segment's phones come from re-aligning the cut audio on its own ("visemes",
the honest case: nothing from the training span leaks in). The row "visemes, clip phones"
takes instead the phones of the whole-clip alignment that overlap the segment (times kept on
the clip's timeline, i.e. shifted by the segment's start), which are what a longer dub would
have had around a cut.

Each prediction is E' = S(E_t) + α·ΔE_t (α = 1, the tracked expression of the held-out
frames with its lips silenced), recomposed with the tracked pose; the truth is the tracked
K_t. Figures per clip:
  dist   mean 2-D distance of the lip points (lips_outer + lips_inner) to the truth, in % of
         the inter-ocular distance (outer eye corners 33 and 263)
  corr   Pearson correlation of the inner-lip opening (13-14, canonical units) with truth
  off    audio-visual offset in frames: the lag (±8) of the best cross-correlation between
         the opening and the audio RMS envelope, minus the same lag for the tracked opening;
         positive = the predicted lips are late. Printed beside it: "lag p/t", the two lags
         (prediction / tracked truth), and "→truth", the lag of the best cross-correlation
         of the predicted opening with the tracked one (positive = late), a direct measure
         that does not depend on how well the tracked opening follows the loudness
  ssim   SSIM of the rendered face outside the mouth (face-oval hull minus the lip box
         dilated by 20 % of the inter-ocular distance) against the source frames; warp
         renderer with the shaded cavity (the mouth itself is excluded, so the fill does
         not count)
Rows: the untouched source (ceiling: prediction = truth, rendered through the warp with
K'_t = K_t), the source's own lips from the training span replayed over the held-out frames
(moving, but not following this audio), the closed mouth (α = 0), the viseme dub and the
learned lip model (resources/lipsync; no clip here was in its training): on the sound alone,
with the segment's phones too, and with the speaker's style and timing fitted on the
training span (what a dub of this video gets). "p/b/m open" is the predicted inner-lip gap
at the centre of the segment's p/b/m, in % of the mouth width. Three oracles bound the
lip distance from below, each built from the held-out truth itself: a still mouth at its
mean, its lips rebuilt from its own inner-lip opening by the best linear map (a driver
whose opening were exact could do no better with one map), and its first principal motion.

``--sweep`` also varies the driver's anticipation (0, 30, 60, 90 ms; the library is learned
at the shipped lead) and the composition's smoothing (0, 0.5, 1 frame), landmarks only.
    python bench/dub_quality.py [--sweep] [--no-render] [--clips a,b]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
from _data import need_data

from core.align import Alignment, align
from core.hashing import file_hash
from core.keypoints.analyze import analyze_keypoints
from core.keypoints.decompose import mouth_opening, recompose
from core.keypoints.regions import load_regions
from core.media import load_audio, open_media
from core.media.audio import rms_envelope
from core.motion import library as library_module
from core.motion.coarticulation import ANTICIPATION
from core.motion.compose import compose
from core.motion.driver import VisemeDriver
from core.motion.library import VisemeLibrary, default_library, learn_library
from core.motion.mouth import closed_rest, lower_face_weight, mouth_width
from core.motion.visemes import CLOSURES, viseme_of
from core.paths import user_cache_dir
from core.render.mouth import MouthFill
from core.render.warp import WarpRenderer
from core.tracking.registry import get_tracker

CLIPS = ("child", "katie_hill", "man_map", "woman_glasses", "young_man_outdoors")
TRAIN_SHARE = 0.6
MAX_LAG = 8
SMOOTHING = 0.5  # DubOptions' default
TARGET_CORR = 0.7
TARGET_OFFSET = 1
TARGET_LEARNED_CORR = 0.55  # issue 13's targets for the learned lip model
TARGET_DIST = 2.5
REG = load_regions("mediapipe")
LIPS = np.concatenate([REG["lips_outer"], REG["lips_inner"]])
EYES = (33, 263)


@dataclass
class Clip:
    name: str
    source: object
    cache: object
    fps: float
    split: int
    frames: np.ndarray  # held-out frame indices
    expression: np.ndarray  # E_t of the held-out frames
    truth: np.ndarray  # K_t of the held-out frames (pixels)
    valid: np.ndarray  # held-out frames tracked (not interpolated)
    envelope: np.ndarray  # audio RMS per held-out frame
    library: object
    coverage: dict
    seg_alignment: Alignment  # the cut audio re-aligned, on the segment's timeline
    clip_alignment: Alignment  # the whole clip's alignment, on the clip's timeline
    train_alignment: Alignment  # its phones inside the training span
    lip_weight: np.ndarray
    rest: np.ndarray
    seg_audio: np.ndarray  # the held-out segment's 16 kHz samples
    train_audio: np.ndarray  # the training span's


def phones_within(al: Alignment, lo: float, hi: float) -> Alignment:
    """The alignment's phones lying wholly inside [lo, hi] (seconds)."""
    phones = [p for p in al.phones if p.start >= lo - 1e-6 and p.end <= hi + 1e-6]
    words = [w for w in al.words if w.start >= lo - 1e-6 and w.end <= hi + 1e-6]
    return Alignment(words, phones, al.source, al.duration, list(al.notes), al.words_reliable)


def prepare(name: str, data, root) -> Clip:
    path = data / "video" / f"{name}.mp4"
    source = open_media(path)
    kp = analyze_keypoints(source, media_hash=file_hash(path), root=root,
                           tracker=get_tracker("mediapipe"))
    cache = kp.cache
    fps = float(cache.fps)
    count = cache.frame_count
    split = int(round(TRAIN_SHARE * count))
    speech = load_audio(path, 16000)
    whole = align(speech.samples, None, cache_dir=root / "align")
    canonical = cache.canonical
    default = default_library(canonical, REG)
    train = phones_within(whole, 0.0, split / fps)
    validity = np.asarray(cache.validity)
    library = learn_library(cache.expression(slice(0, split)), validity[:split], train, fps,
                            canonical, REG, default)
    cut = int(round(split / fps * speech.sample_rate))
    seg = align(speech.samples[cut:], None, cache_dir=root / "align")
    frames = np.arange(split, count)
    envelope = rms_envelope(speech, fps, window_s=2.0 / fps, n_frames=count)[split:]
    return Clip(
        name, source, cache, fps, split, frames, cache.expression(frames),
        cache.points(frames), validity[split:] == 1, envelope, library, library.coverage(),
        seg, whole, train, lower_face_weight(canonical, REG), closed_rest(canonical, REG),
        speech.samples[cut:], speech.samples[:cut],
    )


# -- predictions: E' for the held-out frames -------------------------------------------------


def viseme_edit(c: Clip, *, clip_phones: bool = False, anticipation: float = ANTICIPATION,
                smoothing: float = SMOOTHING, alpha: float = 1.0) -> np.ndarray:
    driver = VisemeDriver(c.library, anticipation=anticipation)
    n = len(c.frames)
    if clip_phones:
        # phones overlapping the segment, on the clip's timeline; the driver runs over the
        # whole clip and the segment's frames are kept (= shifting the phones by its start)
        t0 = c.split / c.fps
        al = c.clip_alignment
        near = [p for p in al.phones if p.end > t0]
        al = Alignment(al.words, near, al.source, al.duration)
        lips = driver.motion(al, c.cache.frame_count, c.fps)
        delta, hold = lips.delta[c.split:], lips.hold[c.split:]
    else:
        lips = driver.motion(c.seg_alignment, n, c.fps)
        delta, hold = lips.delta, lips.hold
    return compose(c.expression, delta, c.lip_weight, alpha=alpha, smoothing=smoothing,
                   hold=hold, rest=c.rest)


LIP_MODEL: list[str] = []  # --lip-model: another model file than the shipped one
POOL: list = []  # --pool before: the speaker's choices before the pool was widened


@functools.cache
def _lip_model():
    from core.motion.lipsync import LipModel, shipped_model_path

    return LipModel.load(LIP_MODEL[0] if LIP_MODEL else shipped_model_path(), REG)


def learned_edit(c: Clip, *, phones: bool = True, style: bool = False,
                 smoothing: float = SMOOTHING) -> np.ndarray:
    """The learned lip driver on the held-out segment's sound (and its re-aligned phones
    unless ``phones`` is False); ``style``: fitted on the training span's own footage."""
    from core.motion.lipsync import LearnedDriver

    driver = LearnedDriver(_lip_model())
    if POOL:
        driver.pool = POOL[0]
    if style:
        driver.adapt(c.train_audio, c.cache.expression(slice(0, c.split)),
                     np.asarray(c.cache.validity)[:c.split], c.fps, c.cache.canonical, REG,
                     alignment=c.train_alignment if phones else None,
                     library=c.library if phones else None)
    lips = driver.motion(c.seg_audio, len(c.frames), c.fps, c.cache.canonical, REG,
                         alignment=c.seg_alignment if phones else None,
                         library=c.library if phones else None)
    return compose(c.expression, lips.delta, c.lip_weight, alpha=1.0, smoothing=smoothing,
                   hold=lips.hold, rest=c.rest)


def replay_edit(c: Clip) -> np.ndarray:
    """The training span's own lips, the frames just before the cut, played again."""
    n = len(c.frames)
    src = np.clip(c.frames - n, 0, c.split - 1)
    lips = c.cache.expression(src) * c.lip_weight[None, :, None]
    return compose(c.expression, lips, c.lip_weight, alpha=1.0, smoothing=0.0, rest=c.rest)


def closed_edit(c: Clip) -> np.ndarray:
    zero = np.zeros_like(c.expression)
    return compose(c.expression, zero, c.lip_weight, alpha=0.0, smoothing=0.0, rest=c.rest)


# -- figures ---------------------------------------------------------------------------------


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.ptp(a) < 1e-6 or np.ptp(b) < 1e-6:  # a constant signal (a closed mouth)
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def best_lag(opening: np.ndarray, envelope: np.ndarray, max_lag: int = MAX_LAG) -> int | None:
    """k maximising corr(opening[t], envelope[t - k]); k > 0: the opening lags the audio."""
    best, arg = -np.inf, None
    n = len(opening)
    for k in range(-max_lag, max_lag + 1):
        lo, hi = max(0, k), min(n, n + k)
        if hi - lo < 8:
            continue
        r = pearson(opening[lo:hi], envelope[lo - k:hi - k])
        if np.isfinite(r) and r > best:
            best, arg = r, k
    return arg


def _pair(pred: np.ndarray, truth: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """pred[t] beside truth[t - k]: k > 0 compares the prediction with earlier truth."""
    n = len(pred)
    lo, hi = max(0, k), min(n, n + k)
    return pred[lo:hi], truth[lo - k:hi - k]


def pooled_lag(rows: list[dict]) -> int | None:
    """The lag of the best frame-weighted mean correlation over all clips: one timing
    figure for a driver that short held-out segments cannot give one by one."""
    ks = range(-MAX_LAG, MAX_LAG + 1)
    score = {k: np.average([r["lag_curve"][k] for r in rows],
                           weights=[r["frames"] for r in rows])
             for k in ks if all(np.isfinite(r["lag_curve"][k]) for r in rows)}
    return max(score, key=score.get) if score else None


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM per pixel of two grey images (Gaussian window σ = 1.5, 11 × 11)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))


def outside_mouth(truth: np.ndarray, pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(truth[REG["face_oval"], :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    iod = np.linalg.norm(truth[EYES[0], :2] - truth[EYES[1], :2])
    lips = np.concatenate([truth[REG["lips_outer"], :2], pred[REG["lips_outer"], :2]])
    (x0, y0), (x1, y1) = lips.min(0) - 0.2 * iod, lips.max(0) + 0.2 * iod
    mask[max(0, int(y0)):int(np.ceil(y1)) + 1, max(0, int(x0)):int(np.ceil(x1)) + 1] = 0
    return mask.astype(bool)


def figures(c: Clip, edited: np.ndarray, render: bool) -> dict[str, float | None]:
    cache = c.cache
    idx = c.frames
    pred = recompose(cache.canonical, edited, np.asarray(cache.rotation[idx]),
                     np.asarray(cache.scale[idx]), np.asarray(cache.translation[idx]))
    ok = c.valid
    iod = np.linalg.norm(c.truth[:, EYES[0], :2] - c.truth[:, EYES[1], :2], axis=-1)
    d = np.linalg.norm(pred[:, LIPS, :2] - c.truth[:, LIPS, :2], axis=-1).mean(axis=1)
    dist = float((d / iod)[ok].mean() * 100)
    k_c = cache.canonical[None]
    op_pred = mouth_opening(k_c + edited, REG)
    op_true = mouth_opening(k_c + c.expression, REG)
    corr = pearson(op_pred[ok], op_true[ok])
    curve = {k: pearson(*_pair(op_pred[ok], op_true[ok], k)) for k in range(-MAX_LAG, MAX_LAG + 1)}
    lag_p, lag_t = best_lag(op_pred, c.envelope), best_lag(op_true, c.envelope)
    offset = None if lag_p is None or lag_t is None else lag_p - lag_t
    to_truth = best_lag(op_pred[ok], op_true[ok])
    mw = mouth_width(cache.canonical, REG)
    pbm = [int((p.start + p.end) / 2 * c.fps) for p in c.seg_alignment.phones
           if viseme_of(p.label) in CLOSURES]
    pbm = [f for f in pbm if 0 <= f < len(ok) and ok[f]]
    closure = None if not pbm else float(np.mean(op_pred[pbm]) / mw * 100)
    ssim = None
    if render:
        renderer = WarpRenderer(REG)
        scores = []
        for (i, frame), j in zip(c.source.frames(int(idx[0]), int(idx[-1]) + 1),
                                 range(len(idx)), strict=True):
            assert i == idx[j]
            if not ok[j]:
                continue
            out = renderer.render(frame, c.truth[j], pred[j], mouth=MouthFill())
            mask = outside_mouth(c.truth[j], pred[j], frame.shape[:2])
            grey = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (frame, out)]
            scores.append(float(ssim_map(*grey)[mask].mean()))
        ssim = float(np.mean(scores))
    return {"dist": dist, "corr": None if not np.isfinite(corr) else corr,
            "offset": offset, "lag_pred_env": lag_p, "lag_true_env": lag_t,
            "lag_to_truth": to_truth, "ssim": ssim, "pbm_open": closure,
            "lag_curve": curve, "frames": int(ok.sum())}


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def mean_of(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return float(np.mean(vals)) if vals else None


def mean_abs_offset(rows: list[dict]) -> float | None:
    vals = [abs(r["offset"]) for r in rows if r["offset"] is not None]
    return float(np.mean(vals)) if vals else None


METHODS = ("source (ceiling)", "replay train lips", "closed (α=0)", "train mean mouth",
           "held-out mean (oracle)", "true opening (oracle)", "top motion (oracle)", "visemes",
           "visemes, clip phones", "learned, sound only", "learned", "learned + style")


def mean_mouth_edit(c: Clip, frames: np.ndarray) -> np.ndarray:
    """A still mouth at the mean lip shape of ``frames``: what the lip distance gives a
    prediction that knows only where the mouth sits on average (no motion at all)."""
    lips = c.cache.expression(frames) * c.lip_weight[None, :, None]
    still = np.broadcast_to(lips.mean(axis=0), c.expression.shape).copy()
    return compose(c.expression, still, c.lip_weight, alpha=1.0, smoothing=0.0, rest=c.rest)


def oracle_edit(c: Clip, how: str) -> np.ndarray:
    """The held-out lips rebuilt from one signal of the held-out truth itself, by a linear
    map fitted on those same frames: "opening", the tracked inner-lip opening (what a
    driver that got the opening exactly right could at best give, whatever its map); "top",
    the lips' first principal motion. Floors for the lip distance, not drivers."""
    w = c.lip_weight
    lips = (c.expression * w[None, :, None]).reshape(len(c.frames), -1)
    ok = c.valid
    mean = lips[ok].mean(axis=0)
    if how == "opening":
        x = mouth_opening(c.cache.canonical[None] + c.expression, REG)[:, None]
        x = x - x[ok].mean(axis=0)
        fit = np.linalg.lstsq(x[ok], lips[ok] - mean, rcond=None)[0]
        rebuilt = mean + x @ fit
    else:
        _, _, vt = np.linalg.svd(lips[ok] - mean, full_matrices=False)
        rebuilt = mean + ((lips - mean) @ vt[:1].T) @ vt[:1]
    rebuilt = rebuilt.reshape(c.expression.shape).astype(np.float32)
    return compose(c.expression, rebuilt, w, alpha=1.0, smoothing=0.0, rest=c.rest)


def run(clips: list[Clip], render: bool) -> dict[str, dict[str, dict]]:
    table: dict[str, dict[str, dict]] = {m: {} for m in METHODS}
    for c in clips:
        edits = {
            "source (ceiling)": c.expression,
            "replay train lips": replay_edit(c),
            "closed (α=0)": closed_edit(c),
            "train mean mouth": mean_mouth_edit(c, np.arange(c.split)),
            "held-out mean (oracle)": mean_mouth_edit(c, c.frames),
            "true opening (oracle)": oracle_edit(c, "opening"),
            "top motion (oracle)": oracle_edit(c, "top"),
            "visemes": viseme_edit(c),
            "visemes, clip phones": viseme_edit(c, clip_phones=True),
            "learned, sound only": learned_edit(c, phones=False),
            "learned": learned_edit(c),
            "learned + style": learned_edit(c, style=True),
        }
        for m, e in edits.items():
            table[m][c.name] = figures(c, e, render and m in ("source (ceiling)",
                                                              "replay train lips",
                                                              "closed (α=0)", "visemes",
                                                              "learned"))
    return table


def print_table(table: dict[str, dict[str, dict]], names: list[str]) -> None:
    print(f"{'method':<22} {'clip':<19} {'dist %IOD':>9} {'corr':>6} {'off fr':>6} {'ssim':>6}"
          f" {'lag p/t':>7} {'→truth':>6} {'p/b/m open %mw':>14}")
    for m, per in table.items():
        for n in names:
            r = per[n]
            print(f"{m:<22} {n:<19} {r['dist']:9.2f} {fmt(r['corr'], '6.3f'):>6} "
                  f"{fmt(r['offset'], '+6d'):>6} {fmt(r['ssim'], '6.4f'):>6} "
                  f"{fmt(r['lag_pred_env'], '+d'):>3}/{fmt(r['lag_true_env'], '+d'):<3} "
                  f"{fmt(r['lag_to_truth'], '+6d'):>6} {fmt(r['pbm_open'], '14.1f'):>14}")
        rows = list(per.values())
        corr, off, ssim = (mean_of(rows, k) for k in ("corr", "offset", "ssim"))
        print(f"{m:<22} {'MEAN':<19} {mean_of(rows, 'dist'):9.2f} {fmt(corr, '6.3f'):>6} "
              f"{fmt(off, '+6.2f'):>6} {fmt(ssim, '6.4f'):>6} {'':7} "
              f"{fmt(mean_of(rows, 'lag_to_truth'), '+6.2f'):>6} "
              f"{fmt(mean_of(rows, 'pbm_open'), '14.1f'):>14}   "
              f"|off| {fmt(mean_abs_offset(rows), '.2f')}")
        print()


def learn_at(c: Clip, lead: float) -> VisemeLibrary:
    """The clip's training library with its examples sampled ``lead`` s before each phone's
    centre (core samples at ANTICIPATION and takes no argument: patched here, bench only)."""
    original = library_module.phone_examples
    library_module.phone_examples = functools.partial(original, lead=lead)
    try:
        default = default_library(c.cache.canonical, REG)
        return learn_library(c.cache.expression(slice(0, c.split)),
                             np.asarray(c.cache.validity)[:c.split], c.train_alignment, c.fps,
                             c.cache.canonical, REG, default)
    finally:
        library_module.phone_examples = original


def sweep_row(clips: list[Clip], a: float, s: float, lead: float | None) -> dict:
    rows = []
    for c in clips:
        if lead is not None:
            c = replace(c, library=learn_at(c, lead))
        rows.append(figures(c, viseme_edit(c, anticipation=a, smoothing=s), False))
    r = {"anticipation": a, "smoothing": s, "library_lead": lead, "dist": mean_of(rows, "dist"),
         "corr": mean_of(rows, "corr"), "offset": mean_of(rows, "offset"),
         "abs_offset": mean_abs_offset(rows), "offsets": [x["offset"] for x in rows],
         "lag_to_truth": mean_of(rows, "lag_to_truth"),
         "lags_to_truth": [x["lag_to_truth"] for x in rows]}
    print(f"{a:9.2f} {s:6.1f} {'shipped' if lead is None else format(lead, '.2f'):>7} "
          f"{r['dist']:9.2f} {fmt(r['corr'], '6.3f')} {fmt(r['offset'], '+6.2f')} "
          f"{fmt(r['abs_offset'], '6.2f')} {fmt(r['lag_to_truth'], '+6.2f')}   "
          f"{r['offsets']}  {r['lags_to_truth']}")
    return r


def sweep(clips: list[Clip]) -> dict:
    print("sweep (visemes on the re-aligned segment), mean over clips; 'lead' is where the "
          f"library samples its examples (shipped: {ANTICIPATION:.2f} s before the phone):")
    print(f"{'anticip s':>9} {'smooth':>6} {'lead':>7} {'dist %IOD':>9} {'corr':>6} {'off':>6} "
          f"{'|off|':>6} {'→truth':>6}   offsets per clip  lags to truth per clip")
    results = []
    for a in (0.0, 0.03, 0.06, 0.09):
        for s in (0.0, 0.5, 1.0):
            results.append(sweep_row(clips, a, s, None))
    print("library learned at the same lead as the driver's anticipation:")
    tied = [sweep_row(clips, a, SMOOTHING, a) for a in (0.0, 0.03, 0.06, 0.09)]
    best_corr = max(results, key=lambda r: r["corr"] or -1)
    best_off = min(results, key=lambda r: (r["abs_offset"], -(r["corr"] or -1)))
    best_dist = min(results, key=lambda r: r["dist"])
    for label, b in (("correlation", best_corr), ("|offset|", best_off), ("distance", best_dist)):
        print(f"best by {label}: anticipation {b['anticipation']:.2f} s, smoothing "
              f"{b['smoothing']:.1f} (corr {b['corr']:.3f}, |off| {b['abs_offset']:.2f}, "
              f"dist {b['dist']:.2f})")
    return {"grid": results, "tied_lead": tied,
            "best_corr": {k: best_corr[k] for k in ("anticipation", "smoothing")},
            "best_offset": {k: best_off[k] for k in ("anticipation", "smoothing")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sweep", action="store_true", help="vary anticipation and smoothing")
    ap.add_argument("--no-render", action="store_true", help="skip the SSIM (no rendering)")
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--lip-model", help="the learned driver's model file (default: shipped)")
    ap.add_argument("--pool", choices=["shipped", "before"], default="shipped",
                    help="what a speaker's footage chooses their adaptation from: the "
                         "shipped pool, or the one before it was widened (style map and "
                         "readout only, 3 folds; a reproduction check, never a choice)")
    args = ap.parse_args()
    if args.lip_model:
        LIP_MODEL.append(args.lip_model)
    if args.pool == "before":
        from core.motion.lipsync import AdaptPool

        POOL.append(AdaptPool(style_shrinks=(1.0,), smooths=(0.0,), folds=(3,)))
    data = need_data()
    root = user_cache_dir()
    started = time.perf_counter()
    names = [n for n in args.clips.split(",") if n]
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, cache: {root}")
    clips = [prepare(n, data, root) for n in names]
    for c in clips:
        cov = c.coverage
        print(f"{c.name}: {c.cache.frame_count} frames at {c.fps:g} fps, train 0-{c.split - 1}, "
              f"held out {len(c.frames)} ({int(c.valid.sum())} tracked); "
              f"library {len(cov['learned'])}/{len(cov['learned']) + len(cov['default'])} "
              f"learned {cov['learned']}; segment phones "
              f"{sum(p.label != 'SIL' for p in c.seg_alignment.phones)}, words "
              f"'{' '.join(w.text for w in c.seg_alignment.words)}'")
    print()
    table = run(clips, render=not args.no_render)
    print_table(table, names)
    v = table["visemes"]
    corr, off = mean_of(list(v.values()), "corr"), mean_of(list(v.values()), "offset")
    print(f"targets: opening correlation ≥ {TARGET_CORR} (visemes: {fmt(corr, '.3f')}, "
          f"{'met' if corr is not None and corr >= TARGET_CORR else 'MISSED'}); "
          f"offset 0 ± {TARGET_OFFSET} frame (visemes mean {fmt(off, '+.2f')}, "
          f"{'met' if off is not None and abs(off) <= TARGET_OFFSET else 'MISSED'})")
    for m in ("learned", "learned + style"):
        per = table[m]
        lc = mean_of(list(per.values()), "corr")
        ld = mean_of(list(per.values()), "dist")
        beats = all((per[n]["corr"] or -1) > (v[n]["corr"] or -1) for n in names)
        lags = [per[n]["lag_to_truth"] for n in names]
        pooled = pooled_lag(list(per.values()))
        print(f"{m}: opening correlation {fmt(lc, '.3f')} (target ≥ {TARGET_LEARNED_CORR}: "
              f"{'met' if lc is not None and lc >= TARGET_LEARNED_CORR else 'MISSED'}), "
              f"better than visemes on every clip: {'yes' if beats else 'NO'}; lip distance "
              f"{fmt(ld, '.2f')} % IOD (target ≤ {TARGET_DIST}: "
              f"{'met' if ld is not None and ld <= TARGET_DIST else 'MISSED'}); lags to the "
              f"truth {lags}, pooled over the clips {fmt(pooled, '+d')} (target 0 ± 1: "
              f"{'met' if pooled is not None and abs(pooled) <= 1 else 'MISSED'}; visemes "
              f"pooled {fmt(pooled_lag(list(v.values())), '+d')})")
    for per in table.values():
        for r in per.values():
            r.pop("lag_curve", None)
    out = {"clips": names, "train_share": TRAIN_SHARE,
           "table": {m: {"per_clip": per, "mean": {k: mean_of(list(per.values()), k)
                                                   for k in ("dist", "corr", "offset", "ssim",
                                                             "lag_to_truth", "pbm_open")}}
                     for m, per in table.items()}}
    if args.sweep:
        print()
        out["sweep"] = sweep(clips)
    for c in clips:
        c.source.close()
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
