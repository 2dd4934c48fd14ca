"""Letter-to-sound rules for words that are not in the CMU dictionary.

Names, brand names and invented words still need phones so the aligner can place them. The
rules below read a word left to right; at each position the first rule whose letters and
context match wins. Contexts are small regular expressions over the letters before (``left``,
with ``#`` for the word start) and after (``right``, ``#`` for the word end) the matched
letters. The output uses the CMU phone set of the pocketsphinx en-us model, without stress.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH".split()
)

LETTER_NAMES = {
    "a": "EY",
    "b": "B IY",
    "c": "S IY",
    "d": "D IY",
    "e": "IY",
    "f": "EH F",
    "g": "JH IY",
    "h": "EY CH",
    "i": "AY",
    "j": "JH EY",
    "k": "K EY",
    "l": "EH L",
    "m": "EH M",
    "n": "EH N",
    "o": "OW",
    "p": "P IY",
    "q": "K Y UW",
    "r": "AA R",
    "s": "EH S",
    "t": "T IY",
    "u": "Y UW",
    "v": "V IY",
    "w": "D AH B AH L Y UW",
    "x": "EH K S",
    "y": "W AY",
    "z": "Z IY",
}

# Context shorthands, expanded inside the rule patterns below.
_CLASSES = {
    "V": "[aeiouy]",  # a vowel letter
    "C": "[bcdfghjklmnpqrstvwxz]",  # a consonant letter
    "E": "[eiy]",  # letters that soften c and g
    "S": "(?:#|s#|d#|ly#|ness#|ment#|ful#|less#)",  # end of the stem (suffixes allowed)
}


@dataclass(frozen=True)
class _Rule:
    letters: str
    left: re.Pattern[str] | None
    right: re.Pattern[str] | None
    phones: tuple[str, ...]


def _expand(pattern: str) -> str:
    return "".join(_CLASSES.get(ch, ch) for ch in pattern)


def _rule(letters: str, left: str, right: str, phones: str) -> _Rule:
    return _Rule(
        letters,
        re.compile("(?:" + _expand(left) + ")$") if left else None,
        re.compile(_expand(right)) if right else None,
        tuple(phones.split()),
    )


# (letters, left context, right context, phones). Order matters within each first letter:
# longer and more specific spellings come first. "C1" means "one consonant".
_RULE_TABLE: list[tuple[str, str, str, str]] = [
    # --- a
    ("augh", "", "", "AO"),
    ("aught", "", "", "AO T"),
    ("au", "", "", "AO"),
    ("aw", "", "", "AO"),
    ("ai", "", "r", "EH"),
    ("ai", "", "", "EY"),
    ("ay", "", "", "EY"),
    ("ar", "w", "", "AO R"),
    ("are", "", "#", "EH R"),
    ("ar", "", "[aeiouyr]", "EH R"),
    ("ar", "", "", "AA R"),
    ("al", "", "[lkt]", "AO L"),
    ("a", "", "C(?:e|es)#", "EY"),  # silent e: make, games
    ("a", "", "nge", "EY"),
    ("a", "w", "[^aeiouyrgkx]", "AA"),  # want, swap
    ("a", "qu", "", "AA"),
    ("a", "", "#", "AH"),  # pizza, data
    ("a", "[aeiouy][a-z]*C", "(?:l|n|nt|nce|ncy|nts?|ble|bly|te)#", "AH"),  # final, human
    ("a", "", "(?:ble|tion|sion)", "EY"),  # table, nation
    ("a", "#", "C", "AH"),  # about, alone
    ("a", "", "", "AE"),
    # --- b
    ("bb", "", "", "B"),
    ("b", "m", "#", ""),  # lamb
    ("b", "", "", "B"),
    # --- c
    ("cch", "", "", "K"),
    ("cc", "", "E", "K S"),
    ("cc", "", "", "K"),
    ("ch", "#", "r", "K"),  # chrome
    ("ch", "", "", "CH"),
    ("ck", "", "", "K"),
    ("cial", "", "", "SH AH L"),
    ("cious", "", "", "SH AH S"),
    ("cia", "", "", "SH AH"),
    ("cq", "", "", "K"),
    ("c", "", "E", "S"),
    ("c", "", "", "K"),
    # --- d
    ("dge", "", "", "JH"),
    ("dg", "", "E", "JH"),
    ("dd", "", "", "D"),
    ("d", "[^aeiouyt]e", "#", "D"),
    ("d", "", "", "D"),
    # --- e
    ("eau", "", "", "OW"),
    ("eigh", "", "", "EY"),
    ("ei", "c", "", "IY"),
    ("ei", "", "", "EY"),
    ("eye", "", "", "AY"),
    ("ey", "", "#", "IY"),
    ("ey", "", "", "EY"),
    ("ee", "", "r", "IH"),
    ("ee", "", "", "IY"),
    ("ear", "", "[^aeiouy#]", "ER"),  # learn, earth
    ("ear", "", "", "IH R"),
    ("ea", "", "", "IY"),
    ("ew", "", "", "UW"),
    ("eu", "", "", "UW"),
    ("er", "", "[aeiouy]", "EH R"),
    ("er", "", "", "ER"),
    ("e", "#C*", "#", "IY"),  # be, he, the vowel of a one-syllable word
    ("e", "[aeiouy]C+", "#", ""),  # silent final e: make, bike
    ("e", "[aeiouy]C+", "s#", ""),
    ("e", "[^aeiouy]l", "#", ""),
    ("e", "#C*", "C[aeiouy]#", "IY"),  # theme, these
    ("e", "", "C(?:e|es)#", "IY"),
    ("e", "C", "s#", ""),
    ("e", "", "#", ""),
    ("e", "", "", "EH"),
    # --- f
    ("ff", "", "", "F"),
    ("ful", "", "S", "F AH L"),
    ("f", "", "", "F"),
    # --- g
    ("gh", "#", "", "G"),
    ("gh", "[aeiouy]", "", ""),  # night, though
    ("gn", "", "#", "N"),
    ("gg", "", "", "G"),
    ("g", "#", "n", ""),  # gnome
    ("g", "", "(?:e|i|y)[^aeiouy]*", "JH"),
    ("g", "", "", "G"),
    # --- h
    ("h", "[aeiouy]", "(?:#|C)", ""),  # oh, ahmed
    ("h", "", "", "HH"),
    # --- i
    ("igh", "", "", "AY"),
    ("ie", "", "#", "AY"),
    ("ie", "", "", "IY"),
    ("ir", "", "[aeiouy]", "AY R"),
    ("ir", "", "", "ER"),
    ("ind", "#C*", "", "AY N D"),
    ("ild", "", "", "AY L D"),
    ("i", "", "C(?:e|es)#", "AY"),  # silent e: bike, tides
    ("i", "", "gn", "AY"),
    ("i", "", "[aeiou]", "IY"),  # piano, Maria
    ("i", "", "#", "IY"),
    ("i", "", "", "IH"),
    # --- j
    ("j", "", "", "JH"),
    # --- k
    ("kn", "#", "", "N"),
    ("kk", "", "", "K"),
    ("k", "", "", "K"),
    # --- l
    ("ll", "", "", "L"),
    ("le", "C", "(?:#|s#|d#)", "AH L"),  # table
    ("less", "", "S", "L AH S"),
    ("ly", "", "#", "L IY"),
    ("l", "", "", "L"),
    # --- m
    ("mb", "", "#", "M"),
    ("mm", "", "", "M"),
    ("ment", "..", "S", "M AH N T"),
    ("m", "", "", "M"),
    # --- n
    ("ness", "", "S", "N AH S"),
    ("ng", "", "[eiy]", "N JH"),
    ("ng", "", "", "NG"),
    ("nk", "", "", "NG K"),
    ("nn", "", "", "N"),
    ("n", "", "", "N"),
    # --- o
    ("ough", "", "t", "AO"),
    ("ough", "", "", "OW"),
    ("oa", "", "", "OW"),
    ("oe", "", "#", "OW"),
    ("oi", "", "", "OY"),
    ("oy", "", "", "OY"),
    ("oo", "", "[kd]", "UH"),
    ("oo", "", "r", "AO"),
    ("oo", "", "", "UW"),
    ("ou", "", "s#", "AH"),  # famous
    ("ou", "", "gh", "AO"),
    ("ou", "", "", "AW"),
    ("ow", "", "(?:#|s#|ed#|ing#)", "OW"),
    ("ow", "", "", "AW"),
    ("or", "w", "", "ER"),
    ("or", "", "", "AO R"),
    ("o", "", "C(?:e|es)#", "OW"),  # silent e: home, notes
    ("o", "", "ld", "OW"),
    ("o", "", "(?:#|[aeiu])", "OW"),  # go, piano, poet
    ("o", "", "n#", "AH"),  # lemon, bacon
    ("o", "", "", "AA"),
    # --- p
    ("ph", "", "", "F"),
    ("pp", "", "", "P"),
    ("p", "#", "[sn]", ""),  # psalm, pneumonia
    ("p", "", "", "P"),
    # --- q
    ("qu", "", "", "K W"),
    ("q", "", "", "K"),
    # --- r
    ("rr", "", "", "R"),
    ("r", "", "", "R"),
    # --- s
    ("sch", "", "", "S K"),
    ("sh", "", "", "SH"),
    ("ssion", "", "", "SH AH N"),
    ("ss", "", "", "S"),
    ("sion", "[aeiouy]", "", "ZH AH N"),
    ("sion", "", "", "SH AH N"),
    ("sure", "[aeiouy]", "", "ZH ER"),
    ("sure", "", "", "SH ER"),
    ("s", "[aeiouy]", "[aeiouy]", "Z"),
    ("s", "[aeiouybdglmnrvw]e?", "#", "Z"),  # dogs, toys, games
    ("s", "", "", "S"),
    # --- t
    ("tch", "", "", "CH"),
    ("tion", "", "", "SH AH N"),
    ("tia", "", "", "SH AH"),
    ("tio", "", "", "SH IY OW"),
    ("ture", "", "", "CH ER"),
    ("th", "", "", "TH"),
    ("tt", "", "", "T"),
    ("t", "s", "en#", ""),  # listen
    ("t", "", "", "T"),
    # --- u
    ("ue", "", "#", "UW"),
    ("ui", "", "", "UW"),
    ("ur", "", "[aeiouy]", "Y UH R"),
    ("ur", "", "", "ER"),
    ("u", "", "C(?:e|es)#", "UW"),  # silent e: tune, rules
    ("u", "[bcfghkmp]", "[aeiouy]", "Y UW"),
    ("u", "", "#", "UW"),
    ("u", "[bp]", "(?:sh|ll|t)", "UH"),  # push, pull, put
    ("u", "", "", "AH"),
    # --- v
    ("v", "", "", "V"),
    # --- w
    ("wh", "", "", "W"),
    ("wr", "#", "", "R"),
    ("w", "", "", "W"),
    # --- x
    ("x", "#", "", "Z"),
    ("x", "", "", "K S"),
    # --- y
    ("y", "#", "", "Y"),
    ("y", "#C+", "#", "AY"),  # my, fly
    ("y", "", "#", "IY"),  # happy
    ("y", "C", "C", "IH"),  # gym, myth
    ("y", "[aeiou]", "", ""),
    ("y", "", "[aeiou]", "Y"),
    ("y", "", "", "IH"),
    # --- z
    ("zz", "", "", "Z"),
    ("z", "", "", "Z"),
]

# Word endings handled as a whole before the letter rules (past tense and -ing).
_ED_VOICELESS = re.compile(r"(?:[pkfx]|ss|sh|ch|[^aeiou]c)$")


def _rules_by_letter() -> dict[str, list[_Rule]]:
    table: dict[str, list[_Rule]] = {}
    for letters, left, right, phones in _RULE_TABLE:
        table.setdefault(letters[0], []).append(_rule(letters, left, right, phones))
    return table


_RULES = _rules_by_letter()


def _clean(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if "a" <= c <= "z")


def _letters_to_phones(word: str) -> list[str]:
    padded = "#" + word + "#"
    phones: list[str] = []
    i = 1
    end = len(padded) - 1
    while i < end:
        left = padded[:i]
        rest = padded[i:]
        for rule in _RULES.get(padded[i], ()):
            if not rest.startswith(rule.letters):
                continue
            if rule.left is not None and not rule.left.search(left):
                continue
            after = rest[len(rule.letters) :]
            if rule.right is not None and not rule.right.match(after):
                continue
            phones.extend(rule.phones)
            i += len(rule.letters)
            break
        else:
            i += 1  # a letter with no rule (cannot happen for a-z) is skipped
    return phones


def _restore_e(stem: str) -> str:
    """Put back the silent e a suffix removed: nam(ing) -> name, but not jump(ing)."""
    if re.fullmatch(r"[^aeiouy]*[aeiou][bcdfgklmnprstvz]", stem):
        return stem + "e"
    return stem


def _suffix_split(word: str) -> tuple[str, list[str]]:
    """Split off -ed/-ing/-ings so the stem gets its own rules (and silent-e logic)."""
    if len(word) > 5 and word.endswith("ings"):
        return _restore_e(word[:-4]), ["IH", "NG", "Z"]
    if len(word) > 4 and word.endswith("ing"):
        return _restore_e(word[:-3]), ["IH", "NG"]
    if len(word) > 3 and word.endswith("ed") and not word.endswith(("eed", "ied")):
        stem = _restore_e(word[:-2])
        if stem.endswith("e"):
            stem = stem[:-1]
            return stem + "e", ["T"] if _ED_VOICELESS.search(stem) else ["D"]
        if stem.endswith(("t", "d")):
            return stem, ["IH", "D"]
        if _ED_VOICELESS.search(stem):
            return stem, ["T"]
        return stem, ["D"]
    return word, []


def _dedupe(phones: list[str]) -> list[str]:
    out: list[str] = []
    for p in phones:
        if p and (not out or out[-1] != p):
            out.append(p)
    return out


@lru_cache(maxsize=4096)
def _pronounce(word: str) -> tuple[str, ...]:
    if not word:
        return ("AH",)
    if len(word) == 1 or not re.search("[aeiouy]", word):
        # An acronym or a lone letter: say the letter names.
        return tuple(p for ch in word for p in LETTER_NAMES[ch].split())
    stem, tail = _suffix_split(word)
    phones = _letters_to_phones(stem)
    if tail and stem and stem[-1] == "e" and not phones:
        phones = _letters_to_phones(stem[:-1])
    phones = _dedupe(phones + tail)
    if not any(p in _VOWELS for p in phones):
        phones.append("AH")
    return tuple(phones)


_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())


def pronounce(word: str) -> list[str]:
    """CMU phones for ``word`` by rule (accents and non-letters are ignored)."""
    return list(_pronounce(_clean(word)))
