"""Make Qt start cleanly next to MediaPipe.

MediaPipe pulls the GUI build of OpenCV, whose ``cv2`` package points
``QT_QPA_PLATFORM_PLUGIN_PATH`` (and ``QT_QPA_FONTDIR``) at its own bundled Qt 5 plugins
when imported. PySide6 (Qt 6) would then load those plugins and abort. We import cv2 first,
so it has had its say, then drop whatever it pointed into its own folder.
"""

from __future__ import annotations

import os

_VARS = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR", "QT_PLUGIN_PATH")


def prepare_qt_environment() -> list[str]:
    """Undo OpenCV's Qt variables; call before creating the QApplication.

    Returns the names of the variables removed.
    """
    try:
        import cv2
    except ImportError:
        return []
    cv2_dir = os.path.dirname(os.path.abspath(cv2.__file__))
    removed = []
    for name in _VARS:
        value = os.environ.get(name)
        if value and os.path.abspath(value).startswith(cv2_dir):
            del os.environ[name]
            removed.append(name)
    return removed
