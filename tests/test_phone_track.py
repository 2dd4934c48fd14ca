"""The phone track in the project: a retimed or re-visemed phone is one undoable command,
saved and reopened, and the take's lips follow it; markers are saved with the project."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import ProjectError
from core.project.commands import (
    SetPhones,
    add_marker,
    remove_marker,
    retime_phone,
    set_phone_viseme,
)
from core.project.history import History
from core.project.project import Project
from core.session import EditSession


def test_phone_edits_are_checked_saved_and_reopened(portrait_project, tmp_path):
    project = Project.open(portrait_project)
    history = History(project)
    history.push(SetPhones({3: {"start": 0.5, "end": 0.6}, 4: {"viseme": "PP"}}))
    assert project.phones == {3: {"start": 0.5, "end": 0.6}, 4: {"viseme": "PP"}}
    history.push(add_marker(project, 1.25))
    history.push(add_marker(project, 0.5))
    assert project.markers == [0.5, 1.25]
    copy = tmp_path / "copy"
    project.save_as(copy)
    doc = json.loads((copy / "project.json").read_text())
    assert doc["phones"] == {"3": {"start": 0.5, "end": 0.6}, "4": {"viseme": "PP"}}
    again = Project.open(copy)
    assert again.phones == project.phones and again.markers == [0.5, 1.25]
    history.push(remove_marker(project, 1.2))
    assert project.markers == [0.5]
    history.undo()
    history.undo()
    history.undo()
    history.undo()
    assert project.phones == {} and project.markers == []
    project.save()  # unused, the new fields stay out of the file (older studios read it)
    saved = json.loads((portrait_project / "project.json").read_text())
    assert not {"phones", "markers", "alignment"} & set(saved)
    # bad input: one line naming the phone, nothing changed
    for bad in ({2: {"viseme": "XX"}}, {2: {"start": 0.4}}, {2: {"start": 0.5, "end": 0.4}}):
        with pytest.raises(ProjectError) as err:
            project.set_phones(bad)
        assert "phones.2" in str(err.value) and "\n" not in str(err.value)
    assert project.phones == {}
    doc = json.loads((copy / "project.json").read_text())
    doc["phones"] = {"x": {"viseme": "PP"}}
    (copy / "project.json").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="phones.'?x'?.*not a phone index"):
        Project.open(copy)


def test_retime_and_reviseme_change_the_lips_and_undo_restores_them(portrait_project):
    session = EditSession.open(portrait_project)
    take = session.open_take()
    al = take.original_alignment
    before = take.compose().copy()
    # the boundary between two speech phones, one drag: one undo step
    i = next(k for k in range(len(al.phones) - 1)
             if al.phones[k].label != "SIL" and al.phones[k + 1].label != "SIL")
    mid = al.phones[i].end
    for at in (mid + 0.01, mid + 0.03, mid + 0.05):
        session.edit(retime_phone(al, session.project.phones, i, at), ("phone", i, 1))
    assert session.history.can_undo
    session.sync_take()
    assert take.dub_alignment.phones[i].end == pytest.approx(
        min(mid + 0.05, al.phones[i + 1].end - 0.02), abs=1e-3)
    assert take.original_alignment.phones[i].end == pytest.approx(mid)
    # the learned driver (the default) recomputed its motion from the edited phones
    assert take.driver_name == "learned" and take.lips is not take.viseme_lips
    session.edit(set_phone_viseme(session.project.phones, i, "O"))
    session.sync_take()
    assert take.dub_alignment.phones[i].viseme == "O"
    assert not np.allclose(take.edited, before)
    session.undo()
    session.undo()
    session.sync_take()
    assert session.project.phones == {}
    assert take.dub_alignment.phones[i].end == pytest.approx(mid)
    assert np.allclose(take.edited, before, atol=1e-6)
    session.close()


def test_retyping_a_word_replaces_the_alignment_and_shifts_later_edits(portrait_project,
                                                                       tmp_path):
    from core.errors import AlignError
    from core.project.commands import SetWordStyle, retype_command

    session = EditSession.open(portrait_project)
    take = session.open_take()
    project = session.project
    al = take.original_alignment
    assert len(al.words) >= 4
    index = 5  # "went" heard as "went in": two words where there was one
    session.edit(SetWordStyle([index + 2], "open", 1.5))
    last = len(al.phones) - 2
    session.edit(SetPhones({last: {"viseme": "O"}}))
    assert al.words[index].text == "went"
    command = retype_command(al, project.dub.hash, take.dub.samples, index, "went in",
                             project.words, project.phones, project.cache_dir)
    session.edit(command)
    new = project.dub_alignment()
    assert new is not None
    shift = len(new["words"]) - len(al.words)
    assert shift == 1 and [w["text"] for w in new["words"][index:index + 2]] == ["went", "in"]
    assert project.words == {index + 2 + shift: {"open": 1.5}}
    assert project.phones == {last + len(new["phones"]) - len(al.phones): {"viseme": "O"}}
    session.sync_take()
    assert len(take.original_alignment.words) == len(new["words"])
    assert [w.text for w in take.original_alignment.words[:index]] == \
        [w.text for w in al.words[:index]]
    # saved and reopened
    session.save()
    again = Project.open(portrait_project)
    assert again.dub_alignment()["words"] == new["words"]
    session.undo()
    assert project.alignment is None and project.words == {index + 2: {"open": 1.5}}
    session.sync_take()
    assert take.original_alignment is take.aligned
    # bad input: one line, nothing changed
    for bad in ("", "!!!"):
        with pytest.raises(AlignError) as err:
            retype_command(al, project.dub.hash, take.dub.samples, index, bad, {}, {})
        assert "\n" not in str(err.value)
    session.undo()
    session.undo()
    session.save()
    session.close()


def test_phone_edits_and_markers_from_the_command_line_keys(portrait_project, tmp_path):
    from core.project.commands import command_for_key

    project = Project.open(portrait_project)
    history = History(project)
    history.push(command_for_key(project, "phones.2.viseme", "PP"))
    history.push(command_for_key(project, "phones.2.timing", [0.3, 0.4]))
    history.push(command_for_key(project, "markers", [2.0, 1.0]))
    assert project.phones == {2: {"viseme": "PP", "start": 0.3, "end": 0.4}}
    assert project.markers == [1.0, 2.0]
    for key, value in (("phones.x.viseme", "PP"), ("phones.2.open", 1),
                       ("phones.2.viseme", "nope"), ("markers", ["soon"])):
        with pytest.raises(ProjectError) as err:
            history.push(command_for_key(project, key, value))
        assert "\n" not in str(err.value)
    assert project.phones == {2: {"viseme": "PP", "start": 0.3, "end": 0.4}}
    for _ in range(3):
        history.undo()
    assert project.phones == {} and project.markers == []


def test_a_reopened_project_takes_its_phone_edits_and_corrected_words(portrait_project,
                                                                     tmp_path):
    import shutil

    folder = tmp_path / "again"
    shutil.copytree(portrait_project, folder)
    session = EditSession.open(folder)
    take = session.open_take()
    al = take.original_alignment
    i = next(k for k, p in enumerate(al.phones) if p.label != "SIL")
    session.edit(set_phone_viseme(session.project.phones, i, "U"))
    session.save()
    session.close()
    again = EditSession.open(folder)
    take = again.open_take()
    assert take.dub_alignment.phones[i].viseme == "U"
    assert take.original_alignment.phones[i].viseme is None
    again.close()
