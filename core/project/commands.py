"""Every edit as a command object: ``do``, ``undo`` and ``merge``.

The same objects serve the CLI, the tests and the window (which wraps them in a
QUndoStack). ``merge(other)`` folds a later command into this one when both change the same
thing, so a slider drag of many small steps becomes one undo step.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.errors import ProjectError
from core.project.media import MediaRef
from core.project.project import (
    CLIP_ROLE,
    MEDIA_ROLES,
    Project,
    clip_with_image_ref,
    settings_key,
)
from core.project.schema import WORD_STYLE

ROLE_KIND = {"dub": "audio", "transcript": "text"}


class Command:
    """Base class: ``text`` names the edit for the Edit menu ("Undo Set alpha")."""

    text = "edit"

    def do(self, project: Project) -> None:
        raise NotImplementedError

    def undo(self, project: Project) -> None:
        raise NotImplementedError

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (already done) into this command; False when unrelated."""
        return False

    @property
    def noop(self) -> bool:
        """True when, after merging, the command changes nothing and can be dropped."""
        return False


class SetSetting(Command):
    """Set one setting by dotted key (``"alpha"``, ``"export.crf"``; ``settings.`` optional)."""

    def __init__(self, key: str, value: Any) -> None:
        self.key = settings_key(key)
        self.value = value
        self.old: Any = None
        self.text = f"Set {self.key}"

    def do(self, project: Project) -> None:
        self.old = project.set_setting(self.key, self.value)
        self.value = project.setting(self.key)  # normalised (e.g. 1 -> 1.0)

    def undo(self, project: Project) -> None:
        project.set_setting(self.key, self.old)

    def merge(self, other: Command) -> bool:
        if type(other) is SetSetting and other.key == self.key:
            self.value = other.value
            return True
        return False

    @property
    def noop(self) -> bool:
        return self.value == self.old


class SetWordStyle(Command):
    """Set one style field (open, wide, round, alpha, silent) on one or several words."""

    def __init__(self, indices: int | Iterable[int], field: str, value: Any) -> None:
        self.indices = [indices] if isinstance(indices, int) else list(indices)
        if not self.indices:
            raise ValueError("SetWordStyle needs at least one word index")
        self.field = field
        self.value = value
        self.old: list[Any] = []
        n = len(self.indices)
        self.text = f"Set {field} of {'word' if n == 1 else f'{n} words'}"

    def do(self, project: Project) -> None:
        self.old = project.set_word_field(self.indices, self.field, self.value)

    def undo(self, project: Project) -> None:
        project.restore_word_values(self.indices, self.field, self.old)

    def merge(self, other: Command) -> bool:
        if (type(other) is SetWordStyle and other.indices == self.indices
                and other.field == self.field):
            self.value = other.value
            return True
        return False

    @property
    def noop(self) -> bool:
        return all(v == self.value for v in self.old)


class SetWordTiming(Command):
    """Move a word's boundaries (seconds); ``start=end=None`` removes the fix."""

    def __init__(self, index: int, start: float | None, end: float | None) -> None:
        self.index = index
        if (start is None) != (end is None):
            raise ValueError("SetWordTiming needs both start and end, or neither")
        self.timing = None if start is None else (start, end)
        self.old: tuple[float, float] | None = None
        self.text = "Move word boundary"

    def do(self, project: Project) -> None:
        self.old = project.set_word_timing(self.index, self.timing)

    def undo(self, project: Project) -> None:
        project.set_word_timing(self.index, self.old)

    def merge(self, other: Command) -> bool:
        if type(other) is SetWordTiming and other.index == self.index:
            self.timing = other.timing
            return True
        return False

    @property
    def noop(self) -> bool:
        return self.timing == self.old


