"""A renderer and a lip driver added through their registries alone: the project's settings
name them, and the editing session draws and exports with them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.motion import drivers
from core.project.commands import SetSetting
from core.render import registry
from core.session import EditSession


class Negative:
    """A renderer that draws the source frame's negative (whatever the keypoints say)."""

    name = "negative"
    preview = True
    batch_size = 1

    def __init__(self) -> None:
        self.frames = 0

    def render(self, frame, src_pts, dst_pts, *, out_size=None, mouth=None):
        from core.render.warp import resize_for

        self.frames += 1
        image = np.asarray(frame) if out_size is None else resize_for(np.asarray(frame),
                                                                        out_size)
        return 255 - image


class Wider:
    """A lip driver that moves the lips twice as far as the visemes do."""

    falls_back = False

    def __init__(self, model=None) -> None:
        self.model = model

    def motion(self, take):
        from core.motion.driver import LipMotion

        return LipMotion(take.viseme_lips.delta * 2.0, take.viseme_lips.hold.copy())


@pytest.fixture
def negative(monkeypatch):
    made = []

    def factory(regions, **_):
        made.append(Negative())
        return made[-1]

    monkeypatch.setitem(registry.FACTORIES, "negative", factory)
    return made


def test_a_registered_renderer_draws_the_preview_and_the_export(portrait_project, negative,
                                                                tmp_path):
    session = EditSession.open(portrait_project)
    session.edit(SetSetting("renderer", "negative"))  # the schema knows it from the registry
    try:
        take = session.open_take()
        assert isinstance(take.export_renderer, Negative) and take.renderer is take.export_renderer
        drawn = session.draw(3, session.generation, session.edits())
        source = take.source.frame(int(take.source_index[3]))
        assert np.array_equal(drawn.image, 255 - source)
        twins = []
        out = session.export(tmp_path / "negative.mp4", on_twin=twins.append)(
            lambda *a: None, lambda: False)
        assert out.stat().st_size > 0
        # the export renders on a twin with the renderer the project names at export time
        assert isinstance(twins[0].export_renderer, Negative)
        assert twins[0].export_renderer.frames == take.frame_count
    finally:
        session.close()


def test_a_registered_driver_moves_the_lips_when_the_project_names_it(portrait_project,
                                                                     monkeypatch):
    monkeypatch.setitem(drivers.DRIVERS, "wider", drivers.DriverEntry(Wider))
    session = EditSession.open(portrait_project)
    session.edit(SetSetting("driver", "wider"))
    try:
        take = session.open_take()
        assert take.driver_name == "wider"
        assert np.abs(take.viseme_lips.delta).max() > 0
        assert np.allclose(take.lips.delta, take.viseme_lips.delta * 2.0)
    finally:
        session.close()


def test_a_model_file_finds_its_driver_by_its_metadata(portrait_project, monkeypatch):
    from safetensors.numpy import save_file

    monkeypatch.setitem(drivers.DRIVERS, "wider-model",
                        drivers.DriverEntry(Wider, metadata_key="wider"))
    model = portrait_project / "models" / "lips.safetensors"
    model.parent.mkdir(exist_ok=True)
    save_file({"w": np.zeros(1, np.float32)}, str(model), metadata={"wider": json.dumps({})})
    assert drivers.file_kind(model) == "wider-model"
    session = EditSession.open(portrait_project)
    session.edit(SetSetting("driver", "models/lips.safetensors"))  # relative to the project
    try:
        take = session.open_take()
        assert take.driver_name == f"{portrait_project / 'models' / 'lips.safetensors'}"
        assert np.allclose(take.lips.delta, take.viseme_lips.delta * 2.0)
    finally:
        session.close()


def test_a_file_of_no_known_driver_is_refused_naming_it(tmp_path):
    from safetensors.numpy import save_file

    from core.errors import StudioError

    odd = tmp_path / "odd.safetensors"
    save_file({"w": np.zeros(1, np.float32)}, str(odd), metadata={"something": "else"})
    with pytest.raises(StudioError, match="not a lip model") as err:
        drivers.file_kind(odd)
    assert err.value.path == odd
