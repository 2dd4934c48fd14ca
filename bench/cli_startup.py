"""How fast the command line answers before any work: ``--help`` and missing-file errors.

Each command runs as a fresh process (``python -m studio ...``), several times; the median
and the slowest wall times are printed. Target: well under 0.5 s, since the engine
(torch, MediaPipe, the aligner) is only imported once the arguments have been checked.
A bare ``python -c pass`` is timed too, as the floor of the same run.

    python bench/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _data import ROOT

COMMANDS = {
    "python -c pass (floor)": ["-c", "pass"],
    "studio --help": ["-m", "studio", "--help"],
    "studio dub --help": ["-m", "studio", "dub", "--help"],
    "studio dub <missing source>": ["-m", "studio", "dub", "missing.mp4", "--audio",
                                    "missing.wav", "-o", "out.mp4"],
    "studio analyze <missing file>": ["-m", "studio", "analyze", "missing.mp4"],
    "studio export <missing project>": ["-m", "studio", "export", "missing-project"],
    "studio train <missing project>": ["-m", "studio", "train", "missing-project"],
    "studio project show <missing>": ["-m", "studio", "project", "show", "missing-project"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in COMMANDS.items():
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                out = subprocess.run([sys.executable, *argv], cwd=tmp, capture_output=True,
                                     text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
                times.append(time.perf_counter() - t)
            said = (out.stderr.strip().splitlines() or out.stdout.strip().splitlines() or [""])
            print(f"{name:34s} median {statistics.median(times):.3f} s, max {max(times):.3f} s"
                  f"  (exit {out.returncode}: {said[-1][:70]})")
    print(f"({args.runs} runs each, {Path(sys.executable).name} {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
