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
    w.new_action = _action(w, f, "New from media…", lambda: w.new_from_media(),
                                   QKeySequence.StandardKey.New)
    w.open_action = _action(w, f, "Open…", lambda: w.open_dialog(),
                                    QKeySequence.StandardKey.Open)
    w.recent_menu = f.addMenu("Open recent")
    w.recent_menu.aboutToShow.connect(lambda: w.files.fill_recent())
    f.addSeparator()
    w.save_action = _action(w, f, "Save", lambda: w.save(),
                                    QKeySequence.StandardKey.Save)
    w.save_as_action = _action(w, f, "Save as…", lambda: w.save_as(),
                                       QKeySequence.StandardKey.SaveAs)
    w.export_action = _action(w, f, "Export MP4…", lambda: w.export_mp4(),
                                      "Ctrl+E")
    f.addSeparator()
    _action(w, f, "Quit", w.close, QKeySequence.StandardKey.Quit)

    e = mb.addMenu("&Edit")
    w.undo_action = w.undo_stack.undo_action
    w.redo_action = w.undo_stack.redo_action
    e.addAction(w.undo_action)
    e.addAction(w.redo_action)

    v = mb.addMenu("&View")
    w.ab_action = _action(w, v, "Show source (A/B)", w._view_changed, "B", True)
    w.overlay_action = _action(w, v, "Keypoint overlay", w._view_changed, "K",
                                       True)
    w.compare_action = _action(w, v, "Compare with visemes", w._view_changed,
                                       "V", True)
    w.compare_action.setToolTip("Render the same frame with the viseme driver, to "
                                   "compare a trained adapter against it (V)")
    _action(w, v, "Fit", lambda: w.preview.fit(), "F")
    _action(w, v, "Zoom in", lambda: w.preview.zoom(1.25), QKeySequence.StandardKey.ZoomIn)
    _action(w, v, "Zoom out", lambda: w.preview.zoom(0.8),
                 QKeySequence.StandardKey.ZoomOut)

    p = mb.addMenu("&Playback")
    w.play_action = _action(w, p, "Play / pause", lambda: w.toggle_play(), "Space")
    _action(w, p, "Next frame", lambda: w.step(1), "Right")
    _action(w, p, "Previous frame", lambda: w.step(-1), "Left")
    _action(w, p, "First frame", lambda: w.seek(0), "Home")
    w.loop_action = _action(w, p, "Loop the selected words", lambda: None, "L", True)

    t = mb.addMenu("&Train")
    t.setToolTipsVisible(True)
    w.train_action = _action(w, t, "Fine-tune lip adapter on this project…",
                                     lambda: w.open_train_dialog())
    w.train_action.setToolTip(TRAIN_TIP)
    w.train_action.setStatusTip(TRAIN_TIP)

    h = mb.addMenu("&Help")
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
