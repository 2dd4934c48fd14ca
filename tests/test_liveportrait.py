"""LivePortrait's networks equal the official code, and unsafe or wrong checkpoints are
refused naming the file.

The parity test builds the fixture's stand-in weights with its own script, writes them as
.pth files in the official layout, loads them strictly with weights_only=True, and checks
every output of ../shared/reference/liveportrait_parity/expected.npz within its stated
tolerance.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from core.render.liveportrait.model import LivePortrait
from core.render.liveportrait.weights import (
    FILES,
    WeightsError,
    checkpoint_paths,
    load_into,
    read_checkpoint,
)
from tests import liveportrait_parity as parity

needs_fixture = pytest.mark.skipif(
    not parity.available(),
    reason=f"../shared/reference/liveportrait_parity is absent (expected at {parity.PARITY})")


@pytest.fixture(scope="module")
def weights_root(liveportrait_weights) -> Path:
    return liveportrait_weights


#: STUDIO_TEST_DEVICE=cuda runs the parity on a GPU (bench/gpu_check.py does), fp32 with
#: TF32 off so that the fixture's tolerances apply
DEVICE = os.environ.get("STUDIO_TEST_DEVICE", "cpu")


@pytest.fixture(scope="module")
def lp(weights_root) -> LivePortrait:
    if DEVICE.startswith("cuda"):
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return LivePortrait.load(weights_root, device=DEVICE, half=False)


@needs_fixture
def test_state_dict_keys_and_shapes_equal_the_manifest():
    manifest = json.loads(parity.MANIFEST.read_text())["modules"]
    nets = LivePortrait(device="cpu").networks
    for name, net in nets.items():
        if name == "stitching_retargeting_module":
            for part, keys in manifest[name].items():
                sd = getattr(net, part).state_dict()
                assert list(sd) == list(keys), part
                assert [list(v.shape) for v in sd.values()] == list(keys.values()), part
            continue
        sd = net.state_dict()
        assert list(sd) == list(manifest[name]), name
        assert [list(v.shape) for v in sd.values()] == list(manifest[name].values()), name
    counts = json.loads(parity.MANIFEST.read_text())["param_counts"]
    for name, net in nets.items():
        if name != "stitching_retargeting_module":
            n = sum(p.numel() for p in net.parameters())
            assert n == counts[name]["parameters"], name


@pytest.mark.slow
def test_parity_with_the_official_code(weights_root, lp):
    # the weights written are the fixture's, bit for bit
    mw = parity.fixture_module("make_weights")
    files = {n: weights_root / "liveportrait" / rel for n, rel in FILES.items()}
    for name in mw.FILES:
        sd = torch.load(files[name], weights_only=True)
        assert mw.tensor_digest(sd) == parity.expected_digests()[name], name
    mine = parity.run_pipeline(lp)
    ok, errors = parity.compare(mine, verbose=True)
    names = parity.fixture_module("compare").names(np.load(parity.PARITY / "expected.npz"))
    assert set(names) <= set(mine), sorted(set(names) - set(mine))
    assert len(errors) == len(names) == 28
    assert ok, {k: v for k, v in errors.items() if not v <= parity.fixture_module(
        "compare").tol_for(k)}


@pytest.mark.slow
def test_a_batch_gives_each_frame_the_official_output(lp):
    """Batched export (a GPU's) computes, per frame, what the official one-frame call does."""
    mw = parity.fixture_module("make_weights")
    inp = mw.make_inputs()
    x = torch.from_numpy(inp["source"])
    f_s = lp.features(x)
    _, x_s = lp.keypoints(x)
    x_d = lp.stitch(x_s, torch.from_numpy(mw.perturb_lips(x_s.cpu().numpy(), inp["lip_delta"])))
    out = lp.warp(f_s.expand(2, -1, -1, -1, -1), torch.cat([x_s, x_s]),
                  torch.cat([x_d, x_s]))["out"]
    ok, errors = parity.compare({"W.out": out[:1].cpu().numpy()})
    assert ok and len(errors) == 1, errors


# -- refusals -------------------------------------------------------------------------------


class _Payload:
    """Unpickling this would create ``marker``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _layout_links(src_root: Path, dst_root: Path) -> dict[str, Path]:
    """A weights folder whose files link to ``src_root``'s (no 500 MB copy)."""
    out = {}
    for name, rel in FILES.items():
        dst = dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src_root / "liveportrait" / rel, dst)
        out[name] = dst
    return out


def test_code_payload_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "payload_ran"
    zipped = tmp_path / "warping_module.pth"
    torch.save({"fourth.weight": torch.zeros(1), "x": _Payload(marker)}, zipped)
    raw = tmp_path / "motion_extractor.pth"
    raw.write_bytes(pickle.dumps({"detector.norm.weight": _Payload(marker)}, protocol=2))
    for path in (zipped, raw):
        with pytest.raises(WeightsError) as err:
            read_checkpoint(path)
        assert str(path) in str(err.value)
        assert "refused" in str(err.value) and "nothing from it was run" in str(err.value)
    assert not marker.exists()
    # the payload is real: an unsafe load would have run it
    torch.load(zipped, weights_only=False)
    assert marker.exists()


