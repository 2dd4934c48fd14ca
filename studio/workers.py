"""Background work for the window: long jobs (analysis, export) and the live renderer.

Nothing here computes anything itself: it calls the session's work (core/session.py) on a
worker thread and hands the results back to the UI thread through Qt signals (queued
across threads). The renderer
also draws the frames around the playhead ahead of time, while it has nothing to do, so
playback and frame steps are mostly answered from a small cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from core.errors import Cancelled
from core.progress import Progress
from core.session import TakeHandle, draw


class Job(QThread):
    """Runs ``fn(progress, cancel)`` on its own thread.

    Exactly one of ``succeeded(result)``, ``failed(exception)`` or ``cancelled()`` is
    emitted when it ends; ``progressed(stage, done, total)`` while it runs.
    """

    progressed = Signal(str, float, float)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()

    def __init__(self, name: str, fn: Callable[[Progress, Callable[[], bool]], Any],
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self._cancel = threading.Event()
        self.outcome: str | None = None  # "succeeded" | "failed" | "cancelled"

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, stage: str, done: float, total: float) -> None:
        self.progressed.emit(stage, float(done), float(total))

    def run(self) -> None:
        try:
            result = self.fn(self._progress, self._cancel.is_set)
        except Cancelled:
            self.outcome = "cancelled"
            self.cancelled.emit()
            return
        except BaseException as exc:  # noqa: BLE001 - shown to the user in a dialog
            self.outcome = "failed"
            self.failed.emit(exc)
            return
        self.outcome = "succeeded"
        self.succeeded.emit(result)


@dataclass(frozen=True)
class RenderRequest:
    frame: int
    generation: int
    edits: Any
    view: str = "edited"  # "edited" (B) or "source" (A)
    overlay: bool = False
    preview_side: int = 360
    full: bool = True  # follow the preview-size picture with a full-size one
    seq: int = 0  # the window's request number
    direction: int = 1  # where the playhead goes next: those frames are drawn ahead first
    span: tuple[int, int] | None = None  # [a, b) a loop plays over: look-ahead wraps in it


@dataclass(frozen=True)
class RenderResult:
    frame: int
    generation: int
    view: str
    stage: str  # "preview" | "full"
    image: np.ndarray  # HxWx3 uint8 RGB
    points: tuple[np.ndarray, np.ndarray] | None  # tracked, edited (pixels of ``image``)
    seconds: float
    seq: int = 0
    cached: bool = False  # answered from the render-ahead cache


AHEAD = 12  # frames drawn ahead of the playhead, in its direction
BEHIND = 2  # and behind it
CACHE_FRAMES = 64  # preview pictures kept (about 25 MB at 360 px)
# after a request for a still frame (paused: a slider, a seek), wait this long before drawing
# ahead, so the next move of a drag finds the renderer free; playback requests do not wait
SETTLE_S = 0.05


def ahead_order(frame: int, count: int, direction: int = 1,
                span: tuple[int, int] | None = None, ahead: int = AHEAD,
                behind: int = BEHIND) -> list[int]:
    """The frames to draw ahead of ``frame``, nearest first in the playhead's direction,
    then a few behind it. Inside a loop ``span`` [a, b) the frames ahead wrap to a."""
    d = -1 if direction < 0 else 1
    out: list[int] = []
    a, b = span if span is not None else (0, count)
    a, b = max(0, a), min(count, b)
    looping = span is not None and a <= frame < b and b > a
    for k in range(1, ahead + 1):
        j = frame + d * k
        if looping:
            j = a + (j - a) % (b - a)
        if 0 <= j < count and j != frame and j not in out:
            out.append(j)
    for k in range(1, behind + 1):
        j = frame - d * k
        if 0 <= j < count and j not in out:
            out.append(j)
    return out


class PreviewCache:
    """Preview pictures by (frame, generation, view, size, overlay), least recently used
    dropped first. Only the render thread changes it (other threads may only look)."""

    def __init__(self, capacity: int = CACHE_FRAMES) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple, RenderResult] = OrderedDict()

    @staticmethod
    def key(req: RenderRequest, frame: int) -> tuple:
        return (frame, req.generation, req.view, req.preview_side, req.overlay)

    def get(self, key: tuple) -> RenderResult | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: tuple, result: RenderResult) -> None:
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def keys(self) -> list[tuple]:
        return list(self._items)

    def __contains__(self, key: tuple) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keep_generation(self, generation: int) -> None:
        """Drop the pictures of other edits (they can never be asked for again)."""
        for key in [k for k in self._items if k[1] != generation]:
            del self._items[key]


class RenderWorker(QThread):
    """Draws the frame the window asks for; a newer request replaces one not yet started.

    With nothing asked, it draws the frames around the last request at preview size into
    a :class:`PreviewCache` (one at a time, so a new request waits at most one frame, and
    only once a still frame has settled for ``SETTLE_S``); a request found there is
    answered at once. ``hits``, ``misses`` and ``drawn_ahead`` count what happened, for
    tests and benches.
    """

    rendered = Signal(object)  # RenderResult
    failed = Signal(object)

    def __init__(self, handle: TakeHandle, parent: Any = None, ahead: int = AHEAD,
                 behind: int = BEHIND, cache_frames: int = CACHE_FRAMES) -> None:
        super().__init__(parent)
        self.handle = handle
        self._cond = threading.Condition()
        self._pending: RenderRequest | None = None
        self._stop = False
        self.ahead, self.behind = ahead, behind
        self.cache = PreviewCache(cache_frames)
        self._context: RenderRequest | None = None  # the last request served (render thread)
        self._serving = False  # a request (not a frame drawn ahead) is being drawn
        self._ahead_at = 0.0  # perf_counter time from which drawing ahead may start
        self.hits = 0
        self.misses = 0
        self.drawn_ahead = 0

    def request(self, req: RenderRequest) -> None:
        with self._cond:
            self._pending = req
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    def _has_pending(self) -> bool:
        with self._cond:
            return self._pending is not None or self._stop

    @property
    def busy(self) -> bool:
        """True while a frame the window asked for waits or is being drawn: an export
        beside the preview takes no new frame meanwhile (the preview goes first)."""
        with self._cond:
            return self._pending is not None or self._serving

    @property
    def idle(self) -> bool:
        """Nothing asked and nothing left to draw ahead (for tests and benches)."""
        with self._cond:
            return self._pending is None and self._next_ahead() is None

    def _next_ahead(self) -> int | None:
        ctx = self._context
        if ctx is None:
            return None
        for j in ahead_order(ctx.frame, self.handle.take.frame_count, ctx.direction, ctx.span,
                             self.ahead, self.behind):
            if PreviewCache.key(ctx, j) not in self.cache:
                return j
        return None

    def run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    if self._next_ahead() is None:
                        self._cond.wait()
                    elif (wait := self._ahead_at - time.perf_counter()) > 0:
                        self._cond.wait(wait)
                    else:
                        break
                if self._stop:
                    return
                req, self._pending = self._pending, None
                ahead = None if req is not None else self._next_ahead()
                self._serving = req is not None
            try:
                if req is not None:
                    self._serve(req)
                elif ahead is not None:
                    self._draw_ahead(ahead)
            except Exception as exc:  # noqa: BLE001 - shown in the status bar
                self._context = None  # no look-ahead around a frame that fails
                self.failed.emit(exc)
            finally:
                with self._cond:
                    self._serving = False

    def _serve(self, req: RenderRequest) -> None:
        t0 = time.perf_counter()
        j = min(max(int(req.frame), 0), self.handle.take.frame_count - 1)
        if self._context is None or self._context.generation != req.generation:
            self.cache.keep_generation(req.generation)
        key = PreviewCache.key(req, j)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            self.rendered.emit(replace(hit, seq=req.seq, cached=True,
                                       seconds=time.perf_counter() - t0))
        else:
            self.misses += 1
            result = self._draw(req, "preview", t0)
            self.cache.put(key, result)
            self.rendered.emit(result)
        self._context = replace(req, frame=j)
        if req.full and not self._has_pending():
            self.rendered.emit(self._draw(req, "full", time.perf_counter()))
        self._ahead_at = time.perf_counter() + (SETTLE_S if req.full else 0.0)

    def _draw_ahead(self, j: int) -> None:
        ctx = self._context
        req = replace(ctx, frame=j)
        self.cache.put(PreviewCache.key(req, j), self._draw(req, "preview", time.perf_counter()))
        self.drawn_ahead += 1

    def _draw(self, req: RenderRequest, stage: str, t0: float) -> RenderResult:
        drawn = draw(self.handle, req.frame, req.generation, req.edits,
                     source_view=req.view == "source", overlay=req.overlay,
                     side=req.preview_side if stage == "preview" else None)
        return RenderResult(drawn.frame, req.generation, req.view, stage, drawn.image,
                            drawn.points, time.perf_counter() - t0, req.seq)
