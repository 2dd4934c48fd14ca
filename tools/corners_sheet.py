"""A contact sheet of the mouth at the corners of the controls' range, for every shared clip.

    python tools/corners_sheet.py [--out docs/corners_clips.jpg] [--clips NAME,...]

Each clip (../shared/data/video, and the shipped portrait with ``--clips portrait``) is
dubbed with the sample speech and its transcript. One row per clip, all at the same output
frame (the one that opens widest at α 2 with every word opened ×3): the source frame, then
the render at nominal (α 1), α 2 with open ×3, β 2, and all three. Each cell is the mouth
and chin, cropped around the source's lips; the label gives the share of the asked opening
the face held back ("sat"). ``tests/test_tearing.py`` checks the same corners.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
VIDEO = ROOT.parent / "shared" / "data" / "video"
CLIPS = ("child", "katie_hill", "man_map", "woman_glasses", "young_man_outdoors")
CELL = 200  # pixels per cell side


def corners():
    from core.dub import DubOptions

    return {
        "nominal": (DubOptions(), 1.0),
        "a 2, open x3": (DubOptions(alpha=2.0), 3.0),
        "b 2": (DubOptions(beta=2.0), 1.0),
        "a 2, b 2, open x3": (DubOptions(alpha=2.0, beta=2.0), 3.0),
    }


def at_corner(take, options, open_scale: float) -> None:
    from core.motion.words import WordStyle

    words = len(take.dub_alignment.words)
    take.word_styles = ({i: WordStyle(open=open_scale) for i in range(words)}
                        if open_scale != 1.0 else {})
    take.update(options)


def crop(image: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """The mouth and chin: a square 2.2 mouth widths wide around the lips, CELL pixels."""
    cx, cy = lips.mean(axis=0)
    half = 1.1 * np.ptp(lips[:, 0])
    top = cy - 0.7 * half
    m = np.float32([[CELL / (2 * half), 0, -(cx - half) * CELL / (2 * half)],
                    [0, CELL / (2 * half), -top * CELL / (2 * half)]])
    return cv2.warpAffine(image, m, (CELL, CELL), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def label(cell: np.ndarray, text: str) -> np.ndarray:
    out = cell.copy()
    cv2.rectangle(out, (0, 0), (CELL, 16), (0, 0, 0), -1)
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def row(path: Path, name: str, cache_root: Path | None) -> np.ndarray:
    from core.dub import open_take
    from core.keypoints.decompose import mouth_opening

    take = open_take(path, SAMPLES / "speech.wav", transcript=SAMPLES / "speech.txt",
                     cache_root=cache_root)
    try:
        table = corners()
        at_corner(take, *table["a 2, open x3"])
        j = int(np.argmax(mouth_opening(take.cache.canonical[None] + take.edited,
                                        take.regions)))
        frame = np.asarray(take.source.frame(int(take.source_index[j])))
        src, _ = take.keypoints(slice(j, j + 1))
        lips = src[0][take.regions["lips_outer"], :2]
        cells = [label(crop(frame, lips), f"{name} (source, frame {j})")]
        for key, (options, open_scale) in table.items():
            at_corner(take, options, open_scale)
            sat = float(take.saturation()[j])
            cells.append(label(crop(take.render(j, frame), lips), f"{key}  sat {sat:.2f}"))
        return np.concatenate(cells, axis=1)
    finally:
        take.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "corners_clips.jpg")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--cache", type=Path, default=None,
                        help="keypoint cache folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        rows = []
        for name in args.clips.split(","):
            path = SAMPLES / "portrait.jpg" if name == "portrait" else VIDEO / f"{name}.mp4"
            if not path.is_file():
                raise SystemExit(f"{path}: no such clip")
            rows.append(row(path, name, cache))
            print(name, "done", flush=True)
    sheet = np.concatenate(rows, axis=0)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise SystemExit(f"{args.out}: could not encode the sheet")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    part = args.out.with_name(args.out.name + ".part")
    part.write_bytes(data.tobytes())
    part.replace(args.out)  # whole or not at all
    print(f"{args.out}: {sheet.shape[1]}x{sheet.shape[0]}, {len(data) // 1024} KB")


if __name__ == "__main__":
    main()
