"""The studio application: ``studio`` with no subcommand opens the window here."""

from __future__ import annotations

import json
import os
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


#: a JSON file: once the paths are open, the window writes there what it opened and quits
#: (for tests and scripts that check ``studio PATH…`` without a person to close it)
REPORT_ENV = "STUDIO_REPORT_OPEN"


def opened(window) -> dict:
    """What the window has open: its project's folder and media, and the errors it showed."""
    project = window.project
    media = {} if project is None else {
        role: None if ref is None else str(ref.path)
        for role, ref in (("source", project.source), ("dub", project.dub),
                          ("transcript", project.transcript))}
    return {"title": window.windowTitle(),
            "project": None if project is None else str(project.folder),
            **media, "errors": list(window.errors)}


def _report_and_quit(window, app, path: str) -> None:
    target = Path(path)  # whole or not at all: a reader never sees half a report
    part = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    part.write_text(json.dumps(opened(window)), encoding="utf-8")
    os.replace(part, target)
    window.close()
    app.quit()


#: a JSON file the window keeps up to date with where its widgets are on the screen, for
#: scripts that drive it with a real mouse (tools/window_tour.py under Xvfb)
TOUR_ENV = "STUDIO_TOUR_FILE"


def _write(path: Path, data: dict) -> None:
    part = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    part.write_text(json.dumps(data), encoding="utf-8")
    os.replace(part, path)


def _follow_for_tour(window, path: Path) -> None:
    """Every 250 ms: whether the take is ready, the screen position of a phone boundary
    on the phone track (after the first spoken phone that has a neighbour) and how many
    phones the project has edited."""
    from PySide6.QtCore import QTimer

    state = {"ready": False}
    window.take_ready.connect(lambda: state.update(ready=True))

    def tick() -> None:
        line = window.timeline
        phones = getattr(line, "phones", [])
        edge = None
        for i, ph in enumerate(phones[:-1]):
            if getattr(ph, "label", "SIL") != "SIL" and i < len(line.phone_blocks):
                g = line.mapToGlobal(line.phone_edge(i))
                edge = [g.x(), g.y()]
                break
        project = window.project
        _write(path, {"ready": state["ready"] and edge is not None, "phone_edge": edge,
                      "phones_edited": 0 if project is None else len(project.phones)})

    timer = QTimer(window)
    timer.timeout.connect(tick)
    timer.start(250)


def main(argv: list[str] | None = None) -> int:
    """Open the window; paths given (a project folder, media, a dub) open as if dropped."""
    argv = list(sys.argv[1:] if argv is None else argv)
    app = create_app()
    from studio.window import MainWindow

    report = os.environ.get(REPORT_ENV)
    window = MainWindow(prompts=not report)  # a report has nobody to answer questions
    window.show()
    if os.environ.get(TOUR_ENV):
        _follow_for_tour(window, Path(os.environ[TOUR_ENV]))
    if argv:
        window.open_paths([Path(a) for a in argv])
    if report:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: _report_and_quit(window, app, report))
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
