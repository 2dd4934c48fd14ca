"""Where the benchmark media lives: ../shared/data beside the repository."""

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
