"""The editing session without a window: edits as undo steps (a drag is one), the
generation the preview keys its pictures on, a frozen copy of the edits per generation."""

from __future__ import annotations

import pytest

from core.errors import StudioError
from core.project.commands import SetSetting, SetWordStyle
from core.session import EditSession, preview_size


def test_a_drag_is_one_undo_step_and_every_edit_moves_the_generation(portrait_project):
    session = EditSession.open(portrait_project)
    seen = []
    session.events.connect(lambda name, payload: seen.append(name))
    g0, edits0 = session.generation, session.edits()
    assert session.edits() is edits0  # copied once per generation
    for value in (1.1, 1.2, 1.3):
        session.edit(SetSetting("alpha", value), drag=("setting", "alpha", 7))
    assert len(session.history) == 1 and session.project.settings["alpha"] == 1.3
    assert session.generation == g0 + 3 and "setting_changed" in seen
    assert session.edits() is not edits0 and edits0.settings["alpha"] == 1.0  # frozen
    session.edit(SetSetting("alpha", 1.5), drag=("setting", "alpha", 8))  # a new drag
    session.edit(SetWordStyle([0], "open", 2.0))
    session.edit(SetWordStyle([0], "open", 2.5))  # not a drag: its own step
    assert len(session.history) == 4
    session.undo()
    session.undo()
    assert session.project.word_style(0)["open"] == 1.0
    session.undo()
    assert session.project.settings["alpha"] == 1.3
    assert "history_changed" in seen and session.project.dirty
    session.redo()
    assert session.project.settings["alpha"] == 1.5


def test_a_refused_edit_changes_nothing(portrait_project):
    session = EditSession.open(portrait_project)
    before = (len(session.history), session.generation, dict(session.project.settings))
    with pytest.raises(StudioError):
        session.edit(SetSetting("alpha", 7.0))
    assert (len(session.history), session.generation, session.project.settings) == before


def test_preview_sizes_keep_the_aspect_and_never_upscale():
    assert preview_size(1920, 1080, 360) == (360, 202)
    assert preview_size(300, 200, 360) == (300, 200)
    assert preview_size(1080, 1920, None) == (1080, 1920)
