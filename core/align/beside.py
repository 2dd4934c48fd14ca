"""Alignments computed beside the face tracking: in another process, or from the cache.

pocketsphinx holds the GIL, so a thread would not run beside MediaPipe; a spawned process
does (:class:`core.background.BackgroundCall`). What the cache already holds is read here
at once and no process is started. Should the worker fail to start (a script without a
``__main__`` guard, a sandbox without processes), the alignments are computed here instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.align.aligner import align, align_all, cached_alignment
from core.align.result import Alignment
from core.progress import Progress

Job = tuple[np.ndarray, "str | None", str, "Path | None"]


class AlignBeside:
    """Start aligning ``jobs`` (samples, transcript, language, cache folder) now; collect
    the alignments, in order, with :meth:`result`.

    ``workers`` caps the aligner's own worker processes. Beside a long tracking run, which
    holds a core of its own, one is best: more only split the other core, and each
    starts a process and loads a recogniser (beside the tracking of `bench/dub_speed.py`'s
    minute, recognising its 90 s of speech took 25-34 s of CPU with one worker per core,
    17 s with one).
    """

    def __init__(self, jobs: Sequence[Job], workers: int | None = None) -> None:
        self.jobs = list(jobs)
        self.results: list[Alignment | None] = [
            cached_alignment(x, text, language=lang, cache_dir=folder)
            for x, text, lang, folder in self.jobs]
        self._todo = [i for i, r in enumerate(self.results) if r is None]
        self._call = None
        if self._todo:
            from core.background import BackgroundCall

            try:
                self._call = BackgroundCall(align_all, [self.jobs[i] for i in self._todo],
                                            workers)
            except OSError:
                self._call = None  # no process here: result() aligns in this one

    @property
    def in_background(self) -> bool:
        return self._call is not None

    def result(self, cancel: Callable[[], bool] | None = None,
               progress: Progress | None = None) -> list[Alignment]:
        """Every alignment, waiting for the worker (Cancelled when ``cancel()`` turns true)."""
        if self._todo:
            got = None
            if self._call is not None:
                try:
                    got = self._call.result(cancel)
                except RuntimeError:  # the worker could not run: do it here
                    got = None
            if got is None:
                got = []
                for i in self._todo:
                    x, text, lang, folder = self.jobs[i]
                    got.append(align(x, text, language=lang, cache_dir=folder,
                                     progress=progress, cancel=cancel))
            for i, a in zip(self._todo, got, strict=True):
                self.results[i] = a
            self._todo = []
        return [r for r in self.results if r is not None]

    def close(self) -> None:
        if self._call is not None:
            self._call.close()
