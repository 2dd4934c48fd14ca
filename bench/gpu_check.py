"""One short GPU session for the neural path: parity on CUDA, the benches, a CUDA dub.

Untested until a GPU is lent (none was when it was written). On a CUDA machine, from the
repository root with the project installed:

    python bench/gpu_check.py            # about 2-4 minutes on one GPU

1. Parity with the official code (../shared/reference/liveportrait_parity) on CUDA in fp32
   with TF32 off: every output against the fixture's tolerances (PASS/FAIL); then the same
   under fp16 autocast, reported only (fp16 cannot meet a 1e-4 tolerance).
2. The parity and renderer tests on CUDA (pytest, STUDIO_TEST_DEVICE=cuda).
3. bench/liveportrait_speed.py on CUDA: fp32 and fp16, one frame and batches of 8: ms per
   module beside the official RTX 4090 figures, and fps at 512² against the 60 fps target.
4. bench/render_speed.py: the warp renderer's CUDA path (needs ../shared/data).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.render.liveportrait.model import LivePortrait  # noqa: E402
from tests import liveportrait_parity as parity  # noqa: E402


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(cmd: list[str], **env: str) -> int:
    print("$", " ".join(cmd), flush=True)
    t = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, QT_QPA_PLATFORM="offscreen",
                                                **env)).returncode
    print(f"-> exit {rc} in {time.perf_counter() - t:.0f} s", flush=True)
    return rc


def parity_on(weights: Path, half: bool) -> bool:
    lp = LivePortrait.load(weights, device="cuda", half=half)
    t = time.perf_counter()
    mine = parity.run_pipeline(lp)
    torch.cuda.synchronize()
    print(f"pipeline {time.perf_counter() - t:.2f} s")
    ok, errors = parity.compare(mine, verbose=True)
    worst = max(errors, key=errors.get)
    print(f"{'fp16 autocast' if half else 'fp32'}: worst normalised error "
          f"{errors[worst]:.2e} ({worst}); {'PASS' if ok else 'FAIL'} at the fixture's "
          "tolerances" + (" (informative only for fp16)" if half else ""))
    del lp
    torch.cuda.empty_cache()
    return ok


def main() -> int:
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this script is for a GPU machine")
    print(torch.__version__, torch.cuda.get_device_name(0), flush=True)
    failures = []
    with tempfile.TemporaryDirectory(prefix="lp_gpu_") as tmp:
        weights = parity.write_official_layout(Path(tmp))
        step("1. parity on CUDA")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        if not parity_on(weights, half=False):
            failures.append("parity fp32")
        parity_on(weights, half=True)
        torch.backends.cudnn.allow_tf32 = True  # the benches measure the default settings

        step("2. tests on CUDA")
        if run([sys.executable, "-m", "pytest", "-q", "-x", "tests/test_liveportrait.py",
                "tests/test_liveportrait_render.py"], STUDIO_TEST_DEVICE="cuda"):
            failures.append("tests")

        step("3. LivePortrait speed on CUDA")
        py = [sys.executable, "bench/liveportrait_speed.py", "--device", "cuda",
              "--weights", str(weights), "--repeats", "20"]
        for extra in ([], ["--batch", "8"], ["--half"], ["--half", "--batch", "8"]):
            if run(py + extra):
                failures.append("bench " + " ".join(extra))

    step("4. warp renderer on CUDA")
    if (ROOT.parent / "shared" / "data").is_dir():
        run([sys.executable, "bench/render_speed.py"])
    else:
        print("../shared/data is absent: skipped")
    print("\nGPU CHECK", "OK" if not failures else f"FAILED: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