class SetPhones(Command):
    """Set (None: clear) the edits of some phones; a retime's drag merges into one step."""

    def __init__(self, edits: dict[int, dict[str, Any] | None], text: str = "Edit phone"
                 ) -> None:
        if not edits:
            raise ValueError("SetPhones needs at least one phone")
        self.edits = {int(i): (None if e is None else dict(e)) for i, e in edits.items()}
        self.old: dict[int, dict[str, Any] | None] = {}
        self.text = text

    def do(self, project: Project) -> None:
        self.old = project.set_phones(self.edits)
        self.edits = {i: (None if i not in project.phones else dict(project.phones[i]))
                      for i in self.edits}

    def undo(self, project: Project) -> None:
        project.set_phones(self.old)

    def merge(self, other: Command) -> bool:
        if type(other) is SetPhones and set(other.edits) == set(self.edits):
            self.edits = other.edits
            return True
        return False

    @property
    def noop(self) -> bool:
        return self.edits == self.old


def retime_phone(alignment: Any, phones: dict[int, dict[str, Any]], index: int,
                 at: float) -> SetPhones:
    """The command that moves the boundary after phone ``index`` (of the dub's aligner
    ``alignment``, with the project's phone edits ``phones``) to ``at`` seconds: the phone
    and the next change together, clamped so neither gets too short."""
    from core.motion.phones import edited_alignment, move_boundary

    edited = edited_alignment(alignment, phone_edits(phones))
    moved = move_boundary(edited.phones, index, at)
    out: dict[int, dict[str, Any] | None] = {}
    for i, e in moved.items():
        entry = dict(phones.get(i, {}))
        entry.update(start=round(float(e.start), 4), end=round(float(e.end), 4))
        out[i] = entry
    return SetPhones(out, "Retime phone")


def set_phone_viseme(phones: dict[int, dict[str, Any]], index: int,
                     viseme: str | None) -> SetPhones:
    """The command that gives phone ``index`` the mouth of ``viseme`` (None: its own)."""
    entry = dict(phones.get(index, {}))
    entry.pop("viseme", None)
    if viseme is not None:
        entry["viseme"] = viseme
    return SetPhones({index: entry or None}, "Set phone viseme")


def phone_edits(phones: dict[int, dict[str, Any]]) -> dict[int, Any]:
    """A project's phone edits as :class:`~core.motion.phones.PhoneEdit` by phone index."""
    from core.motion.phones import PhoneEdit

    return {int(i): PhoneEdit(e.get("start"), e.get("end"), e.get("viseme"))
            for i, e in phones.items() if e}


class ReplaceTranscript(Command):
    """Replace the dub's alignment (a word retyped) and renumber the word and phone edits
    to match; undo puts all three back."""

    def __init__(self, alignment: dict[str, Any], words: dict[int, dict[str, Any]],
                 phones: dict[int, dict[str, Any]], text: str = "Retype word") -> None:
        self.state = (alignment, words, phones)
        self.old: tuple[Any, ...] = (None, {}, {})
        self.text = text

    def do(self, project: Project) -> None:
        import copy

        self.old = project.set_transcript_edit(*copy.deepcopy(self.state))

    def undo(self, project: Project) -> None:
        project.set_transcript_edit(*self.old)


def retype_command(alignment: Any, dub_hash: str, samples: Any, index: int, text: str,
                   words: dict[int, dict[str, Any]], phones: dict[int, dict[str, Any]],
                   cache_dir: Path | None = None) -> ReplaceTranscript:
    """Retype word ``index`` of the dub's ``alignment`` (16 kHz ``samples``) as ``text``:
    only its neighbourhood is aligned again (seconds of work: run it off the UI thread).
    Word edits after it move with it (a word typed as two shifts the rest by one); phone
    edits inside the re-aligned stretch are dropped, those after it renumbered. Raises
    AlignError (one line) when the audio there does not hold what was typed."""
    from core.align.retype import retype_word
    from core.errors import AlignError

    if not 0 <= index < len(alignment.words):
        raise AlignError(None, f"no word {index} to retype ({len(alignment.words)} words)")
    new, span = retype_word(samples, alignment, index, text, cache_dir=cache_dir)
    shift = len(span) - 1
    moved_words = {(i if i <= index else i + shift): dict(w) for i, w in words.items()}
    old_p, new_p = alignment.phones, new.phones

    def same(a: Any, b: Any) -> bool:
        return a.label == b.label and abs(a.start - b.start) < 1e-6 and abs(a.end - b.end) < 1e-6

    head = next((k for k, (a, b) in enumerate(zip(old_p, new_p, strict=False))
                 if not same(a, b)), min(len(old_p), len(new_p)))
    tail = next((k for k, (a, b) in enumerate(zip(reversed(old_p), reversed(new_p),
                                                   strict=False)) if not same(a, b)),
                min(len(old_p), len(new_p)) - head)
    moved_phones = {}
    for i, e in phones.items():
        if i < head:
            moved_phones[i] = dict(e)
        elif i >= len(old_p) - tail:
            moved_phones[i + len(new_p) - len(old_p)] = dict(e)
    doc = {"dub": dub_hash, **new.to_json()}
    typed = " ".join(w.text for w in new.words[span.start:span.stop])
    return ReplaceTranscript(doc, moved_words, moved_phones,
                             f"Retype {alignment.words[index].text!r} as {typed!r}")


