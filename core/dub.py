"""The dub job: make the face in a clip or portrait speak new audio, and write an MP4.

:func:`dub` runs the whole job for the command line; all inputs and the output path are
checked before any long work starts. The take itself is :mod:`core.take`, how it is made
:mod:`core.take_build`; their names are also found here, where older code looks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.export import ExportSettings, check_output_path
from core.keypoints.regions import load_regions
from core.outputs import check_output
from core.paths import user_cache_dir
from core.progress import Progress
from core.render.registry import DEFAULT as DEFAULT_RENDERER
from core.render.registry import create_renderer
from core.session import EditSession
from core.take import (  # noqa: F401 - the take's names, where the studio found them first
    DEFAULT_DRIVER,
    IMAGE_FPS,
    DubOptions,
    DubTake,
    shift_frames,
    source_in_order,
)
from core.take_build import (  # noqa: F401 - as above
    LIBRARY_SPEECH_S,
    apply_edits,
    apply_project_edits,
    build_bank,
    export_settings_from,
    export_take,
    image_reference,
    library_speech,
    open_project_take,
    open_take,
    options_from_settings,
    project_renderer,
    speaker_library,
)
from core.tracking.selection import Box


@dataclass
class DubResult:
    output: Path
    frame_count: int
    fps: float
    duration: float
    coverage: dict[str, Any]
    warnings: list[str]
    seconds: float
    words: int

    def summary(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "frames": self.frame_count, "fps": round(self.fps, 3),
            "duration_s": round(self.duration, 3), "words": self.words,
            "viseme_library": self.coverage, "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


def dub(
    source_path: str | Path,
    audio_path: str | Path,
    output: str | Path,
    *,
    transcript: str | Path | None = None,
    options: DubOptions | None = None,
    settings: ExportSettings | None = None,
    cache_root: Path | None = None,
    tracker: str = "mediapipe",
    face_index: int | None = None,
    face_box: Box | None = None,
    language: str = "en",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    edits: Callable[[DubTake], Any] | None = None,
    driver: str = DEFAULT_DRIVER,
    renderer: str = DEFAULT_RENDERER,
    weights: str | Path | None = None,
) -> DubResult:
    """Run the whole job: analyse, learn, drive, render and export ``output``.

    ``edits(take)`` may return parsed word and emotion edits (core.project.edits.Edits),
    resolved against the dub's aligned words, to apply before rendering. ``renderer`` names
    the renderer (registry), ``weights`` the folder of its weights; both are checked first.
    """
    started = time.perf_counter()
    settings = settings or ExportSettings()
    source_path, audio_path = Path(source_path), Path(audio_path)
    check_output(output, {"source": source_path, "dub": audio_path, "transcript": transcript})
    out = check_output_path(output)
    drawer = None if renderer == DEFAULT_RENDERER else create_renderer(
        renderer, load_regions(tracker), weights=weights)
    session = EditSession()
    take = session.open_media(
        source_path, audio_path, transcript=transcript, options=options,
        cache_root=cache_root, tracker=tracker, face_index=face_index, face_box=face_box,
        language=language, progress=progress, cancel=cancel, driver=driver,
        renderer=drawer,
    )
    try:
        if edits is not None:
            e = edits(take)
            session.apply_edits(e.words, e.emotions, cache_root or user_cache_dir())
        session.export_media(out, settings, progress, cancel)
    finally:
        session.close()
    al = take.dub_alignment
    return DubResult(
        output=out, frame_count=take.frame_count, fps=take.fps,
        duration=take.frame_count / take.fps, coverage=take.library.coverage(),
        warnings=take.warnings, seconds=time.perf_counter() - started,
        words=0 if al is None else len(al.words),
    )


# -- projects ---------------------------------------------------------------------------------
