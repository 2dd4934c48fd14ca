"""The analysis job: track and cache the face, align the speech, summarise both.

Inputs are all checked before any long work starts, so a bad transcript or audio file
never leaves a half-made cache behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.align import Alignment, read_transcript
from core.align.beside import AlignBeside
from core.hashing import file_hash
from core.keypoints.analyze import KeypointAnalysis, analyze_keypoints, has_cache
from core.media import load_audio, open_media
from core.media.audio import Audio, is_silent
from core.paths import user_cache_dir
from core.progress import Progress
from core.tracking.registry import get_tracker
from core.tracking.selection import Box


def speech_or_none(speech: Audio | None) -> Audio | None:
    """``speech`` when it has any (None when it is missing or silent)."""
    return None if speech is None or is_silent(speech) else speech


def track_and_align(
    source: Any, media: Path, root: Path, tracker: str, face_index: int | None,
    face_box: Box | None, speech: list[tuple[np.ndarray, str | None, str]],
    progress: Progress | None, cancel: Callable[[], bool] | None, warnings: list[str],
    meanwhile: Callable[[KeypointAnalysis], Any] | None = None,
    tolerate: tuple[type[BaseException], ...] = (),
) -> tuple[KeypointAnalysis, list[Alignment | None], Any]:
    """The analysis sequence every job shares: start aligning the ``speech`` (samples,
    transcript, language) in another process, track the face of the open ``source`` here,
    run ``meanwhile(keypoints)`` (e.g. the mouth bank), then collect the alignments.

    Returns (keypoints, alignments in the order of ``speech``, what ``meanwhile`` gave); an
    alignment that fails with one of ``tolerate`` comes back as None."""
    media_hash = file_hash(media)
    # a video still to track holds a core: the aligner takes the other, in one process
    tracks = not getattr(source, "is_image", False) and not has_cache(
        root, media_hash, get_tracker(tracker), face_index, face_box)
    beside = AlignBeside([(x, text, lang, root / "align") for x, text, lang in speech],
                         workers=1 if tracks else None)
    try:
        kp = track_face(source, media, root, tracker, face_index, face_box, progress, cancel,
                        warnings, media_hash=media_hash)
        extra = None if meanwhile is None else meanwhile(kp)
        alignments: list[Alignment | None] = []
        if speech:
            if progress:
                progress("aligning", 0, 1)
            try:
                alignments = list(beside.result(cancel, progress))
            except tolerate:
                alignments = [None] * len(speech)
    finally:
        beside.close()
    return kp, alignments, extra


@dataclass
class AnalysisResult:
    media: Path
    frame_count: int
    fps: float
    duration: float
    keypoints: KeypointAnalysis
    alignment: Alignment | None
    audio: Path | None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """What ``studio analyze`` prints, as plain data (``--json`` prints it as is)."""
        kp = self.keypoints
        gaps = [{"start_s": round(a / self.fps, 3), "end_s": round(b / self.fps, 3),
                 "frames": b - a} for a, b in kp.gaps]
        al = self.alignment
        return {
            "media": str(self.media),
            "frames": self.frame_count,
            "fps": round(self.fps, 3),
            "duration_s": round(self.duration, 3),
            "face_found_share": round(kp.face_share, 4),
            "gaps": gaps,
            "tracker": kp.cache.tracker,
            "keypoints_from_cache": kp.from_cache,
            "resumed_at_frame": kp.resumed_at,
            "frames_tracked_now": kp.tracked_now,
            "cache": str(kp.cache.folder),
            "cache_mb": round(kp.cache.nbytes_on_disk() / 1e6, 3),
            "audio": None if self.audio is None else str(self.audio),
            "words_aligned": 0 if al is None else len(al.words),
            "alignment_source": None if al is None else al.source,
            "words_reliable": None if al is None else al.words_reliable,
            "warnings": self.warnings + ([] if al is None else list(al.notes)),
            "seconds": round(self.seconds, 3),
        }


def track_face(
    source: Any, media: Path, root: Path, tracker: str, face_index: int | None,
    face_box: Box | None, progress: Progress | None, cancel: Callable[[], bool] | None,
    warnings: list[str], media_hash: str | None = None,
) -> KeypointAnalysis:
    """Track (or read from the cache) the face of an open source; gaps become warnings."""
    kp = analyze_keypoints(
        source,
        media_hash=media_hash or file_hash(media),
        root=root,
        tracker=get_tracker(tracker),
        face_index=face_index,
        face_box=face_box,
        progress=progress,
        cancel=cancel,
    )
    if kp.gaps:
        spans = ", ".join(f"{a / source.fps:.2f}-{b / source.fps:.2f} s" for a, b in kp.gaps)
        warnings.append(f"{media}: no face in {spans}; those frames pass through unchanged")
    return kp


def _analyse(source, media: Path, audio, text, transcript, root: Path, tracker: str,
             face_index, face_box, language: str, progress, cancel):
    """The face tracking and alignment of :func:`analyze`, while its source is open."""
    warnings: list[str] = []
    audio_path: Path | None = Path(audio) if audio is not None else None
    if audio_path is None and source.has_audio:
        audio_path = media
    speech = load_audio(audio_path, 16000) if audio_path is not None else None
    if speech is not None and speech_or_none(speech) is None:
        warnings.append(f"{audio_path}: the audio is silent; no words to align")
    if text is not None and speech is None:
        warnings.append(f"{transcript}: no audio to align the transcript with")
    speech = speech_or_none(speech)
    # the speech is aligned in another process while this one tracks the face
    kp, aligned, _ = track_and_align(
        source, media, root, tracker, face_index, face_box,
        [] if speech is None else [(speech.samples, text, language)], progress, cancel,
        warnings)
    return kp, (aligned[0] if aligned else None), audio_path, warnings


def analyze(
    media: str | Path,
    *,
    audio: str | Path | None = None,
    transcript: str | Path | None = None,
    cache_root: Path | None = None,
    tracker: str = "mediapipe",
    face_index: int | None = None,
    face_box: Box | None = None,
    language: str = "en",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> AnalysisResult:
    started = time.perf_counter()
    media = Path(media)
    text = read_transcript(transcript) if transcript is not None else None
    source = open_media(media)
    try:
        kp, alignment, audio_path, warnings = _analyse(
            source, media, audio, text, transcript, cache_root or user_cache_dir(), tracker,
            face_index, face_box, language, progress, cancel,
        )
    finally:
        source.close()
    return AnalysisResult(
        media=media, frame_count=source.frame_count, fps=source.fps,
        duration=source.duration, keypoints=kp, alignment=alignment, audio=audio_path,
        warnings=warnings, seconds=time.perf_counter() - started,
    )
