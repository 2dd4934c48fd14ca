"""core.align: transcripts, letter-to-sound rules and pocketsphinx alignment on real audio."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from core.align import Alignment, Phone, Word, align, normalize, pronounce, read_transcript
from core.align import aligner as aligner_module
from core.errors import AlignError, Cancelled, TranscriptError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "speech.wav"
SAMPLE_TEXT = ROOT / "resources" / "samples" / "speech.txt"
RATE = 16000


def load(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz (core.media is not needed for WAV files)."""
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if rate != RATE:
        g = math.gcd(rate, RATE)
        x = resample_poly(x, RATE // g, rate // g)
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return load(SAMPLE)


@pytest.fixture(scope="module")
def sample_text() -> str:
    return read_transcript(SAMPLE_TEXT)


@pytest.fixture(scope="module")
def sample_result(sample: np.ndarray, sample_text: str, tmp_path_factory) -> Alignment:
    return align(sample, sample_text, cache_dir=tmp_path_factory.mktemp("cache"))


def check_timeline(result: Alignment) -> None:
    """Words in order without overlaps, phones inside their words, a gapless phone track."""
    eps = 1e-6
    for a, b in zip(result.words[:-1], result.words[1:], strict=True):
        assert a.end <= b.start + eps, (a, b)
    for w in result.words:
        assert 0 <= w.start <= w.end <= result.duration + eps
        for p in w.phones:
            assert w.start - eps <= p.start < p.end <= w.end + eps, (w.text, p)
    assert result.phones, "the phone track is never empty"
    assert result.phones[0].start == 0
    assert result.phones[-1].end == pytest.approx(result.duration)
    for a, b in zip(result.phones[:-1], result.phones[1:], strict=True):
        assert a.end == pytest.approx(b.start), (a, b)
        assert a.end > a.start


# ---------------------------------------------------------------------------------------------
# Alignment of the sample


def test_sample_alignment_has_every_word_in_order(sample_result: Alignment, sample_text: str):
    result = sample_result
    assert [w.text for w in result.words] == normalize(sample_text)
    assert result.source == "transcript"
    assert result.words_reliable
    assert result.notes == []
    assert result.duration == pytest.approx(len(load(SAMPLE)) / RATE)
    # The sample starts with exactly 1.0 s of silence.
    assert result.words[0].start >= 0.9
    check_timeline(result)
    for w in result.words:
        assert w.phones, f"{w.text} has no phones"
        assert w.end - w.start >= 0.03
    duck = next(w for w in result.words if w.text == "duck")
    assert [p.label for p in duck.phones] == ["D", "AH", "K"]
    labels = {p.label for p in result.phones}
    assert "SIL" in labels and {"D", "AH", "K", "B", "IY", "Z", "UW"} <= labels


def test_alignment_round_trips_through_json(sample_result: Alignment):
    data = json.loads(json.dumps(sample_result.to_json()))
    assert Alignment.from_json(data) == sample_result
    word = Word("hi", 0.1, 0.3, [Phone("HH", 0.1, 0.2), Phone("AY", 0.2, 0.3)])
    assert Word.from_json(word.to_json()) == word


def test_second_call_comes_from_the_cache(sample, sample_text, tmp_path, monkeypatch):
    first = align(sample, sample_text, cache_dir=tmp_path)
    assert list(tmp_path.glob("*.json")), "the result is written to the cache folder"

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(aligner_module, "_compute", no_decoding)
    assert align(sample, sample_text, cache_dir=tmp_path) == first
    # A different transcript is a different key.
    with pytest.raises(AssertionError, match="decoded again"):
        align(sample, "the duck", cache_dir=tmp_path)


def test_oov_word_is_pronounced_by_rule_with_a_note(sample, tmp_path):
    result = align(sample, "The duck and the zorblax went to the zoo too.", cache_dir=tmp_path)
    assert [w.text for w in result.words][4] == "zorblax"
    assert any("zorblax" in n and "pronounced by rule" in n for n in result.notes)
    zorblax = result.words[4]
    assert [p.label for p in zorblax.phones] == pronounce("zorblax")
    check_timeline(result)


def test_words_that_do_not_fit_get_estimated_times(sample, tmp_path):
    # Six times the sentence in three seconds of speech: the aligner cannot place them all.
    text = " ".join(["The duck and the bee went to the zoo too."] * 6)
    result = align(sample, text, cache_dir=tmp_path)
    assert [w.text for w in result.words] == normalize(text)
    assert any("estimated" in n for n in result.notes)
    check_timeline(result)


def test_long_audio_is_aligned_in_chunks_with_global_times(sample, sample_text, tmp_path):
    # Eight copies of the sample (33 s): cut into chunks, matched and aligned piecewise.
    copies = 8
    audio = np.concatenate([sample] * copies)
    result = align(audio, " ".join([sample_text] * copies), cache_dir=tmp_path)
    words = normalize(sample_text)
    assert [w.text for w in result.words] == words * copies
    check_timeline(result)
    period = len(sample) / RATE
    for k in range(copies):
        copy = result.words[k * len(words) : (k + 1) * len(words)]
        assert copy[0].start >= k * period + 0.9
        assert copy[-1].end <= (k + 1) * period
    assert not any("estimated" in n for n in result.notes)


def test_progress_and_cancel(sample, sample_text, tmp_path):
    seen: list[float] = []
    align(sample, sample_text, cache_dir=tmp_path / "a",
          progress=lambda stage, done, total: seen.append(done / total))
    assert seen and seen[-1] == 1.0
    assert seen == sorted(seen)
    with pytest.raises(Cancelled):
        align(sample, sample_text, cache_dir=tmp_path / "b", cancel=lambda: True)


# ---------------------------------------------------------------------------------------------
# Audio edge cases


def test_zero_length_audio_is_an_error(tmp_path):
    with pytest.raises(AlignError, match="empty"):
        align(np.zeros(0, dtype=np.float32), "hello", cache_dir=tmp_path)


@pytest.mark.parametrize("transcript", [None, "hello there"])
def test_silent_audio_has_no_words_and_a_note(transcript, tmp_path):
    silence = np.zeros(3 * RATE, dtype=np.float32)
    result = align(silence, transcript, cache_dir=tmp_path)
    assert result.words == []
    assert any("no speech" in n.lower() for n in result.notes)
    assert [(p.label, p.start, p.end) for p in result.phones] == [("SIL", 0.0, 3.0)]
    assert result.source == ("transcript" if transcript else "recognition")


def test_transcript_without_words_is_an_error(sample, tmp_path):
    with pytest.raises(TranscriptError, match="no words"):
        align(sample, "... !!! ---", cache_dir=tmp_path)


def test_language_other_than_english_gives_phones_and_unreliable_words(sample, tmp_path):
    result = align(sample, None, language="de", cache_dir=tmp_path)
    assert not result.words_reliable
    assert any("unreliable" in n for n in result.notes)
    assert sum(p.label != "SIL" for p in result.phones) >= 5
    check_timeline(result)


# ---------------------------------------------------------------------------------------------
# Real recordings


def test_recognition_without_transcript(shared_data: Path, tmp_path):
    audio = load(shared_data / "audio" / "en_radio31.wav")
    result = align(audio, None, cache_dir=tmp_path)
    assert result.source == "recognition"
    assert result.words_reliable
    assert len(result.words) >= 10
    texts = {w.text for w in result.words}
    assert len(texts & {"holidays", "time", "loved", "festivities", "school"}) >= 2
    check_timeline(result)
    assert all(w.phones for w in result.words)


def test_non_english_speech_is_detected(shared_data: Path, tmp_path):
    audio = load(shared_data / "audio" / "zh_speech.wav")
    result = align(audio, None, cache_dir=tmp_path)
    assert not result.words_reliable
    assert any("may not be English speech" in n for n in result.notes)
    assert sum(p.label != "SIL" for p in result.phones) >= 10
    check_timeline(result)


def test_the_readme_sample_is_not_called_foreign_without_its_transcript(tmp_path):
    """eSpeak's synthetic voice is English the recogniser hears badly (its acoustic model
    fits the voice poorly): the words are not trusted, but no language is guessed."""
    from core.media import load_audio

    sample = load_audio(Path(__file__).resolve().parents[1] / "resources" / "samples" /
                        "speech.wav", 16000).samples
    result = align(sample, None, cache_dir=tmp_path)
    assert not any("English" in n for n in result.notes), result.notes
    assert any("matches this voice poorly" in n for n in result.notes), result.notes


def test_english_recordings_are_never_called_foreign(shared_data: Path, tmp_path):
    for name in ("en_radio31.wav", "en_short1.wav", "en_radio40.wav"):
        result = align(load(shared_data / "audio" / name), None, cache_dir=tmp_path)
        assert result.words_reliable, name
        assert not any("may not be English" in n for n in result.notes), (name, result.notes)


# ---------------------------------------------------------------------------------------------
# Text


def test_normalize_numbers_punctuation_and_case():
    assert normalize("42") == ["forty", "two"]
    assert normalize("Hello, World! It's 3.5% (roughly).") == [
        "hello",
        "world",
        "it's",
        "three",
        "point",
        "five",
        "percent",
        "roughly",
    ]
    assert normalize("In 1999 he came 1st; 2,500 people") == [
        "in",
        "nineteen",
        "ninety",
        "nine",
        "he",
        "came",
        "first",
        "two",
        "thousand",
        "five",
        "hundred",
        "people",
    ]
    assert normalize("Don’t stop—well-known") == ["don't", "stop", "well", "known"]
    assert normalize("101 dogs") == ["one", "hundred", "one", "dogs"]
    assert normalize("the 21st of 2008") == [
        "the",
        "twenty",
        "first",
        "of",
        "two",
        "thousand",
        "eight",
    ]
    assert normalize("$5 & 50%") == ["five", "dollars", "and", "fifty", "percent"]
    assert normalize("'quoted' ...") == ["quoted"]


def test_letter_to_sound_rules():
    assert pronounce("thish") == ["TH", "IH", "SH"]
    assert pronounce("phack") == ["F", "AE", "K"]
    assert pronounce("chong") == ["CH", "AA", "NG"]
    assert pronounce("blate") == ["B", "L", "EY", "T"]  # silent final e
    assert pronounce("zeem") == ["Z", "IY", "M"]
    assert pronounce("nbc") == ["EH", "N", "B", "IY", "S", "IY"]  # no vowel: spelled out
    for word in ("zorblax", "Quindle", "flimbering", "x", "ÉCLAIRZ"):
        phones = pronounce(word)
        assert phones and all(p.isupper() and p.isalpha() for p in phones)


def test_read_transcript_txt_and_srt(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_bytes("\ufeffHello there.\n".encode())
    assert read_transcript(txt) == "Hello there."
    srt = tmp_path / "b.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i> there,\n\n"
        "2\r\n00:00:03,000 --> 00:00:04,000 X1:10 X2:20\r\n{\\an8}General Kenobi!\r\n\r\n",
        encoding="utf-8",
    )
    text = read_transcript(srt)
    assert text.split() == ["Hello", "there,", "General", "Kenobi!"]
    assert normalize(text) == ["hello", "there", "general", "kenobi"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.srt", b"  \n\n\t", "empty"),
        ("numbers_only.srt", b"1\n00:00:01,000 --> 00:00:02,000\n\n", "empty"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "UTF-8"),
    ],
)
def test_bad_transcripts_name_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TranscriptError) as info:
        read_transcript(path)
    assert name in str(info.value) and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_transcript_names_the_file(tmp_path):
    with pytest.raises(TranscriptError, match="nowhere.txt"):
        read_transcript(tmp_path / "nowhere.txt")