def test_truncated_and_empty_checkpoints_are_refused(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.zeros(1000)}, good)
    data = good.read_bytes()
    for name, content in (("truncated.pth", data[: len(data) // 2]), ("empty.pth", b""),
                          ("text.pth", b"not a checkpoint\n")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(WeightsError) as err:
            read_checkpoint(path)
        assert str(err.value).startswith(f"{path}: ")
        assert "\n" not in str(err.value)


def test_wrong_keys_and_shapes_are_named(tmp_path):
    from core.render.liveportrait.stitching import RetargetingMLP

    net = RetargetingMLP(126, (128, 128, 64), 65)
    path = tmp_path / "s.pth"
    good = net.state_dict()
    load_into(net, dict(good), path, "the stitching MLP")  # exact: loads
    missing = {k: v for k, v in good.items() if k != "mlp.2.bias"}
    with pytest.raises(WeightsError, match=r"s\.pth: not the stitching MLP: missing key "
                                           r"'mlp\.2\.bias'"):
        load_into(net, missing, path, "the stitching MLP")
    with pytest.raises(WeightsError, match=r"unexpected key 'mlp\.8\.weight'"):
        load_into(net, {**good, "mlp.8.weight": torch.zeros(1)}, path, "the stitching MLP")
    bad = {**good, "mlp.0.weight": torch.zeros(128, 125)}
    with pytest.raises(WeightsError, match=r"'mlp\.0\.weight' has shape \[128, 125\], "
                                           r"expected \[128, 126\]"):
        load_into(net, bad, path, "the stitching MLP")
    with pytest.raises(WeightsError, match="not a state dict"):
        load_into(net, [1, 2], path, "the stitching MLP")


def test_missing_folder_or_file_names_it(tmp_path):
    with pytest.raises(WeightsError, match="no such folder"):
        checkpoint_paths(tmp_path / "nowhere")
    (tmp_path / "base_models").mkdir()
    (tmp_path / "base_models" / "appearance_feature_extractor.pth").write_bytes(b"x")
    with pytest.raises(WeightsError) as err:
        checkpoint_paths(tmp_path)
    assert str(err.value).startswith(str(tmp_path / "base_models" / "motion_extractor.pth"))


@pytest.mark.slow
def test_renamed_truncated_or_code_carrying_file_in_the_layout_is_refused(weights_root,
                                                                          tmp_path):
    # a renamed file: the SPADE generator where the warping module should be
    files = _layout_links(weights_root, tmp_path / "renamed")
    files["warping_module"].unlink()
    os.symlink(weights_root / "liveportrait" / FILES["spade_generator"], files["warping_module"])
    with pytest.raises(WeightsError) as err:
        LivePortrait.load(tmp_path / "renamed", device="cpu")
    msg = str(err.value)
    assert msg.startswith(str(files["warping_module"]) + ": not the warping module: ")
    assert "missing key 'dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight'" in msg

    # a truncated motion extractor
    files = _layout_links(weights_root, tmp_path / "truncated")
    data = files["motion_extractor"].read_bytes()
    files["motion_extractor"].unlink()
    files["motion_extractor"].write_bytes(data[: len(data) - 4096])
    with pytest.raises(WeightsError) as err:
        LivePortrait.load(tmp_path / "truncated", device="cpu")
    assert str(err.value).startswith(f"{files['motion_extractor']}: truncated")

    # a stitching file with a code payload beside real weights
    marker = tmp_path / "payload_ran"
    files = _layout_links(weights_root, tmp_path / "evil")
    real = torch.load(weights_root / "liveportrait" / FILES["stitching_retargeting_module"],
                      weights_only=True)
    files["stitching_retargeting_module"].unlink()
    torch.save({**real, "note": _Payload(marker)}, files["stitching_retargeting_module"])
    with pytest.raises(WeightsError) as err:
        LivePortrait.load(tmp_path / "evil", device="cpu")
    assert str(err.value).startswith(f"{files['stitching_retargeting_module']}: refused")
    assert not marker.exists()

    # the stitching file with its sub-dicts' DDP prefix removed still loads (upstream strips it)
    files = _layout_links(weights_root, tmp_path / "stripped")
    files["stitching_retargeting_module"].unlink()
    torch.save({k: {n.replace("module.", ""): t for n, t in v.items()} for k, v in real.items()},
               files["stitching_retargeting_module"])
    lp = LivePortrait(device="cpu")
    from core.render.liveportrait.weights import load_networks

    load_networks(tmp_path / "stripped", lp.networks)
