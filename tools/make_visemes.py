"""Build the default viseme library, resources/visemes/<tracker>.json, from real clips.

Each clip is tracked and its own audio aligned by recognition; its library is learned the
way the studio learns a speaker's (core.motion.library), divided by the speaker's mouth
width, and the clips are averaged, weighted by how many phones each saw of each class.

    python tools/make_visemes.py ../shared/data/video/*.mp4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.align import align  # noqa: E402
from core.hashing import file_hash  # noqa: E402
from core.keypoints.analyze import analyze_keypoints  # noqa: E402
from core.keypoints.regions import load_regions  # noqa: E402
from core.media import load_audio, open_media  # noqa: E402
from core.motion.library import MIN_EXAMPLES, learn_library, mouth_width  # noqa: E402
from core.motion.visemes import VISEME_CLASSES  # noqa: E402
from core.paths import user_cache_dir  # noqa: E402
from core.tracking.registry import get_tracker  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--tracker", default="mediapipe")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    regions = load_regions(args.tracker)
    root = user_cache_dir()
    sums = {c: np.zeros((regions.n_points, 3)) for c in VISEME_CLASSES}
    counts = dict.fromkeys(VISEME_CLASSES, 0)
    used = []
    for clip in args.clips:
        with open_media(clip) as source:
            kp = analyze_keypoints(source, media_hash=file_hash(clip), root=root,
                                   tracker=get_tracker(args.tracker))
        cache = kp.cache
        speech = load_audio(clip, 16000)
        alignment = align(speech.samples, None, cache_dir=root / "align")
        lib = learn_library(cache.expression(), np.asarray(cache.validity), alignment, cache.fps,
                            cache.canonical, regions, None)
        unit = mouth_width(cache.canonical, regions)
        for c in VISEME_CLASSES:
            n = lib.counts.get(c, 0)
            if lib.origin[c] == "speaker" and n >= MIN_EXAMPLES:
                sums[c] += lib.targets[c] / unit * n
                counts[c] += n
        used.append({"clip": clip.name, "phones": sum(lib.counts.values())})
        print(f"{clip.name}: {lib.coverage()['counts']}", file=sys.stderr)
    targets = {c: np.round(sums[c] / counts[c], 4).tolist() for c in VISEME_CLASSES
               if counts[c] > 0}
    targets["sil"] = np.zeros((regions.n_points, 3)).tolist()
    doc = {
        "tracker": args.tracker,
        "note": "Mean lower-face deformation per viseme class in canonical units divided by "
                "the speaker's mouth width, learned from real talking clips by "
                "tools/make_visemes.py. The studio multiplies by the target's mouth width.",
        "clips": used,
        "counts": counts,
        "targets": targets,
    }
    out = args.output or Path(__file__).resolve().parents[1] / "resources" / "visemes" / (
        f"{args.tracker}.json")
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    missing = [c for c in VISEME_CLASSES if c not in targets]
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB); counts {counts}; "
          f"missing {missing}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