class SetMarkers(Command):
    """Replace the timeline's markers (add or remove one)."""

    def __init__(self, markers: Iterable[float], text: str = "Markers") -> None:
        self.markers = list(markers)  # checked (and sorted) by the project
        self.old: list[float] = []
        self.text = text

    def do(self, project: Project) -> None:
        self.old = project.set_markers(self.markers)

    def undo(self, project: Project) -> None:
        project.set_markers(self.old)


def add_marker(project: Project, t: float) -> SetMarkers:
    return SetMarkers([*project.markers, round(max(0.0, float(t)), 3)], "Add marker")


def remove_marker(project: Project, t: float) -> SetMarkers | None:
    """Remove the marker nearest ``t`` (None when there is none)."""
    if not project.markers:
        return None
    near = min(project.markers, key=lambda m: abs(m - t))
    return SetMarkers([m for m in project.markers if m != near], "Remove marker")


class AddEmotionClip(Command):
    """Add an emotion clip; an ``id`` is made up when the clip has none."""

    def __init__(self, clip: dict[str, Any], position: int | None = None) -> None:
        self.clip = clip_with_image_ref(dict(clip))  # hashed once here, not on every redo
        self.clip.setdefault("id", uuid.uuid4().hex[:8])
        self.position = position
        self.text = "Add emotion clip"

    @property
    def id(self) -> str:
        return self.clip["id"]

    def do(self, project: Project) -> None:
        self.clip = dict(project.add_clip(self.clip, self.position))

    def undo(self, project: Project) -> None:
        project.remove_clip(self.id)


class RemoveEmotionClip(Command):
    def __init__(self, clip_id: str) -> None:
        self.id = clip_id
        self.removed: tuple[int, dict[str, Any]] | None = None
        self.text = "Remove emotion clip"

    def do(self, project: Project) -> None:
        self.removed = project.remove_clip(self.id)

    def undo(self, project: Project) -> None:
        position, clip = self.removed
        project.add_clip(clip, position)


class ChangeEmotionClip(Command):
    """Change some fields of a clip; drags of the same fields of one clip merge."""

    def __init__(self, clip_id: str, **fields: Any) -> None:
        if not fields:
            raise ValueError("ChangeEmotionClip needs at least one field")
        self.id = clip_id
        self.fields = clip_with_image_ref(fields)
        self.old: dict[str, Any] = {}
        self.text = f"Change emotion clip {', '.join(sorted(fields))}"

    def do(self, project: Project) -> None:
        self.old = project.change_clip(self.id, self.fields)

    def undo(self, project: Project) -> None:
        project.change_clip(self.id, self.old)

    def merge(self, other: Command) -> bool:
        if (type(other) is ChangeEmotionClip and other.id == self.id
                and set(other.fields) == set(self.fields)):
            self.fields = other.fields
            return True
        return False

    @property
    def noop(self) -> bool:
        return all(self.old.get(k) == v for k, v in self.fields.items())


class SetMedia(Command):
    """Use another file as source, dub, transcript or ``clip:<id>`` image (None clears)."""

    def __init__(self, role: str, path: str | Path | None) -> None:
        self.role = role
        if role.startswith(CLIP_ROLE):
            kind = "image"
        elif role in MEDIA_ROLES:
            kind = ROLE_KIND.get(role)
        else:
            raise ValueError(f"unknown media role {role!r}")
        self.ref = None if path is None else MediaRef.from_file(path, kind)
        self.old: MediaRef | None = None
        self.text = f"Set {role}"

    def do(self, project: Project) -> None:
        self.old = project.set_media(self.role, self.ref)

    def undo(self, project: Project) -> None:
        project.set_media(self.role, self.old)


