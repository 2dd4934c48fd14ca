"""The studio application: ``studio`` with no subcommand opens the window here."""

from __future__ import annotations

import sys
from pathlib import Path


def create_app(argv: list[str] | None = None):
    """The QApplication (made once), after undoing OpenCV's Qt plugin paths."""
    from studio.qt_env import prepare_qt_environment

    prepare_qt_environment()
    from studio.pyside_guard import guard_none

    guard_none()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
        app.setOrganizationName("talking-face-studio")
        app.setApplicationName("studio")
        from studio.window import version

        app.setApplicationVersion(version())
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=False, background=(25, 25, 28))
    return app


def main(argv: list[str] | None = None) -> int:
    """Open the window; paths given (a project folder, media, a dub) open as if dropped."""
    argv = list(sys.argv[1:] if argv is None else argv)
    app = create_app()
    from studio.window import MainWindow

    window = MainWindow()
    window.show()
    if argv:
        window.open_paths([Path(a) for a in argv])
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
