"""The project model: file format, validation, migrations, media look-up, commands and undo,
atomic saves, autosave/recovery, edits files and the ``studio project`` commands."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf

from core.errors import EditsError, MediaError, MissingMediaError, ProjectError
from core.project import schema
from core.project.autosave import autosave, discard_autosave, recover, recoverable
from core.project.commands import (
    AddEmotionClip,
    ChangeEmotionClip,
    Group,
    RemoveEmotionClip,
    SetMedia,
    SetSetting,
    SetWordStyle,
    SetWordTiming,
    command_for_key,
    value_from_text,
)
from core.project.edits import parse_edits
from core.project.history import History
from core.project.media import InvalidValue, MediaRef
from core.project.project import Project
from studio import cli_project


def write_wav(path: Path, seconds: float = 0.2, seed: int = 0) -> Path:
    """A short real sound (the project checks a voice track is audio)."""
    noise = np.random.default_rng(seed).normal(0, 0.1, round(16000 * seconds))
    sf.write(path, noise.astype(np.float32), 16000)
    return path


def write_video(path: Path, frames: int = 3, seed: int = 0) -> Path:
    """A tiny real video (the project checks a source has a picture)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        for _ in range(frames):
            img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(s.encode())
    return path


def write_png(path: Path, seed: int = 0) -> Path:
    img = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return path


