"""The phone track's edits: retiming tiles the timeline as in Papagayo, a picked viseme
changes the mouth, and every driver follows the edited alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.align import Alignment
from core.align.result import Phone, Word
from core.keypoints.regions import load_regions
from core.motion.driver import VisemeDriver, segments_of
from core.motion.library import default_library
from core.motion.phones import (
    MIN_PHONE,
    PhoneEdit,
    edited_alignment,
    move_boundary,
    phone_viseme,
)

REG = load_regions("mediapipe")


def _alignment() -> Alignment:
    """"map" then "pa": SIL M AE P SIL P AA SIL over 1.6 s."""
    spans = [("SIL", 0.0, 0.2), ("M", 0.2, 0.3), ("AE", 0.3, 0.5), ("P", 0.5, 0.6),
             ("SIL", 0.6, 0.8), ("P", 0.8, 0.9), ("AA", 0.9, 1.3), ("SIL", 1.3, 1.6)]
    phones = [Phone(label, a, b) for label, a, b in spans]
    words = [Word("map", 0.2, 0.6, [Phone(p.label, p.start, p.end) for p in phones[1:4]]),
             Word("pa", 0.8, 1.3, [Phone(p.label, p.start, p.end) for p in phones[5:7]])]
    return Alignment(words, phones, "transcript", 1.6)


def test_moving_a_boundary_moves_both_neighbours_and_keeps_them_a_phone_long():
    al = _alignment()
    edits = move_boundary(al.phones, 2, 0.55)  # AE | P, later
    out = edited_alignment(al, edits)
    assert out.phones[2].end == pytest.approx(0.55) == out.phones[3].start
    assert out.phones[3].end == pytest.approx(0.6)
    # dragged past the next phone: clamped, P keeps MIN_PHONE
    out = edited_alignment(al, move_boundary(al.phones, 2, 5.0))
    assert out.phones[3].end - out.phones[3].start == pytest.approx(MIN_PHONE)
    starts = [p.start for p in out.phones]
    assert starts == sorted(starts)
    # the word's span and phones follow the timeline
    assert out.words[0].phones[-1].start == pytest.approx(out.phones[3].start)
    # the input alignment is left untouched
    assert al.phones[2].end == pytest.approx(0.5)


def test_a_retimed_phone_pushes_its_neighbours_and_never_overlaps():
    al = _alignment()
    out = edited_alignment(al, {6: PhoneEdit(0.85, 1.45)})  # AA, wider both ways
    assert out.phones[5].end == pytest.approx(0.85)  # P gave way
    assert out.phones[7].start == pytest.approx(1.45)  # SIL too
    for a, b in zip(out.phones, out.phones[1:], strict=False):
        assert a.end == pytest.approx(b.start) and a.end > a.start
    # an edit for a phone the dub does not have (another dub) is ignored
    assert edited_alignment(al, {40: PhoneEdit(0.1, 0.2)}).phones == al.phones


@pytest.fixture(scope="module")
def canonical(tmp_path_factory) -> np.ndarray:
    """The sample portrait's tracked canonical face."""
    from core.hashing import file_hash
    from core.keypoints.analyze import analyze_keypoints
    from core.media import open_media
    from core.tracking.registry import get_tracker

    portrait = Path(__file__).resolve().parents[1] / "resources" / "samples" / "portrait.jpg"
    with open_media(portrait) as source:
        kp = analyze_keypoints(source, media_hash=file_hash(portrait),
                               root=tmp_path_factory.mktemp("cache"),
                               tracker=get_tracker("mediapipe"))
        return np.asarray(kp.cache.canonical, np.float32)


def test_a_picked_viseme_changes_the_mouth_and_round_trips_through_json(canonical):
    al = _alignment()
    out = edited_alignment(al, {2: PhoneEdit(viseme="O")})
    assert phone_viseme(out.phones[2]) == "O" and phone_viseme(al.phones[2]) == "aa"
    assert [c for c, _, _ in segments_of(out)][2] == "O"
    assert Alignment.from_json(out.to_json()).phones[2].viseme == "O"
    # the mouth moves: the viseme driver's motion differs around the phone only
    lib = default_library(canonical, REG)
    a = VisemeDriver(lib).motion(al, 40, 25.0).delta
    b = VisemeDriver(lib).motion(out, 40, 25.0).delta
    diff = np.abs(a - b).reshape(40, -1).max(axis=1)
    assert diff[int(0.4 * 25)] > 100 * diff[-1]  # far from it, coarticulation fades


def test_a_bad_edit_is_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="unknown viseme"):
        PhoneEdit(viseme="zz")
    with pytest.raises(ValueError, match="end after it starts"):
        PhoneEdit(0.5, 0.4)
    with pytest.raises(ValueError, match="both start and end"):
        PhoneEdit(0.5, None)
    with pytest.raises(IndexError):
        move_boundary(_alignment().phones, 7, 1.0)
