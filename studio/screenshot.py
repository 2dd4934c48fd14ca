"""A screenshot of the window with a project loaded (for docs and reviews).

    xvfb-run -a python -m studio.screenshot window.png VIDEO DUB [TRANSCRIPT]

Makes a project from the media in a temporary folder, waits for the analysis, selects the
second word, adds an emotion clip, turns the keypoint overlay on and saves the window.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, media = Path(argv[0]), [Path(a) for a in argv[1:]]
    from studio.app import create_app

    app = create_app()
    from PySide6.QtCore import QEventLoop, QSettings

    from studio.window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(projects_root=Path(tmp), prompts=False,
                         settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        win.resize(1500, 950)
        win.show()

        def wait(cond, seconds: float) -> bool:
            end = time.perf_counter() + seconds
            while not cond() and time.perf_counter() < end:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
                time.sleep(0.01)
            return cond()

        win.new_project(media[0], *(media[1:3] + [None] * (3 - len(media)))[:2])
        if not wait(lambda: win.take is not None and win.job is None, 600):
            print("the analysis did not finish:", win.errors, file=sys.stderr)
            return 1
        if win.take.dub_alignment is not None and len(win.take.dub_alignment.words) > 1:
            win.timeline.click_word(1)
            win.controls.open.setValue(1.6)
        win.controls.add_clip.emit("brows", "surprised")
        win.overlay_action.trigger()
        wait(lambda: win.is_current(win.shown), 30)
        wait(lambda: False, 0.5)
        win.grab().save(str(out))
        print(f"saved {out}")
        win.shutdown()
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
