"""The ``liveportrait`` renderer: crop geometry, paste-back, the landmark-to-implicit
transfer, the renderer on the parity weights, batched export, the registry and the CLI
(``studio dub --renderer liveportrait`` end to end, ``studio weights fetch`` offline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf

from core.keypoints.regions import load_regions
from core.render.liveportrait.crop import crop_for, cut, feather_mask, paste_back
from core.render.liveportrait.transfer import (
    fit_expression_map,
    map_expression,
    normalised_to_frame,
    transfer_offsets,
)
from core.render.registry import RendererUnavailable, create_renderer, renderer_names
from core.render.warp import WarpRenderer

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
REGIONS = load_regions("mediapipe")


def _face(rng: np.random.Generator, centre=(300.0, 260.0), size=120.0, roll_deg=0.0
          ) -> np.ndarray:
    """MediaPipe-layout points of a schematic upright face, rolled by ``roll_deg``."""
    p = rng.uniform(-0.5, 0.5, (REGIONS.n_points, 3)) * (size, 1.3 * size, size / 3)
    p[REGIONS["left_eye"]] = (0.2 * size, -0.15 * size, 0) + rng.normal(0, 2, (20, 3))
    p[REGIONS["right_eye"]] = (-0.2 * size, -0.15 * size, 0) + rng.normal(0, 2, (20, 3))
    p[REGIONS["lips_outer"]] = (0, 0.3 * size, 0) + rng.normal(0, 3, (20, 3))
    t = np.radians(roll_deg)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    return p @ rot.T + (*centre, 0)


def test_crop_is_square_scaled_and_turns_with_the_head():
    rng = np.random.default_rng(0)
    face = _face(rng)
    crop = crop_for(face, REGIONS)
    assert np.allclose(crop.rotation, np.eye(2), atol=0.02)  # upright: no roll
    box = np.unique(np.concatenate([REGIONS[r] for r in ("jaw", "cheeks", "left_brow",
                                                           "right_brow", "left_eye", "right_eye",
                                                           "nose", "lips_outer")]))
    extent = (face[box, :2].max(0) - face[box, :2].min(0)).max()
    assert crop.size / crop.scale == pytest.approx(2.3 * extent, rel=0.03)
    # the box is moved up by 0.125 of its size: the face centre sits below the crop's centre
    centre = crop.to_crop((face[box, :2].max(0) + face[box, :2].min(0)) / 2)
    assert centre[1] - 256 == pytest.approx(0.125 * 512, abs=8)
    # rolled, moved and scaled faces give the same crop of the face (equivariance)
    for roll, shift, k in ((25.0, (40, -30), 1.0), (-60.0, (0, 0), 1.7)):
        t = np.radians(roll)
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        moved = face.copy()
        moved[:, :2] = (face[:, :2] - (300, 260)) @ rot.T * k + (300, 260) + shift
        crop2 = crop_for(moved, REGIONS)
        assert np.allclose(crop2.to_crop(moved), crop.to_crop(face), atol=1e-6)
        assert np.allclose(crop2.rotation, crop.rotation @ rot.T, atol=1e-9)


def test_cut_and_paste_back_round_trip_and_leave_the_rest_untouched():
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8), (0, 0), 6)
    crop = crop_for(_face(rng, roll_deg=15), REGIONS)
    big = cut(frame, crop, net_size=512)
    assert big.shape == (512, 512, 3)
    back = paste_back(frame, big, crop)
    corners = crop.to_frame(np.array([[0, 0], [512, 0], [0, 512], [512, 512]]))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    outside = np.ones(frame.shape[:2], bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert np.array_equal(back[outside], frame[outside])
    # inside the mask's plateau the crop came back where it was cut from
    centre = np.round(crop.to_frame(np.array([256.0, 256.0]))).astype(int)
    sl = (slice(centre[1] - 40, centre[1] + 40), slice(centre[0] - 40, centre[0] + 40))
    assert np.abs(back[sl].astype(int) - frame[sl].astype(int)).max() <= 3
    m = feather_mask()
    assert m[256, 256] == 1 and m[0, 0] == 0 and m[0, 256] == 0
    assert np.all(np.diff(m[256, :256]) >= 0)  # a smooth ramp, no step


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    """The sample portrait (RGB) and its tracked MediaPipe points."""
    from core.tracking.registry import get_tracker

    img = np.ascontiguousarray(cv2.imread(str(SAMPLES / "portrait.jpg"))[..., ::-1])
    session = get_tracker("mediapipe").open_session(static=True, max_faces=1)
    try:
        pts = session.detect(img)[0].points.astype(np.float64)
    finally:
        session.close()
    return img, pts


def test_transfer_moves_keypoints_as_the_warp_mesh_moves_the_image(portrait):
    from core.render.mesh import build_topology

    _, src = portrait
    crop = crop_for(src, REGIONS)
    topo = build_topology(REGIONS, src)
    lm = REGIONS.landmarks
    lower, nose = lm["lower_lip_inner"], lm["nose_tip"]
    chin = lm["chin"]
    half = (src[lower, :2] + src[chin, :2]) / 2  # not a vertex: inside some triangle
    at = np.stack([src[lower, :2], src[nose, :2], half, [-5000.0, -5000.0]])
    x_s = np.zeros((4, 3))
    x_s[:, :2] = crop.to_crop(at) / 512 * 2 - 1
    assert np.allclose(normalised_to_frame(x_s, crop), at)
    k = crop.scale * 2 / 512
    # the whole face moves: keypoints on it follow, the far one (outside the ring) stays
    dst = src + (5.0, -3.0, 2.0)
    off = transfer_offsets(x_s, src, dst, crop, topo)
    assert np.allclose(off[:3, :2], crop.rotation @ np.array([5.0, -3.0]) * k, atol=1e-5)
    assert np.allclose(off[:3, 2], 2.0 * k, atol=1e-5)
    assert np.abs(off[3]).max() == 0
    # only the lower inner lip point moves: its keypoint follows it, the nose does not
    dst = src.copy()
    dst[lower] += (0.0, 6.0, 0.0)
    off = transfer_offsets(x_s, src, dst, crop, topo)
    assert np.allclose(off[0, :2], crop.rotation @ np.array([0.0, 6.0]) * k, atol=1e-5)
    assert np.abs(off[1]).max() < 1e-9
    assert np.abs(transfer_offsets(x_s, src, src, crop, topo)).max() == 0


def test_expression_map_learned_from_footage_recovers_a_linear_relation():
    rng = np.random.default_rng(3)
    t_count, n = 60, 40
    true_w = rng.normal(0, 0.2, (3 * n, 63))
    latent = rng.normal(0, 1, (t_count, 5))  # a talking face moves in few directions
    land = (latent @ rng.normal(0, 0.01, (5, 3 * n))).reshape(t_count, n, 3)
    implicit = (land.reshape(t_count, -1) @ true_w + 0.05).reshape(t_count, 21, 3)
    w, c = fit_expression_map(land[:40], implicit[:40], ridge=1e-6)
    pred = map_expression(land[40:], w, c)
    assert np.abs(pred - implicit[40:]).max() < 1e-3 * np.abs(implicit).max()
    with pytest.raises(ValueError):
        fit_expression_map(land[:1], implicit[:1])


def test_registry_names_and_refuses_missing_weights(tmp_path):
    import torch

    from core.render.registry import preview_note

    assert renderer_names()[:2] == ("warp", "liveportrait")
    assert preview_note("warp") is None
    if not torch.cuda.is_available():
        assert "the preview shows the warp renderer" in preview_note("liveportrait")
    assert isinstance(create_renderer("warp", REGIONS), WarpRenderer)
    with pytest.raises(ValueError, match="unknown renderer"):
        create_renderer("ray-tracer", REGIONS)
    with pytest.raises(RendererUnavailable) as err:
        create_renderer("liveportrait", REGIONS, weights=tmp_path / "none")
    assert str(err.value).startswith(str(tmp_path / "none"))


def test_project_settings_choose_the_renderer(tmp_path):
    from core.dub import project_renderer
    from core.project.schema import RENDERERS, check_setting, default_settings

    assert "liveportrait" in RENDERERS
    assert check_setting("renderer", "liveportrait") == "liveportrait"
    s = default_settings()
    assert s["renderer"] == "warp" and s["weights"] is None
    assert project_renderer(s, tmp_path) is None
    s.update(renderer="liveportrait", weights="weights")  # relative: in the project folder
    with pytest.raises(RendererUnavailable) as err:
        project_renderer(s, tmp_path)
    assert str(err.value).startswith(str(tmp_path / "weights"))


@pytest.mark.slow
def test_renderer_draws_inside_the_crop_and_caches_the_source(liveportrait_weights,
                                                              portrait):
    from core.render.liveportrait.renderer import LivePortraitRenderer

    r = create_renderer("liveportrait", REGIONS, weights=liveportrait_weights, device="cpu")
    assert isinstance(r, LivePortraitRenderer)
    assert (r.preview, r.batch_size) == (False, 1)  # CPU: export only
    frame, src = portrait
    dst = src.copy()
    dst[REGIONS["lips_inner"][1:10], 1] += 6  # open the lower lip
    out = r.render(frame, src, dst)
    assert out.shape == frame.shape and out.dtype == np.uint8
    crop = crop_for(src, REGIONS)
    corners = crop.to_frame(np.array([[0, 0], [512, 0], [0, 512], [512, 512]]))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    outside = np.ones(frame.shape[:2], bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert np.array_equal(out[outside], frame[outside])
    c = np.round(crop.to_frame(np.array([256.0, 256.0]))).astype(int)
    assert np.abs(out[c[1] - 20:c[1] + 20, c[0] - 20:c[0] + 20].astype(int)
                  - frame[c[1] - 20:c[1] + 20, c[0] - 20:c[0] + 20]).mean() > 5  # drawn
    assert len(r._sources) == 1
    r.source(frame, crop)  # the same frame and crop: from the cache
    assert len(r._sources) == 1
    twin = __import__("copy").copy(r)
    assert twin.lp is r.lp and len(twin._sources) == 0
    nan = np.full_like(src, np.nan)
    assert np.array_equal(r.render(frame, nan, nan), frame)
    assert r.render(frame, nan, nan, out_size=(320, 240)).shape == (240, 320, 3)


class _BatchingWarp(WarpRenderer):
    """The warp renderer behind the batch interface: shows what export hands a batch
    renderer, and that batched frames equal one-by-one frames."""

    batch_size = 3

    def __init__(self, regions):
        super().__init__(regions)
        self.calls: list[int] = []

    def render_batch(self, items):
        self.calls.append(len(items))
        return [self.render(f, s, d, mouth=m) for f, s, d, m in items]


def test_export_gathers_batches_for_a_batch_renderer(tmp_path):
    from core.dub import open_take

    take = open_take(SAMPLES / "portrait.jpg", SAMPLES / "speech.wav",
                     transcript=SAMPLES / "speech.txt", cache_root=tmp_path)
    try:
        one_by_one = list(take.frames())
        batching = _BatchingWarp(take.regions)
        take.use_renderer(batching)
        # it previews (a warp), so the preview uses it too, with no warning
        assert take.renderer is take.export_renderer is batching
        assert not any(w.startswith("renderer") for w in take.warnings)
        batched = list(take.frames())
        assert len(batched) == len(one_by_one) == take.frame_count
        assert all(np.array_equal(a, b) for a, b in zip(batched, one_by_one, strict=True))
        n = take.frame_count
        assert batching.calls == [3] * (n // 3) + ([n % 3] if n % 3 else [])
        twin = take.detached()
        try:
            assert twin.renderer is twin.export_renderer and twin.renderer is not batching
        finally:
            twin.close()
        take.use_renderer(None)
        assert type(take.renderer) is WarpRenderer and take.export_renderer is None
    finally:
        take.close()


def _five_frame_clip(tmp: Path) -> tuple[Path, Path]:
    img = cv2.imread(str(SAMPLES / "portrait.jpg"))[..., ::-1]
    clip = tmp / "clip.mp4"
    with av.open(str(clip), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.pix_fmt = "yuv420p"
        s.height, s.width = img.shape[:2]
        for k in range(5):
            f = np.ascontiguousarray(np.roll(img, k, axis=1))
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    a, sr = sf.read(str(SAMPLES / "speech.wav"))
    audio = tmp / "short.wav"
    sf.write(str(audio), a[sr: sr + sr // 5], sr)  # 0.2 s: five frames at 25 fps
    return clip, audio


def _studio(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, STUDIO_CACHE_DIR=str(tmp / "cache"), **env)
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_dub_with_the_liveportrait_renderer_end_to_end(liveportrait_weights, tmp_path):
    clip, audio = _five_frame_clip(tmp_path)
    out = tmp_path / "dub.mp4"
    run = _studio(["dub", str(clip), "--audio", str(audio), "--shorter", "trim",
                   "--renderer", "liveportrait", "--weights", str(liveportrait_weights),
                   "-o", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr
    import torch

    if not torch.cuda.is_available():
        assert "preview shows the warp renderer" in run.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 5
    with av.open(str(clip)) as c:
        source = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    # the stand-in weights draw noise where the face is, and the rest is the source
    diff = np.abs(frames[0].astype(int) - source[0]).mean(axis=2)
    assert diff[60:200, 170:290].mean() > 20  # the face (portrait.jpg's)
    assert diff[420:, :].mean() < 4 and diff[:, 440:].mean() < 4  # body and background


def test_dub_with_missing_weights_fails_at_the_door(tmp_path):
    clip, audio = _five_frame_clip(tmp_path)
    run = _studio(["dub", str(clip), "--audio", str(audio), "--renderer", "liveportrait",
                   "--weights", str(tmp_path / "no_weights"), "-o", str(tmp_path / "o.mp4")],
                  tmp_path)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {tmp_path / 'no_weights'}: no such folder")
    assert not (tmp_path / "cache" / "keypoints").exists()  # before any tracking
    assert not (tmp_path / "o.mp4").exists()


def test_weights_fetch_offline_says_so(tmp_path):
    dest = tmp_path / "fetched"
    run = _studio(["weights", "fetch", "--to", str(dest)], tmp_path,
                  HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE="0",
                  HF_HOME=str(tmp_path / "hf"))
    assert run.returncode == 1
    msg = run.stderr.strip().splitlines()[-1]
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:  # a dependency in pyproject: only a broken install gets here
        assert "needs huggingface_hub" in msg
        return
    assert msg.startswith(f"error: {dest}: cannot download the LivePortrait weights")
    assert "unreachable" in msg and "--weights DIR" in msg
    assert not dest.exists()
    offline = _studio(["weights", "fetch", "--to", str(dest)], tmp_path, HF_HUB_OFFLINE="1",
                      HF_HOME=str(tmp_path / "hf"))
    assert offline.returncode == 1
    assert "cannot download the LivePortrait weights" in offline.stderr
