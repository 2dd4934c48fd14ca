"""README's test command, several times in a row, while other processes keep every core busy.

The suite must pass on a loaded machine, not only on CI's quiet one: this starts one busy
process per core (the same load as ``preview_latency.py``'s), runs
``QT_QPA_PLATFORM=offscreen python -m pytest -q`` ``--runs`` times from the repository root,
and prints each run's outcome, its last line and its time; then it stops the load.

    python bench/suite_under_load.py            # 3 runs
    python bench/suite_under_load.py --runs 1 -- tests/test_media.py
    python bench/suite_under_load.py --log /tmp/runs -- --durations=20   # keep each run's output
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _data import ROOT
from preview_latency import Hog


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--log", help="a folder to keep each run's whole output in (runN.log)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args]
    failed = 0
    with Hog() as hog:
        print(f"load: {len(hog.procs)} busy processes on {os.cpu_count()} cores; "
              f"running {' '.join(cmd[1:])} {args.runs} times", flush=True)
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if args.log:
                os.makedirs(args.log, exist_ok=True)
                with open(os.path.join(args.log, f"run{run}.log"), "w") as f:
                    f.write(done.stdout + done.stderr)
            tail = [ln for ln in done.stdout.splitlines() if ln.strip()][-1:] or ["(no output)"]
            ok = done.returncode == 0
            failed += not ok
            print(f"run {run}: {'passed' if ok else f'FAILED (exit {done.returncode})'} in "
                  f"{seconds / 60:.1f} min, load {os.getloadavg()[0]:.1f}: {tail[0]}", flush=True)
            if not ok:
                print("\n".join(ln for ln in done.stdout.splitlines()
                                if ln.startswith(("FAILED", "ERROR"))), flush=True)
    print(f"{args.runs - failed} of {args.runs} runs passed under load")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
