"""A project: one folder holding ``project.json``, ``cache/`` (safe to delete) and ``models/``.

The :class:`Project` holds the validated state in plain Python values and announces every
change through ``project.events``. Edits should go through :mod:`core.project.commands`
(and a :class:`~core.project.history.History`) so they can be undone; the mutators here are
what those commands call.

Events (``callback(name, payload)``): ``setting_changed`` {key, value, old},
``word_changed`` {indices, field, value}, ``word_timing_changed`` {index, timing},
``emotion_clips_changed`` {action: added|removed|changed, id}, ``media_changed`` {role, ref},
``phones_changed`` {indices}, ``markers_changed`` {markers}, ``alignment_changed`` {},
``warning`` {message}, ``dirty_changed`` {dirty}, ``saved`` {path}, ``folder_changed``
{folder}.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json, sweep_temp_files
from core.errors import MissingMediaError, ProjectError, StudioError
from core.project import schema
from core.project.events import EventEmitter
from core.project.media import ROLE_KINDS, InvalidValue, MediaRef, is_present, locate

PROJECT_FILE = "project.json"
AUTOSAVE_FILE = "project.autosave.json"
MEDIA_ROLES = ("source", "dub", "transcript")
CLIP_ROLE = "clip:"  # ``clip:<id>``: the still image an emotion clip takes its expression from


def read_json_file(path: Path) -> Any:
    """Parse a JSON file, turning every way it can be bad into a ProjectError naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(path, "not found: this folder is not a project") from None
    except OSError as exc:
        raise ProjectError(path, f"cannot read it ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(path, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise ProjectError(path, "the file is empty")
    return parse_json(text, path, ProjectError)


def parse_json(text: str, path: Path | None, error: type[StudioError]) -> Any:
    """``json.loads`` with every way it can fail as ``error(path, problem)``: bad syntax, an
    integer too long to convert (over 4,300 digits) and nesting too deep to parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(path, f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}") from None
    except RecursionError:
        raise error(path, "not a valid file: its JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of over 4,300 digits
        raise error(path, f"not valid JSON: {str(exc).splitlines()[0][:120]}") from None


def resolve_driver(driver: str, folder: Path) -> str:
    """The driver setting with a model file's path made absolute: a project keeps it
    relative to its folder, so the folder can move."""
    from core.motion.drivers import model_file

    model = model_file(driver)
    if model and not Path(model).is_absolute():
        return driver[: len(driver) - len(model)] + str(folder / model)
    return driver


class Project:
    """The state of one project folder, with a ``dirty`` flag and change events."""

    def __init__(self, folder: str | Path, state: dict[str, Any]) -> None:
        self.folder = Path(folder).absolute()
        self.events = EventEmitter()
        self.source: MediaRef = state["source"]
        self.dub: MediaRef | None = state.get("dub")
        self.transcript: MediaRef | None = state.get("transcript")
        self.settings: dict[str, Any] = state.get("settings") or schema.default_settings()
        self.words: dict[int, dict[str, Any]] = state.get("words", {})
        self.emotion_clips: list[dict[str, Any]] = state.get("emotion_clips", [])
        #: Phone edits by index in the dub alignment's phone list: start/end and/or viseme.
        self.phones: dict[int, dict[str, Any]] = state.get("phones", {})
        #: Marker times (seconds), sorted.
        self.markers: list[float] = state.get("markers", [])
        #: The dub's alignment as the editor corrected it (a retyped word), with the hash of
        #: the dub it belongs to; None: the aligner's own is used.
        self.alignment: dict[str, Any] | None = state.get("alignment")
        #: Media that could not be found, by role; resolve each with :meth:`relink`.
        self.missing: dict[str, MediaRef] = {}
        #: One-line notes for the user about what happened on open (migrations, moved files).
        self.notes: list[str] = []
        #: How many words the dub has, once known (its transcript's, or its alignment's);
        #: word edits beyond it are refused. None: not known yet, not checked.
        self.word_count: int | None = None
        self._dirty = False

    # --- files ------------------------------------------------------------------------------

    @property
    def json_path(self) -> Path:
        return self.folder / PROJECT_FILE

    @property
    def autosave_path(self) -> Path:
        return self.folder / AUTOSAVE_FILE

    @property
    def cache_dir(self) -> Path:
        return self.folder / "cache"

    @property
    def models_dir(self) -> Path:
        return self.folder / "models"

    @classmethod
    def new(cls, folder: str | Path, source: str | Path, dub: str | Path | None = None,
            transcript: str | Path | None = None) -> Project:
        """Create a project in a new or empty folder (it may already hold the media given)."""
        folder = Path(folder).absolute()
        if (folder / PROJECT_FILE).exists():
            raise ProjectError(folder / PROJECT_FILE, "a project is already here; open it")
        refs = {"source": MediaRef.from_file(source)}
        if dub is not None:
            refs["dub"] = MediaRef.from_file(dub, "audio")
        if transcript is not None:
            refs["transcript"] = MediaRef.from_file(transcript, "text")
        if folder.exists():
            if not folder.is_dir():
                raise ProjectError(folder, "not a folder")
            allowed = {r.path for r in refs.values()}
            if any(p.absolute() not in allowed for p in folder.iterdir()):
                raise ProjectError(folder, "this folder is not empty and is not a project; "
                                           "choose a new or empty folder")
        project = cls(folder, {**refs, "settings": schema.default_settings()})
        try:
            for sub in (folder, project.cache_dir, project.models_dir):
                sub.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(folder, f"cannot create it ({exc.strerror or exc})") from exc
        project.save()
        return project

    @classmethod
    def open(cls, folder: str | Path) -> Project:
        """Open a project; moved media are found again by hash, the rest go to ``missing``."""
        folder = Path(folder).absolute()
        if not folder.is_dir():
            raise ProjectError(folder, "no such folder")
        for where in (folder, folder / "models"):
            sweep_temp_files(where)  # what killed saves (and trainings) left behind
        return cls.load(folder, folder / PROJECT_FILE)

    @classmethod
    def load(cls, folder: Path, path: Path) -> Project:
        """Open the project in ``folder`` with its state read from ``path``."""
        doc = read_json_file(path)
        try:
            state, migrated = schema.load_document(doc, folder)
        except InvalidValue as exc:
            raise ProjectError(path, str(exc)) from None
        project = cls(folder, state)
        if migrated:
            project.notes.append(
                f"upgraded from schema {migrated[0]} to {schema.SCHEMA_VERSION}; the file "
                "changes when you save")
            project._dirty = True
        project._find_media()
        return project

    def _find_media(self) -> None:
        for role, ref in self.media_refs().items():
            if is_present(ref):
                continue
            found = locate(ref, self.folder)
            if found is None:
                self.missing[role] = ref
                continue
            self._put_media(role, ref.at(found))
            self.notes.append(f"{role}: {ref.path} moved; found it at {found}")
            self._dirty = True

    def inputs(self) -> dict[str, Path]:
        """Every file the project reads, by what it is to the user: no output may go there."""
        out = {f"project's {role}": ref.path for role, ref in self.media_refs().items()
               if not role.startswith(CLIP_ROLE)}
        for role, ref in self.media_refs().items():
            if role.startswith(CLIP_ROLE):
                out[f"image of emotion clip {role[len(CLIP_ROLE):]}"] = ref.path
        model = driver_model(self.settings["driver"], self.folder)
        if model is not None:
            out["lip driver's model"] = model
        return out

    def require_media(self) -> None:
        """Raise :class:`MissingMediaError` naming the first media file still missing."""
        for role, ref in self.missing.items():
            raise MissingMediaError(ref.path, f"the project's {role} is missing (not there "
                                              "and not found in the project folder by content)")

    def summary(self) -> dict[str, Any]:
        """What ``studio project show --json`` prints: the document plus what open found."""
        return {
            "folder": str(self.folder),
            "dirty": self.dirty,
            "missing": {role: str(ref.path) for role, ref in self.missing.items()},
            "notes": list(self.notes),
            "project": self.to_json(),
        }

    def to_json(self) -> dict[str, Any]:
        """The ``project.json`` document for the current state."""
        return schema.dump_document(self._state(), self.folder)

    def _state(self) -> dict[str, Any]:
        return {"source": self.source, "dub": self.dub, "transcript": self.transcript,
                "settings": self.settings, "words": self.words,
                "emotion_clips": self.emotion_clips, "phones": self.phones,
                "markers": self.markers, "alignment": self.alignment}

    def save(self) -> None:
        """Write ``project.json`` atomically and drop the autosave it supersedes."""
        path = self.json_path
        try:
            atomic_write_json(path, self.to_json())
        except OSError as exc:
            raise ProjectError(path, f"could not save ({exc.strerror or exc}); the file on "
                                     "disk is unchanged") from exc
        self.autosave_path.unlink(missing_ok=True)
        self.dirty = False
        self.events.emit("saved", path=path)

    def save_as(self, folder: str | Path) -> None:
        """Save into another (new or empty) folder, taking ``models/`` along; cache stays."""
        folder = Path(folder).absolute()
        if folder == self.folder:
            self.save()
            return
        if (folder / PROJECT_FILE).exists():
            raise ProjectError(folder / PROJECT_FILE, "a project is already here")
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ProjectError(folder, "not an empty folder")
        old = self.folder
        try:
            (folder / "cache").mkdir(parents=True, exist_ok=True)
            if self.models_dir.is_dir():
                shutil.copytree(self.models_dir, folder / "models", dirs_exist_ok=True)
            else:
                (folder / "models").mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectError(folder, f"cannot create it ({exc.strerror or exc})") from exc
        self.folder = folder
        try:
            self.save()
        except ProjectError:
            self.folder = old
            raise
        self.events.emit("folder_changed", folder=folder)

    # --- dirty flag -------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """True when the state differs from ``project.json``."""
        return self._dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        if value != self._dirty:
            self._dirty = value
            self.events.emit("dirty_changed", dirty=value)

    def _changed(self, name: str, **payload: Any) -> None:
        self.dirty = True
        self.events.emit(name, **payload)

    def _error(self, exc: InvalidValue) -> ProjectError:
        return ProjectError(self.json_path, str(exc))

    # --- settings ---------------------------------------------------------------------------

    def setting(self, key: str) -> Any:
        """A setting by dotted key, e.g. ``"alpha"`` or ``"export.crf"``."""
        try:
            return schema.get_setting(self.settings, settings_key(key))
        except InvalidValue as exc:
            raise self._error(exc) from None

    def set_setting(self, key: str, value: Any) -> Any:
        """Validate and set a setting; returns the old value."""
        key = settings_key(key)
        try:
            value = schema.check_setting(key, value)
        except InvalidValue as exc:
            raise self._error(exc) from None
        if key == "driver" and value != schema.get_setting(self.settings, key):
            check_driver_model(value, self.folder, self.settings["tracker"])
        old = schema.get_setting(self.settings, key)
        if old != value:
            schema.put_setting(self.settings, key, copy.copy(value))
            self._changed("setting_changed", key=key, value=value, old=old)
        return old

    # --- words ------------------------------------------------------------------------------

    def word_style(self, index: int) -> dict[str, Any]:
        """Every style field of one word, defaults filled in (timing only when fixed)."""
        out = {k: f.default for k, f in schema.WORD_STYLE.items()}
        out.update(self.words.get(index, {}))
        return out

    def set_word_field(self, indices: list[int], field: str, value: Any) -> list[Any]:
        """Set one style field on several words; returns their old values, in order."""
        if not indices:
            raise ProjectError(self.json_path, "words: no word chosen")
        where = f"words.{indices[0] if len(indices) == 1 else '*'}.{field}"
        try:
            rule = schema.WORD_STYLE.get(field)
            if rule is None:
                raise InvalidValue(f"{where}: unknown word style field (use "
                                   f"{', '.join(schema.WORD_STYLE)})")
            for i in indices:
                self._check_index(i)
            value = rule.check(value, where)
        except InvalidValue as exc:
            raise self._error(exc) from None
        return self._put_word_values(indices, field, [value] * len(indices))

    def _put_word_values(self, indices: list[int], field: str, values: list[Any]) -> list[Any]:
        default = schema.WORD_STYLE[field].default
        old = []
        for i, value in zip(indices, values, strict=True):
            entry = self.words.setdefault(i, {})
            old.append(entry.get(field, default))
            if value == default:
                entry.pop(field, None)
            else:
                entry[field] = value
            if not entry:
                del self.words[i]
        self._changed("word_changed", indices=list(indices), field=field, value=values[0])
        return old

    def restore_word_values(self, indices: list[int], field: str, values: list[Any]) -> None:
        """Put back per-word values returned by :meth:`set_word_field` (undo)."""
        self._put_word_values(indices, field, values)

    def _check_index(self, index: Any) -> None:
        """A word index that exists (when the dub's word count is known)."""
        where = "words." + (str(index) if type(index) is int and index < 10**9 else "?")
        index = schema.word_index(index, where)
        if self.word_count is not None and index >= self.word_count:
            raise InvalidValue(
                f"{where}: no such word; the dub has {self.word_count} word"
                f"{'s' if self.word_count != 1 else ''}"
                + (f" (0 to {self.word_count - 1})" if self.word_count else ""))

    def word_timing(self, index: int) -> tuple[float, float] | None:
        entry = self.words.get(index, {})
        return (entry["start"], entry["end"]) if "start" in entry else None

    def set_word_timing(self, index: int, timing: tuple[float, float] | None
                        ) -> tuple[float, float] | None:
        """Fix a word's start and end (seconds), or clear the fix with None; returns the old."""
        try:
            self._check_index(index)
            fixed = None if timing is None else schema.check_timing(*timing, f"words.{index}")
        except InvalidValue as exc:
            raise self._error(exc) from None
        old = self.word_timing(index)
        entry = self.words.setdefault(index, {})
        entry.pop("start", None)
        entry.pop("end", None)
        if fixed is not None:
            entry.update(fixed)
        if not entry:
            del self.words[index]
        self._changed("word_timing_changed", index=index,
                      timing=None if fixed is None else (fixed["start"], fixed["end"]))
        return old

    # --- phones and markers -----------------------------------------------------------------

    def set_phones(self, edits: dict[int, dict[str, Any] | None]
                   ) -> dict[int, dict[str, Any] | None]:
        """Set (or, with None, clear) the edits of some phones at once (a retime moves two);
        returns their old edits, for undo. Checked before anything changes."""
        try:
            checked = {int(schema.word_index(i, f"phones.{i}", "phone")):
                       None if e is None else schema.check_phone(e, f"phones.{i}")
                       for i, e in edits.items()}
        except InvalidValue as exc:
            raise self._error(exc) from None
        old = {i: (dict(self.phones[i]) if i in self.phones else None) for i in checked}
        for i, e in checked.items():
            if e is None:
                self.phones.pop(i, None)
            else:
                self.phones[i] = e
        self._changed("phones_changed", indices=sorted(checked))
        return old

    def dub_alignment(self) -> dict[str, Any] | None:
        """The corrected alignment when it belongs to the project's dub as it is now."""
        a = self.alignment
        return a if a is not None and self.dub is not None and a["dub"] == self.dub.hash \
            else None

    def set_transcript_edit(self, alignment: dict[str, Any] | None,
                            words: dict[int, dict[str, Any]], phones: dict[int, dict[str, Any]]
                            ) -> tuple[Any, ...]:
        """Replace the dub's alignment (a retyped word) with the word and phone edits that
        go with it (renumbered); returns the old three, for undo."""
        try:
            checked = None if alignment is None else schema.check_alignment(alignment)
            words = {i: schema.check_word(w, f"words.{i}") for i, w in words.items()}
            phones = {i: schema.check_phone(p, f"phones.{i}") for i, p in phones.items()}
        except InvalidValue as exc:
            raise self._error(exc) from None
        old = (self.alignment, self.words, self.phones)
        self.alignment, self.words, self.phones = checked, {i: w for i, w in words.items()
                                                            if w}, phones
        self._changed("alignment_changed")
        return old

    def set_markers(self, markers: list[float]) -> list[float]:
        """Replace the markers; returns the old ones."""
        try:
            checked = schema.check_markers(list(markers))
        except InvalidValue as exc:
            raise self._error(exc) from None
        old, self.markers = self.markers, checked
        self._changed("markers_changed", markers=list(checked))
        return old

    # --- emotion clips ----------------------------------------------------------------------

    def clip(self, clip_id: str) -> dict[str, Any]:
        for clip in self.emotion_clips:
            if clip["id"] == clip_id:
                return clip
        raise ProjectError(self.json_path, f"emotion_clips: no clip with id {clip_id!r}")

    def check_clip(self, data: dict[str, Any]) -> dict[str, Any]:
        """Validate a clip without adding it; returns it complete, defaults filled in.

        An image source may be given as a path; it is hashed into a media reference."""
        data = clip_with_image_ref(data)
        try:
            return schema.check_clip(data, f"emotion_clips[{data.get('id', '?')}]", self.folder)
        except InvalidValue as exc:
            raise self._error(exc) from None

    def add_clip(self, data: dict[str, Any], position: int | None = None) -> dict[str, Any]:
        clip = self.check_clip(data)
        if any(c["id"] == clip["id"] for c in self.emotion_clips):
            raise ProjectError(self.json_path, f"emotion_clips: id {clip['id']!r} is taken")
        position = len(self.emotion_clips) if position is None else position
        self.emotion_clips.insert(position, clip)
        self._changed("emotion_clips_changed", action="added", id=clip["id"])
        return clip

    def remove_clip(self, clip_id: str) -> tuple[int, dict[str, Any]]:
        """Remove a clip; returns where it was and the clip, for undo."""
        clip = self.clip(clip_id)
        position = self.emotion_clips.index(clip)
        del self.emotion_clips[position]
        self.missing.pop(CLIP_ROLE + clip_id, None)
        self._changed("emotion_clips_changed", action="removed", id=clip_id)
        return position, clip

    def change_clip(self, clip_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change some fields of a clip (the result must still be valid); returns old values."""
        clip = self.clip(clip_id)
        if "id" in fields and fields["id"] != clip_id:
            raise ProjectError(self.json_path, "emotion_clips: a clip's id cannot change")
        merged = {**clip, **fields}
        if fields.get("emotion") is not None and "source" not in fields:
            merged.pop("source", None)  # an emotion replaces a source, and the other way
        if fields.get("source") is not None and "emotion" not in fields:
            merged.pop("emotion", None)
        merged = {k: v for k, v in merged.items() if v is not None}
        new = self.check_clip(merged)
        old = {k: clip.get(k) for k in fields}
        if "emotion" in fields:
            old["source"] = clip.get("source")
        if "source" in fields:
            old["emotion"] = clip.get("emotion")
        clip.clear()
        clip.update(new)
        self._changed("emotion_clips_changed", action="changed", id=clip_id)
        return old

    # --- media ------------------------------------------------------------------------------

    def media_refs(self) -> dict[str, MediaRef]:
        """Every media file the project refers to, by role (``clip:<id>`` for clip images)."""
        refs = {r: getattr(self, r) for r in MEDIA_ROLES if getattr(self, r) is not None}
        for clip in self.emotion_clips:
            if "image" in clip.get("source", {}):
                refs[CLIP_ROLE + clip["id"]] = clip["source"]["image"]
        return refs

    def media(self, role: str) -> MediaRef | None:
        if role in MEDIA_ROLES:
            return getattr(self, role)
        if role.startswith(CLIP_ROLE):
            return self.clip(role[len(CLIP_ROLE):]).get("source", {}).get("image")
        raise ProjectError(self.json_path, f"unknown media role {role!r} (use "
                                           f"{', '.join(MEDIA_ROLES)} or clip:<id>)")

    def _put_media(self, role: str, ref: MediaRef | None) -> None:
        if role in MEDIA_ROLES:
            setattr(self, role, ref)
        else:
            self.clip(role[len(CLIP_ROLE):])["source"] = {"image": ref}

    def set_media(self, role: str, ref: MediaRef | None) -> MediaRef | None:
        """Point a role at another file (None clears dub or transcript); returns the old ref."""
        old = self.media(role)
        if ref is None and role not in ("dub", "transcript"):
            raise ProjectError(self.json_path, f"{role}: cannot be removed")
        kinds = ROLE_KINDS.get(role, ("image",))
        if ref is not None and ref.kind not in kinds:
            raise ProjectError(ref.path, f"a {ref.kind} cannot be the project's {role}")
        self._put_media(role, ref)
        if ref is None or is_present(ref):
            self.missing.pop(role, None)
        else:
            self.missing[role] = ref  # e.g. undoing a relink puts the missing file back
        self._changed("media_changed", role=role, ref=ref)
        return old

    def relink(self, role: str, new_path: str | Path) -> str | None:
        """Point a missing (or any) media role at ``new_path``; returns a warning if its
        content differs from the file the project was made with."""
        old = self.media(role)
        if old is None:
            raise ProjectError(self.json_path, f"{role}: the project has none to relink")
        ref = MediaRef.from_file(new_path, old.kind)
        warning = None
        if ref.hash != old.hash:
            warning = (f"{ref.path}: not the same file as the project's {role} (its content "
                       "differs); edits timed to the old one may not fit")
        self.set_media(role, ref)
        if warning:
            self.events.emit("warning", message=warning)
        return warning


def driver_model(driver: str, folder: Path) -> Path | None:
    """The model file a driver setting names (absolute), or None for a built-in driver."""
    from core.motion.drivers import model_file

    model = model_file(resolve_driver(driver, folder))
    return None if model is None else Path(model)


def check_driver_model(driver: str, folder: Path, tracker: str) -> None:
    """Refuse a driver whose model file is missing, unreadable or made for other keypoints,
    with a ProjectError naming the file (run before any long work). The file's own
    metadata says which driver it is for (the registry, :mod:`core.motion.drivers`)."""
    model = driver_model(driver, folder)
    if model is None:
        return
    from core.keypoints.regions import load_regions
    from core.motion.drivers import driver_kind

    try:
        kind = driver_kind(resolve_driver(driver, folder), fallback=True)
        if kind == "learned":
            from core.motion.lipsync import LipModel

            LipModel.load(model, load_regions(tracker))
        elif kind == "audio2exp":
            from core.motion.audio2exp import check_backend, read_metadata

            check_backend(model, read_metadata(model), load_regions(tracker))
    except StudioError as exc:
        raise ProjectError(exc.path, f"settings.driver: {exc.problem}") from None


def dub_word_count(project: Any) -> int:
    """How many words the project's dub has (its transcript's, or its alignment's, cached in
    the project's cache/); raises ProjectError when it has no dub."""
    if project.dub is None:
        raise ProjectError(project.json_path, "the project has no dub yet, so no words")
    from core.project.dubwords import dub_word_texts

    fixed = getattr(project, "dub_alignment", None)
    fixed = fixed() if callable(fixed) else None
    if fixed is not None:
        return len(fixed["words"])
    transcript = None if project.transcript is None else project.transcript.path
    return len(dub_word_texts(project.dub.path, transcript, project.cache_dir))


def check_word_edits(project: Any) -> None:
    """Refuse word edits beyond the dub's last word, naming the first (before long work)."""
    if not project.words:
        return
    count = dub_word_count(project)
    beyond = sorted(i for i in project.words if i >= count)
    if beyond:
        raise ProjectError(project.json_path, f"words.{beyond[0]}: no such word; the dub has "
                                              f"{count} word{'s' if count != 1 else ''}")


def settings_key(key: str) -> str:
    """A setting's key without the optional ``settings.`` prefix."""
    return key[len("settings."):] if key.startswith("settings.") else key


def clip_with_image_ref(clip: dict[str, Any]) -> dict[str, Any]:
    """The clip with an image source given as a path hashed into a media reference."""
    source = clip.get("source")
    if isinstance(source, dict) and isinstance(source.get("image"), (str, Path)):
        clip = {**clip, "source": {"image": MediaRef.from_file(source["image"], "image")}}
    return clip
