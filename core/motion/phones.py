"""The phone track's edits: a phone retimed or given another mouth shape, on the dub's
alignment, before any driver reads it.

A phone is named by its index in the dub alignment's phone list (the aligner is
deterministic for a given dub and transcript, so the index is stable, as a word's is).
Editing phones edits the alignment itself, so every driver follows: the viseme driver's
targets and closures, and the learned driver's viseme input and p/b/m closures.

Retiming works as in Papagayo: the phones tile the timeline, so moving the boundary
between two phones moves the end of one and the start of the next together. A phone never
becomes shorter than :data:`MIN_PHONE` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from core.align import Alignment
from core.align.result import Phone, Word
from core.motion.visemes import VISEME_CLASSES, viseme_of

__all__ = ["MIN_PHONE", "VISEME_CLASSES", "PhoneEdit", "boundary_limits", "edited_alignment",
           "editor_alignment", "move_boundary", "phone_viseme", "viseme_mouth"]

MIN_PHONE = 0.02  # seconds: shorter than one frame at 50 fps, longer than nothing


@dataclass(frozen=True)
class PhoneEdit:
    """What the editor changed on one phone: its span (both ends, seconds) and/or the
    viseme class its mouth takes (None: unchanged)."""

    start: float | None = None
    end: float | None = None
    viseme: str | None = None

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValueError("a phone's timing needs both start and end, or neither")
        if self.start is not None and not self.end > self.start:  # type: ignore[operator]
            raise ValueError(f"a phone must end after it starts ({self.start:g} to "
                             f"{self.end:g} s)")
        if self.viseme is not None and self.viseme not in VISEME_CLASSES:
            raise ValueError(f"unknown viseme {self.viseme!r}; one of "
                             f"{', '.join(VISEME_CLASSES)}")

    @property
    def empty(self) -> bool:
        return self.start is None and self.viseme is None


def phone_viseme(phone: Phone) -> str:
    """The viseme class a phone's mouth takes: the editor's choice, else its label's."""
    return phone.viseme if phone.viseme is not None else viseme_of(phone.label)


def boundary_limits(phones: list[Phone], index: int) -> tuple[float, float]:
    """Where the boundary after phone ``index`` (between it and the next) may go."""
    if not 0 <= index < len(phones) - 1:
        raise IndexError(f"no boundary after phone {index} ({len(phones)} phones)")
    return phones[index].start + MIN_PHONE, phones[index + 1].end - MIN_PHONE


def move_boundary(phones: list[Phone], index: int, at: float) -> dict[int, PhoneEdit]:
    """The edits that move the boundary between phone ``index`` and the next to ``at``
    (clamped so neither gets shorter than :data:`MIN_PHONE`); visemes are kept."""
    lo, hi = boundary_limits(phones, index)
    t = min(max(float(at), lo), hi)
    a, b = phones[index], phones[index + 1]
    return {index: PhoneEdit(a.start, t, a.viseme),
            index + 1: PhoneEdit(t, b.end, b.viseme)}


def edited_alignment(alignment: Alignment, edits: Mapping[int, PhoneEdit]) -> Alignment:
    """A copy of ``alignment`` with ``edits`` applied to its phones (the words' phones and
    spans follow). Edits naming a phone it does not have are ignored (the dub changed),
    and the phones are kept in order: an edited span is clamped between its neighbours."""
    phones = [replace(p) for p in alignment.phones]
    for i in sorted(edits):
        if not 0 <= i < len(phones):
            continue
        e = edits[i]
        p = phones[i]
        if e.viseme is not None:
            p.viseme = e.viseme
        if e.start is None:
            continue
        lo = phones[i - 1].start + MIN_PHONE if i > 0 else 0.0
        hi = phones[i + 1].end - MIN_PHONE if i + 1 < len(phones) else alignment.duration
        start = min(max(e.start, lo), hi - MIN_PHONE)
        end = min(max(e.end, start + MIN_PHONE), hi)  # type: ignore[type-var]
        p.start, p.end = start, end
        # the phones tile the timeline: a neighbour gives or takes what this one moved
        if i > 0:
            phones[i - 1].end = start
        if i + 1 < len(phones):
            phones[i + 1].start = end
    words = [_follow(w, alignment.phones, phones) for w in alignment.words]
    return replace(alignment, words=words, phones=phones, notes=list(alignment.notes))


def _follow(word: Word, before: list[Phone], after: list[Phone]) -> Word:
    """The word with its phones as edited: those of the timeline that lay inside it."""
    inside = [i for i, p in enumerate(before)
              if p.start >= word.start - 1e-6 and p.end <= word.end + 1e-6
              and p.label != "SIL"]
    if not inside:
        return replace(word, phones=[replace(p) for p in word.phones])
    mine = [replace(after[i]) for i in inside]
    return replace(word, start=mine[0].start, end=mine[-1].end, phones=mine)


def editor_alignment(aligned: Alignment | None, corrected: Mapping[str, object] | None,
                     phones: Mapping[int, Mapping[str, object]]) -> Alignment | None:
    """The dub's alignment as the editor sees it: the aligner's (``aligned``), or the
    project's corrected one (a retyped word, as saved), with the phone edits applied."""
    al = aligned if corrected is None else Alignment.from_json(dict(corrected))
    if al is None or not phones:
        return al
    return edited_alignment(al, {int(i): PhoneEdit(e.get("start"), e.get("end"),
                                                   e.get("viseme"))
                                 for i, e in phones.items() if e})


def _round(points: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Lip points (x, y) ordered round the mouth: the ``upper`` ones from corner to corner,
    then the rest back (an angle sort zig-zags on a closed mouth)."""
    top, bottom = points[upper], points[~upper]
    return np.concatenate([top[np.argsort(top[:, 0])], bottom[np.argsort(-bottom[:, 0])]])


def _upper(points: np.ndarray) -> np.ndarray:
    """Which points lie above the line through the mouth's corners (y down)."""
    left, right = points[np.argmin(points[:, 0])], points[np.argmax(points[:, 0])]
    d = right - left
    return d[0] * (points[:, 1] - left[1]) - d[1] * (points[:, 0] - left[0]) < 0


def viseme_mouth(library: object, canonical: np.ndarray, regions: object, viseme: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The outer and inner lip outlines (x, y, in the face's canonical units, y down as in
    a picture) of the mouth a viseme class takes on this speaker: its library target on the
    neutral face. What the phone track's viseme menu draws, so the user picks a shape."""
    targets = getattr(library, "targets", {})
    base = np.asarray(canonical, np.float32)[:, :2]

    def shape(name: str) -> np.ndarray:
        t = targets.get(name)
        return base if t is None else base + np.asarray(t, np.float32)[:, :2]

    points, widest = shape(viseme), shape("aa")  # which lip a point belongs to: open wide
    out = []
    for part in ("lips_outer", "lips_inner"):
        idx = regions[part]
        out.append(_round(points[idx], _upper(widest[idx])))
    return out[0], out[1]
