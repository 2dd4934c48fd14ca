"""What a long job reports as it goes: one type for the analysis, the dub, the export and
the window's jobs.

``progress(stage, done, total)``: the stage in the user's words ("tracking", "aligning",
"exporting"), and how far it is (``done`` of ``total``: frames, or a fraction of 1). Every
loop reports through it, the low-level ones too (the aligner says "aligning", the tracker
"tracking", the encoder "exporting"); :func:`stage` renames what a loop reports when its
caller knows better what the user is waiting for (the source's own speech, aligned to learn
its visemes, is "learning").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def __call__(self, stage: str, done: float, total: float) -> None: ...


Cancel = Callable[[], bool]


def stage(progress: Progress | None, name: str) -> Progress | None:
    """``progress`` with every report's stage called ``name``; None when there is no
    ``progress`` to report to."""
    if progress is None:
        return None
    return lambda _stage, done, total: progress(name, done, total)
