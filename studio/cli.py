"""``studio``: one entry point; subcommands run the engine without a window.

This module imports no Qt at import time, so ``studio analyze`` works on a headless server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import Cancelled, StudioError


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("a box is X,Y,W,H in pixels") from exc
    return (x, y, x + w, y + h)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="Talking-face studio")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="track the face, cache keypoints, align the speech")
    a.add_argument("media", type=Path, help="a video or a portrait image")
    a.add_argument("--audio", type=Path, help="speech to align (default: the video's own)")
    a.add_argument("--transcript", type=Path, help="what is said (.txt or .srt)")
    a.add_argument("--tracker", default="mediapipe", choices=["mediapipe", "face_alignment"])
    a.add_argument("--face", type=int, dest="face_index",
                   help="which face when several are in view (0 = largest)")
    a.add_argument("--face-box", type=_box, help="the face to follow, as X,Y,W,H in pixels")
    a.add_argument("--language", default="en", help="language of the speech (en aligns words)")
    a.add_argument("--cache", type=Path, help="cache folder (default: the user cache)")
    a.add_argument("--json", action="store_true", help="print the summary as JSON")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


class _Bar:
    """A tqdm bar per stage, on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stage = None
        self.bar = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            unit = "frame" if stage == "tracking" else "%"
            self.bar = tqdm(total=total if unit == "frame" else 100, desc=stage, unit=unit,
                            file=sys.stderr, leave=False)
        scale = 1 if self.stage == "tracking" else 100 / max(total, 1e-9)
        self.bar.n = int(done * scale)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _analyze(args: argparse.Namespace) -> int:
    from core.analysis import analyze

    bar = _Bar(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        result = analyze(
            args.media, audio=args.audio, transcript=args.transcript, cache_root=args.cache,
            tracker=args.tracker, face_index=args.face_index, face_box=args.face_box,
            language=args.language, progress=bar,
        )
    finally:
        bar.close()
    s = result.summary()
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"{s['media']}: {s['frames']} frames at {s['fps']} fps ({s['duration_s']} s)")
    how = "read from cache" if s["keypoints_from_cache"] else (
        f"tracked {s['frames_tracked_now']} frames"
        + (f", resumed at frame {s['resumed_at_frame']}" if s["resumed_at_frame"] else ""))
    print(f"face found in {100 * s['face_found_share']:.1f}% of frames ({how})")
    for g in s["gaps"]:
        print(f"  no face {g['start_s']:.2f}-{g['end_s']:.2f} s ({g['frames']} frames)")
    if s["audio"]:
        print(f"words aligned: {s['words_aligned']} ({s['alignment_source']})")
    else:
        print("no audio: nothing to align")
    for w in s["warnings"]:
        print(f"warning: {w}")
    print(f"cache: {s['cache']} ({s['cache_mb']} MB)")
    print(f"time: {s['seconds']:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return _analyze(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (Cancelled, KeyboardInterrupt):
        print("cancelled; what was done is cached and resumes next time", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
