"""Drive the real window under Xvfb with xdotool, as a user would, and save screenshots.

    python tools/window_tour.py [--out DIR] [--clip VIDEO] [--dub AUDIO] [--transcript TXT]

1. starts a virtual X display (Xvfb, 1366×768) and ``studio CLIP DUB TRANSCRIPT`` on it,
   exactly as a user types it (copies of the media in a temporary folder, so nothing is
   written beside the originals);
2. waits for the analysis, screenshots the window (``01_opened.png``);
3. drags a phone's boundary on the phone track with the mouse (``02_phone_retimed.png``) and
   checks the project says that phone was retimed;
4. exports with Ctrl+E through the export dialog (``03_export_dialog.png``) and the file
   dialog, waits for the MP4 and checks it with PyAV (``04_exported.png``: the notice with
   "Show in folder" and "Play"), then quits with Ctrl+Q.

Needs the system's ``Xvfb`` and ``xdotool`` (Debian: ``apt-get install xvfb xdotool``) and
Pillow for the screenshots. The window tells the script where its widgets are through
``STUDIO_TOUR_FILE`` (it writes their screen positions there once the take is ready): the
clicks land on the real widgets, whatever the layout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
DISPLAY = ":93"


def _wait(what: str, test, timeout: float, step: float = 0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = test()
        if value:
            return value
        time.sleep(step)
    sys.exit(f"window tour: timed out after {timeout:.0f} s waiting for {what}")


def _xdo(*args: str) -> str:
    done = subprocess.run(["xdotool", *args], capture_output=True, text=True,
                          env=dict(os.environ, DISPLAY=DISPLAY))
    return done.stdout.strip()


def _shot(out: Path, name: str) -> Path:
    from PIL import ImageGrab

    path = out / name
    ImageGrab.grab(xdisplay=DISPLAY).save(path)
    print(f"  screenshot {path}")
    return path


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("window_tour"))
    ap.add_argument("--clip", type=Path, default=SAMPLES / "portrait.jpg")
    ap.add_argument("--dub", type=Path, default=SAMPLES / "speech.wav")
    ap.add_argument("--transcript", type=Path, default=SAMPLES / "speech.txt")
    ap.add_argument("--timeout", type=float, default=240.0)
    args = ap.parse_args()
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            sys.exit(f"window tour: {tool} is not installed (apt-get install xvfb xdotool)")
    for p in (args.clip, args.dub, args.transcript):
        if not p.is_file():
            sys.exit(f"window tour: {p}: no such file")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="window_tour_"))
    media = [Path(shutil.copy2(p, work / p.name)) for p in (args.clip, args.dub,
                                                               args.transcript)]
    tour = work / "tour.json"
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1366x768x24", "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = None
    try:
        time.sleep(1.0)
        env = dict(os.environ, DISPLAY=DISPLAY, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT),
                   STUDIO_TOUR_FILE=str(tour), STUDIO_PROJECTS_DIR=str(work / "projects"),
                   STUDIO_CACHE_DIR=str(work / "cache"))
        print(f"studio {' '.join(p.name for p in media)}  (in {work})")
        log = open(work / "studio.log", "w")  # noqa: SIM115 - closed with the process
        app = subprocess.Popen([sys.executable, "-m", "studio", *map(str, media)], cwd=work,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
        wid = _wait("the window", lambda: _xdo("search", "--name", "Talking-face studio"),
                    60.0).split()[0]
        _xdo("windowactivate", "--sync", wid)
        _xdo("windowsize", "--sync", wid, "1366", "768")
        _xdo("windowmove", "--sync", wid, "0", "0")
        info = _wait("the take (analysis)", lambda: (_read(tour) or {}).get("ready") and
                     _read(tour), args.timeout)
        time.sleep(1.0)  # the first preview frame
        _shot(args.out, "01_opened.png")

        # retime: drag the boundary after the chosen phone by a few pixels to the right
        x, y = info["phone_edge"]
        _xdo("mousemove", "--sync", str(x), str(y))
        _xdo("mousedown", "1")
        for dx in range(2, 26, 4):
            _xdo("mousemove", "--sync", str(x + dx), str(y))
            time.sleep(0.03)
        _xdo("mouseup", "1")
        retimed = _wait("the phone edit", lambda: (_read(tour) or {}).get("phones_edited"),
                        20.0)
        print(f"  phones edited: {retimed}")
        time.sleep(0.5)
        _shot(args.out, "02_phone_retimed.png")

        # export: Ctrl+E opens the export settings (their remembered choices: Enter keeps
        # them), then the file dialog takes the name
        out = work / "tour_export.mp4"
        _xdo("key", "--window", wid, "ctrl+e")
        time.sleep(1.5)
        _shot(args.out, "03_export_dialog.png")
        _xdo("key", "Return")
        time.sleep(1.5)
        _xdo("key", "ctrl+a")
        _xdo("type", "--delay", "10", str(out))
        _xdo("key", "Return")
        _wait("the exported MP4", lambda: out.is_file() and out.stat().st_size > 0,
              args.timeout)
        time.sleep(1.5)
        _shot(args.out, "04_exported.png")
        import av

        with av.open(str(out)) as c:
            v = c.streams.video[0]
            print(f"  exported {out.name}: {v.codec_context.width}x{v.codec_context.height}, "
                  f"{v.frames} frames, audio {'yes' if c.streams.audio else 'no'}")
        _xdo("key", "--window", wid, "ctrl+q")
        time.sleep(1.0)
        _xdo("key", "Escape")
        return 0
    finally:
        if app is not None:
            try:
                app.wait(10)
            except subprocess.TimeoutExpired:
                app.kill()
        xvfb.terminate()
        xvfb.wait(5)


if __name__ == "__main__":
    sys.exit(main())
