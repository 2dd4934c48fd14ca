"""The editor's workflow without a take (fast): the File menu and its imports (bad input
refused, project unchanged), Close, the keys a focused editor keeps, the shortcuts table,
the controls (typed values, reset, mixed), the export dialog's memory, and the window at
1366x768."""

from __future__ import annotations

import pytest
from studio_window import SAMPLES, TEXT, QApplication, Qt, studio_env, studio_window

PORTRAIT = SAMPLES / "portrait.jpg"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from studio_env(tmp_path_factory, "workflow")


@pytest.fixture
def window(qapp, env):
    yield from studio_window(env, size=(1366, 768))


def menu_texts(win, title: str) -> list[str]:
    menu = next(a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == title)
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_file_menu_has_the_project_and_media_commands(window):
    texts = menu_texts(window, "File")
    for want in ("New project…", "Open…", "Open recent", "Close project", "Import dub audio…",
                 "Import transcript…", "Save", "Save as…", "Export MP4…"):
        assert want in texts
    from studio.files import IMPORTS

    assert "*.wav" in IMPORTS["dub"][1] and "*.mp4" not in IMPORTS["dub"][1].split(";;")[0]
    assert IMPORTS["transcript"][1] == "Transcript (*.txt *.srt *.vtt)"
    assert not window.import_dub_action.isEnabled()  # no project yet


def test_bad_imports_name_the_file_and_change_nothing(qtbot, window, tmp_path):
    window.new_project(PORTRAIT)
    project = window.project
    assert project is not None and project.dub is None
    fake = tmp_path / "voice.wav"
    fake.write_text("not sound at all\n" * 50)
    binary = tmp_path / "words.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    assert not window.files.import_media("dub", fake)
    assert str(fake) in window.errors[-1]
    assert not window.files.import_media("transcript", binary)
    assert str(binary) in window.errors[-1]
    assert project.dub is None and project.transcript is None and not project.dirty
    assert window.undo_stack.count() == 0
    # a real transcript goes in, as one undo step
    assert window.files.import_media("transcript", TEXT)
    assert project.transcript is not None and project.dirty
    window.undo_action.trigger()
    assert project.transcript is None


def test_close_leaves_an_empty_window(window):
    window.new_project(PORTRAIT, None, TEXT)
    assert window.project is not None and window.close_action.isEnabled()
    window.close_action.trigger()
    assert window.project is None
    assert not window.save_action.isEnabled() and not window.close_action.isEnabled()
    assert "Talking-face studio" in window.windowTitle()


def test_a_focused_slider_keeps_its_keys(qtbot, window, monkeypatch):
    steps = []
    monkeypatch.setattr(window.transport, "step", lambda k: steps.append(k))
    window.activateWindow()
    window.controls.setEnabled(True)
    slider = window.controls.alpha.slider
    slider.setFocus()
    QApplication.processEvents()
    before = slider.value()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == before + 1 and steps == []
    entry = window.controls.beta.entry
    entry.setFocus()
    qtbot.keyClick(entry, Qt.Key.Key_Left)
    qtbot.keyClick(entry, Qt.Key.Key_J)  # a letter in a number field is not the shuttle
    assert steps == [] and window.transport.rate == 0
    # elsewhere, the same key steps the playhead
    window.preview.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(window.preview, Qt.Key.Key_Right)
    assert steps == [1]


def test_help_lists_every_shortcut_from_one_table(qtbot, window):
    from studio.menus import TRANSPORT, shortcut_rows

    rows = shortcut_rows(window)
    keys = {key for _, _, key in rows}
    for _, _, key, _ in TRANSPORT:
        assert key in keys
    assert len(keys) == len(rows), "two commands share a key"
    help_action = next(a for a in window.menuBar().actions()[-1].menu().actions()
                       if a.text() == "Keyboard shortcuts")
    help_action.trigger()
    from PySide6.QtWidgets import QTableWidget

    table = window.shortcuts_dialog.findChild(QTableWidget)
    assert table.rowCount() == len(rows)
    shown = {table.item(i, 2).text() for i in range(table.rowCount())}
    assert {"J", "K", "L", "I", "O", "Space", "Home", "End"} <= shown
    window.shortcuts_dialog.close()


def test_the_window_fits_1366_by_768(window):
    from PySide6.QtWidgets import QScrollArea

    assert window.minimumSizeHint().height() <= 700
    assert window.minimumSize().height() <= 700
    scroll = window.controls.parentWidget().parentWidget()  # the viewport's scroll area
    assert isinstance(scroll, QScrollArea)
    window.resize(1366, 768)
    QApplication.processEvents()
    assert window.height() <= 768


