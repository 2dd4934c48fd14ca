"""What a long job reports as it goes: one type for the analysis, the dub, the export and
the window's jobs.

``progress(stage, done, total)``: the stage in the user's words ("tracking", "aligning",
"exporting"), and how far it is (``done`` of ``total``: frames, or a fraction of 1). The
low-level loops (the aligner, the encoder) report only a number; :func:`stage` turns a
Progress into such a callback for one stage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def __call__(self, stage: str, done: float, total: float) -> None: ...


Cancel = Callable[[], bool]


def stage(progress: Progress | None, name: str, total: float | None = 1.0
          ) -> Callable[..., None] | None:
    """A callback for one stage: ``f(fraction)`` when ``total`` is given (1 by default),
    else ``f(done, total)``; None when there is no ``progress`` to report to."""
    if progress is None:
        return None
    if total is None:
        return lambda done, count: progress(name, done, count)
    return lambda fraction: progress(name, fraction, total)
