"""Edits files for the command line: per-word shapes and emotion clips written by hand.

::

    {"words": [{"index": 3, "open": 2.0},
               {"text": "duck", "occurrence": 2, "round": 1.5, "silent": false}],
     "emotions": [{"region": "brows", "emotion": "surprised", "start": 1.0, "end": 2.5}]}

A word is named by its index in the dub's alignment or by its text (compared after the same
normalisation the aligner uses) and which occurrence (1 = first). Every problem is reported
with the file's name, so a typo does not silently drop an edit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import EditsError
from core.project import schema
from core.project.commands import (
    AddEmotionClip,
    Command,
    Group,
    SetWordStyle,
    SetWordTiming,
)
from core.project.media import InvalidValue, MediaRef, check_path_text, shown, shown_key
from core.project.project import Project, parse_json

_WORD_KEYS = ("index", "text", "occurrence")


@dataclass
class Edits:
    """Word edits by alignment index (non-default fields only) and complete emotion clips."""

    words: dict[int, dict[str, Any]] = field(default_factory=dict)
    emotions: list[dict[str, Any]] = field(default_factory=list)

    def commands(self) -> list[Command]:
        out: list[Command] = []
        for index, edits in sorted(self.words.items()):
            for name, value in edits.items():
                if name in schema.WORD_STYLE:
                    out.append(SetWordStyle([index], name, value))
            if "start" in edits:
                out.append(SetWordTiming(index, edits["start"], edits["end"]))
        out += [AddEmotionClip(clip) for clip in self.emotions]
        return out

    def apply(self, project: Project) -> Group:
        """Apply every edit as one undoable step; returns the command (push it, or undo it)."""
        group = Group(self.commands(), "Apply edits file")
        group.do(project)
        return group


def _key(text: str) -> str:
    from core.align.text import normalize

    return " ".join(normalize(text)) or text.strip().lower()


def parse_edits(path: str | Path, word_texts: Sequence[str] | None = None) -> Edits:
    """Read an edits file; ``word_texts`` are the aligned words, in order, to resolve text."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EditsError(path, f"cannot read it ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EditsError(path, "not UTF-8 text") from None
    doc = parse_json(text, path, EditsError)
    try:
        return _parse(doc, path.parent, word_texts)
    except InvalidValue as exc:
        raise EditsError(path, str(exc)) from None


def _parse(doc: Any, folder: Path, word_texts: Sequence[str] | None) -> Edits:
    if not isinstance(doc, dict):
        raise InvalidValue("must be a JSON object with \"words\" and/or \"emotions\"")
    unknown = set(doc) - {"words", "emotions"}
    if unknown:
        raise InvalidValue(f"{shown_key(sorted(unknown)[0])}: unknown field (use words, emotions)")
    edits = Edits()
    words = doc.get("words", [])
    if not isinstance(words, list):
        raise InvalidValue("words: must be a list")
    keys = None if word_texts is None else [_key(t) for t in word_texts]
    for i, entry in enumerate(words):
        where = f"words[{i}]"
        if not isinstance(entry, dict):
            raise InvalidValue(f"{where}: must be an object")
        index = _word(entry, where, keys)
        values = schema.check_word({k: v for k, v in entry.items() if k not in _WORD_KEYS},
                                   where)
        edits.words.setdefault(index, {}).update(values)
    clips = doc.get("emotions", [])
    if not isinstance(clips, list):
        raise InvalidValue("emotions: must be a list")
    for i, clip in enumerate(clips):
        where = f"emotions[{i}]"
        if not isinstance(clip, dict):
            raise InvalidValue(f"{where}: must be an object")
        clip = {"id": uuid.uuid4().hex[:8], **clip}
        image = clip.get("source", {}).get("image") if isinstance(clip.get("source"),
                                                                  dict) else None
        if isinstance(image, str):
            check_path_text(image, f"{where}.source.image", "the edits file's folder")
            image_path = folder / image
            if not image_path.is_file():
                raise InvalidValue(f"{where}.source.image: {image_path} not found")
            clip["source"] = {"image": MediaRef.from_file(image_path, "image")}
        edits.emotions.append(schema.check_clip(clip, where, folder))
    return edits


def _word(entry: dict[str, Any], where: str, keys: list[str] | None) -> int:
    if ("index" in entry) == ("text" in entry):
        raise InvalidValue(f"{where}: name the word by index or by text (one of them)")
    if "index" in entry:
        if "occurrence" in entry:
            raise InvalidValue(f"{where}.occurrence: only goes with text")
        index = entry["index"]
        if type(index) is not int or index < 0:
            raise InvalidValue(f"{where}.index: {shown(index)} is not a word index (0, 1, 2, ...)")
        if keys is not None and index >= len(keys):
            raise InvalidValue(f"{where}.index: word {index} not found (the dub has "
                               f"{len(keys)} words)")
        return index
    text, nth = entry["text"], entry.get("occurrence", 1)
    if not isinstance(text, str) or not text.strip():
        raise InvalidValue(f"{where}.text: must be a non-empty string")
    if type(nth) is not int or nth < 1:
        raise InvalidValue(f"{where}.occurrence: must be 1 or more (1 = the first)")
    if keys is None:
        raise InvalidValue(f"{where}: words named by text need the dub's aligned words")
    hits = [i for i, k in enumerate(keys) if k == _key(text)]
    if len(hits) < nth:
        found = f"it occurs {len(hits)} time{'s' if len(hits) != 1 else ''}" if hits else (
            "it is not among the aligned words")
        raise InvalidValue(f"{where}: word {shown(text)} occurrence {shown(nth)} not found "
                           f"({found})")
    return hits[nth - 1]
