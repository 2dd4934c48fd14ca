"""The ``project.json`` format: its version, its fields and their limits, and migrations.

Validation turns a loaded document into plain, normalised Python values (or raises
:class:`InvalidValue` naming the key and the rule) so nothing downstream re-checks types.
The same field rules check every edit, so an edit can never produce a file that will not load.

Migrations upgrade an old document one version at a time (``N`` to ``N + 1``) in memory; the
file on disk only changes when the user saves.

Versions: 1 is the first released format; 2 adds the phone track's optional fields
(``phones``, ``markers``, ``alignment``). A version-1 file is a version-2 file without them,
so it reads unchanged; a studio that reads only version 1 refuses a version-2 file as made
by a newer version, rather than tripping over a field it does not know.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import vocabulary as v
from core.motion.drivers import DEFAULT as DRIVER_DEFAULT
from core.motion.drivers import MODEL_PREFIXES, driver_names, model_file
from core.motion.visemes import VISEME_CLASSES
from core.project.media import (
    ROLE_KINDS,
    InvalidValue,
    MediaRef,
    check_path_text,
    shown,
    shown_key,
)
from core.render.registry import DEFAULT as RENDERER_DEFAULT
from core.render.registry import renderer_names
from core.tracking.registry import DEFAULT as TRACKER_DEFAULT
from core.tracking.registry import tracker_names
from core.vocabulary import EMOTIONS, REGIONS

SCHEMA_VERSION = 2

Migration = Callable[[dict[str, Any]], dict[str, Any]]
#: ``MIGRATIONS[n]`` upgrades a schema-``n`` document to schema ``n + 1``.
MIGRATIONS: dict[int, Migration] = {}


def register_migration(from_version: int) -> Callable[[Migration], Migration]:
    """Decorator: register the function that upgrades ``from_version`` to the next one."""

    def wrap(fn: Migration) -> Migration:
        if from_version in MIGRATIONS:
            raise ValueError(f"a migration from schema {from_version} is already registered")
        MIGRATIONS[from_version] = fn
        return fn

    return wrap


def migrate(doc: dict[str, Any], *, target: int = SCHEMA_VERSION,
            migrations: dict[int, Migration] | None = None) -> tuple[dict[str, Any], list[int]]:
    """Upgrade ``doc`` to ``target``; returns it and the versions it was upgraded from."""
    migrations = MIGRATIONS if migrations is None else migrations
    version = doc.get("schema")
    if type(version) is not int:
        raise InvalidValue("schema: missing or not an integer version number")
    if version > target:
        raise InvalidValue(
            f"made by a newer version of the studio (schema {version}; this version reads "
            f"schema {target} and older): update the studio to open it")
    applied = []
    while version < target:
        if version not in migrations:
            raise InvalidValue(f"schema {version} is not a format this studio can read")
        doc = migrations[version](dict(doc))
        if not isinstance(doc, dict) or doc.get("schema") != version + 1:
            raise InvalidValue(f"the migration from schema {version} did not produce schema "
                               f"{version + 1}")
        applied.append(version)
        version += 1
    return doc, applied


@register_migration(1)
def _one_to_two(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only adds optional fields (the phone track): a version-1 document is one."""
    return {**doc, "schema": 2}


# --- field rules ----------------------------------------------------------------------------


class Field:
    """One value's rule: a default, whether ``null`` is allowed, and a check."""

    def __init__(self, default: Any, nullable: bool = False) -> None:
        self.default = default
        self.nullable = nullable

    def check(self, value: Any, where: str) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise InvalidValue(f"{where}: must not be null")
        return self._check(value, where)

    def _check(self, value: Any, where: str) -> Any:
        raise NotImplementedError


class Number(Field):
    def __init__(self, lo: float | None, hi: float | None, default: Any,
                 nullable: bool = False) -> None:
        super().__init__(default, nullable)
        self.lo, self.hi = lo, hi

    @classmethod
    def of(cls, control: v.Control, nullable: bool = False) -> Number:
        """The rule of a control defined in :mod:`core.vocabulary`."""
        return cls(control.lo, control.hi, control.default, nullable)

    def _limits(self) -> str:
        if self.hi is None:
            return f">= {self.lo:g}"
        return f"{self.lo:g}..{self.hi:g}"

    def _check(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(f"{where}: must be a number ({self._limits()}), not {shown(value)}")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value) or (self.lo is not None and value < self.lo) or (
                self.hi is not None and value > self.hi):
            raise InvalidValue(f"{where}: {shown(value)} is out of range {self._limits()}")
        return value


