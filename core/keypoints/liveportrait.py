"""The ``liveportrait`` keypoint backend: LivePortrait's 21 implicit keypoints per frame,
in the same cache and the same contract K_t = s_t · (K_c + E_t) · R_tᵀ + τ_t.

The tracker's landmarks (already cached) give each frame's crop (facts §3); the motion
extractor gives pitch, yaw, roll, t, exp, scale and kp of the crop (facts §4):
x = s · (kp · R_lpᵀ + exp) + (tx, ty, 0) in the crop's [-1, 1] units. Mapping x into frame
pixels through the crop (a similarity: rotation Q about the view axis, k pixels per
unit, offset c) keeps the form exactly:

    K_t = (k·s) · (kp + exp·R_lp) · (Q·R_lp)ᵀ + (k·(tx, ty, 0)·Qᵀ + c)

so R_t = Q·R_lp, s_t = k·s, τ_t = k·τ·Qᵀ + c, and K_c + E_t = kp_t + exp_t·R_lp, with
K_c the clip's median kp and E_t the rest (exact recomposition, as for the landmarks).

In this space (see README): the viseme library is the class means of E_t at the dub-free
footage's aligned phones, on the lip keypoints (``implicit_viseme_library``); the word
projections take their directions from it unchanged (core.motion.words.style_directions);
an emotion is the PC-Talk subtraction of implicit expressions, masked to a region's
keypoints (``implicit_emotion``). The landmark-space drivers reach it through the map
learned from footage (core.render.liveportrait.transfer.fit_expression_map).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.align import Alignment
from core.errors import Cancelled
from core.hashing import file_hash
from core.keypoints.cache import CacheInvalid, KeypointCache, remove_folder
from core.keypoints.decompose import Decomposition
from core.keypoints.regions import RegionSet
from core.motion.library import VisemeLibrary, class_means, phone_examples
from core.motion.visemes import VISEME_CLASSES
from core.progress import Progress
from core.render.liveportrait.crop import Crop, crop_for, cut
from core.render.liveportrait.pose import keypoint_info, rotation_transposed

TRACKER = "liveportrait"
VERSION = 1
NUM_KP = 21


def frame_pose(info: dict[str, np.ndarray], crop: Crop
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(R_t, s_t, τ_t, K_c + E_t) in frame pixels for one frame's keypoint_info (numpy,
    no batch axis: angles in degrees, t (3,), scale (1,), kp and exp (21, 3))."""
    rot_t = rotation_transposed(*(torch.tensor(np.reshape(info[k], (1,)), dtype=torch.float64)
                                  for k in ("pitch", "yaw", "roll")))[0].numpy()
    r_lp = rot_t.T
    q = np.eye(3)
    q[:2, :2] = crop.rotation.T  # crop axes → frame axes
    k = crop.size / 2 / crop.scale  # frame pixels per crop unit
    c = np.zeros(3)
    c[:2] = crop.to_frame(np.array([crop.size / 2, crop.size / 2]))  # where (0, 0) lands
    tau = np.array([info["t"][0], info["t"][1], 0.0])
    shape = np.asarray(info["kp"], np.float64) + np.asarray(info["exp"], np.float64) @ r_lp
    return q @ r_lp, k * float(np.reshape(info["scale"], ())), k * tau @ q.T + c, shape


def implicit_points(info: dict[str, np.ndarray], crop: Crop) -> np.ndarray:
    """The implicit keypoints x (facts §4) of one frame in frame pixels (z scaled like x)."""
    rot_t = rotation_transposed(*(torch.tensor(np.reshape(info[k], (1,)), dtype=torch.float64)
                                  for k in ("pitch", "yaw", "roll")))[0].numpy()
    x = float(np.reshape(info["scale"], ())) * (np.asarray(info["kp"], np.float64) @ rot_t
                                                + np.asarray(info["exp"], np.float64))
    x[:, :2] += np.asarray(info["t"], np.float64)[:2]
    k = crop.size / 2 / crop.scale
    out = np.empty_like(x)
    out[:, :2] = crop.to_frame((x[:, :2] + 1) * crop.size / 2)
    out[:, 2] = x[:, 2] * k
    return out


def decompose_implicit(infos: list[dict[str, np.ndarray] | None],
                       crops: list[Crop | None]) -> Decomposition:
    """The contract's fields from per-frame motion-extractor output (None: no face)."""
    t_count = len(infos)
    valid = np.array([i is not None for i in infos])
    if not valid.any():
        raise ValueError("no frame has a face")
    rotation = np.tile(np.eye(3), (t_count, 1, 1))
    scale = np.ones(t_count)
    translation = np.zeros((t_count, 3))
    shapes = np.zeros((t_count, NUM_KP, 3))
    for t, (info, crop) in enumerate(zip(infos, crops, strict=True)):
        if info is not None:
            rotation[t], scale[t], translation[t], shapes[t] = frame_pose(info, crop)
    canonical = np.median(shapes[valid], axis=0)
    expression = np.zeros_like(shapes)
    expression[valid] = shapes[valid] - canonical
    return Decomposition(canonical, rotation, scale, translation, expression,
                         valid.astype(np.uint8))


