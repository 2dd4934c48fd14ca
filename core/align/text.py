"""Transcripts: reading .txt/.srt files and turning text into dictionary tokens.

The aligner matches tokens against the CMU dictionary, so everything the speaker says has to
be written out as plain lower-case words: numbers are spelled ("42" -> "forty two"), symbols
become words ("%" -> "percent") and punctuation goes.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from core.errors import TranscriptError

# ---------------------------------------------------------------------------------------------
# Reading files

_SRT_TIME = re.compile(
    r"^\s*\d{1,2}:\d{2}(?::\d{2})?[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}(?::\d{2})?[,.]\d{1,3}"
)
_SUBTITLE_TAG = re.compile(r"<[^>]*>|\{[^}]*\}")


def read_transcript(path: str | Path) -> str:
    """The spoken text of a .txt or .srt/.vtt file, as one string (subtitle cues joined)."""
    path = Path(path)
    if not path.exists():
        raise TranscriptError(path, "transcript file not found")
    if not path.is_file():
        raise TranscriptError(path, "transcript is not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(path, f"cannot read the transcript ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(
            path,
            f"transcript is not UTF-8 text (bad byte at offset {exc.start}); "
            "save it with UTF-8 encoding",
        ) from None
    if path.suffix.lower() in (".srt", ".vtt"):
        text = subtitle_text(text)
    text = text.strip()
    if not text:
        raise TranscriptError(path, "transcript is empty")
    return text


def subtitle_text(text: str) -> str:
    """The dialogue of SRT/WebVTT subtitles: cue numbers, timings, tags and headers removed."""
    lines: list[str] = []
    block: list[str] = []
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") + [""]:
        line = raw_line.strip()
        if line:
            block.append(line)
            continue
        lines.extend(_cue_lines(block))
        block = []
    return "\n".join(lines)


def _cue_lines(block: list[str]) -> list[str]:
    if not block:
        return []
    first = block[0]
    if first.startswith("WEBVTT") or first.startswith(("NOTE", "STYLE", "REGION")):
        return []
    out = []
    for line in block:
        if line.isdigit() or _SRT_TIME.match(line):
            continue
        line = _SUBTITLE_TAG.sub("", line).strip()
        if line:
            out.append(line)
    return out


# ---------------------------------------------------------------------------------------------
# Numbers

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def cardinal(n: int) -> list[str]:
    """English words for a whole number ("1234" -> one thousand two hundred thirty four)."""
    if n < 0:
        return ["minus", *cardinal(-n)]
    if n >= 10**15:
        return digits(str(n))
    words: list[str] = []
    for scale, name in _SCALES:
        if n >= scale:
            words += [*_below_thousand(n // scale), name]
            n %= scale
    if n or not words:
        words += _below_thousand(n)
    return words


def year(n: int) -> list[str]:
    """Year reading for 4-digit numbers: 1999 -> nineteen ninety nine, 2005 -> two thousand five."""
    if not 1000 <= n <= 9999 or 2000 <= n <= 2009 or n % 1000 == 0 or n < 1100:
        return cardinal(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return [*cardinal(hi), "hundred"]
    if lo < 10:
        return [*cardinal(hi), "oh", _ONES[lo]]
    return [*cardinal(hi), *cardinal(lo)]


def ordinal(n: int) -> list[str]:
    """Ordinal words: 1 -> first, 22 -> twenty second, 100 -> one hundredth."""
    words = cardinal(n)
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return [*words[:-1], last]


def digits(s: str) -> list[str]:
    """Digit-by-digit reading ("007" -> zero zero seven)."""
    return [_ONES[int(c)] for c in s if c.isdigit()]


def _plural(words: list[str]) -> list[str]:
    last = words[-1]
    if last.endswith("y"):
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x")):
        last += "es"
    else:
        last += "s"
    return [*words[:-1], last]


def _integer(s: str, *, as_year: bool) -> list[str]:
    if "," in s:
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", s):
            return cardinal(int(s.replace(",", "")))
        return [w for part in s.split(",") if part for w in _integer(part, as_year=as_year)]
    if len(s) > 1 and s.startswith("0"):
        return digits(s)
    if len(s) > 15:
        return digits(s)
    n = int(s)
    return year(n) if as_year and len(s) == 4 else cardinal(n)


def spell_number(token: str) -> list[str]:
    """Words for a numeric token: 42, 1,000, 3.5, -7, 1st, 1990s, 50%."""
    m = re.fullmatch(
        r"(?P<sign>[-−])?(?P<int>\d[\d,]*)(?:\.(?P<frac>\d+))?(?P<suffix>st|nd|rd|th|s)?"
        r"(?P<pct>%)?",
        token,
    )
    if not m:
        return digits(token)
    int_part, frac, suffix = m["int"], m["frac"], m["suffix"]
    plain = frac is None and suffix is None and m["pct"] is None and m["sign"] is None
    if suffix in ("st", "nd", "rd", "th") and frac is None:
        words = ordinal(int(int_part.replace(",", "")))
    else:
        words = _integer(int_part, as_year=plain or suffix == "s")
        if frac is not None:
            words += ["point", *digits(frac)]
        if suffix == "s":
            words = _plural(words)
    if m["sign"]:
        words = ["minus", *words]
    if m["pct"]:
        words.append("percent")
    return words


_CURRENCY = {"$": ("dollar", "dollars"), "£": ("pound", "pounds"), "€": ("euro", "euros")}


def _money(symbol: str, amount: str) -> list[str]:
    one, many = _CURRENCY[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    n = int(whole) if whole else 0
    words = [*cardinal(n), one if n == 1 else many]
    if cents and len(cents) == 2 and int(cents):
        c = int(cents)
        words += ["and", *cardinal(c), "cent" if c == 1 else "cents"]
    elif cents and int(cents):
        words = [*cardinal(n), "point", *digits(cents), many]
    return words


def _clock(h: str, m: str) -> list[str]:
    hours = cardinal(int(h))
    minutes = int(m)
    if minutes == 0:
        return [*hours, "o'clock"]
    if minutes < 10:
        return [*hours, "oh", _ONES[minutes]]
    return [*hours, *cardinal(minutes)]


# ---------------------------------------------------------------------------------------------
# Tokens

_SYMBOLS = {"&": "and", "%": "percent", "+": "plus", "@": "at", "=": "equals", "#": "number"}
_ABBREVIATIONS = {
    "mr": ["mister"],
    "mrs": ["missus"],
    "dr": ["doctor"],
    "vs": ["versus"],
    "etc": ["et", "cetera"],
}
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
_TOKEN = re.compile(
    r"(?P<money>[$£€])\s?(?P<amount>\d[\d,]*(?:\.\d+)?)"
    r"|(?P<clock>(?<![\d:])(?P<h>\d{1,2}):(?P<m>\d{2})(?![\d:]))"
    r"|(?P<num>(?:(?<![\w.,])[-−](?=\d))?\d[\d,]*(?:\.\d+)?(?:(?:st|nd|rd|th|s)(?![a-z]))?%?)"
    r"|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)"
    r"|(?P<sym>[&%+@=#])"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _fold_latin(word: str) -> str:
    """Drop accents from Latin letters (café -> cafe) so dictionary look-ups succeed."""
    out = []
    for ch in word:
        if ch.isascii():
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch)
        stripped = "".join(c for c in base if not unicodedata.combining(c))
        out.append(stripped if stripped.isascii() and stripped.isalpha() else ch)
    return "".join(out)


def normalize(text: str) -> list[str]:
    """Lower-case dictionary tokens for the words spoken in ``text``, in order."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    tokens: list[str] = []
    for m in _TOKEN.finditer(text):
        if m["money"]:
            tokens += _money(m["money"], m["amount"])
        elif m["clock"]:
            tokens += _clock(m["h"], m["m"])
        elif m["num"]:
            tokens += spell_number(m["num"])
        elif m["word"]:
            word = _fold_latin(m["word"])
            if _CJK.search(word):
                tokens += [c for c in word if c.strip()]
            else:
                tokens += _ABBREVIATIONS.get(word, [word])
        elif m["sym"]:
            tokens.append(_SYMBOLS[m["sym"]])
    return tokens