class Int(Number):
    def _check(self, value: Any, where: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise InvalidValue(f"{where}: must be an integer ({self._limits()}), "
                               f"not {shown(value)}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise InvalidValue(f"{where}: {shown(value)} is out of range {self._limits()}")
        return value


class Bool(Field):
    def _check(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise InvalidValue(f"{where}: must be true or false, not {shown(value)}")
        return value


class Choice(Field):
    def __init__(self, options: tuple[str, ...], default: Any, nullable: bool = False) -> None:
        super().__init__(default, nullable)
        self.options = options

    def _check(self, value: Any, where: str) -> str:
        if value not in self.options:
            raise InvalidValue(f"{where}: must be one of {', '.join(self.options)}, "
                               f"not {shown(value)}")
        return value


class Text(Field):
    def _check(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(f"{where}: must be a non-empty string, not {shown(value)}")
        if "\x00" in value or not _utf8(value):
            raise InvalidValue(f"{where}: contains a NUL or an undecodable character")
        return value


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeError:
        return False
    return True


#: The lip drivers a project may name, as its old files spell them: a built-in driver, or
#: a model file as ``learned:<file>`` / ``audio2exp:<file>`` (relative to the project folder,
#: or absolute). The driver registry (:mod:`core.motion.drivers`) has the live list, and
#: reads a model file's kind from the file.
DRIVERS = ("learned", "visemes")
DRIVER_PREFIXES = MODEL_PREFIXES


class Driver(Text):
    """A lip driver's name or model file; whether the file serves is checked where it is
    set (:func:`core.project.project.check_driver_model`) and before a take is made."""

    def _check(self, value: Any, where: str) -> str:
        value = super()._check(value, where)
        model = model_file(value)
        if model is None:
            if value in driver_names():
                return value
        else:
            if not model.strip():
                raise InvalidValue(f"{where}: {value[: len(value) - len(model)]}<model file> "
                                   "needs the model file")
            check_path_text(model, where)
            return value
        known = [*driver_names(), *(p + "<model file>" for p in DRIVER_PREFIXES)]
        raise InvalidValue(f"{where}: unknown driver {shown(value)} (use {', '.join(known)})")


class RendererName(Choice):
    """A renderer's name, checked against the renderer registry as it is now."""

    def __init__(self, default: str) -> None:
        super().__init__(renderer_names(), default)

    def _check(self, value: Any, where: str) -> str:
        self.options = renderer_names()
        return super()._check(value, where)


class Box(Field):
    """``[x, y, w, h]`` in pixels, width and height positive."""

    def _check(self, value: Any, where: str) -> list[float]:
        if not isinstance(value, (list, tuple)) or len(value) != 4 or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                for v in value):
            raise InvalidValue(f"{where}: must be [x, y, w, h] in pixels, not {shown(value)}")
        x, y, w, h = (float(v) for v in value)
        if w <= 0 or h <= 0:
            raise InvalidValue(f"{where}: width and height must be positive")
        return [x, y, w, h]


X264_PRESETS = v.X264_PRESETS
TRACKERS = tracker_names()
RENDERERS = renderer_names()

#: Every setting, nested like the file. ``driver`` is any driver name, e.g. ``"visemes"`` or
#: ``"audio2exp:<model file>"``; the driver registry decides whether it exists.
SETTINGS: dict[str, Any] = {
    "alpha": Number.of(v.ALPHA),
    "beta": Number.of(v.BETA),
    "smoothing": Number.of(v.SMOOTHING),
    "av_offset_frames": Int.of(v.AV_OFFSET),
    "word_ramp_ms": Number.of(v.WORD_RAMP_MS),
    "driver": Driver(DRIVER_DEFAULT),
    "renderer": RendererName(RENDERER_DEFAULT),
    # the folder of the neural renderer's weights (official layout); null: the default one
    "weights": Text(None, nullable=True),
    "tracker": Choice(TRACKERS, TRACKER_DEFAULT),
    "face_index": Int(0, None, None, nullable=True),
    "face_box": Box(None, nullable=True),
    "longer": Choice(v.LONGER, v.LONGER[0]),
    "shorter": Choice(v.SHORTER, v.SHORTER[0]),
    "idle_motion": Bool(True),
    "export": {
        "crf": Int.of(v.CRF),
        "preset": Choice(X264_PRESETS, v.PRESET_DEFAULT),
        "audio_bitrate": Int.of(v.AUDIO_BITRATE),
        "mix_source_audio": Bool(False),
        "source_audio_gain": Number.of(v.SOURCE_AUDIO_GAIN),
    },
}

#: Per-word edits; ``start``/``end`` are a timing fix, present together or not at all.
WORD_STYLE: dict[str, Field] = {
    "open": Number.of(v.WORD_SHAPE),
    "wide": Number.of(v.WORD_SHAPE),
    "round": Number.of(v.WORD_SHAPE),
    "alpha": Number.of(v.WORD_ALPHA, nullable=True),
    "silent": Bool(False),
}
WORD_TIMING: dict[str, Field] = {"start": Number(0, None, None), "end": Number(0, None, None)}

CLIP_FIELDS: dict[str, Field] = {
    "id": Text(None),
    "region": Choice(REGIONS, None),
    "start": Number(0, None, None),
    "end": Number(0, None, None),
    "fade_in": Number.of(v.FADE),
    "fade_out": Number.of(v.FADE),
    "intensity": Number.of(v.INTENSITY),
}
EMOTION = Choice(EMOTIONS, None)
FRAME = Int(0, None, None)

#: A phone's edits (``phones.<index>``, the index in the dub alignment's phone list): its
#: span, both ends or neither, and/or the viseme its mouth takes.
PHONE_TIMING = Number(0, None, None)
PHONE_VISEME = Choice(VISEME_CLASSES, None)
#: A marker: a time on the timeline (seconds), as the editor dropped it.
MARKER = Number(0, None, None)


def check_phone(data: Any, where: str) -> dict[str, Any]:
    """A phone's edits: ``start`` and ``end`` (together) and/or ``viseme``."""
    if not isinstance(data, dict):
        raise InvalidValue(f"{where}: must be an object")
    unknown = set(data) - {"start", "end", "viseme"}
    if unknown:
        raise InvalidValue(f"{where}.{shown_key(sorted(unknown)[0])}: unknown phone field "
                           "(use start, end, viseme)")
    if ("start" in data) != ("end" in data):
        raise InvalidValue(f"{where}: a phone's timing needs both start and end")
    out: dict[str, Any] = {}
    if "start" in data:
        start = PHONE_TIMING.check(data["start"], f"{where}.start")
        end = PHONE_TIMING.check(data["end"], f"{where}.end")
        if not start < end:
            raise InvalidValue(f"{where}: start ({start:g}) must be before end ({end:g})")
        out.update(start=start, end=end)
    if "viseme" in data:
        out["viseme"] = PHONE_VISEME.check(data["viseme"], f"{where}.viseme")
    if not out:
        raise InvalidValue(f"{where}: empty (give start and end, or viseme)")
    return out


def check_alignment(data: Any, where: str = "alignment") -> dict[str, Any]:
    """The dub's corrected alignment (a retyped transcript), with the hash of the dub it
    was made for: ``{"dub": hash, "words": [...], "phones": [...], ...}``."""
    from core.align.result import Alignment

    if not isinstance(data, dict) or not isinstance(data.get("dub"), str):
        raise InvalidValue(f"{where}: must be an object with the dub's hash and its words "
                           "and phones")
    try:
        al = Alignment.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidValue(f"{where}: not an alignment ({shown(str(exc))})") from None
    for kind, items in (("words", al.words), ("phones", al.phones)):
        for i, item in enumerate(items):
            if not (math.isfinite(item.start) and math.isfinite(item.end)
                    and 0 <= item.start <= item.end):
                raise InvalidValue(f"{where}.{kind}[{i}]: start and end must be times, "
                                   "start before end")
    for i, p in enumerate(al.phones):
        if p.viseme is not None and p.viseme not in VISEME_CLASSES:
            raise InvalidValue(f"{where}.phones[{i}].viseme: unknown viseme {shown(p.viseme)}")
    return {"dub": data["dub"], **al.to_json()}


def check_markers(data: Any, where: str = "markers") -> list[float]:
    """Markers as sorted, distinct times."""
    if not isinstance(data, list):
        raise InvalidValue(f"{where}: must be a list of times in seconds")
    return sorted({MARKER.check(t, f"{where}[{i}]") for i, t in enumerate(data)})


def default_settings(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = SETTINGS if spec is None else spec
    return {k: default_settings(v) if isinstance(v, dict) else v.default
            for k, v in spec.items()}


def setting_field(key: str) -> Field:
    """The rule for a dotted settings key such as ``"export.crf"``."""
    node: Any = SETTINGS
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InvalidValue(f"settings.{key}: unknown setting")
        node = node[part]
    if isinstance(node, dict):
        raise InvalidValue(f"settings.{key}: is a group; set one of {', '.join(node)}")
    return node


def check_setting(key: str, value: Any) -> Any:
    return setting_field(key).check(value, f"settings.{key}")


def get_setting(settings: dict[str, Any], key: str) -> Any:
    setting_field(key)
    node: Any = settings
    for part in key.split("."):
        node = node[part]
    return node


def put_setting(settings: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = settings
    for part in parents:
        node = node[part]
    node[last] = value


def _settings(data: Any, spec: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate a settings object; missing keys take their defaults."""
    if not isinstance(data, dict):
        raise InvalidValue(f"{where}: must be an object")
    unknown = set(data) - set(spec)
    if unknown:
        raise InvalidValue(f"{where}.{shown_key(sorted(unknown)[0])}: unknown setting")
    out = {}
    for key, rule in spec.items():
        if isinstance(rule, dict):
            out[key] = _settings(data.get(key, {}), rule, f"{where}.{key}")
        else:
            out[key] = rule.check(data[key], f"{where}.{key}") if key in data else rule.default
    return out


def check_word(data: Any, where: str) -> dict[str, Any]:
    """A word's edits with the defaults left out (an empty dict means "not edited")."""
    if not isinstance(data, dict):
        raise InvalidValue(f"{where}: must be an object")
    unknown = set(data) - set(WORD_STYLE) - set(WORD_TIMING)
    if unknown:
        raise InvalidValue(f"{where}.{shown_key(sorted(unknown)[0])}: unknown word field (use "
                           f"{', '.join([*WORD_STYLE, *WORD_TIMING])})")
    out = {}
    for key, rule in WORD_STYLE.items():
        if key in data:
            value = rule.check(data[key], f"{where}.{key}")
            if value != rule.default:
                out[key] = value
    if ("start" in data) != ("end" in data):
        raise InvalidValue(f"{where}: a timing fix needs both start and end")
    if "start" in data:
        out.update(check_timing(data["start"], data["end"], where))
    return out


def check_timing(start: Any, end: Any, where: str) -> dict[str, float]:
    start = WORD_TIMING["start"].check(start, f"{where}.start")
    end = WORD_TIMING["end"].check(end, f"{where}.end")
    if not start < end:
        raise InvalidValue(f"{where}: start ({start:g}) must be before end ({end:g})")
    return {"start": start, "end": end}


MAX_WORD_INDEX = 10**7


def word_index(key: Any, where: str, what: str = "word") -> int:
    if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 8:
        key = int(key)
    if type(key) is not int or not 0 <= key < MAX_WORD_INDEX:
        shown = "a huge number" if type(key) is int else repr(key)[:40]
        raise InvalidValue(f"{where}: {shown} is not a {what} index (0, 1, 2, ...)")
    return key


def check_clip(data: Any, where: str, folder: Path) -> dict[str, Any]:
    """A complete emotion clip with defaults filled in; ``source`` image refs as MediaRef."""
    if not isinstance(data, dict):
        raise InvalidValue(f"{where}: must be an object")
    unknown = set(data) - set(CLIP_FIELDS) - {"emotion", "source"}
    if unknown:
        raise InvalidValue(f"{where}.{shown_key(sorted(unknown)[0])}: unknown emotion clip field")
    out: dict[str, Any] = {}
    for key, rule in CLIP_FIELDS.items():
        if key in data:
            out[key] = rule.check(data[key], f"{where}.{key}")
        elif rule.default is None:
            raise InvalidValue(f"{where}: {key} is missing")
        else:
            out[key] = rule.default
    if ("emotion" in data) == ("source" in data):
        raise InvalidValue(f"{where}: needs exactly one of emotion or source")
    if "emotion" in data:
        out["emotion"] = EMOTION.check(data["emotion"], f"{where}.emotion")
    else:
        out["source"] = _clip_source(data["source"], f"{where}.source", folder)
    if not out["start"] < out["end"]:
        raise InvalidValue(f"{where}: start ({out['start']:g}) must be before end "
                           f"({out['end']:g})")
    if out["fade_in"] + out["fade_out"] > out["end"] - out["start"] + 1e-9:
        raise InvalidValue(f"{where}: fade_in + fade_out ({out['fade_in'] + out['fade_out']:g}"
                           f" s) is longer than the clip ({out['end'] - out['start']:g} s)")
    return out


def _clip_source(data: Any, where: str, folder: Path) -> dict[str, Any]:
    if isinstance(data, dict) and len(data) == 1 and "image" in data:
        image = data["image"]
        if not isinstance(image, MediaRef):
            image = MediaRef.from_json(image, folder, f"{where}.image", ("image",))
        return {"image": image}
    if isinstance(data, dict) and len(data) == 1 and "frame" in data:
        return {"frame": FRAME.check(data["frame"], f"{where}.frame")}
    raise InvalidValue(f"{where}: must be {{\"image\": media reference}} or {{\"frame\": N}}")


def clip_to_json(clip: dict[str, Any], folder: Path) -> dict[str, Any]:
    out = dict(clip)
    if "source" in clip:
        source = clip["source"]
        out["source"] = ({"image": source["image"].to_json(folder)} if "image" in source
                         else dict(source))
    return out


TOP_LEVEL = ("schema", "source", "dub", "transcript", "settings", "words", "emotion_clips",
             "phones", "markers", "alignment")


def load_document(doc: Any, folder: Path) -> tuple[dict[str, Any], list[int]]:
    """Migrate and validate a parsed ``project.json``; returns the state and migrations run."""
    if not isinstance(doc, dict):
        raise InvalidValue("must be a JSON object")
    doc, applied = migrate(doc)
    unknown = set(doc) - set(TOP_LEVEL)
    if unknown:
        raise InvalidValue(f"{shown_key(sorted(unknown)[0])}: unknown field")
    if "source" not in doc:
        raise InvalidValue("source: missing (every project has a source video or image)")
    state: dict[str, Any] = {
        "source": MediaRef.from_json(doc["source"], folder, "source", ROLE_KINDS["source"])}
    for role in ("dub", "transcript"):
        data = doc.get(role)
        state[role] = None if data is None else MediaRef.from_json(
            data, folder, role, ROLE_KINDS[role])
    state["settings"] = _settings(doc.get("settings", {}), SETTINGS, "settings")
    words = doc.get("words", {})
    if not isinstance(words, dict):
        raise InvalidValue("words: must be an object keyed by word index")
    state["words"] = {}
    for key, value in words.items():
        where = f"words.{shown_key(key)}"
        index = word_index(key, where)
        edits = check_word(value, where)
        if edits:
            state["words"][index] = edits
    clips = doc.get("emotion_clips", [])
    if not isinstance(clips, list):
        raise InvalidValue("emotion_clips: must be a list")
    state["emotion_clips"] = [check_clip(c, f"emotion_clips[{i}]", folder)
                              for i, c in enumerate(clips)]
    seen = set()
    for i, clip in enumerate(state["emotion_clips"]):
        if clip["id"] in seen:
            raise InvalidValue(f"emotion_clips[{i}].id: {shown(clip['id'])} is used twice")
        seen.add(clip["id"])
    phones = doc.get("phones", {})
    if not isinstance(phones, dict):
        raise InvalidValue("phones: must be an object keyed by phone index")
    state["phones"] = {}
    for key, value in phones.items():
        where = f"phones.{shown_key(key)}"
        state["phones"][word_index(key, where, "phone")] = check_phone(value, where)
    state["markers"] = check_markers(doc.get("markers", []))
    state["alignment"] = (None if doc.get("alignment") is None
                          else check_alignment(doc["alignment"]))
    return state, applied


def dump_document(state: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The JSON document for ``state``, paths made relative to ``folder`` where inside it.
    The phone track's fields (``phones``, ``markers``, ``alignment``) are written only when
    used (the file stays short and reads as the user's edits)."""
    doc = {
        "schema": SCHEMA_VERSION,
        "source": state["source"].to_json(folder),
        "dub": None if state["dub"] is None else state["dub"].to_json(folder),
        "transcript": None if state["transcript"] is None else state["transcript"].to_json(
            folder),
        "settings": _copy(state["settings"]),
        "words": {str(i): dict(w) for i, w in sorted(state["words"].items()) if w},
        "emotion_clips": [clip_to_json(c, folder) for c in state["emotion_clips"]],
        "phones": {str(i): dict(p) for i, p in sorted(state.get("phones", {}).items()) if p},
        "markers": list(state.get("markers", [])),
        "alignment": state.get("alignment"),
    }
    for key in ("phones", "markers", "alignment"):
        if not doc[key]:
            del doc[key]
    return doc


def _copy(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else (list(v) if isinstance(v, list) else v)
            for k, v in settings.items()}
