"""Retyping a word on the timeline re-aligns only its neighbourhood."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.align import align
from core.align.retype import retype_word
from core.errors import AlignError
from core.media import load_audio

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    audio = load_audio(SAMPLES / "speech.wav", 16000)
    folder = tmp_path_factory.mktemp("align")
    text = (SAMPLES / "speech.txt").read_text(encoding="utf-8")
    return audio.samples, align(audio.samples, text, cache_dir=folder), folder


def _spans(words):
    return [(w.text, round(w.start, 3), round(w.end, 3)) for w in words]


def test_retyping_a_word_changes_it_and_leaves_the_rest_where_it_was(speech):
    samples, al, folder = speech
    i = [w.text for w in al.words].index("bee")
    out, where = retype_word(samples, al, i, "bean", cache_dir=folder)
    assert [w.text for w in out.words][i] == "bean" and list(where) == [i]
    assert _spans(out.words[:i - 1]) == _spans(al.words[:i - 1])
    assert _spans(out.words[i + 2:]) == _spans(al.words[i + 2:])
    far = [p for p in al.phones if p.end <= al.words[i - 1].start]
    assert [(p.label, p.start, p.end) for p in out.phones[:len(far)]] == \
        [(p.label, p.start, p.end) for p in far]
    # the phones still tile the timeline
    for a, b in zip(out.phones, out.phones[1:], strict=False):
        assert b.start == pytest.approx(a.end, abs=1e-3)
    # the new word sits where the old one was spoken, within a few frames
    assert abs(out.words[i].start - al.words[i].start) < 0.12


def test_one_word_retyped_as_two_takes_two_places(speech):
    samples, al, folder = speech
    i = [w.text for w in al.words].index("zoo")
    out, where = retype_word(samples, al, i, "zoo, too", cache_dir=folder)
    assert len(out.words) == len(al.words) + 1 and list(where) == [i, i + 1]
    assert [w.text for w in out.words][i:i + 2] == ["zoo", "too"]


def test_nothing_typed_is_refused_naming_the_word(speech):
    samples, al, folder = speech
    with pytest.raises(AlignError, match="word 0"):
        retype_word(samples, al, 0, "  ", cache_dir=folder)
    with pytest.raises(IndexError):
        retype_word(samples, al, len(al.words), "x", cache_dir=folder)


def test_words_the_aligner_could_not_place_are_marked_and_the_rest_aligned(speech):
    """A transcript that does not match the audio still aligns what it can; the words it
    could not place carry the mark the timeline shows, and keep it through a save."""
    samples, _, folder = speech
    from core.align import Alignment

    al = align(samples, "The duck and the elephant bee went to the zoo too yesterday "
               "morning", cache_dir=folder)
    assert len(al.words) == 13
    marked = [w.text for w in al.words if w.estimated]
    assert marked and any("could not be placed" in n for n in al.notes)
    again = Alignment.from_json(al.to_json())
    assert [w.estimated for w in again.words] == [w.estimated for w in al.words]
    good = align(samples, (SAMPLES / "speech.txt").read_text(encoding="utf-8"),
                 cache_dir=folder)
    assert not any(w.estimated for w in good.words)