def test_layout_is_remembered(qapp, env, tmp_path):
    from PySide6.QtCore import QSettings

    from studio.window import MainWindow

    path = str(tmp_path / "layout.ini")
    first = MainWindow(prompts=False, settings=QSettings(path, QSettings.Format.IniFormat))
    first.resize(760, 560)  # within the offscreen screen (800x600)
    first.show()
    QApplication.processEvents()
    first.close()  # saves the geometry and the docks
    first.deleteLater()
    again = MainWindow(prompts=False, settings=QSettings(path, QSettings.Format.IniFormat))
    try:
        assert again.qsettings.value("geometry") is not None
        assert (again.width(), again.height()) == (760, 560)
    finally:
        again.shutdown()
        again.deleteLater()


def test_sliders_take_typed_values_reset_on_double_click_and_show_mixed(qtbot, window):
    from core import vocabulary

    c = window.controls
    got = []
    c.alpha.edited.connect(lambda v, t: got.append((v, t)))
    assert "Mouth scale" in c.alpha.toolTip() and "default 1" in c.alpha.toolTip()
    c.alpha.entry.setValue(1.37)  # what typing and Enter do
    assert got[-1][0] == pytest.approx(1.37) and c.alpha.value() == pytest.approx(1.37)
    c.alpha.setEnabled(True)
    c.setEnabled(True)
    qtbot.mouseDClick(c.alpha.slider, Qt.MouseButton.LeftButton)
    assert c.alpha.value() == vocabulary.ALPHA.default
    assert got[-1][0] == vocabulary.ALPHA.default and got[-1][1] != got[-2][1]
    a = {"open": 1.0, "wide": 1.0, "round": 1.0, "alpha": None, "silent": False}
    b = {**a, "open": 2.0, "silent": True}
    c.show_words(["one", "two"], a, [a, b])
    assert c.open.mixed and c.open.entry.text() == "mixed" and not c.wide.mixed
    assert c.silent.checkState() == Qt.CheckState.PartiallyChecked
    c.open.setValue(1.0)  # the same value as the first word: still sets them all
    assert not c.open.mixed
    c.show_saturation(0.25)
    assert "25 %" in c.saturation.text()
    c.show_saturation(0.0)
    assert "within" in c.saturation.text()


def test_export_dialog_remembers_the_last_choices(qapp, tmp_path):
    from PySide6.QtCore import QSettings

    from core.project.schema import default_settings
    from studio.exporting import ExportDialog

    qs = QSettings(str(tmp_path / "export.ini"), QSettings.Format.IniFormat)
    settings = default_settings()
    d = ExportDialog(settings, 720, qs)
    assert d.resolution.itemData(0) is None
    assert [d.resolution.itemData(i) for i in range(1, d.resolution.count())] == [540, 480, 360]
    assert d.crf.value() == settings["export"]["crf"]
    d.resolution.setCurrentIndex(d.resolution.findData(360))
    d.crf.setValue(30)
    d.preset.setCurrentText("ultrafast")
    d.mix.setChecked(True)
    d.offset.setValue(-2)
    d.shorter.setCurrentIndex(d.shorter.findData("trim"))
    d.accept()
    again = ExportDialog(settings, 720, QSettings(str(tmp_path / "export.ini"),
                                                 QSettings.Format.IniFormat))
    assert again.choices() == {
        "height": 360, "export.crf": 30, "export.preset": "ultrafast",
        "export.mix_source_audio": True,
        "export.source_audio_gain": settings["export"]["source_audio_gain"],
        "av_offset_frames": -2, "longer": settings["longer"], "shorter": "trim"}


def test_timecode():
    from studio.transport import timecode

    assert timecode(0, 25) == "00:00:00:00"
    assert timecode(25 * 61 + 7, 25) == "00:01:01:07"
    assert timecode(30 * 3600, 29.97) == "01:00:00:00"



def test_jobs_say_how_long_is_left():
    from studio.jobs import eta_text

    assert eta_text(0.1, 1, 10) == ""  # no pace yet
    assert eta_text(4.0, 20, 60) == ", about 12 s left"
    assert eta_text(60.0, 10, 100) == ", about 10 min left"
    assert eta_text(5.0, 10, 0) == ""


def test_the_preview_shows_the_source_while_the_analysis_runs(qtbot, window):
    from studio_window import SPEECH

    window.new_project(PORTRAIT, SPEECH, TEXT)
    assert window.job is not None and window.job.name == "Analysing"
    assert window.preview.image is not None  # the portrait, not a blank view
    assert window.preview.placeholder.isVisible()  # with what is going on
    assert window.job_label.text().startswith("Analysing")


def test_the_preview_follows_the_tracking(qapp, shared_data):
    from studio.preview import PreviewView

    view = PreviewView()
    try:
        assert view.show_poster(shared_data / "video" / "woman_glasses.mp4", "Analysing…")
        first = view.image.copy()
        source, _ = view._poster
        view._poster = (source, 0.0)  # the last glance was long ago
        view.show_tracked(source.frame_count // 2)
        assert view.image != first  # the frame the tracking reached
        shown = view.image.copy()
        view.show_tracked(source.frame_count - 1)  # too soon after the last one
        assert view.image == shown
    finally:
        view.end_poster()
    assert view._poster is None