class Group(Command):
    """Several commands as one undo step (e.g. an edits file applied at once)."""

    def __init__(self, commands: Sequence[Command], text: str = "Edits") -> None:
        self.commands = list(commands)
        self.text = text

    def do(self, project: Project) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.do(project)
                done.append(command)
        except BaseException:
            for command in reversed(done):
                command.undo(project)
            raise

    def undo(self, project: Project) -> None:
        for command in reversed(self.commands):
            command.undo(project)


def value_from_text(text: str) -> Any:
    """A value typed on the command line: JSON when it parses (1.4, true, null, [1,2]),
    otherwise the text itself (hold, audio2exp:model.safetensors)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, too long a number, too deep
        return text


def command_for_key(project: Project, key: str, value: Any) -> Command:
    """The command that sets a dotted key of the project file to ``value``:
    ``settings.<name>``, ``words.<index>.<field>``, ``phones.<index>.viseme`` or
    ``.timing``, ``markers``, ``emotion_clips.<id>.<field>``, ``source``, ``dub`` or
    ``transcript``."""
    parts = key.split(".")
    fail = f"{key}: "
    if parts[0] == "settings" and len(parts) > 1:
        return SetSetting(".".join(parts[1:]), value)
    if parts[0] in MEDIA_ROLES and len(parts) == 1:
        if value is not None and not isinstance(value, str):
            raise ProjectError(project.json_path, fail + "give a file path (or null)")
        return SetMedia(parts[0], value)
    if parts[0] == "words" and len(parts) == 3:
        if not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 8:
            raise ProjectError(project.json_path, fail + "words are named by index: words.3.open")
        index, field = int(parts[1]), parts[2]
        if field in WORD_STYLE:
            return SetWordStyle([index], field, value)
        if field == "timing":
            if value is None:
                return SetWordTiming(index, None, None)
            if isinstance(value, list) and len(value) == 2:
                return SetWordTiming(index, value[0], value[1])
            raise ProjectError(project.json_path, fail + "give [start, end] in seconds or null")
        if field in ("start", "end"):
            timing = project.word_timing(index)
            if timing is None:
                raise ProjectError(project.json_path, fail + f"word {index} has no timing fix; "
                                   f"set words.{index}.timing [start, end] first")
            start, end = (value, timing[1]) if field == "start" else (timing[0], value)
            return SetWordTiming(index, start, end)
        raise ProjectError(project.json_path, fail + "unknown word field (use "
                           f"{', '.join(WORD_STYLE)}, timing, start or end)")
    if parts[0] == "phones" and len(parts) == 3:
        if not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 8:
            raise ProjectError(project.json_path, fail + "phones are named by index: "
                               "phones.3.viseme")
        index, field = int(parts[1]), parts[2]
        entry = dict(project.phones.get(index, {}))
        if field == "viseme":
            return set_phone_viseme(project.phones, index, value)
        if field == "timing":
            entry.pop("start", None)
            entry.pop("end", None)
            if isinstance(value, list) and len(value) == 2:
                entry.update(start=value[0], end=value[1])
            elif value is not None:
                raise ProjectError(project.json_path, fail + "give [start, end] in seconds "
                                   "or null")
            return SetPhones({index: entry or None}, "Retime phone")
        raise ProjectError(project.json_path, fail + "unknown phone field (use viseme or "
                           "timing)")
    if parts[0] == "markers" and len(parts) == 1:
        if not isinstance(value, list):
            raise ProjectError(project.json_path, fail + "give a list of times in seconds")
        return SetMarkers(value)
    if parts[0] == "emotion_clips" and len(parts) == 3:
        project.clip(parts[1])
        return ChangeEmotionClip(parts[1], **{parts[2]: value})
    raise ProjectError(project.json_path, fail + "unknown key (use settings.<name>, "
                       "words.<index>.<field>, phones.<index>.viseme, markers, "
                       "emotion_clips.<id>.<field>, source, dub or transcript)")
