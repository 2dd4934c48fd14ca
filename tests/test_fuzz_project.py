"""Property-based fuzzing of the project loader and the edits file (hypothesis).

Thousands of broken, strange and hostile documents; one property each: the loader gives a
project or a clean one-line StudioError naming the file, never any other exception.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import StudioError
from core.project.edits import parse_edits
from core.project.project import Project

CASES = 1500  # per test; all four together run in well under a minute

# -- values ---------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
_leaf = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 51, 10**20, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "../etc/passwd", "/etc/passwd",
                     "../../x.wav", "٣", "²", "00000000003", "1e309", "visemes",
                     "audio2exp:", "audio2exp:../m.safetensors", "audio2exp:\x00",
                     "mediapipe", "happy", "brows", "0" * 5000 + "1"]),
)
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(_text, st.sampled_from(
                                ["path", "hash", "kind", "size", "open", "start", "end",
                                 "index", "text", "id", "region", "emotion", "image",
                                 "frame", "0", "1", "٣", "²", "99999"])), inner, max_size=4)),
    max_leaves=12,
)

# -- documents ------------------------------------------------------------------------------


def _base(folder: Path) -> dict:
    return {
        "schema": 1,  # a version-1 file, as the first release wrote it
        "source": {"path": "clip.wav", "hash": "0" * 32, "kind": "video", "size": 10},
        "dub": {"path": str(folder / "dub.wav"), "hash": "1" * 32, "kind": "audio"},
        "transcript": None,
        "settings": {"alpha": 1.2, "driver": "visemes", "export": {"crf": 20}},
        "words": {"0": {"open": 2.0}, "3": {"start": 1.0, "end": 1.5}},
        "emotion_clips": [{"id": "c1", "region": "brows", "emotion": "happy", "start": 0.5,
                           "end": 2.0},
                          {"id": "c2", "region": "mouth", "source": {"frame": 3},
                           "start": 1.0, "end": 2.0}],
    }


def _paths(doc, prefix=()):
    """Every place in ``doc`` a mutation can hit: (keys...)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc, path, value, mode):
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if mode == "delete":
        del node[last]
    elif mode == "add" and isinstance(node, dict):
        node[f"{last}_extra"] = value
    else:
        node[last] = value
    return doc


@st.composite
def documents(draw, folder: Path) -> str:
    doc = _base(folder)
    for _ in range(draw(st.integers(0, 3))):
        places = _paths(doc)
        path = draw(st.sampled_from(places))
        doc = _mutate(doc, path, draw(_json), draw(st.sampled_from(["set", "delete", "add"])))
        if not isinstance(doc, dict):
            break
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    trick = draw(st.sampled_from(["none"] * 6 + ["cut", "byte", "deep", "bigint", "nul"]))
    if trick == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif trick == "byte":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["\x00", "{", "]", "\"", "\\", "\udcff",
                                                 "\u2028", "9" * 5000])) + text[at:]
    elif trick == "deep":
        depth = draw(st.sampled_from([50, 1000, 100_000]))
        text = text.replace('"alpha": 1.2', '"alpha": ' + "[" * depth + "]" * depth, 1)
    elif trick == "bigint":
        text = text.replace("1.2", "1" * draw(st.sampled_from([4300, 4301, 10_000])), 1)
    elif trick == "nul":
        text = text.replace("clip.wav", "clip\\u0000.wav", 1)
    return text


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "project"
    folder.mkdir()
    for sub in ("cache", "models"):
        (folder / sub).mkdir()
    sf.write(folder / "dub.wav", np.zeros(1600, np.float32), 16000)
    return folder


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


def _check_loaded(project: Project) -> None:
    """A loaded project is usable: it dumps, summarises and round-trips."""
    doc = project.to_json()
    json.dumps(project.summary())
    project.inputs()
    for value in project.settings.values():
        if isinstance(value, float):
            assert math.isfinite(value)
    assert doc["schema"] == 2  # it saves as the current version


@settings(max_examples=CASES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_project_loader_fails_cleanly_or_loads(folder, data):
    text = data.draw(documents(folder))
    path = folder / "project.json"
    _write(path, text)
    try:
        project = Project.load(folder, path)
    except StudioError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)
        event(f"refused: {type(exc).__name__}")
        return
    event("loaded")
    _check_loaded(project)


@settings(max_examples=CASES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200))
def test_the_project_loader_takes_any_bytes(folder, raw):
    path = folder / "project.json"
    path.write_bytes(raw)
    try:
        _check_loaded(Project.load(folder, path))
    except StudioError as exc:
        assert "\n" not in str(exc)


_word_entry = st.dictionaries(
    st.sampled_from(["index", "text", "occurrence", "open", "wide", "round", "alpha",
                     "silent", "start", "end", "tilt"]), _json, max_size=4)
_emotion_entry = st.dictionaries(
    st.sampled_from(["id", "region", "emotion", "source", "start", "end", "fade_in",
                     "fade_out", "intensity", "colour"]), _json, max_size=6)


@st.composite
def edits_files(draw) -> str:
    doc = draw(st.one_of(
        st.fixed_dictionaries({}, optional={"words": st.one_of(st.lists(_word_entry,
                                                                          max_size=3), _json),
                                            "emotions": st.one_of(st.lists(_emotion_entry,
                                                                             max_size=3),
                                                                  _json)}),
        _json))
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["\x00", "[" * 100_000, "1" * 4400, "\"",
                                                 "\udcff"])) + text[at:]
    return text


@settings(max_examples=CASES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(text=edits_files(), words=st.one_of(st.none(), st.lists(_text, max_size=5)))
def test_the_edits_file_fails_cleanly_or_parses(folder, text, words):
    path = folder / "edits.json"
    _write(path, text)
    try:
        edits = parse_edits(path, words)
    except StudioError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)
        event(f"refused: {type(exc).__name__}")
        return
    event("parsed")
    assert all(type(i) is int and i >= 0 for i in edits.words)
