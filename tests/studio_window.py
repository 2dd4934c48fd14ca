"""What the window tests share: a studio window on a private cache and settings, real
drag-and-drop of files, and the picture of a frame once the renderer has shown it."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from studio.pyside_guard import guard_none
from studio.qt_env import prepare_qt_environment

prepare_qt_environment()  # before pytest-qt makes the QApplication
guard_none()  # this PySide6 drops a reference to None on every void call

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

__all__ = ["QApplication", "QPoint", "QPointF", "Qt"]  # re-exported, imported after the set-up

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
SPEECH, TEXT = SAMPLES / "speech.wav", SAMPLES / "speech.txt"
ANALYSIS_TIMEOUT_MS = 240_000


def studio_env(tmp_path_factory, name: str) -> Iterator[Path]:
    """A folder for one test module, with the studio's cache pointed into a fresh one
    (a generator for a module-scoped fixture; the old cache setting comes back after)."""
    cache = tmp_path_factory.mktemp("studio-cache")
    old = os.environ.get("STUDIO_CACHE_DIR")
    os.environ["STUDIO_CACHE_DIR"] = str(cache)
    yield tmp_path_factory.mktemp(name)
    if old is None:
        os.environ.pop("STUDIO_CACHE_DIR", None)
    else:
        os.environ["STUDIO_CACHE_DIR"] = old


def studio_window(env: Path, size: tuple[int, int] = (1400, 900), **attrs) -> Iterator:
    """A shown MainWindow with no prompts and its own settings file, shut down after."""
    from studio.window import MainWindow

    settings = QSettings(str(env / "studio.ini"), QSettings.Format.IniFormat)
    win = MainWindow(projects_root=env / "projects", prompts=False, settings=settings)
    for k, v in attrs.items():
        setattr(win, k, v)
    win.resize(*size)
    win.show()
    yield win
    win.shutdown()
    win.close()
    win.deleteLater()
    QApplication.processEvents()


def drop(win, paths: list[Path]) -> None:
    """A real drag-enter and drop of file URLs on the window."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = win.rect().center()
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    with warnings.catch_warnings():  # PySide6 marks this (only) constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, left, none)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(win, QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime,
                                           left, none))


def load_sample(qtbot, win, shared_data: Path) -> None:
    """Drop the sample video and the dub (once per window) and wait for the analysis and
    the first picture."""
    if win.project is None:
        drop(win, [shared_data / "video" / "woman_glasses.mp4"])
        drop(win, [SPEECH, TEXT])
    qtbot.waitUntil(lambda: win.take is not None and win.job is None,
                    timeout=ANALYSIS_TIMEOUT_MS)
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)


def picture(qtbot, win, j: int) -> np.ndarray:
    """The full-size preview of output frame ``j`` once the renderer has shown it."""
    win.seek(j)
    qtbot.waitUntil(lambda: win.is_current(win.shown), timeout=20_000)
    return win.current_image().copy()


def word_index(win, text: str) -> int:
    return next(i for i, w in enumerate(win.take.dub_alignment.words) if w.text == text)


def mid_frame(win, i: int) -> int:
    w = win.take.dub_alignment.words[i]
    return round((w.start + w.end) / 2 * win.take.fps)
