"""The window's menus and its transport toolbar, bound to what the window's parts do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QToolBar

ROOT = Path(__file__).resolve().parents[1]
TRAIN_TIP = ("Fine-tune the Audio2Exp lip adapter on this project's footage, in its own "
             "process (needs a project with a dub)")


#: the transport's keys, as an NLE has them: (name, menu text, key, (Transport method, args))
TRANSPORT = (
    ("play", "Play / pause", "Space", ("toggle_play",)),
    ("reverse", "Shuttle backwards (J; again: faster)", "J", ("shuttle", -1)),
    ("stop", "Stop (K)", "K", ("shuttle", 0)),
    ("forward", "Shuttle forwards (L; again: faster)", "L", ("shuttle", 1)),
    ("next_frame", "Next frame", "Right", ("step", 1)),
    ("previous_frame", "Previous frame", "Left", ("step", -1)),
    ("next_word", "Next word", "Ctrl+Right", ("jump_word", 1)),
    ("previous_word", "Previous word", "Ctrl+Left", ("jump_word", -1)),
    ("first", "First frame", "Home", ("seek", 0)),
    ("last", "Last frame", "End", ("seek_end",)),
    ("mark_in", "Mark in", "I", ("mark_in",)),
    ("mark_out", "Mark out", "O", ("mark_out",)),
    ("clear_marks", "Clear in and out", "Alt+X", ("clear_marks",)),
)


def shortcut_rows(w: Any) -> list[tuple[str, str, str]]:
    """(menu, command, key) of every menu command with a key: the one table the help
    lists, read from the actions themselves so it never drifts from what the keys do."""
    rows = []
    for menu_action in w.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for a in menu.actions():
            key = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if key and not a.isSeparator():
                rows.append((menu_action.text().replace("&", ""), a.text(), key))
    return rows


def show_shortcuts(w: Any) -> Any:
    """Help → Keyboard shortcuts: a table of every command's key (non-modal)."""
    from PySide6.QtWidgets import QDialog, QTableWidget, QTableWidgetItem, QVBoxLayout

    rows = shortcut_rows(w)
    dialog = QDialog(w)
    dialog.setWindowTitle("Keyboard shortcuts")
    table = QTableWidget(len(rows), 3, dialog)
    table.setHorizontalHeaderLabels(["Menu", "Command", "Key"])
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            table.setItem(i, j, QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    QVBoxLayout(dialog).addWidget(table)
    dialog.resize(560, 520)
    dialog.setObjectName("shortcuts")
    dialog.show()
    w.shortcuts_dialog = dialog
    return dialog


def _action(w: Any, menu: Any, text: str, slot: Any, shortcut: Any = None,
            checkable: bool = False) -> QAction:
    a = QAction(text, w)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    menu.addAction(a)
    return a


def build_menus(w: Any) -> None:
    """File, Edit, View, Playback, Train and Help, and the toolbar; the actions the window
    keeps are its attributes (``w.play_action``...)."""
    mb = w.menuBar()
    f = mb.addMenu("&File")
    w.new_action = _action(w, f, "New project…", lambda: w.new_from_media(),
                           QKeySequence.StandardKey.New)
    w.new_action.setToolTip("A new project from a video or a portrait")
    w.open_action = _action(w, f, "Open…", lambda: w.open_dialog(),
                            QKeySequence.StandardKey.Open)
    w.recent_menu = f.addMenu("Open recent")
    w.recent_menu.aboutToShow.connect(lambda: w.files.fill_recent())
    w.close_action = _action(w, f, "Close project", lambda: w.files.close_project(),
                             "Ctrl+W")
    f.addSeparator()
    w.import_dub_action = _action(w, f, "Import dub audio…",
                                  lambda: w.files.import_media("dub"), "Ctrl+Shift+I")
    w.import_text_action = _action(w, f, "Import transcript…",
                                   lambda: w.files.import_media("transcript"), "Ctrl+Shift+T")
    f.addSeparator()
    w.save_action = _action(w, f, "Save", lambda: w.save(), QKeySequence.StandardKey.Save)
    w.save_as_action = _action(w, f, "Save as…", lambda: w.save_as(),
                               QKeySequence.StandardKey.SaveAs)
    w.export_action = _action(w, f, "Export MP4…", lambda: w.export_mp4(), "Ctrl+E")
    f.addSeparator()
    _action(w, f, "Quit", w.close, QKeySequence.StandardKey.Quit)

    e = mb.addMenu("&Edit")
    w.undo_action = w.undo_stack.undo_action
    w.redo_action = w.undo_stack.redo_action
    e.addAction(w.undo_action)
    e.addAction(w.redo_action)

    v = mb.addMenu("&View")
    w.ab_action = _action(w, v, "Show source (A/B)", w._view_changed, "B", True)
    w.overlay_action = _action(w, v, "Keypoint overlay", w._view_changed, "Shift+K", True)
    w.compare_action = _action(w, v, "Compare with visemes", w._view_changed, "V", True)
    w.compare_action.setToolTip("Render the same frame with the viseme driver, to "
                                "compare a trained adapter against it (V)")
    _action(w, v, "Fit", lambda: w.preview.fit(), "F")
    _action(w, v, "Zoom in", lambda: w.preview.zoom(1.25), QKeySequence.StandardKey.ZoomIn)
    _action(w, v, "Zoom out", lambda: w.preview.zoom(0.8), QKeySequence.StandardKey.ZoomOut)

    p = mb.addMenu("&Playback")
    tr = w.transport
    w.transport_actions = {}
    for name, text, key, slot in TRANSPORT:
        w.transport_actions[name] = _action(
            w, p, text, lambda _=False, s=slot: getattr(tr, s[0])(*s[1:]), key)
    w.play_action = w.transport_actions["play"]
    if tr.sound_note:
        w.play_action.setToolTip(tr.sound_note)
    w.loop_action = _action(w, p, "Loop (in/out, else the selected words)", lambda: None,
                            "Ctrl+L", True)
    w.loop_action.setIconText("Loop")  # the toolbar's short name

    t = mb.addMenu("&Train")
    t.setToolTipsVisible(True)
    w.train_action = _action(w, t, "Fine-tune lip adapter on this project…",
                                     lambda: w.open_train_dialog())
    w.train_action.setToolTip(TRAIN_TIP)
    w.train_action.setStatusTip(TRAIN_TIP)

    h = mb.addMenu("&Help")
    _action(w, h, "Keyboard shortcuts", lambda: show_shortcuts(w), "F1")
    _action(w, h, "About the studio", w.about)
    _action(w, h, "Open the README", lambda: QDesktopServices.openUrl(
        QUrl.fromLocalFile(str(ROOT / "README.md"))))
    tb = QToolBar("Transport", w)
    tb.setObjectName("transport")
    w.addToolBar(tb)
    for a in (w.play_action, w.ab_action, w.overlay_action, w.compare_action,
              w.loop_action):
        tb.addAction(a)
    w.update_actions()
