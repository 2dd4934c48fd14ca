"""Where the benchmark media lives: ../shared/data beside the repository, and its tracking."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def need_data() -> Path:
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: the benchmarks measure on the shared real media")
    return DATA


def tracked(path: Path):
    """The MediaPipe keypoint cache of a shared video (tracked once, then from the cache)."""
    from core.hashing import file_hash
    from core.keypoints.analyze import analyze_keypoints
    from core.media import open_media
    from core.paths import user_cache_dir
    from core.tracking.registry import get_tracker

    source = open_media(path)
    try:
        return analyze_keypoints(source, media_hash=file_hash(path), root=user_cache_dir(),
                                 tracker=get_tracker("mediapipe")).cache
    finally:
        source.close()
