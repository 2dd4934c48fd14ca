"""The vocabulary is defined once (core/vocabulary.py): the resources' JSON files, the
schema, the take's options, the window's sliders and the command line follow it."""

from __future__ import annotations

import json

import pytest

from core import vocabulary as v
from core.paths import resources_dir
from core.project import schema


@pytest.mark.parametrize("tracker", ["mediapipe", "face_alignment"])
def test_every_emotion_region_has_its_index_sets_in_the_regions_file(tracker):
    regions = json.loads((resources_dir() / "regions" / f"{tracker}.json").read_text())
    for region, (parts, border) in v.REGION_PARTS.items():
        for part in parts:
            assert regions["regions"].get(part), f"{tracker}.json lacks {part} ({region})"
        assert 0.0 <= border <= 1.0


def test_the_emotion_presets_file_has_every_emotion_over_every_region():
    doc = json.loads((resources_dir() / "emotions" / "mediapipe.json").read_text())
    assert tuple(doc["emotions"]) == v.EMOTIONS
    assert set(doc["sizes"]) == set(v.REGIONS)
    for name, entry in doc["emotions"].items():
        assert set(entry["regions"]) == set(v.REGIONS), name


def test_the_schema_and_the_take_options_take_their_ranges_from_the_vocabulary():
    from core.dub import DubOptions

    for key, control in v.GLOBAL_CONTROLS.items():
        rule = schema.setting_field(key)
        assert (rule.lo, rule.hi, rule.default) == (control.lo, control.hi, control.default)
        assert getattr(DubOptions(), key) == control.default
        with pytest.raises(ValueError, match=control.what.split()[0]):
            DubOptions(**{key: control.hi + 1})
        with pytest.raises(schema.InvalidValue, match=f"settings.{key}"):
            schema.check_setting(key, control.hi + 1)
    assert schema.REGIONS == v.REGIONS and schema.EMOTIONS == v.EMOTIONS


def test_the_command_line_defaults_are_the_vocabulary_defaults():
    from studio.cli import _parser

    args = _parser().parse_args(["dub", "face.mp4", "--audio", "dub.wav"])
    assert (args.alpha, args.beta, args.smoothing, args.av_offset) == (
        v.ALPHA.default, v.BETA.default, v.SMOOTHING.default, v.AV_OFFSET.default)


def test_the_window_sliders_span_the_vocabulary_ranges(qtbot):
    from studio.controls import ControlPanel
    from tests.studio_window import prepare_qt_environment  # noqa: F401 - Qt set up first

    panel = ControlPanel()
    qtbot.addWidget(panel)
    for control, slider in ((v.ALPHA, panel.alpha), (v.BETA, panel.beta),
                            (v.SMOOTHING, panel.smoothing), (v.WORD_SHAPE, panel.open),
                            (v.WORD_ALPHA, panel.word_alpha), (v.INTENSITY, panel.intensity)):
        assert slider.lo == control.lo and slider.step == control.step
        assert slider.slider.maximum() == round((control.hi - control.lo) / control.step)
