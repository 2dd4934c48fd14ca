"""pocketsphinx jobs on one piece of audio: recognise, force-align, or decode phones.

Every function takes 16-bit PCM bytes and returns small picklable spans with times in 10 ms
frames relative to the piece, so the jobs can run in worker processes (pocketsphinx holds
the GIL) and the caller shifts them onto the file's timeline.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass, field

from pocketsphinx import Decoder, NGramModel, get_model_path
from pocketsphinx.lm import ArpaBoLM

from core.align.dictionary import base_word

SAMPLE_RATE = 16000
_FILLERS = ("<s>", "</s>", "<sil>")
# Recognition settings: the default beams, without the slow second (flat-lexicon) pass and
# with fewer active HMMs per frame; word posteriors come from the lattice (bestpath).
_FAST = {"fwdflat": False, "maxhmmpf": 3000}
_PHONE_LM_WEIGHT = 2.0  # the default 6.5 suits words; phones need a lighter phone LM

_local = threading.local()


@dataclass
class Span:
    """A labelled stretch of frames [start, end)."""

    label: str
    start: int
    end: int


@dataclass
class WordSpan(Span):
    """A word, its phones (may be empty: only the word boundaries are known), posterior and
    acoustic fit: the mean log acoustic score per frame of the recogniser's path, relative
    to the best-scoring senone of each frame (0 = the best any sound unit could do)."""

    phones: list[Span] = field(default_factory=list)
    confidence: float = 1.0
    fit: float = 0.0
    estimated: bool = False  # not placed by the aligner: spread over the speech around it


def _config(**extra: object) -> dict[str, object]:
    return {"samprate": SAMPLE_RATE, "loglevel": "FATAL", **extra}


def _recogniser() -> Decoder:
    """The full-vocabulary recogniser, built once per thread (it takes about half a second)."""
    dec = getattr(_local, "recogniser", None)
    if dec is None:
        dec = Decoder(**_config(bestpath=True, **_FAST))
        _local.recogniser = dec
    return dec


def _is_filler(word: str) -> bool:
    return word in _FILLERS or word.startswith(("[", "+", "<"))


def _decode(dec: Decoder, pcm: bytes) -> None:
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()


def _phone_label(name: str) -> str:
    return "SIL" if _is_filler(name) or name == "SIL" else name


def _sub_word_alignment(dec: Decoder, pcm: bytes) -> list[WordSpan] | None:
    """Second pass for phone times of the current hypothesis; None when it fails."""
    try:
        dec.set_alignment()
        _decode(dec, pcm)
        alignment = dec.get_alignment()
    except RuntimeError:
        return None
    if alignment is None:
        return None
    words = []
    for entry in alignment:
        start, end = entry.start, entry.start + entry.duration
        phones = [Span(_phone_label(p.name), p.start, p.start + p.duration) for p in entry]
        words.append(WordSpan(entry.name, start, end, phones))
    return words


def _with_files(texts: dict[str, str]) -> dict[str, str]:
    paths = {}
    for suffix, text in texts.items():
        fd, path = tempfile.mkstemp(suffix=suffix, prefix="studio-align-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        paths[suffix] = path
    return paths


def _remove(paths: dict[str, str]) -> None:
    for path in paths.values():
        try:
            os.unlink(path)
        except OSError:
            pass


def _fit(ascore: float, frames: int) -> float:
    """Log acoustic score per frame (pocketsphinx gives the score as a density)."""
    if ascore <= 0.0:
        return -50.0  # below what a double holds: a very poor match
    return max(-50.0, math.log(ascore) / max(1, frames))


def recognise(pcm: bytes) -> list[WordSpan]:
    """Open-vocabulary recognition with the en-us LM; words carry posteriors and phones."""
    dec = _recogniser()
    _decode(dec, pcm)
    words = [
        WordSpan(base_word(s.word), s.start_frame, s.end_frame + 1, confidence=float(s.prob),
                 fit=_fit(s.ascore, s.end_frame + 1 - s.start_frame))
        for s in (dec.seg() or ())
        if not _is_filler(s.word)
    ]
    if words:
        aligned = _sub_word_alignment(dec, pcm)
        try:
            dec.activate_search()
        except (RuntimeError, KeyError):
            aligned = None
        if aligned is None:
            _local.recogniser = None  # its state is unknown after a failure: rebuild it
        real = [w for w in aligned or () if not _is_filler(w.label)]
        if aligned is not None and len(real) == len(words):
            for word, timed in zip(words, real, strict=True):
                word.start, word.end, word.phones = timed.start, timed.end, timed.phones
        else:
            for word in words:
                word.phones = []
    return words


def recognise_with_transcript(pcm: bytes, dictionary: str, transcript: list[str]) -> list[str]:
    """Recognition restricted to the transcript's words (a trigram LM built from it)."""
    lm = ArpaBoLM(text=" ".join(transcript), add_start=True)
    lm.compute()
    paths = _with_files({".dict": dictionary, ".arpa": ""})
    try:
        lm.write_file(paths[".arpa"])
        dec = Decoder(**_config(dict=paths[".dict"], lm=None, bestpath=False, **_FAST))
        dec.add_lm("transcript", NGramModel(dec.config, dec.logmath, paths[".arpa"]))
        dec.activate_search("transcript")
        _decode(dec, pcm)
        return [base_word(s.word) for s in (dec.seg() or ()) if not _is_filler(s.word)]
    finally:
        _remove(paths)


