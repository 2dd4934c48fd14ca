"""What an alignment produces: words and phones on the audio's timeline, in seconds.

Kept as plain dataclasses with a dict round trip so results can be cached as JSON and saved
inside project files without pickling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SILENCE = "SIL"
SOURCES = ("transcript", "recognition")


@dataclass
class Phone:
    """One phone (CMU/ARPAbet label without stress, or ``SIL``) from ``start`` to ``end``;
    ``viseme`` is the mouth shape the editor picked for it (None: its label's)."""

    label: str
    start: float
    end: float
    viseme: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "start": self.start, "end": self.end}
        if self.viseme is not None:
            out["viseme"] = self.viseme
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Phone:
        viseme = data.get("viseme")
        return cls(str(data["label"]), float(data["start"]), float(data["end"]),
                   None if viseme is None else str(viseme))


@dataclass
class Word:
    """A normalised transcript (or recognised) word and the phones spoken inside it;
    ``estimated``: the aligner could not place it, its times are a guess (the timeline
    marks it)."""

    text: str
    start: float
    end: float
    phones: list[Phone] = field(default_factory=list)
    estimated: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "phones": [p.to_json() for p in self.phones],
        }
        if self.estimated:
            out["estimated"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Word:
        return cls(
            str(data["text"]),
            float(data["start"]),
            float(data["end"]),
            [Phone.from_json(p) for p in data.get("phones", [])],
            bool(data.get("estimated", False)),
        )


@dataclass
class Alignment:
    """Words in spoken order plus every phone segment of the timeline (gaps are ``SIL``).

    ``source`` says where the words came from: the user's transcript or speech recognition.
    ``notes`` are one-line warnings meant for the user. ``words_reliable`` is False when the
    words are guesses (non-English audio, or audio the recogniser could not make sense of);
    the phones are still usable for lip motion then.
    """

    words: list[Word]
    phones: list[Phone]
    source: str
    duration: float
    notes: list[str] = field(default_factory=list)
    words_reliable: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "words": [w.to_json() for w in self.words],
            "phones": [p.to_json() for p in self.phones],
            "source": self.source,
            "duration": self.duration,
            "notes": list(self.notes),
            "words_reliable": self.words_reliable,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alignment:
        source = str(data["source"])
        if source not in SOURCES:
            raise ValueError(f"unknown alignment source {source!r}")
        return cls(
            words=[Word.from_json(w) for w in data.get("words", [])],
            phones=[Phone.from_json(p) for p in data.get("phones", [])],
            source=source,
            duration=float(data["duration"]),
            notes=[str(n) for n in data.get("notes", [])],
            words_reliable=bool(data.get("words_reliable", True)),
        )
