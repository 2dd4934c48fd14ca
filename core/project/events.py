"""A tiny event mechanism: plain callbacks, so core stays free of Qt signals.

The window adapts it to signals; tests and the CLI just connect a function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Callback = Callable[[str, dict[str, Any]], None]


class EventEmitter:
    """Calls every connected ``callback(name, payload)`` in connection order."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._blocked = 0

    def connect(self, callback: Callback) -> Callback:
        """Connect ``callback``; returned so this can be used as a decorator."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, name: str, **payload: Any) -> None:
        if self._blocked:
            return
        for callback in list(self._callbacks):
            callback(name, payload)

    def blocked(self) -> _Blocker:
        """``with events.blocked():`` silences events, e.g. while loading."""
        return _Blocker(self)


class _Blocker:
    def __init__(self, emitter: EventEmitter) -> None:
        self.emitter = emitter

    def __enter__(self) -> None:
        self.emitter._blocked += 1

    def __exit__(self, *exc: object) -> None:
        self.emitter._blocked -= 1