def write_model(path: Path, tracker: str = "mediapipe") -> Path:
    """A file that reads as a fine-tuned lip adapter (its metadata is what a project checks
    when the driver is set; the weights are only read by a take)."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "studio-audio2exp", "version": 2, "backend": "landmarks",
            "tracker": tracker, "n_points_total": 478}
    save_file({"w": np.zeros(1, np.float32)}, str(path), metadata={"audio2exp": json.dumps(meta)})
    return path


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    """Small real media files: their kind is checked, then only their bytes (hash, size)
    matter to the project model."""
    folder = tmp_path / "media"
    folder.mkdir()
    files = {"source": write_video(folder / "clip.mp4"), "dub": write_wav(folder / "dub.wav"),
             "transcript": folder / "dub.txt", "image": write_png(folder / "face.png")}
    files["transcript"].write_text("the duck saw a duck\n")
    return files


@pytest.fixture
def project(tmp_path: Path, media: dict[str, Path]) -> Project:
    return Project.new(tmp_path / "proj", media["source"], dub=media["dub"],
                       transcript=media["transcript"])


def _clip(**over):
    clip = {"id": "c1", "region": "brows", "emotion": "happy", "start": 1.0, "end": 3.0,
            "fade_in": 0.5, "fade_out": 0.5, "intensity": 1.0}
    clip.update(over)
    return {k: v for k, v in clip.items() if v is not None}


# --- file format ------------------------------------------------------------------------------


def test_new_project_layout_and_defaults(project: Project, media):
    folder = project.folder
    assert (folder / "project.json").is_file()
    assert (folder / "cache").is_dir() and (folder / "models").is_dir()
    doc = json.loads((folder / "project.json").read_text())
    assert doc["schema"] == schema.SCHEMA_VERSION == 2
    assert doc["source"]["kind"] == "video" and doc["dub"]["kind"] == "audio"
    assert doc["source"]["path"] == str(media["source"])  # outside the folder: absolute
    s = doc["settings"]
    assert (s["alpha"], s["beta"], s["smoothing"], s["av_offset_frames"]) == (1.0, 0.0, 0.5, 0)
    assert (s["driver"], s["renderer"], s["tracker"]) == ("learned", "warp", "mediapipe")
    assert s["export"] == {"crf": 18, "preset": "faster", "audio_bitrate": 192000,
                           "mix_source_audio": False, "source_audio_gain": 0.5}
    assert doc["words"] == {} and doc["emotion_clips"] == []
    assert not project.dirty


def test_round_trip_keeps_every_edit(project: Project, media):
    project.set_setting("settings.alpha", 1.4)
    project.set_setting("export.crf", 20)
    project.set_setting("face_box", [10, 20, 100, 120])
    write_model(project.folder / "models" / "adapter.safetensors")
    project.set_setting("driver", "audio2exp:models/adapter.safetensors")
    project.set_word_field([3, 5], "open", 2.0)
    project.set_word_field([3], "alpha", 0.5)
    project.set_word_timing(4, (1.0, 1.25))
    project.add_clip(_clip())
    project.add_clip(_clip(id="c2", region="eyes", emotion=None,
                           source={"image": MediaRef.from_file(media["image"])}))
    assert project.dirty
    project.save()
    assert not project.dirty
    again = Project.open(project.folder)
    assert again.to_json() == project.to_json()
    assert again.setting("alpha") == 1.4 and again.setting("export.crf") == 20
    assert again.word_style(3) == {"open": 2.0, "wide": 1.0, "round": 1.0, "alpha": 0.5,
                                   "silent": False}
    assert again.word_timing(4) == (1.0, 1.25)
    assert again.clip("c2")["source"]["image"].kind == "image"
    assert not again.missing and not again.dirty


def test_only_non_default_word_edits_are_stored(project: Project):
    project.set_word_field([2], "open", 2.0)
    project.set_word_field([2], "open", 1.0)  # back to the default
    project.set_word_field([7], "silent", False)
    assert project.to_json()["words"] == {}


def test_media_inside_the_folder_is_stored_relative(tmp_path, media):
    folder = tmp_path / "p"
    folder.mkdir()
    inside = folder / "clip.mp4"
    shutil.copy(media["source"], inside)
    project = Project.new(folder, inside)  # a folder holding only its own media is fine
    assert project.to_json()["source"]["path"] == "clip.mp4"
    shutil.move(folder, tmp_path / "moved")  # the whole folder moves: still found
    again = Project.open(tmp_path / "moved")
    assert again.source.path == tmp_path / "moved" / "clip.mp4" and not again.missing


def test_new_refuses_a_non_empty_folder_and_an_existing_project(tmp_path, media, project):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="not empty and is not a project"):
        Project.new(other, media["source"])
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    with pytest.raises(ProjectError, match="already here"):
        Project.new(project.folder, media["source"])
    with pytest.raises(MediaError, match="no such file"):
        Project.new(tmp_path / "x", tmp_path / "nope.mp4")


def _doc(project: Project) -> dict:
    return json.loads(project.json_path.read_text())


BAD_DOCUMENTS = [
    (b"", "empty"),
    (b"{\"schema\": 1,", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{}", "schema: missing"),
    (b"{\"schema\": \"1\"}", "schema: missing or not an integer"),
]


@pytest.mark.parametrize(("data", "problem"), BAD_DOCUMENTS)
def test_unreadable_project_files(project: Project, data: bytes, problem: str):
    project.json_path.write_bytes(data)
    with pytest.raises(ProjectError, match=problem) as err:
        Project.open(project.folder)
    assert err.value.path == project.json_path
    assert project.json_path.read_bytes() == data  # nothing rewritten


BAD_FIELDS = [
    (lambda d: d["settings"].update(alpha=2.5), "settings.alpha: 2.5 is out of range 0..2"),
    (lambda d: d["settings"].update(beta="loud"), "settings.beta: must be a number"),
    (lambda d: d["settings"].update(smoothing=-1), "settings.smoothing: -1 is out of range"),
    (lambda d: d["settings"].update(av_offset_frames=11), "av_offset_frames: 11 is out of"),
    (lambda d: d["settings"].update(av_offset_frames=1.5), "av_offset_frames: must be an int"),
    (lambda d: d["settings"].update(tracker="dlib"), "settings.tracker: must be one of"),
    (lambda d: d["settings"].update(face_box=[0, 0, -1, 4]), "width and height"),
    (lambda d: d["settings"].update(idle_motion=1), "idle_motion: must be true or false"),
    (lambda d: d["settings"].update(driver=""), "settings.driver: must be a non-empty"),
    (lambda d: d["settings"].update(colour=1), "settings.colour: unknown setting"),
    (lambda d: d["settings"]["export"].update(crf=52), "settings.export.crf: 52 is out"),
    (lambda d: d["settings"]["export"].update(preset="quick"), "export.preset: must be one"),
    (lambda d: d.update(extra=1), "extra: unknown field"),
    (lambda d: d.pop("source"), "source: missing"),
    (lambda d: d["source"].update(kind="audio"), "source.kind: must be one of video, image"),
    (lambda d: d["source"].update(hash="xyz"), "source.hash: must be a 32-digit hex"),
    (lambda d: d.update(words={"x": {"open": 2}}), "words.x: 'x' is not a word index"),
    (lambda d: d.update(words={"1": {"open": 4}}), "words.1.open: 4 is out of range 0..3"),
    (lambda d: d.update(words={"1": {"mouth": 1}}), "words.1.mouth: unknown word field"),
    (lambda d: d.update(words={"1": {"start": 1}}), "needs both start and end"),
    (lambda d: d.update(words={"1": {"start": 2, "end": 1}}), "start \\(2\\) must be before"),
    (lambda d: d.update(emotion_clips=[_clip(region="nose")]), "region: must be one of"),
    (lambda d: d.update(emotion_clips=[_clip(emotion="bored")]), "emotion: must be one of"),
    (lambda d: d.update(emotion_clips=[_clip(start=3.0, end=1.0)]), "must be before end"),
    (lambda d: d.update(emotion_clips=[_clip(fade_in=1.5, fade_out=1)]), "longer than the"),
    (lambda d: d.update(emotion_clips=[_clip(intensity=2)]), "intensity: 2 is out of range"),
    (lambda d: d.update(emotion_clips=[_clip(source={"frame": 3})]), "exactly one of"),
    (lambda d: d.update(emotion_clips=[{**_clip(), "id": "a"}, {**_clip(), "id": "a"}]),
     "'a' is used twice"),
]


@pytest.mark.parametrize(("change", "problem"), BAD_FIELDS)
def test_invalid_project_files_name_the_key(project: Project, change, problem: str):
    doc = _doc(project)
    change(doc)
    data = json.dumps(doc).encode()
    project.json_path.write_bytes(data)
    with pytest.raises(ProjectError, match=problem) as err:
        Project.open(project.folder)
    assert str(err.value).startswith(f"{project.json_path}: ")
    assert project.json_path.read_bytes() == data


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(ProjectError, match="no such folder"):
        Project.open(tmp_path / "nowhere")
    with pytest.raises(ProjectError, match="not a project"):
        Project.open(tmp_path)


def test_missing_settings_take_their_defaults(project: Project):
    doc = _doc(project)
    del doc["settings"]["export"]
    del doc["settings"]["alpha"]
    project.json_path.write_text(json.dumps(doc))
    again = Project.open(project.folder)
    assert again.setting("alpha") == 1.0 and again.setting("export.crf") == 18


# --- migrations -------------------------------------------------------------------------------


def test_a_version_1_file_reads_unchanged_and_saves_as_version_2(project: Project):
    """Version 2 only added the phone track's optional fields: a file the first release
    wrote opens with every value as it was, says it was upgraded, and changes on save."""
    assert schema.SCHEMA_VERSION == 2 and set(schema.MIGRATIONS) == {1}
    project.set_setting("alpha", 1.25)
    project.save()
    doc = _doc(project)
    for key in ("phones", "markers", "alignment"):
        assert key not in doc  # nothing a version-1 file lacks
    doc["schema"] = 1
    data = json.dumps(doc).encode()
    project.json_path.write_bytes(data)
    old = Project.open(project.folder)
    assert old.setting("alpha") == 1.25
    assert old.to_json() == {**doc, "schema": 2}
    assert old.dirty and "upgraded from schema 1 to 2" in old.notes[0]
    assert project.json_path.read_bytes() == data  # untouched until the user saves
    old.save()
    assert _doc(old)["schema"] == 2


def test_a_studio_that_reads_version_1_refuses_a_version_2_file(project: Project):
    """What an older studio does with a file that has a phone track: names the cause."""
    doc = {**_doc(project), "markers": [0.5]}
    with pytest.raises(InvalidValue, match=r"made by a newer version .*schema 2.*reads schema 1"):
        schema.migrate(doc, target=1, migrations={})


def test_migration_chain_runs_step_by_step():
    def one_to_two(doc):
        return {**doc, "schema": 2, "b": doc["a"] * 2}

    def two_to_three(doc):
        return {**doc, "schema": 3, "c": doc["b"] + 1}

    doc, applied = schema.migrate({"schema": 1, "a": 5}, target=3,
                                  migrations={1: one_to_two, 2: two_to_three})
    assert doc == {"schema": 3, "a": 5, "b": 10, "c": 11} and applied == [1, 2]
    with pytest.raises(InvalidValue, match="schema 2 is not a format"):
        schema.migrate({"schema": 2}, target=3, migrations={1: one_to_two})
    with pytest.raises(InvalidValue, match="did not produce schema 2"):
        schema.migrate({"schema": 1}, target=2, migrations={1: lambda d: d})


def test_register_migration_refuses_a_second_one(monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", {})
    schema.register_migration(0)(lambda d: d)
    with pytest.raises(ValueError, match="already registered"):
        schema.register_migration(0)(lambda d: d)


def test_an_older_file_is_upgraded_in_memory_only(project: Project, monkeypatch):
    """A synthetic schema-0 file (settings under another name) through a test migration."""
    monkeypatch.setattr(schema, "MIGRATIONS", dict(schema.MIGRATIONS))

    @schema.register_migration(0)
    def _zero_to_one(doc):
        doc["settings"] = doc.pop("options")
        doc["schema"] = 1
        return doc

    doc = _doc(project)
    doc["schema"] = 0
    doc["options"] = doc.pop("settings")
    doc["options"]["alpha"] = 1.5
    data = json.dumps(doc).encode()
    project.json_path.write_bytes(data)
    old = Project.open(project.folder)
    assert old.setting("alpha") == 1.5
    assert old.dirty and "upgraded from schema 0" in old.notes[0]
    assert project.json_path.read_bytes() == data  # untouched until the user saves
    old.save()
    assert _doc(old)["schema"] == 2 and "settings" in _doc(old)


def test_a_file_from_a_newer_version_is_refused(project: Project):
    doc = _doc(project)
    doc["schema"] = schema.SCHEMA_VERSION + 1
    project.json_path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="made by a newer version"):
        Project.open(project.folder)


def test_an_unknown_older_schema_is_refused(project: Project):
    doc = _doc(project)
    doc["schema"] = 0
    project.json_path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="schema 0 is not a format"):
        Project.open(project.folder)


# --- media references -------------------------------------------------------------------------


def test_moved_media_is_found_by_hash_inside_the_folder(project: Project, media):
    project.save()
    sub = project.folder / "footage" / "day1"
    sub.mkdir(parents=True)
    (sub / "decoy.mp4").write_bytes(os.urandom(4000))  # same size, other content
    shutil.move(media["source"], sub / "renamed.mp4")
    again = Project.open(project.folder)
    assert again.source.path == sub / "renamed.mp4"
    assert again.dirty and any("moved" in n for n in again.notes)
    again.save()
    assert _doc(again)["source"]["path"] == "footage/day1/renamed.mp4"


def test_missing_media_is_reported_and_relinked(project: Project, media, tmp_path):
    project.save()
    copy = tmp_path / "elsewhere.wav"
    shutil.move(media["dub"], copy)
    again = Project.open(project.folder)
    assert set(again.missing) == {"dub"}
    with pytest.raises(MissingMediaError, match="dub is missing"):
        again.require_media()
    events = []
    again.events.connect(lambda name, payload: events.append(name))
    assert again.relink("dub", copy) is None  # same content: no warning
    assert not again.missing and again.dub.path == copy and again.dirty
    assert "media_changed" in events
    again.require_media()


def test_relink_to_different_content_warns(project: Project, tmp_path):
    other = write_wav(tmp_path / "other.wav", seed=1)  # another sound
    warnings = []
    project.events.connect(lambda n, p: warnings.append(p["message"]) if n == "warning" else 0)
    warning = project.relink("dub", other)
    assert warning and "not the same file" in warning and warnings == [warning]
    assert project.dub.hash != project.source.hash and project.dub.path == other


def test_changed_file_at_the_same_path_counts_as_missing(project: Project, media):
    media["dub"].write_bytes(b"short")  # another size: not the file the project used
    again = Project.open(project.folder)
    assert set(again.missing) == {"dub"}


def test_missing_clip_image_is_reported(project: Project, media):
    project.add_clip(_clip(emotion=None, source={"image": str(media["image"])}))
    project.save()
    media["image"].unlink()
    again = Project.open(project.folder)
    assert set(again.missing) == {"clip:c1"}


# --- saving -----------------------------------------------------------------------------------


def test_a_failed_save_leaves_the_old_file(project: Project, monkeypatch):
    before = project.json_path.read_bytes()
    project.set_setting("alpha", 0.3)

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ProjectError, match="could not save .*No space left") as err:
        project.save()
    assert err.value.path == project.json_path
    assert project.json_path.read_bytes() == before
    assert project.dirty
    assert [p.name for p in project.folder.iterdir() if p.name.endswith(".tmp")] == []


def test_save_as_moves_the_project_and_takes_models(project: Project, tmp_path, media):
    (project.models_dir / "adapter.safetensors").write_bytes(b"weights")
    project.set_setting("alpha", 0.7)
    target = tmp_path / "copy"
    folders = []
    project.events.connect(lambda n, p: folders.append(p["folder"]) if n == "folder_changed"
                           else None)
    project.save_as(target)
    assert project.folder == target and folders == [target] and not project.dirty
    assert (target / "models" / "adapter.safetensors").read_bytes() == b"weights"
    assert Project.open(target).setting("alpha") == 0.7
    assert Project.open(tmp_path / "proj").setting("alpha") == 1.0  # the original untouched
    with pytest.raises(ProjectError, match="already here"):
        project.save_as(tmp_path / "proj")


# --- commands and undo ------------------------------------------------------------------------


def _check_undo(project: Project, command, after):
    history = History(project)
    before = project.to_json()
    history.push(command)
    assert after(project) is not False
    changed = project.to_json()
    assert changed != before and project.dirty
    history.undo()
    assert project.to_json() == before and not project.dirty
    history.redo()
    assert project.to_json() == changed and project.dirty


def test_set_setting_undo_redo(project: Project):
    def after(p):
        assert p.setting("export.crf") == 23

    _check_undo(project, SetSetting("settings.export.crf", 23), after)


def test_set_word_style_on_several_words(project: Project):
    project.set_word_field([1], "round", 2.0)
    project.save()

    def after(p):
        assert p.word_style(1)["round"] == 0.5 and p.word_style(2)["round"] == 0.5

    _check_undo(project, SetWordStyle([1, 2], "round", 0.5), after)
    assert project.word_style(4)["round"] == 1.0


def test_set_word_timing(project: Project):
    def after(p):
        assert p.word_timing(2) == (0.5, 0.75)

    _check_undo(project, SetWordTiming(2, 0.5, 0.75), after)


def test_add_remove_and_change_emotion_clips(project: Project, media):
    add = AddEmotionClip({k: v for k, v in _clip().items() if k != "id"})
    _check_undo(project, add, lambda p: p.clip(add.id))
    project.save()
    _check_undo(project, ChangeEmotionClip(add.id, intensity=0.2, end=4.0),
                lambda p: p.clip(add.id)["intensity"] == 0.2)
    project.save()
    image = ChangeEmotionClip(add.id, source={"image": str(media["image"])})

    def after(p):
        assert "emotion" not in p.clip(add.id) and "image" in p.clip(add.id)["source"]

    _check_undo(project, image, after)
    assert project.clip(add.id)["source"]["image"].hash
    project.save()

    def removed(p):
        with pytest.raises(ProjectError, match="no clip"):
            p.clip(add.id)

    _check_undo(project, RemoveEmotionClip(add.id), removed)


def test_set_media(project: Project, tmp_path):
    new = write_wav(tmp_path / "new.wav", seed=2)
    _check_undo(project, SetMedia("dub", new), lambda p: p.dub.path == new)
    project.save()
    _check_undo(project, SetMedia("transcript", None), lambda p: p.transcript is None)
    with pytest.raises(ProjectError, match="cannot be removed"):
        History(project).push(SetMedia("source", None))


def test_invalid_edits_are_refused_and_not_recorded(project: Project):
    history = History(project)
    before = project.to_json()
    for command in (SetSetting("alpha", 5), SetSetting("export.speed", 1),
                    SetWordStyle([1], "open", -1), SetWordStyle([1], "tilt", 1),
                    SetWordTiming(1, 2.0, 1.0), ChangeEmotionClip("nope", intensity=1),
                    AddEmotionClip(_clip(fade_in=5))):
        with pytest.raises(ProjectError, match=str(project.json_path)):
            history.push(command)
    assert project.to_json() == before and not history.can_undo and not project.dirty


def test_a_slider_drag_is_one_undo_step(project: Project):
    history = History(project)
    for value in (1.1, 1.2, 1.3, 1.4):
        history.push(SetSetting("alpha", value))
    history.push(SetSetting("beta", 0.5))
    assert len(history) == 2
    history.undo()
    history.undo()
    assert project.setting("alpha") == 1.0 and not history.can_undo
    history.redo()
    assert project.setting("alpha") == 1.4
    history.seal()  # the drag ended: a new drag is a new step
    history.push(SetSetting("alpha", 0.9))
    assert history.index == 2


def test_dragging_back_to_the_start_leaves_no_step(project: Project):
    history = History(project)
    history.push(SetSetting("alpha", 1.5))
    history.push(SetSetting("alpha", 1.0))
    assert len(history) == 0 and not project.dirty


def test_clip_drags_merge_per_clip_and_fields(project: Project):
    project.add_clip(_clip())
    project.add_clip(_clip(id="c2"))
    history = History(project)
    history.push(ChangeEmotionClip("c1", start=1.1, end=3.1))
    history.push(ChangeEmotionClip("c1", start=1.2, end=3.2))
    history.push(ChangeEmotionClip("c1", intensity=0.5))
    history.push(ChangeEmotionClip("c2", intensity=0.5))
    history.push(SetWordStyle([1, 2], "open", 1.5))
    history.push(SetWordStyle([1, 2], "open", 1.8))
    history.push(SetWordTiming(3, 1.0, 1.2))
    history.push(SetWordTiming(3, 1.0, 1.4))
    assert len(history) == 5
    history.undo()
    assert project.word_timing(3) is None


def test_clean_and_dirty_tracking(project: Project):
    history = History(project)
    states = []
    history.events.connect(lambda name, p: states.append(p["clean"]))
    assert history.is_clean and not project.dirty
    history.push(SetSetting("alpha", 1.2))
    assert not history.is_clean and project.dirty
    project.save()
    assert history.is_clean and not project.dirty and history.clean_index == 1
    history.push(SetSetting("alpha", 1.3))  # no merge into the saved step
    assert len(history) == 2
    history.undo()
    assert history.is_clean and not project.dirty
    history.undo()
    assert project.dirty
    history.push(SetSetting("smoothing", 1.0))  # the saved state is no longer reachable
    assert history.clean_index is None and project.dirty
    assert states[-1] is False and True in states


def test_an_edit_outside_the_history_makes_the_saved_state_unreachable(project, tmp_path):
    history = History(project)
    history.push(SetSetting("alpha", 1.2))
    history.undo()
    assert not project.dirty
    project.relink("dub", project.dub.path)
    history.redo()
    history.undo()
    assert project.dirty


def test_group_is_one_step_and_rolls_back_on_failure(project: Project):
    history = History(project)
    history.push(Group([SetSetting("alpha", 1.5), SetWordStyle([0], "open", 2)]))
    assert len(history) == 1
    history.undo()
    assert project.setting("alpha") == 1.0 and project.word_style(0)["open"] == 1.0
    with pytest.raises(ProjectError):
        history.push(Group([SetSetting("alpha", 1.5), SetSetting("alpha", 9)]))
    assert project.setting("alpha") == 1.0


def test_events_announce_changes(project: Project):
    seen = []
    project.events.connect(lambda name, payload: seen.append((name, payload)))
    project.set_setting("alpha", 1.3)
    project.set_word_field([4], "silent", True)
    project.add_clip(_clip())
    project.save()
    names = [n for n, _ in seen]
    assert names == ["dirty_changed", "setting_changed", "word_changed",
                     "emotion_clips_changed", "dirty_changed", "saved"]
    assert seen[1][1] == {"key": "alpha", "value": 1.3, "old": 1.0}


# --- autosave ---------------------------------------------------------------------------------


def test_autosave_and_recovery(project: Project):
    assert not recoverable(project.folder)
    project.set_setting("alpha", 1.7)
    path = autosave(project)
    saved = project.json_path.stat().st_mtime_ns
    os.utime(path, ns=(saved + 10**9, saved + 10**9))
    assert recoverable(project.folder)
    back = recover(project.folder)
    assert back.setting("alpha") == 1.7 and back.dirty
    assert Project.open(project.folder).setting("alpha") == 1.0
    back.save()
    assert not path.exists() and not recoverable(project.folder)
    assert Project.open(project.folder).setting("alpha") == 1.7


def test_an_autosave_equal_to_the_file_or_older_is_not_offered(project: Project):
    path = autosave(project)  # same state as the saved file
    saved = project.json_path.stat().st_mtime_ns
    os.utime(path, ns=(saved + 10**9, saved + 10**9))
    assert not recoverable(project.folder)
    project.set_setting("alpha", 1.7)
    autosave(project)
    os.utime(path, ns=(saved - 10**9, saved - 10**9))
    assert not recoverable(project.folder)
    discard_autosave(project.folder)
    assert not path.exists()


def test_a_corrupt_autosave_is_not_offered(project: Project):
    path = project.autosave_path
    path.write_text("{")
    saved = project.json_path.stat().st_mtime_ns
    os.utime(path, ns=(saved + 10**9, saved + 10**9))
    assert not recoverable(project.folder)
    with pytest.raises(ProjectError, match="autosave.json: not valid JSON"):
        recover(project.folder)


# --- edits files ------------------------------------------------------------------------------

WORDS = ["the", "duck", "saw", "a", "duck"]


def _edits(tmp_path: Path, doc) -> Path:
    path = tmp_path / "edits.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_edits_file_resolves_words_by_index_and_text(tmp_path, project, media):
    shutil.copy(media["image"], tmp_path / "smile.png")
    path = _edits(tmp_path, {
        "words": [{"index": 0, "open": 2.0}, {"text": "Duck", "occurrence": 2, "round": 1.5},
                  {"text": "saw", "silent": True, "start": 1.0, "end": 1.3}],
        "emotions": [{"region": "mouth", "emotion": "sad", "start": 0, "end": 1},
                     {"region": "eyes", "source": {"image": "smile.png"}, "start": 1,
                      "end": 2}]})
    edits = parse_edits(path, WORDS)
    assert edits.words == {0: {"open": 2.0}, 4: {"round": 1.5},
                           2: {"silent": True, "start": 1.0, "end": 1.3}}
    assert edits.emotions[0]["intensity"] == 1.0 and edits.emotions[0]["id"]
    history = History(project)
    history.push(Group(edits.commands()))
    assert project.word_style(4)["round"] == 1.5 and project.word_timing(2) == (1.0, 1.3)
    assert len(project.emotion_clips) == 2
    history.undo()
    assert project.words == {} and project.emotion_clips == []


BAD_EDITS = [
    ("{", "not valid JSON"),
    ([], "must be a JSON object"),
    ({"word": []}, "word: unknown field"),
    ({"words": {}}, "words: must be a list"),
    ({"words": [{"index": 1, "opne": 2}]}, "words\\[0\\].opne: unknown word field"),
    ({"words": [{"index": 1, "open": 9}]}, "words\\[0\\].open: 9 is out of range 0..3"),
    ({"words": [{"index": 9, "open": 2}]}, "word 9 not found \\(the dub has 5 words\\)"),
    ({"words": [{"open": 2}]}, "by index or by text"),
    ({"words": [{"text": "goose", "open": 2}]}, "'goose' occurrence 1 not found"),
    ({"words": [{"text": "duck", "occurrence": 3}]}, "it occurs 2 times"),
    ({"words": [{"text": "duck", "occurrence": 0}]}, "occurrence: must be 1 or more"),
    ({"emotions": [{"region": "mouth", "emotion": "sad", "start": 2, "end": 1}]},
     "emotions\\[0\\]: start \\(2\\) must be before"),
    ({"emotions": [{"region": "mouth", "emotion": "sad", "start": 0, "end": 1,
                    "mood": 1}]}, "emotions\\[0\\].mood: unknown"),
    ({"emotions": [{"region": "eyes", "source": {"image": "gone.png"}, "start": 0,
                    "end": 1}]}, "gone.png not found"),
]


@pytest.mark.parametrize(("doc", "problem"), BAD_EDITS)
def test_bad_edits_files_name_the_file_and_problem(tmp_path, doc, problem):
    path = _edits(tmp_path, doc)
    with pytest.raises(EditsError, match=problem) as err:
        parse_edits(path, WORDS)
    assert err.value.path == path


def test_edits_file_not_utf8_or_absent(tmp_path):
    path = tmp_path / "edits.json"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(EditsError, match="not UTF-8"):
        parse_edits(path, WORDS)
    with pytest.raises(EditsError, match="cannot read"):
        parse_edits(tmp_path / "none.json", WORDS)
    path.write_text(json.dumps({"words": [{"text": "duck"}]}))
    with pytest.raises(EditsError, match="need the dub's aligned words"):
        parse_edits(path)


# --- keys and the CLI -------------------------------------------------------------------------


def test_value_from_text():
    assert value_from_text("1.4") == 1.4 and value_from_text("true") is True
    assert value_from_text("null") is None and value_from_text("[1, 2]") == [1, 2]
    assert value_from_text("hold") == "hold"
    assert value_from_text("audio2exp:m.safetensors") == "audio2exp:m.safetensors"


def test_command_for_key(project: Project):
    project.add_clip(_clip())
    for key, value in (("settings.longer", "hold"), ("words.3.open", 2), ("words.3.timing",
                       [1.0, 1.5]), ("words.3.end", 1.75), ("emotion_clips.c1.intensity", 0.5)):
        command_for_key(project, key, value).do(project)
    assert project.setting("longer") == "hold" and project.word_style(3)["open"] == 2.0
    assert project.word_timing(3) == (1.0, 1.75) and project.clip("c1")["intensity"] == 0.5
    for key, problem in (("colour", "unknown key"), ("words.x.open", "by index"),
                         ("words.1.tilt", "unknown word field"), ("words.1.start",
                         "no timing fix"), ("emotion_clips.zz.start", "no clip")):
        with pytest.raises(ProjectError, match=problem):
            command_for_key(project, key, 1)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="studio")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_project.register(sub)
    args = parser.parse_args(["project", *argv])
    return args.func(args)


def test_cli_new_set_show(tmp_path, media, capsys):
    folder = tmp_path / "cli"
    assert _cli("new", str(folder), "--source", str(media["source"]), "--audio",
                str(media["dub"]), "--transcript", str(media["transcript"])) == 0
    assert _cli("set", str(folder), "settings.alpha", "1.4") == 0
    assert _cli("set", str(folder), "settings.export.crf", "20") == 0
    assert _cli("set", str(folder), "words.3.open", "2") == 0
    write_model(folder / "adapter.safetensors")
    assert _cli("set", str(folder), "settings.driver", "audio2exp:adapter.safetensors") == 0
    capsys.readouterr()
    assert _cli("show", str(folder), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    doc = shown["project"]
    assert doc["settings"]["alpha"] == 1.4 and doc["settings"]["export"]["crf"] == 20
    assert doc["words"] == {"3": {"open": 2.0}} and shown["missing"] == {}
    assert doc["settings"]["driver"] == "audio2exp:adapter.safetensors"
    assert _cli("show", str(folder)) == 0
    out = capsys.readouterr().out
    assert "settings.alpha = 1.4" in out and "words.3: open=2.0" in out


def test_cli_errors_name_the_file(tmp_path, media, capsys):
    folder = tmp_path / "cli"
    assert _cli("new", str(folder), "--source", str(media["source"])) == 0
    before = (folder / "project.json").read_bytes()
    capsys.readouterr()
    assert _cli("set", str(folder), "settings.alpha", "3") == 1
    err = capsys.readouterr().err
    assert err == f"error: {folder / 'project.json'}: settings.alpha: 3 is out of range 0..2\n"
    assert _cli("set", str(folder), "settings.export.crf", "x") == 1
    assert "settings.export.crf: must be an integer" in capsys.readouterr().err
    assert (folder / "project.json").read_bytes() == before
    assert _cli("show", str(tmp_path / "none")) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert _cli("new", str(folder), "--source", str(media["source"])) == 1
    assert "already here" in capsys.readouterr().err
    (folder / "project.json").write_text("{oops")
    assert _cli("show", str(folder)) == 1
    assert "project.json: not valid JSON" in capsys.readouterr().err


def test_cli_show_reports_missing_media(tmp_path, media, capsys):
    folder = tmp_path / "cli"
    _cli("new", str(folder), "--source", str(media["source"]), "--audio", str(media["dub"]))
    media["dub"].unlink()
    capsys.readouterr()
    assert _cli("show", str(folder)) == 0
    assert "MISSING" in capsys.readouterr().out
