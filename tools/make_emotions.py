"""Regenerate resources/emotions/mediapipe.json, the emotion presets, from real footage.

Each preset is the PC-Talk subtraction on tracked keypoints: the canonical-space expression
at frames that show the emotion minus the same clip's neutral frames, per region (brows,
eyes, mouth, cheeks), made left-right symmetric (except contempt's one-sided mouth), its lip
opening taken out (``keep_lip_gap``), and divided by the source face's region sizes so it
transfers between faces. Emotions no clip shows are mixed from the nearest measured ones.
The frames were picked by looking at the clips; the per-region gains were tuned by eye on
warp renders of other faces. Run once by hand (tracking is cached under STUDIO_CACHE_DIR):

    python tools/make_emotions.py [/path/to/shared/data]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.analysis import analyze  # noqa: E402
from core.keypoints.regions import RegionSet, load_regions  # noqa: E402
from core.motion.emotion import (  # noqa: E402
    EMOTIONS,
    REGIONS,
    keep_lip_gap,
    region_indices,
    region_sizes,
)

OUT = ROOT / "resources" / "emotions" / "mediapipe.json"
DEFAULT_DATA = ROOT.parent / "shared" / "data"

# the clips: strong silent expressions (woman, 30 fps) and a second face (man, 30 fps)
CLIPS = {
    "W": "expressions/expressions_silent.mp4",
    "M": "edge/silent_audio_track.mp4",
}
# talking clips the jaw-opening mode is learned from
TALKING = ["video/woman_glasses.mp4", "video/katie_hill.mp4", "video/man_map.mp4"]
# a frontal frame with the mouth open, where the mirror partners are matched
MIRROR_FRAME = ("M", 130)
# each clip's neutral frames [a, b)
NEUTRAL = {"W": (0, 5), "M": (100, 111)}

# emotion -> region -> (clip, first frame, last frame + 1, gain); frames picked by eye.
# None: the region does not take part (zeros). Gains tuned by eye on warp renders of
# woman_glasses.mp4, photo_bw.jpg and painting_pearl_earring.jpg at intensity 1.
SOURCES: dict[str, dict[str, tuple[str, int, int, float] | None]] = {
    "neutral": dict.fromkeys(REGIONS),
    "happy": {  # the man's open smile; his cheeks rise and his eyes narrow a little
        "brows": None,
        "eyes": ("M", 114, 119, 1.0),
        "mouth": ("M", 114, 119, 1.3),
        "cheeks": ("M", 114, 119, 1.3),
    },
    "sad": {  # the woman's raised inner brows, eyes open, head level; the man's frown
        "brows": ("W", 190, 205, 1.6),
        "eyes": ("W", 190, 205, 1.0),
        "mouth": ("M", 170, 183, 1.3),
        "cheeks": ("M", 170, 183, 1.0),
    },
    "angry": {  # the woman's glare: brows down and together, lips pressed
        "brows": ("W", 172, 181, 1.6),
        "eyes": ("W", 172, 181, 1.2),
        "mouth": ("W", 172, 181, 1.5),
        "cheeks": ("W", 172, 181, 1.0),
    },
    "surprised": {  # the woman's surprise: brows up, eyes wide, mouth rounded (opening removed)
        "brows": ("W", 306, 319, 1.4),
        "eyes": ("W", 306, 319, 1.3),
        "mouth": ("W", 306, 319, 1.0),
        "cheeks": ("W", 306, 319, 1.0),
    },
    "fearful": {  # the woman's alarm just before the surprise: brows up, eyes wide
        "brows": ("W", 288, 297, 1.5),
        "eyes": ("W", 288, 297, 1.3),
        "mouth": ("W", 288, 297, 1.5),
        "cheeks": ("W", 288, 297, 1.0),
    },
    "disgusted": {  # the woman's sneer: nose wrinkled, upper lip up, eyes squeezed
        "brows": ("W", 12, 19, 1.0),
        "eyes": ("W", 12, 19, 0.6),
        "mouth": ("W", 12, 19, 1.2),
        "cheeks": ("W", 12, 19, 1.0),
    },
    "contemptuous": {  # the woman's one-sided smile (her wink is left out)
        "brows": None,
        "eyes": None,
        "mouth": ("W", 39, 46, 1.5),
        "cheeks": ("W", 39, 46, 1.2),
    },
}
# regions built from other presets (by eye): emotion -> region -> [(emotion, weight)]
MIXES: dict[str, dict[str, list[tuple[str, float]]]] = {
    "contemptuous": {"eyes": [("disgusted", 0.3)], "brows": [("angry", 0.25)]},
}
# regions kept one-sided (all others are made left-right symmetric)
ASYMMETRIC = {("contemptuous", "mouth"), ("contemptuous", "cheeks")}

# share of the lips' own thickness change kept around the lip line (0: lips move as a line)
LIP_THICKNESS = 0.25

NOTES = {
    "neutral": "Zero deformation: the identity's own neutral.",
    "happy": "expressions_silent.mp4 shows no smile, so happy comes from the second face's "
             "open smile (its opening taken out: a closed-lip smile).",
    "sad": "Brows and eyes from the woman's sad look; her pout barely moves the corners, so "
           "the mouth comes from the man's frown.",
    "fearful": "The clip shows no distinct fear; the alarmed look just before the surprise "
               "(wide eyes, raised brows, stretched lips, mouth nearly closed) stands in.",
    "disgusted": "Her sneer is one-sided (a wink); made symmetric, it squints both eyes.",
    "contemptuous": "Her one-sided smile, kept one-sided; eyes and brows built by eye.",
}
NOTES_ALL = ("Symmetric except contempt's mouth and cheeks; mouth with the inner-lip gap "
             "kept; irises move with the eye, not the gaze.")


# points on the face's midline (nose, lips, chin, forehead), for centring the mirror
MIDLINE = [1, 2, 4, 5, 6, 8, 9, 10, 13, 14, 17, 18, 19, 94, 151, 152, 164, 168, 175, 195, 197,
           199, 200]


def mirror_map(shape: np.ndarray) -> np.ndarray:
    """For each point, its mirror partner across the face's midline.

    A one-to-one matching (Hungarian) of the shape to its mirror image, on a frontal face
    with the mouth open so that the upper and lower lip's midline points are apart.
    """
    from scipy.optimize import linear_sum_assignment

    k = shape - np.array([shape[MIDLINE, 0].mean(), 0.0, 0.0])
    flipped = k * np.array([-1.0, 1.0, 1.0])
    _, partner = linear_sum_assignment(np.linalg.norm(k[:, None] - flipped[None], axis=-1))
    return partner


def symmetrise(d: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Average a deformation with its mirror image (x flips sign)."""
    return 0.5 * (d + d[mirror] * np.array([-1.0, 1.0, 1.0]))


