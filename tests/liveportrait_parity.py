"""The parity fixture of ../shared/reference/liveportrait_parity, run on our networks.

Shared by tests/test_liveportrait.py, bench/liveportrait_speed.py and bench/gpu_check.py:
it builds the stand-in weights with the fixture's own script, writes them in the official
layout, and runs the same calls as the fixture's make_expected.py on its inputs.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

PARITY = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "liveportrait_parity"
MANIFEST = PARITY.parent / "liveportrait_checkpoint_manifest.json"


def available() -> bool:
    return (PARITY / "expected.npz").is_file() and MANIFEST.is_file()


def fixture_module(name: str):
    """make_weights or compare, imported from the fixture folder."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PARITY / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def write_official_layout(root: Path) -> Path:
    """The fixture's weights under ``root/liveportrait/{base_models,retargeting_models}``;
    returns ``root``."""
    from core.render.liveportrait.weights import FILES

    mw = fixture_module("make_weights")
    flat = root / "flat"
    mw.main([str(flat), "--manifest", str(MANIFEST)])
    for name, rel in FILES.items():
        dst = root / "liveportrait" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(flat / f"{name}.pth"), dst)
    shutil.rmtree(flat)
    return root


def expected_digests() -> dict[str, str]:
    e = np.load(PARITY / "expected.npz")
    return json.loads(str(e["meta_json"]))["weight_sha256"]


def run_pipeline(lp, only: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every output of the fixture, by its name, from our LivePortrait ``lp``.

    ``only`` limits the run to names with these prefixes (the slow W and G calls are
    skipped when none of theirs is asked for).
    """
    from core.render.liveportrait.pose import implicit_keypoints, keypoint_info, rotation_transposed

    mw = fixture_module("make_weights")
    inp = mw.make_inputs()

    def want(*prefixes: str) -> bool:
        return only is None or any(p.startswith(o) or o.startswith(p) for p in prefixes
                                   for o in only)

    def N(t: torch.Tensor) -> np.ndarray:  # noqa: N802
        return t.detach().float().cpu().numpy()

    out: dict[str, np.ndarray] = {}
    x = torch.from_numpy(inp["source"])
    f_s = lp.features(x)
    out["F.f_s"] = N(f_s)
    raw = lp.motion_raw(x)
    for k in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp"):
        out["M." + k] = N(raw[k])
    info = keypoint_info(raw)
    for k in ("pitch", "yaw", "roll"):
        out["kp_info." + k] = N(info[k])
    out["R_s"] = N(rotation_transposed(info["pitch"], info["yaw"], info["roll"]))
    x_s = implicit_keypoints(info)
    out["x_s"] = N(x_s)
    x_d_raw = torch.from_numpy(mw.perturb_lips(out["x_s"], inp["lip_delta"]))
    out["x_d_raw"] = N(x_d_raw)
    s = lp.stitching
    with torch.inference_mode():
        x_s_dev, x_d_dev = x_s.to(lp.device), x_d_raw.to(lp.device)
        out["S.stitch_delta"] = N(s.stitch_delta(x_s_dev, x_d_dev))
        x_d = s.stitch(x_s_dev, x_d_dev)
        out["x_d"] = N(x_d)
        out["S.lip_delta"] = N(s.lip_delta(x_s_dev, torch.from_numpy(inp["lip_ratio"])
                                           .to(lp.device)))
        out["S.eye_delta"] = N(s.eye_delta(x_s_dev, torch.from_numpy(inp["eye_ratio"])
                                           .to(lp.device)))
    if want("W.", "G."):
        ret = lp.warp(f_s, x_s, x_d)
        for k in ("mask", "deformation", "occlusion_map", "out"):
            out["W." + k] = N(ret[k])
        if want("G."):
            out["G.image"] = N(lp.decode(ret["out"]))
        del ret
    if want("Wiso."):
        xs32 = torch.from_numpy(out["x_s"])
        xd32 = torch.from_numpy(out["x_d"])
        ret = lp.warp(torch.from_numpy(inp["W_feature_3d"]), xs32, xd32)
        for k in ("mask", "deformation", "occlusion_map", "out"):
            out["Wiso." + k] = N(ret[k])
        del ret
    if want("Giso."):
        out["Giso.image"] = N(lp.decode(torch.from_numpy(inp["G_feature"])))
    return out


def compare(mine: dict[str, np.ndarray], verbose: bool = False):
    """(ok, {name: normalised error}) against expected.npz, tolerances as the fixture's."""
    cmp = fixture_module("compare")
    return cmp.compare(np.load(PARITY / "expected.npz"), mine, verbose=verbose)
