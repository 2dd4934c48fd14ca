"""Emotions per region: presets, masks, intensity curves, crossfades, references, lip sync."""

from __future__ import annotations

import numpy as np
import pytest

from core.keypoints.decompose import mouth_opening
from core.keypoints.regions import load_regions
from core.motion.emotion import (
    EMOTIONS,
    INTENSITY_MAX,
    REGIONS,
    EmotionClip,
    emotion_mask,
    emotion_offsets,
    intensity_curve,
    keep_lip_gap,
    load_presets,
    preset_deformation,
    reference_deformation,
    region_indices,
    region_sizes,
    region_weights,
    track_weights,
)

R = load_regions("mediapipe")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("emotion-cache")


def _analyse(path, cache_dir):
    from core.analysis import analyze

    return analyze(path, cache_root=cache_dir).keypoints.cache


@pytest.fixture(scope="module")
def talking(shared_data, cache_dir):
    return _analyse(shared_data / "video" / "woman_glasses.mp4", cache_dir)


def _random_canonical(seed: int = 0) -> np.ndarray:
    """Random points standing in for a canonical face (for the exactness checks only)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(R.n_points, 3)) * 0.5


# --- presets ------------------------------------------------------------------------------
def test_presets_have_all_eight_emotions_on_four_regions():
    p = load_presets("mediapipe")
    assert set(p.names) == set(EMOTIONS) and len(EMOTIONS) == 8
    for name in EMOTIONS:
        assert set(p.normalised[name]) == set(REGIONS)
        for r in REGIONS:
            d = p.normalised[name][r]
            assert d.shape == (R.n_points, 3) and np.isfinite(d).all()
            outside = np.setdiff1d(np.arange(R.n_points), region_indices(R, r))
            assert not d[outside].any(), f"{name}/{r} moves points outside its region"
        assert p.notes[name]
    assert not any(p.normalised["neutral"][r].any() for r in REGIONS)
    for name in EMOTIONS[1:]:
        assert any(p.normalised[name][r].any() for r in REGIONS), name
    # the expressive regions of the main emotions are all there
    for name, r in [("happy", "mouth"), ("sad", "mouth"), ("angry", "brows"),
                    ("surprised", "brows"), ("surprised", "eyes"), ("disgusted", "eyes")]:
        assert np.abs(p.normalised[name][r]).max() > 0.02, (name, r)


def test_preset_mouths_keep_the_inner_lip_gap():
    p = load_presets("mediapipe")
    lm = R.landmarks
    for name in EMOTIONS:
        d = p.normalised[name]["mouth"]
        assert np.allclose(d[lm["upper_lip_inner"]], d[lm["lower_lip_inner"]], atol=2e-4), name


def test_regions_are_disjoint_and_weights_stay_inside():
    seen = np.zeros(R.n_points, dtype=int)
    for r in REGIONS:
        w = region_weights(R, r)
        assert w.shape == (R.n_points,) and w.dtype == np.float32
        assert ((w >= 0) & (w <= 1)).all()
        assert np.array_equal(np.flatnonzero(w), region_indices(R, r))
        seen[region_indices(R, r)] += 1
    assert seen.max() == 1
    assert not emotion_mask(R)[R["rigid"]].any(), "the pose's rigid points must never move"
    # the cheeks fade at their border, the mouth takes every lip point
    assert 0 < region_weights(R, "cheeks").min(initial=1, where=region_weights(R, "cheeks") > 0) < 1
    assert {11, 12, 15, 16, 62, 76, 292, 306} <= set(region_indices(R, "mouth").tolist())


def test_presets_rescale_with_the_identity(talking):
    k = talking.canonical.astype(np.float64)
    d = preset_deformation("happy", k, R)
    assert d.shape == (R.n_points, 3) and d.dtype == np.float32
    assert not d[~emotion_mask(R)].any()
    # a face 20 % larger everywhere gets a 20 % larger deformation
    assert np.allclose(preset_deformation("happy", 1.2 * k, R), 1.2 * d, atol=1e-5)
    # a mouth 30 % wider (only the mouth's points) gets a 30 % larger mouth deformation
    # and the eyes and brows of that face are unchanged
    wide = k.copy()
    mouth = region_indices(R, "mouth")
    centre = k[mouth].mean(axis=0)
    wide[mouth, 0] = centre[0] + 1.3 * (k[mouth, 0] - centre[0])
    grow = region_sizes(wide, R)["mouth"][0] / region_sizes(k, R)["mouth"][0]
    assert grow == pytest.approx(1.3, rel=0.01)
    dw = preset_deformation("happy", wide, R)
    assert np.allclose(dw[mouth], grow * d[mouth], atol=1e-5)
    eyes = region_indices(R, "eyes")
    assert np.allclose(dw[eyes], d[eyes], atol=1e-6)
    # taller eyes open and close further
    tall = k.copy()
    for side in ("left_eye", "right_eye"):
        idx = R[side]
        c = k[idx].mean(axis=0)
        tall[idx, 1] = c[1] + 1.5 * (k[idx, 1] - c[1])
    ratio = region_sizes(tall, R)["eyes"][1] / region_sizes(k, R)["eyes"][1]
    assert ratio == pytest.approx(1.5, rel=1e-3)
    de = preset_deformation("surprised", tall, R)
    ds = preset_deformation("surprised", k, R)
    assert np.allclose(de[eyes, 1], ratio * ds[eyes, 1], atol=1e-5)
    with pytest.raises(KeyError):
        preset_deformation("bored", k, R)


# --- clips --------------------------------------------------------------------------------
def test_intensity_curve_ramps_holds_and_ends():
    clip = EmotionClip("mouth", start=1.0, end=3.0, key="happy", intensity=0.8,
                       fade_in=0.5, fade_out=0.4)
    t = np.array([0.0, 0.99, 1.0, 1.25, 1.5, 2.0, 2.6, 2.8, 3.0, 3.01, 5.0])
    lam = intensity_curve(clip, t)
    assert lam[0] == lam[1] == lam[2] == 0.0
    assert lam[3] == pytest.approx(0.4)  # halfway up the smoothstep
    assert lam[4] == lam[5] == lam[6] == pytest.approx(0.8)
    assert lam[7] == pytest.approx(0.4)
    assert lam[8] == lam[9] == lam[10] == 0.0
    dense = intensity_curve(clip, np.linspace(0, 4, 4001))
    assert (np.diff(dense[1000:1500]) >= 0).all() and (np.diff(dense[2600:3000]) <= 0).all()
    assert np.abs(np.diff(dense)).max() < 0.01, "fades are smooth"
    # fades longer than the clip are shortened to fit
    short = EmotionClip("eyes", 0.0, 0.4, "sad", 1.0, fade_in=1.0, fade_out=1.0)
    s = intensity_curve(short, np.linspace(0, 0.4, 41))
    assert s.max() == pytest.approx(1.0) and s[0] == 0 and s[-1] == 0
    hard = EmotionClip("eyes", 0.0, 1.0, "sad", 1.2, fade_in=0.0, fade_out=0.0)
    assert np.allclose(intensity_curve(hard, [-0.1, 0.0, 0.5, 1.0, 1.1]), [0, 1.2, 1.2, 1.2, 0])


def test_clips_are_validated():
    with pytest.raises(ValueError):
        EmotionClip("nose", 0, 1, "happy")
    with pytest.raises(ValueError):
        EmotionClip("mouth", 1, 1, "happy")
    with pytest.raises(ValueError):
        EmotionClip("mouth", 0, 1, "happy", intensity=INTENSITY_MAX + 0.1)
    with pytest.raises(ValueError):
        EmotionClip("mouth", 0, 1, "happy", fade_in=-1)
    with pytest.raises(KeyError):
        emotion_offsets([EmotionClip("mouth", 0, 1, "nope")], {}, R, np.zeros(3))


def test_points_outside_a_clips_region_do_not_move():
    rng = np.random.default_rng(1)
    d = {"x": rng.normal(size=(R.n_points, 3)).astype(np.float32)}
    times = np.linspace(0, 4, 101)
    for r in REGIONS:
        off = emotion_offsets([EmotionClip(r, 0.5, 3.5, "x", 1.0)], d, R, times)
        assert off.shape == (101, R.n_points, 3) and off.dtype == np.float32
        outside = np.setdiff1d(np.arange(R.n_points), region_indices(R, r))
        assert not off[:, outside].any(), r
        assert off[:, region_indices(R, r)].any()
        mid = off[50]
        assert np.allclose(mid, region_weights(R, r)[:, None] * d["x"], atol=1e-6)
    assert not emotion_offsets([], d, R, times).any()


def test_overlapping_clips_crossfade_and_never_exceed_the_larger_intensity():
    times = np.linspace(0, 6, 601)
    a = EmotionClip("brows", 0.0, 4.0, "a", intensity=0.8, fade_in=0.5, fade_out=1.0)
    b = EmotionClip("brows", 3.0, 6.0, "b", intensity=1.2, fade_in=1.0, fade_out=0.5)
    c = EmotionClip("brows", 1.0, 2.0, "a", intensity=1.0, fade_in=0.2, fade_out=0.2)
    w = track_weights([a, b, c], times)
    total = w.sum(axis=0)
    assert total.max() <= 1.2 + 1e-9
    # alone, a clip keeps its own curve; inside a crossfade the weights share the track
    alone = (times > 0.6) & (times < 0.9)
    assert np.allclose(w[0, alone], 0.8)
    both = (times > 3.0) & (times < 4.0)
    assert (w[0, both] < intensity_curve(a, times[both]) + 1e-12).all()
    assert np.allclose(total[(times > 3.2) & (times < 3.8)],
                       w[0, (times > 3.2) & (times < 3.8)] + w[1, (times > 3.2) & (times < 3.8)])
    # a fully overlapped stretch averages: a (0.8) and c (1.0) → 0.9
    assert np.allclose(total[(times > 1.3) & (times < 1.7)], 0.9)
    # the same deformation on both: the offsets never exceed the larger intensity's
    d = {"a": np.ones((R.n_points, 3), np.float32), "b": np.ones((R.n_points, 3), np.float32)}
    off = emotion_offsets([a, b, c], d, R, times)
    assert np.abs(off).max() <= 1.2 + 1e-5
    # other regions' tracks add independently
    e = EmotionClip("mouth", 0.0, 6.0, "a", intensity=1.5, fade_in=0, fade_out=0)
    off2 = emotion_offsets([a, b, c, e], d, R, times)
    mouth = region_indices(R, "mouth")
    brows = region_indices(R, "brows")
    assert np.allclose(off2[:, mouth], 1.5)
    assert np.allclose(off2[:, brows], off[:, brows])


def test_a_ten_minute_clip_matches_the_frame_by_frame_sum():
    """The run-length shortcut of emotion_offsets (its speed is measured by
    bench/emotion_offsets.py) gives, on a 10-minute clip, exactly the per-frame
    Σ_r λ_r(t)·M_r⊙D at every frame where the weights change and around them."""
    times = np.arange(15000) / 25.0
    rng = np.random.default_rng(0)
    d = {n: rng.normal(size=(R.n_points, 3)).astype(np.float32) for n in EMOTIONS}
    clips = [
        EmotionClip("mouth", 10, 300, "happy", 1.0, 0.5, 0.5),
        EmotionClip("mouth", 290, 500, "sad", 0.8),
        EmotionClip("brows", 0, 600, "surprised", 1.2),
        EmotionClip("eyes", 100, 200, "angry"),
        EmotionClip("cheeks", 5, 590, "happy", 1.5),
    ]
    off = emotion_offsets(clips, d, R, times)
    assert off.shape == (15000, R.n_points, 3) and off.dtype == np.float32
    weights = track_weights(clips, times)
    edges = [0, 14999] + [round(t * 25) + k for c in clips for t in (c.start, c.end)
                          for k in (-13, -1, 0, 1, 12)]
    for f in sorted({min(14999, max(0, e)) for e in edges}):
        want = sum(w[f] * region_weights(R, c.region)[:, None] * d[c.key]
                   for c, w in zip(clips, weights, strict=True))
        np.testing.assert_allclose(off[f], want, rtol=1e-5, atol=1e-5)


# --- references ---------------------------------------------------------------------------
def test_reference_from_a_real_image_is_its_expression_minus_the_neutral(
    shared_data, cache_dir, talking
):
    ref = _analyse(shared_data / "image" / "photo_bw.jpg", cache_dir)
    assert ref.frame_count == 1
    expression = ref.expression()[0]
    neutral = np.median(talking.expression(), axis=0)  # the target's median expression
    d = reference_deformation(expression, neutral, R)
    inside = emotion_mask(R)
    assert np.allclose(d[inside], (expression - neutral)[inside], atol=1e-6)
    assert not d[~inside].any()
    # the closed neutral is zeros
    assert np.allclose(reference_deformation(expression, None, R)[inside], expression[inside])


def test_reference_from_a_source_frame_subtracts_the_clips_neutral(talking):
    e = talking.expression()
    opening = mouth_opening(talking.canonical[None] + e, R)
    frame = int(np.argmax(opening))
    d = reference_deformation(e[frame], e, R)  # a span as the neutral: its median
    inside = emotion_mask(R)
    assert np.allclose(d[inside], (e[frame] - np.median(e, axis=0))[inside], atol=1e-6)
    assert not d[~inside].any()
    # with the gap kept, the open-mouth frame no longer opens the lips
    lm = R.landmarks
    safe = reference_deformation(e[frame], e, R, keep_gap=True,
                                 opening_mode=load_presets().opening_mode)
    assert np.allclose(safe[lm["upper_lip_inner"]], safe[lm["lower_lip_inner"]])
    eyes = region_indices(R, "eyes")
    assert np.allclose(safe[eyes], d[eyes])


def test_keep_lip_gap_is_exact_on_every_inner_pair():
    rng = np.random.default_rng(3)
    d = rng.normal(size=(R.n_points, 3))
    k = _random_canonical()
    out = keep_lip_gap(d, R, load_presets().opening_mode, k, 0.3)
    from core.motion.emotion import lip_pairs

    p = lip_pairs(R)
    assert np.allclose(out[p[:, 0]], out[p[:, 1]])


# --- lip sync on a real talking clip ------------------------------------------------------
@pytest.mark.parametrize("name", ["happy", "surprised", "sad", "disgusted", "contemptuous"])
def test_mouth_emotions_keep_lip_sync(talking, name):
    k = talking.canonical.astype(np.float64)
    e = talking.expression().astype(np.float64)
    times = np.arange(talking.frame_count) / talking.fps
    d = {name: preset_deformation(name, k, R)}
    clip = EmotionClip("mouth", 0.0, float(times[-1]) + 1.0, name, 1.0, fade_in=0, fade_out=0)
    off = emotion_offsets([clip], d, R, times)
    before = k[None] + e
    after = before + off
    o0, o1 = mouth_opening(before, R), mouth_opening(after, R)
    assert np.corrcoef(o0, o1)[0, 1] >= 0.9
    assert np.abs(o1 - o0).max() < 0.05 * o0.max(), "closures still close"
    lm = R.landmarks
    width = np.linalg.norm(k[lm["mouth_left"]] - k[lm["mouth_right"]])
    corners = [lm["mouth_left"], lm["mouth_right"]]
    centre = [lm["upper_lip_inner"], lm["lower_lip_inner"]]

    def corner_height(s: np.ndarray) -> np.ndarray:  # > 0: corners above the lips' centre
        return s[:, centre, 1].mean(axis=1) - s[:, corners, 1].mean(axis=1)

    lift = (corner_height(after) - corner_height(before)) / width
    shift = np.linalg.norm(off[:, corners], axis=-1).mean() / width
    assert shift > 0.02, f"{name}: the corners barely move ({shift:.3f} mouth widths)"
    if name == "happy":
        assert lift.mean() > 0.04, f"a smile raises the corners ({lift.mean():.3f})"
    if name == "sad":
        assert lift.mean() < -0.01, f"sadness lowers the corners ({lift.mean():.3f})"
