"""Work in another process, beside this one's: the aligner (pocketsphinx holds the GIL) runs
there while this process tracks the face, so a take opens in the time of the longer of the
two instead of their sum.

A fresh interpreter is spawned (not forked: the caller may hold threads, Qt or MediaPipe
graphs), so the function must live at module level and its arguments and result pickle.
A cancel stops the wait at once and terminates the process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from core.errors import Cancelled


class BackgroundCall:
    """``fn(*args)`` running in a spawned process; :meth:`result` waits for it."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(send, fn, args), daemon=False,
                                 name=f"studio-{getattr(fn, '__name__', 'job')}")
        self._proc.start()
        send.close()
        self._done = False

    def result(self, cancel: Callable[[], bool] | None = None, poll_s: float = 0.05) -> Any:
        """The function's return value, or the exception it raised, raised here;
        Cancelled (and the process ended) as soon as ``cancel()`` turns true."""
        try:
            while not self._recv.poll(poll_s):
                if cancel is not None and cancel():
                    raise Cancelled()
                if not self._proc.is_alive() and not self._recv.poll(0):
                    raise RuntimeError(f"the background worker stopped (exit code "
                                       f"{self._proc.exitcode}) without an answer")
            try:
                kind, value = self._recv.recv()
            except (EOFError, OSError) as exc:  # it died (e.g. could not start) unanswered
                raise RuntimeError(f"the background worker stopped (exit code "
                                   f"{self._proc.exitcode}) without an answer") from exc
        except BaseException:
            self.close()
            raise
        self._proc.join()
        self._done = True
        self._recv.close()
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        """End the process if it still runs (a cancel, an error on this side)."""
        if self._done:
            return
        self._done = True
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        self._recv.close()

    def __enter__(self) -> BackgroundCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    try:
        answer = ("ok", fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there
        answer = ("error", exc)
    try:
        conn.send(answer)
    except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
        conn.send(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]} "
                                         f"(not picklable: {exc})")))
    conn.close()


def lower_thread_priority(steps: int = 10) -> bool:
    """Make the calling thread (and the threads it starts from now on, such as x264's)
    yield the CPU to the rest of the process: its nice value goes up by ``steps``.

    Linux only (a thread id names one thread there; elsewhere it would slow the whole
    process); returns whether it was done. Unprivileged users cannot undo it, so it is done
    only on a thread that ends with its job, never on the main thread: a job run there (the
    command line, a test) would leave the process crawling under load ever after.
    """
    if not sys.platform.startswith("linux") \
            or threading.current_thread() is threading.main_thread():
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid)
                                                  + steps))
    except (OSError, AttributeError):
        return False
    return True
