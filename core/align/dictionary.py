"""Pronunciations: the CMU dictionary shipped with pocketsphinx, plus rules for the rest.

Each alignment job writes a small dictionary holding only its own words, because a decoder
built on the full 135k-word dictionary takes seconds to set up and one built on a few hundred
words takes milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from pocketsphinx import get_model_path

from core.align.lts import PHONES, pronounce

_lock = threading.Lock()
_cmudict: dict[str, list[str]] | None = None


def dictionary_path() -> Path:
    """The CMU pronouncing dictionary of the pocketsphinx en-us model."""
    return Path(get_model_path("en-us/cmudict-en-us.dict"))


def cmudict() -> dict[str, list[str]]:
    """Word -> pronunciations (space-separated phones), loaded once per process."""
    global _cmudict
    with _lock:
        if _cmudict is None:
            table: dict[str, list[str]] = {}
            with open(dictionary_path(), encoding="utf-8") as f:
                for line in f:
                    word, _, phones = line.strip().partition(" ")
                    if not phones:
                        continue
                    base = base_word(word)
                    table.setdefault(base, []).append(phones.split("#", 1)[0].strip())
            _cmudict = table
        return _cmudict


def base_word(word: str) -> str:
    """``to(3)`` -> ``to``: pocketsphinx reports which pronunciation variant it used."""
    return word.split("(", 1)[0]


def pronunciations(tokens: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Pronunciations for every distinct token, and the tokens that needed the rules (OOV)."""
    table = cmudict()
    prons: dict[str, list[str]] = {}
    oov: list[str] = []
    for token in tokens:
        if token in prons:
            continue
        known = table.get(token)
        if known:
            prons[token] = list(known)
            continue
        phones = [p for p in pronounce(token) if p in PHONES] or ["AH"]
        prons[token] = [" ".join(phones)]
        oov.append(token)
    return prons, oov


def dictionary_text(prons: dict[str, list[str]]) -> str:
    """The prons in pocketsphinx dictionary format (variants numbered ``word(2)``)."""
    lines = []
    for word in sorted(prons):
        for i, phones in enumerate(prons[word]):
            name = word if i == 0 else f"{word}({i + 1})"
            lines.append(f"{name} {phones}")
    return "\n".join(lines) + "\n"
