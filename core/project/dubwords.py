"""The dub's words, in order, as the word edits count them: known before any tracking.

A word edit names a word by its index in the dub's alignment. With a transcript the words
are its tokens (the aligner places every one of them, or estimates its time); without one
they are what recognition hears, computed once and cached like the take's own alignment,
so checking an edit costs no work the take would not do anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.progress import Progress


def dub_word_texts(
    dub: str | Path,
    transcript: str | Path | None,
    cache_root: Path,
    language: str = "en",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[str]:
    """The normalised words of the dub, in alignment order."""
    from core.align import align, normalize, read_transcript

    if transcript is not None:
        return normalize(read_transcript(transcript))
    from core.media import load_audio
    from core.media.audio import is_silent

    speech = load_audio(dub, 16000)
    if is_silent(speech):
        return []
    alignment = align(speech.samples, None, language=language,
                      cache_dir=Path(cache_root) / "align", progress=progress, cancel=cancel)
    return [w.text for w in alignment.words]
