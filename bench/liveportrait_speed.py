"""LivePortrait network speed: ms per frame per module, beside the official code's.

Runs our five networks on the parity fixture's inputs (../shared/reference/
liveportrait_parity) with its stand-in weights (speed does not depend on the values), or
on the weights in --weights. Timing as the fixture's README: float32, deterministic
algorithms on, one 256² source, median of --repeats after one untimed call. The official
figures are the fixture README's (the official code on this 2-core CPU) and
assets/docs/speed.md's (RTX 4090, fp16, torch.compile). A 3×3 512→512 conv at 64² (the
decoder's main op) is timed in the same run as a reference, since the machine is shared:
"ref ×" compares a module with it, which stays put when the load changes.

    python bench/liveportrait_speed.py                      # CPU, 2 threads
    python bench/liveportrait_speed.py --threads 1          # a busy shared CPU: 2 threads
                                                            # stall on each other there
    python bench/liveportrait_speed.py --device cuda --half --batch 8   # a GPU, fp16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.render.liveportrait.model import LivePortrait  # noqa: E402
from core.render.liveportrait.pose import implicit_keypoints, keypoint_info  # noqa: E402
from tests import liveportrait_parity as parity  # noqa: E402

#: the fixture README: the official code, float32, 2 threads, this CPU (seconds)
OFFICIAL_CPU_S = {"F appearance": 0.91, "M motion": 0.26, "W warping": 4.62,
                  "G decoder": 12.30, "S stitching MLP": 0.0002, "S lip MLP": 0.0002,
                  "S eye MLP": 0.0002, "transform_keypoint": 0.0003}
#: assets/docs/speed.md: RTX 4090, fp16, torch.compile (ms); S is all three MLPs together
OFFICIAL_4090_MS = {"F appearance": 0.82, "M motion": 0.84, "W warping": 5.21,
                    "G decoder": 7.59, "S stitching MLP": 0.31}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one untimed call."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, help="official layout (default: stand-in weights)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--half", action="store_true", help="CUDA fp16 autocast")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1, help="frames per W+G call for the fps row")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(a.device == "cpu")
    tmp = None
    if a.weights is None:
        if not parity.available():
            sys.exit(f"{parity.PARITY} is absent: pass --weights DIR")
        tmp = tempfile.TemporaryDirectory(prefix="lp_bench_")
        a.weights = parity.write_official_layout(Path(tmp.name))
    lp = LivePortrait.load(a.weights, device=a.device, half=a.half)
    dev = lp.device
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}),"
          f" {'fp16 autocast' if lp.half else 'fp32'}, threads {torch.get_num_threads()}, "
          f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}", flush=True)

    inp = parity.fixture_module("make_weights").make_inputs()
    x = torch.from_numpy(inp["source"]).to(dev)
    ref_in = torch.randn(1, 512, 64, 64, device=dev)
    ref_w = torch.randn(512, 512, 3, 3, device=dev) * 0.02
    res: dict[str, float] = {}

    def run(name, fn):
        res[name] = timed(fn, dev, a.repeats)
        print(f"  {name:<20} {1000 * res[name]:10.2f} ms", flush=True)

    with torch.inference_mode():
        run("ref conv 512² 3×3", lambda: torch.nn.functional.conv2d(ref_in, ref_w, padding=1))
        f_s = lp.features(x)
        run("F appearance", lambda: lp.features(x))
        run("M motion", lambda: lp.motion_raw(x))
        info = keypoint_info(lp.motion_raw(x))
        x_s = implicit_keypoints(info)
        x_d = x_s + 0.01
        out = lp.warp(f_s, x_s, x_d)["out"]
        run("W warping", lambda: lp.warp(f_s, x_s, x_d))
        run("G decoder", lambda: lp.decode(out))
        s = lp.stitching
        lip = torch.from_numpy(inp["lip_ratio"]).to(dev)
        eye = torch.from_numpy(inp["eye_ratio"]).to(dev)
        run("S stitching MLP", lambda: s.stitch_delta(x_s, x_d))
        run("S lip MLP", lambda: s.lip_delta(x_s, lip))
        run("S eye MLP", lambda: s.eye_delta(x_s, eye))
        run("transform_keypoint", lambda: implicit_keypoints(info))
        if a.batch > 1 or dev.type == "cuda":
            b = a.batch
            fb, xsb, xdb = (f_s.expand(b, -1, -1, -1, -1).contiguous(),
                            x_s.expand(b, -1, -1).contiguous(), x_d.expand(b, -1, -1).contiguous())
            run(f"frame ×{b} (S+W+G)", lambda: lp.render(fb, xsb, xdb))

    ref = res["ref conv 512² 3×3"]
    print()
    print(f"{'module':<20} {'ours ms':>10} {'ref ×':>8} {'official CPU ms':>16} "
          f"{'ours/official':>14} {'official 4090 ms':>17}")
    for name, sec in res.items():
        if name.startswith(("ref", "frame")):
            continue
        off = OFFICIAL_CPU_S.get(name)
        g = OFFICIAL_4090_MS.get(name)
        print(f"{name:<20} {1000 * sec:10.2f} {sec / ref:8.1f} "
              f"{'' if off is None else f'{1000 * off:16.1f}':>16} "
              f"{'' if off is None else f'{sec / off:14.2f}':>14} "
              f"{'' if g is None else f'{g:17.2f}':>17}")
    frame = res["W warping"] + res["G decoder"] + res["S stitching MLP"]
    official = OFFICIAL_CPU_S["W warping"] + OFFICIAL_CPU_S["G decoder"]
    print(f"\none frame (S+W+G, source cached): {1000 * frame:.0f} ms = {1 / frame:.2f} fps at "
          f"512² (official on this CPU: {1000 * official:.0f} ms)")
    for name, sec in res.items():
        if name.startswith("frame"):
            b = int(name.split("×")[1].split()[0])
            fps = b / sec
            print(f"batched {name}: {1000 * sec / b:.2f} ms per frame = {fps:.1f} fps at 512²"
                  f" (target ≥ 60 fps on a GPU: {'met' if fps >= 60 else 'not met'})")
    if a.json:
        a.json.write_text(json.dumps({"device": str(dev), "half": lp.half,
                                      "seconds": res}, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
