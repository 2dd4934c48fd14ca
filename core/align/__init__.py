"""Forced alignment and recognition: words and phones on an audio timeline (pocketsphinx)."""

from core.align.aligner import MODEL_TAG, align
from core.align.lts import pronounce
from core.align.result import Alignment, Phone, Word
from core.align.text import normalize, read_transcript

__all__ = [
    "MODEL_TAG",
    "Alignment",
    "Phone",
    "Word",
    "align",
    "normalize",
    "pronounce",
    "read_transcript",
]