def _infos(lp: Any, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    info = keypoint_info(lp.motion_raw(batch))
    arrays = {k: v.detach().cpu().double().numpy() for k, v in info.items()}
    return [{k: v[i] for k, v in arrays.items()} for i in range(len(images))]


def analyze_implicit_keypoints(
    source: Any, landmarks: KeypointCache, regions: RegionSet, lp: Any, *, root: Path,
    media_hash: str, batch: int = 8,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> KeypointCache:
    """The implicit keypoints of every frame of ``source``, cached under ``root`` beside the
    landmark cache they were cropped with (keyed by both and by the motion extractor's
    weights). ``lp`` is a loaded core.render.liveportrait.model.LivePortrait."""
    weights = lp.paths.get("motion_extractor")
    wkey = file_hash(weights)[:12] if weights is not None else "unsaved"
    key = f"{media_hash}-{TRACKER}-{VERSION}-{wkey}-{landmarks.folder.name}"
    base = Path(root) / "keypoints"
    final = base / key
    expect = {"media_hash": media_hash, "tracker": TRACKER,
              "tracker_version": f"{VERSION}-{wkey}", "frames": source.frame_count}
    if final.exists():
        try:
            return KeypointCache.open(final, expect)
        except CacheInvalid:
            remove_folder(final)
    valid = np.asarray(landmarks.validity) > 0
    points = landmarks.points()
    infos: list[dict[str, np.ndarray] | None] = [None] * source.frame_count
    crops: list[Crop | None] = [None] * source.frame_count
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        for (t, _), info in zip(pending, _infos(lp, [im for _, im in pending]), strict=True):
            infos[t] = info
        pending.clear()

    done = 0
    for t, frame in _frames(source):
        if valid[t]:
            try:
                crops[t] = crop_for(points[t], regions)
            except ValueError:
                crops[t] = None
            if crops[t] is not None:
                pending.append((t, cut(frame, crops[t])))
                if len(pending) == batch:
                    flush()
        done = t + 1
        if progress:
            progress("tracking", done, source.frame_count)
        if cancel and cancel():
            raise Cancelled()
    if pending:
        flush()
    dec = decompose_implicit(infos, crops)
    meta = dict(expect, fps=source.fps, width=source.width, height=source.height,
                gaps=landmarks.meta.get("gaps", []), source=str(source.path),
                landmarks=landmarks.folder.name, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    tmp = base / f"{key}.tmp-{os.getpid()}"
    remove_folder(tmp)
    KeypointCache.write(tmp, dec, meta)
    os.replace(tmp, final)
    return KeypointCache.open(final, expect)


def _frames(source: Any) -> Iterable[tuple[int, np.ndarray]]:
    return source.frames()


def implicit_viseme_library(expression: np.ndarray, validity: np.ndarray,
                            alignment: Alignment, fps: float, regions: RegionSet,
                            min_examples: int = 3) -> VisemeLibrary:
    """Mouth targets per viseme class in the implicit space: the mean E_t of the lip and
    mouth keypoints at the centres of each class's phones in the speaker's own footage.
    Classes seen fewer than ``min_examples`` times stay empty ("missing"): no multi-speaker
    default library exists in this space yet (it needs the real weights and footage)."""
    means, counts = class_means(expression, validity,
                                phone_examples(alignment, fps, len(expression)))
    mask = regions.mask("mouth")[:, None]
    zero = np.zeros((regions.n_points, 3), np.float32)
    targets, origin = {}, {}
    for cls in VISEME_CLASSES:
        if cls != "sil" and counts.get(cls, 0) >= min_examples:
            targets[cls] = (means[cls] * mask).astype(np.float32)
            origin[cls] = "speaker"
        else:
            targets[cls] = zero.copy()
            origin[cls] = "neutral" if cls == "sil" else "missing"
    return VisemeLibrary(targets, origin, counts)


def implicit_emotion(reference: np.ndarray, neutral: np.ndarray, regions: RegionSet,
                     region: str) -> np.ndarray:
    """D_e = E_reference − E_neutral on one region's keypoints (PC-Talk's subtraction):
    (21, 3), zero elsewhere. Regions: mouth, lips, eyes, brows, ... (resources/regions)."""
    d = np.asarray(reference, np.float64) - np.asarray(neutral, np.float64)
    return (d * regions.mask(region)[:, None]).astype(np.float32)