def opening_mode(caches: list, regions: RegionSet) -> np.ndarray:
    """Displacement per unit of inner-lip gap over the mouth region, from talking clips."""
    lm = regions.landmarks
    mouth = region_indices(regions, "mouth")
    xs, ys = [], []
    for c in caches:
        e = c.expression()[np.asarray(c.validity) > 0].astype(np.float64)
        gap = e[:, lm["lower_lip_inner"], 1] - e[:, lm["upper_lip_inner"], 1]
        xs.append(gap - gap.mean())
        ys.append(e[:, mouth] - e[:, mouth].mean(axis=0))
    g = np.concatenate(xs)
    y = np.concatenate(ys)
    v = np.zeros((regions.n_points, 3))
    v[mouth] = np.einsum("t,tnk->nk", g, y) / (g @ g)
    return v


def build(data: Path) -> dict:
    regions = load_regions("mediapipe")
    caches = {k: analyze(data / p).keypoints.cache for k, p in CLIPS.items()}
    talking = [analyze(data / p).keypoints.cache for p in TALKING]
    mode = opening_mode(talking, regions)
    m = caches[MIRROR_FRAME[0]]
    mirror = mirror_map(m.canonical + m.expression(slice(MIRROR_FRAME[1], MIRROR_FRAME[1] + 1))[0])
    eye_contour = {
        side: np.setdiff1d(regions[side], regions[side][-4:]) for side in ("left_eye", "right_eye")
    }
    sizes = {k: region_sizes(c.canonical, regions) for k, c in caches.items()}
    typical = {r: np.mean([sizes[k][r] for k in caches], axis=0) for r in REGIONS}

    def measured(emotion: str, region: str, clip: str, a: int, b: int, gain: float):
        c = caches[clip]
        na, nb = NEUTRAL[clip]
        d = np.median(c.expression(slice(a, b)), axis=0) - np.median(
            c.expression(slice(na, nb)), axis=0)
        d = d.astype(np.float64)
        if (emotion, region) not in ASYMMETRIC:
            d = symmetrise(d, mirror)
        if region == "mouth":
            d = keep_lip_gap(d, regions, mode, c.canonical, LIP_THICKNESS)
        if region == "eyes":  # the irises go with the eye, never with the gaze
            for side, contour in eye_contour.items():
                d[regions[side][-4:]] = d[contour].mean(axis=0)
        out = np.zeros_like(d)
        idx = region_indices(regions, region)
        out[idx] = gain * d[idx] / sizes[clip][region]
        fps = c.fps
        note = f"{region}: {CLIPS[clip]} frames {a}-{b - 1} ({a / fps:.2f}-{(b - 1) / fps:.2f} s)"
        note += f" minus frames {na}-{nb - 1}, gain {gain:g}"
        return out, note

    table: dict[str, dict[str, np.ndarray]] = {}
    notes: dict[str, list[str]] = {}
    for emotion in EMOTIONS:
        table[emotion], notes[emotion] = {}, []
        for region in REGIONS:
            src = SOURCES[emotion].get(region)
            if src is None:
                table[emotion][region] = np.zeros((regions.n_points, 3))
                continue
            table[emotion][region], note = measured(emotion, region, *src)
            notes[emotion].append(note + ";")
    for emotion, mix in MIXES.items():
        for region, parts in mix.items():
            table[emotion][region] = sum(w * table[e][region] for e, w in parts)
            notes[emotion].append(f"{region}: by eye, " + " + ".join(
                f"{w:g} x {e}" for e, w in parts))

    def block(d: np.ndarray) -> dict:
        d = np.round(d, 4)
        idx = np.flatnonzero(np.abs(d).max(axis=1) > 0)
        return {"indices": idx.tolist(), "offsets": d[idx].tolist()}

    emotions = {}
    for emotion in EMOTIONS:
        lines = [NOTES.get(emotion, "")] + notes[emotion]
        if emotion != "neutral":
            lines.append(NOTES_ALL)
        emotions[emotion] = {
            "notes": " ".join(s for s in lines if s).strip(),
            "regions": {r: block(table[emotion][r]) for r in REGIONS},
        }
    return {
        "tracker": "mediapipe",
        "points": regions.n_points,
        "version": 1,
        "note": (
            "Emotion presets (MEAD's eight emotions) as canonical-space deformations per "
            "region, made by tools/make_emotions.py from tracked footage: expression at the "
            "frames named in each note minus the clip's neutral frames. Offsets are divided "
            "by the region's size on the source face (sizes: x, y, z per region, see "
            "core.motion.emotion.region_sizes) and are multiplied by the target's at use. "
            "Mouth offsets keep the inner-lip gap (lip sync). opening_mode: mouth "
            "displacement per unit inner-lip gap, learned from talking clips."
        ),
        "sizes": {r: np.round(typical[r], 4).tolist() for r in REGIONS},
        "opening_mode": block(mode),
        "emotions": emotions,
    }


def main(argv: list[str]) -> None:
    data = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    presets = build(data)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(presets, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.1f} kB)")


if __name__ == "__main__":
    main(sys.argv)
