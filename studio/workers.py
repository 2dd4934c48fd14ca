"""Background work for the window: long jobs (analysis, export) and the live renderer.

Nothing here computes anything itself: it calls core/ on a worker thread and hands the
results back to the UI thread through Qt signals (queued across threads).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from core.errors import Cancelled

Progress = Callable[[str, float, float], None]


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


def edits_snapshot(project: Any) -> SimpleNamespace:
    """A frozen copy of what :func:`core.dub.apply_project_edits` reads from a project, so a
    worker thread never reads the project while the UI thread edits it."""
    return SimpleNamespace(settings=copy.deepcopy(project.settings),
                           words=copy.deepcopy(project.words),
                           emotion_clips=copy.deepcopy(project.emotion_clips),
                           cache_dir=project.cache_dir)


class TakeHandle:
    """A take shared by the renderer and the export job: one lock, and the generation of
    the edits last put on it."""

    def __init__(self, take: Any) -> None:
        self.take = take
        self.lock = threading.RLock()
        self.generation = -1

    def sync(self, edits: Any, generation: int) -> None:
        """Put ``edits`` on the take if they are newer than what it has (hold the lock)."""
        if generation != self.generation:
            from core.dub import apply_project_edits

            apply_project_edits(self.take, edits)
            self.generation = generation

    def close(self) -> None:
        with self.lock:
            self.take.close()


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


class RenderWorker(QThread):
    """Draws the frame the window asks for; a newer request replaces one not yet started."""

    rendered = Signal(object)  # RenderResult
    failed = Signal(object)

    def __init__(self, handle: TakeHandle, parent: Any = None) -> None:
        super().__init__(parent)
        self.handle = handle
        self._cond = threading.Condition()
        self._pending: RenderRequest | None = None
        self._stop = False

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

    def run(self) -> None:
        import time

        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                req, self._pending = self._pending, None
            try:
                t0 = time.perf_counter()
                self.rendered.emit(self._draw(req, "preview", t0))
                if req.full and not self._has_pending():
                    self.rendered.emit(self._draw(req, "full", time.perf_counter()))
            except Exception as exc:  # noqa: BLE001 - shown in the status bar
                self.failed.emit(exc)

    def _draw(self, req: RenderRequest, stage: str, t0: float) -> RenderResult:
        import time

        from core.render.warp import resize_for

        h = self.handle
        with h.lock:
            take = h.take
            h.sync(req.edits, req.generation)
            j = min(max(int(req.frame), 0), take.frame_count - 1)
            src = take.source
            frame = src.frame(int(take.source_index[j]))
            w0, h0 = frame.shape[1], frame.shape[0]
            if stage == "preview" and max(w0, h0) > req.preview_side:
                k = req.preview_side / max(w0, h0)
                size = (max(1, round(w0 * k)), max(1, round(h0 * k)))
            else:
                size = (w0, h0)
            if req.view == "source":
                image = frame if size == (w0, h0) else resize_for(frame, size)
            else:
                image = take.render(j, frame, out_size=None if size == (w0, h0) else size)
            points = None
            if req.overlay and take.valid(j):
                tracked, edited = take.keypoints(slice(j, j + 1))
                sx, sy = size[0] / w0, size[1] / h0
                scale = np.array([sx, sy], np.float32)
                points = (tracked[0, :, :2] * scale, edited[0, :, :2] * scale)
        return RenderResult(j, req.generation, req.view, stage,
                            np.ascontiguousarray(image, dtype=np.uint8), points,
                            time.perf_counter() - t0, req.seq)
