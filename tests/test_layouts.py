"""The 68-point face-alignment layout borrows MediaPipe data through a point table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.hashing import file_hash
from core.keypoints.analyze import analyze_keypoints
from core.keypoints.regions import load_regions
from core.media import open_media
from core.motion.library import default_library
from core.motion.mouth import inner_gap
from core.motion.visemes import VISEME_CLASSES
from core.tracking.registry import get_tracker

PORTRAIT = Path(__file__).resolve().parents[1] / "resources" / "samples" / "portrait.jpg"
FA = load_regions("face_alignment")


@pytest.fixture(scope="module")
def canonical_68(tmp_path_factory) -> np.ndarray:
    """The portrait's MediaPipe canonical face, read at the 68 places of the iBUG layout."""
    kp = analyze_keypoints(open_media(PORTRAIT), media_hash=file_hash(PORTRAIT),
                           root=tmp_path_factory.mktemp("cache"), tracker=get_tracker("mediapipe"))
    return np.asarray(kp.cache.canonical, np.float32)[FA.from_mediapipe]


def test_the_point_table_follows_the_ibug_layout(canonical_68):
    k = canonical_68
    assert FA.from_mediapipe.shape == (68,) and len(set(FA.from_mediapipe.tolist())) == 68
    jaw = k[:17]
    assert np.all(np.diff(jaw[:, 0]) > 0)  # ear to ear, left to right in the image
    assert np.argmax(jaw[:, 1]) == 8  # the chin is the lowest
    outer = k[48:60]
    assert np.argmin(outer[:, 0]) == 0 and np.argmax(outer[:, 0]) == 6  # corners 48, 54
    assert outer[3, 1] < outer[9, 1]  # top lip above the bottom lip (51 / 57)
    for up, low in ((61, 67), (62, 66), (63, 65)):
        assert k[up, 1] < k[low, 1]
    assert k[36, 0] < k[39, 0] < k[42, 0] < k[45, 0]  # eye corners, left to right
    assert k[17:27, 1].mean() < k[36:48, 1].mean() < k[30, 1] < k[51, 1]  # brows, eyes, nose


def test_face_alignment_gets_a_default_viseme_library(canonical_68):
    lib = default_library(canonical_68, FA)
    assert lib is not None and set(lib.targets) == set(VISEME_CLASSES)
    gap = {c: float(inner_gap(canonical_68 + lib.targets[c], FA) - inner_gap(canonical_68, FA))
           for c in VISEME_CLASSES}
    assert gap["aa"] > 0.02 * np.ptp(canonical_68[:, 0])  # an open vowel opens the mouth
    assert gap["PP"] <= 1e-6  # bilabials close
    moving = np.flatnonzero(np.abs(lib.targets["aa"]).max(axis=1) > 0)
    assert set(moving.tolist()) <= set(range(0, 17)) | set(range(48, 68)) | {31, 32, 33, 34, 35}
