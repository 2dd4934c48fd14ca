"""Retyping a word in place: only its neighbourhood of the dub is aligned again.

The editor corrects a misheard or mistyped word on the timeline; re-aligning the whole dub
would move every other word (and the edits keyed to them). So the word and one word each
side, which anchor it, are aligned again on their own stretch of audio, and the result is
spliced into the alignment; everything outside that stretch is kept as it was.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from core.align.aligner import align
from core.align.result import Alignment, Phone, Word
from core.align.text import normalize
from core.errors import AlignError

SAMPLE_RATE = 16000


def retype_word(samples: np.ndarray, alignment: Alignment, index: int, text: str, *,
                language: str = "en", cache_dir: Path | None = None
                ) -> tuple[Alignment, range]:
    """``alignment`` of the 16 kHz ``samples`` with word ``index`` retyped as ``text`` (one
    word or several); returns the new alignment and the indices the typed words took.
    AlignError names the word when the audio there does not hold what was typed."""
    words = alignment.words
    if not 0 <= index < len(words):
        raise IndexError(f"no word {index} ({len(words)} words)")
    typed = normalize(text)
    if not typed:
        raise AlignError(None, f"word {index} ({words[index].text!r}): nothing was typed")
    first, last = max(index - 1, 0), min(index + 1, len(words) - 1)
    # the stretch runs from the word before to the word after; the first and the last word
    # reach to the timeline's ends
    t0 = words[first].start if first < index else 0.0
    t1 = words[last].end if last > index else alignment.duration
    context = ([w.text for w in words[first:index]] + typed
               + [w.text for w in words[index + 1:last + 1]])
    a, b = int(round(t0 * SAMPLE_RATE)), int(round(t1 * SAMPLE_RATE))
    piece = np.asarray(samples, np.float32)[a:b]
    if len(piece) < SAMPLE_RATE // 20:
        raise AlignError(None, f"word {index} ({words[index].text!r}): too little audio "
                         "around it to align")
    local = align(piece, " ".join(context), language=language, cache_dir=cache_dir)
    if len(local.words) != len(context):
        raise AlignError(None, f"word {index}: {' '.join(typed)!r} could not be aligned "
                         f"to the audio between {t0:.2f} and {t1:.2f} s")
    offset = a / SAMPLE_RATE
    new_words = [_moved_word(w, offset) for w in local.words]
    new_phones = [_moved(p, offset) for p in local.phones]
    before = [replace(p) for p in alignment.phones if p.end <= t0 + 1e-6]
    after = [replace(p) for p in alignment.phones if p.start >= t1 - 1e-6]
    phones = before + new_phones + after
    spliced = words[:first] + new_words + words[last + 1:]
    return (replace(alignment, words=[replace(w) for w in spliced], phones=phones,
                    notes=list(alignment.notes)),
            range(index, index + len(typed)))


def _moved(p: Phone, offset: float) -> Phone:
    return replace(p, start=p.start + offset, end=p.end + offset)


def _moved_word(w: Word, offset: float) -> Word:
    return replace(w, start=w.start + offset, end=w.end + offset,
                   phones=[_moved(p, offset) for p in w.phones])