# Beam settings tried in turn when words do not fit: mismatches between transcript and audio
# make the right path score badly, and narrow beams prune it away.
BEAM_LEVELS: tuple[dict[str, float], ...] = (
    {},
    {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100},
)  # wider still (1e-150, no HMM limit) costs about real time and rarely helps


def force_align(
    pcm: bytes, dictionary: str, words: list[str], level: int = 0, phones: bool = True
) -> list[WordSpan] | None:
    """Words placed in the audio, in order, with phones when the second pass worked.

    Returns None when the words do not fit at this beam ``level``; words with empty
    ``phones`` when only their boundaries could be found or ``phones`` is False. The phone
    pass keeps a score per HMM state per frame, so its memory grows with the square of the
    piece's length: callers split pieces longer than about a minute first.
    """
    paths = _with_files({".dict": dictionary})
    try:
        # No lattice best-path pass: on a grammar it can drop the words of a poor match
        # and return only silences.
        dec = Decoder(**_config(dict=paths[".dict"], lm=None, bestpath=False, **BEAM_LEVELS[level]))
    finally:
        _remove(paths)
    try:
        dec.set_align_text(" ".join(words))
        _decode(dec, pcm)
    except RuntimeError:
        return None
    if dec.hyp() is None:  # never call hyp() after set_alignment(): it crashes
        return None
    segs = [
        WordSpan(base_word(s.word), s.start_frame, s.end_frame + 1)
        for s in (dec.seg() or ())
        if not _is_filler(s.word)
    ]
    if len(segs) != len(words):
        return None
    if not phones:
        return segs
    aligned = _sub_word_alignment(dec, pcm)
    real = [w for w in aligned or () if not _is_filler(w.label)]
    if aligned is None or len(real) != len(words):
        return segs
    for word in real:
        word.label = base_word(word.label)
    return real


def phone_loop(pcm: bytes) -> list[Span]:
    """Phones of any language, from an English phone-loop decode (no words involved)."""
    dec = getattr(_local, "phone_loop", None)
    if dec is None:
        dec = Decoder(
            **_config(
                allphone=get_model_path("en-us/en-us-phone.lm.bin"),
                lw=_PHONE_LM_WEIGHT,
                dict=None,
                **_FAST,
            )
        )
        _local.phone_loop = dec
    _decode(dec, pcm)
    return [Span(_phone_label(s.word), s.start_frame, s.end_frame + 1) for s in (dec.seg() or ())]


def run(job: tuple) -> object:
    """Entry point for worker processes: ``(name, *args)`` -> the named function's result."""
    name, *args = job
    func = {
        "recognise": recognise,
        "recognise_with_transcript": recognise_with_transcript,
        "force_align": force_align,
        "phone_loop": phone_loop,
    }[name]
    return func(*args)
