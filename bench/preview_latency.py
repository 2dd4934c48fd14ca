"""Slider-to-preview latency in the studio window, offscreen.

Opens woman_glasses.mp4 dubbed with the sample sentence in a real MainWindow, seeks to a
frame inside "duck", then moves a slider ~30 times and times each move from the slider's
new value to the preview showing the re-rendered frame: at preview size (the first picture
the renderer sends) and at full size. Both the global α slider and the word's open slider
are measured. Prints median and 95th percentile in milliseconds. Then plays the take and
counts the frames the render-ahead cache answered, and times frame steps.

    QT_QPA_PLATFORM=offscreen python bench/preview_latency.py [--moves 30] [--video NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _data import ROOT, need_data

sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SAMPLES = ROOT / "resources" / "samples"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--video", default="woman_glasses.mp4")
    args = ap.parse_args()
    video = need_data() / "video" / args.video

    from studio.app import create_app

    app = create_app()
    from PySide6.QtCore import QEventLoop, QSettings

    from studio.window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["STUDIO_CACHE_DIR"] = str(tmp / "cache")
        win = MainWindow(projects_root=tmp / "projects", prompts=False,
                         settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
        win.resize(1400, 900)
        win.show()
        t0 = time.perf_counter()
        win.new_project(video, SAMPLES / "speech.wav", SAMPLES / "speech.txt")

        def wait(cond, timeout_s: float) -> bool:
            deadline = time.perf_counter() + timeout_s
            while not cond() and time.perf_counter() < deadline:
                app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 5)
            return cond()

        if not wait(lambda: win.take is not None and win.job is None, 600):
            print("analysis did not finish:", win.errors)
            return 1
        print(f"analysis: {time.perf_counter() - t0:.1f} s; {win.take.frame_count} frames "
              f"at {win.take.fps:g} fps, source {win.take.source.width}x"
              f"{win.take.source.height}, preview side 360 px")
        words = win.take.dub_alignment.words
        duck = next(i for i, w in enumerate(words) if w.text == "duck")
        win.timeline.click_word(duck)
        wait(lambda: win.is_current(win.shown), 30)

        for name, ws in (("global α", win.controls.alpha), ("word open", win.controls.open)):
            preview, full, push_ms, draw_ms = [], [], [], []
            shown: list = []
            win.frame_shown.connect(shown.append)
            lo, hi = ws.slider.minimum(), ws.slider.maximum()
            for k in range(args.moves):
                shown.clear()
                value = lo + (k * 37 + 11) % (hi - lo)
                if value == ws.slider.value():
                    value += 1
                start = time.perf_counter()
                ws.slider.setValue(value)
                push_ms.append(1000 * (time.perf_counter() - start))
                gen = win.generation
                wait(lambda gen=gen, s=shown: any(r.generation == gen for r in s), 10)
                t_preview = time.perf_counter() - start
                wait(lambda gen=gen, s=shown: any(r.generation == gen and r.stage == "full"
                                         for r in s), 10)
                t_full = time.perf_counter() - start
                preview.append(1000 * t_preview)
                draw_ms.extend(1000 * r.seconds for r in shown
                               if r.generation == gen and r.stage == "preview")
                full.append(1000 * t_full)
            win.frame_shown.disconnect(shown.append)
            print(f"{name:10s} slider → preview-size frame: median {statistics.median(preview):.1f}"
                  f" ms, p95 {pct(preview, 0.95):.1f} ms;  → full-size frame: median "
                  f"{statistics.median(full):.1f} ms, p95 {pct(full, 0.95):.1f} ms "
                  f"({args.moves} moves)")
            print(f"{'':10s} of which: edit to request (UI thread) median "
                  f"{statistics.median(push_ms):.1f} ms, re-compose + render on the worker "
                  f"median {statistics.median(draw_ms):.1f} ms")
        print(f"one frame period: {1000 / win.take.fps:.1f} ms")

        # playback and frame steps: how much the render-ahead cache answers
        r = win.renderer
        win.seek(0)
        wait(lambda: win.is_current(win.shown) and r.idle, 30)
        shown = []
        win.frame_shown.connect(shown.append)
        hits, misses = r.hits, r.misses
        win.play()
        wait(lambda: win.frame >= min(win.take.frame_count - 2, 100), 30)
        win.pause()
        win.frame_shown.disconnect(shown.append)
        during = [x for x in shown if x.stage == "preview"]
        cached = [x for x in during if x.cached]
        print(f"playback: {len(cached)} of {len(during)} frames shown "
              f"({100 * len(cached) / max(1, len(during)):.0f} %) came from the render-ahead "
              f"cache ({r.hits - hits} hits, {r.misses - misses} misses; clock: "
              f"{win.clock.source})")
        steps = []
        wait(lambda: win.is_current(win.shown) and r.idle, 30)
        for _ in range(args.moves // 3):
            start = time.perf_counter()
            win.step(1)
            wait(lambda: win.is_current(win.shown, "preview"), 10)
            steps.append(1000 * (time.perf_counter() - start))
            wait(lambda: win.is_current(win.shown) and r.idle, 30)
        print(f"frame step → preview-size frame: median {statistics.median(steps):.1f} ms, "
              f"p95 {pct(steps, 0.95):.1f} ms ({len(steps)} steps, look-ahead idle first)")
        win.shutdown()
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
