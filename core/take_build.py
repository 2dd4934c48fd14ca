"""Making a take: analyse the source and the dub (one analysis sequence), learn the
speaker's visemes, build the mouth bank; put a project's edits on it; export it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.align import Alignment, align, read_transcript
from core.analysis import speech_or_none, track_and_align
from core.errors import StudioError
from core.export import ExportSettings, check_output_path, export_mp4
from core.hashing import file_hash
from core.keypoints.analyze import analyze_keypoints
from core.keypoints.cache import KeypointCache
from core.keypoints.regions import RegionSet, load_regions
from core.media import load_audio, open_media
from core.media.audio import Audio, is_silent
from core.motion.emotion import (
    EmotionClip,
)
from core.motion.library import VisemeLibrary, default_library, learn_library
from core.motion.words import WordStyle
from core.paths import user_cache_dir
from core.progress import Progress, stage
from core.project.project import check_driver_model, check_word_edits, resolve_driver
from core.render.mouth import MouthBank
from core.render.registry import DEFAULT as DEFAULT_RENDERER
from core.render.registry import Renderer, create_renderer
from core.take import DEFAULT_DRIVER, IMAGE_FPS, DubOptions, DubTake
from core.tracking.registry import get_tracker
from core.tracking.selection import Box

#: The source's own speech the speaker's visemes are learned from: its first seconds give
#: every class enough examples, and a long clip's analysis no longer grows with its length
#: (recognising a minute of speech costs about 20 s of CPU on this machine).
LIBRARY_SPEECH_S = 30.0


def library_speech(path: Path) -> Audio | None:
    """The start of a source's own speech at 16 kHz (None when it is silent)."""
    speech = load_audio(path, 16000)
    speech = Audio(speech.samples[: round(LIBRARY_SPEECH_S * 16000)], 16000)
    return None if is_silent(speech) else speech


_ALIGN_HERE = object()


def speaker_library(
    source: Any, cache: KeypointCache, regions: RegionSet, cache_root: Path,
    progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
    own: Any = _ALIGN_HERE,
) -> tuple[VisemeLibrary, list[str]]:
    """The library learned from the source's own speech, else the default one.

    ``own``: the source speech's alignment when it was made elsewhere (beside the
    tracking), None for a silent source; by default it is aligned here."""
    default = default_library(cache.canonical, regions)
    notes: list[str] = []
    if source.is_image or not source.has_audio:
        notes.append("viseme library: the source has no speech, using the default library")
        return _or_empty(default, cache, regions), notes
    if own is _ALIGN_HERE:
        speech = library_speech(source.path)
        own = None if speech is None else align(
            speech.samples, None, cache_dir=cache_root / "align",
            progress=stage(progress, "learning"),
            cancel=cancel)
    if own is None:
        notes.append("viseme library: the source's audio is silent, using the default library")
        return _or_empty(default, cache, regions), notes
    lib = learn_library(cache.expression(), np.asarray(cache.validity), own, cache.fps,
                        cache.canonical, regions, default)
    cov = lib.coverage()
    notes.append(
        f"viseme library: {len(cov['learned'])} of {len(cov['learned']) + len(cov['default'])}"
        f" classes learned from the speaker"
        + (f"; default for {', '.join(cov['default'])}" if cov["default"] else "")
    )
    return lib, notes


def _or_empty(lib: VisemeLibrary | None, cache: KeypointCache, regions: RegionSet
              ) -> VisemeLibrary:
    if lib is not None:
        return lib
    zero = np.zeros_like(cache.canonical, dtype=np.float32)
    return learn_library(zero[None], np.ones(1, np.uint8), Alignment([], [], "recognition", 0.0),
                         cache.fps, cache.canonical, regions, None)


def build_bank(source: Any, cache: KeypointCache, regions: RegionSet) -> MouthBank | None:
    """The speaker's own open mouths, or None for a portrait or a clip that never opens."""
    if source.is_image:
        return None
    points = cache.points()
    points[np.asarray(cache.validity) == 0] = np.nan
    # only the frames the bank keeps are converted to RGB (the decoder skips the rest)
    wanted = set(MouthBank.select(points, regions).tolist())
    frames = (source.frame(t) if t in wanted else None for t in range(source.frame_count))
    try:
        return MouthBank.from_frames(frames, points, regions)
    except ValueError:
        return None


def open_take(
    source_path: str | Path,
    audio_path: str | Path,
    *,
    transcript: str | Path | None = None,
    options: DubOptions | None = None,
    cache_root: Path | None = None,
    tracker: str = "mediapipe",
    face_index: int | None = None,
    face_box: Box | None = None,
    language: str = "en",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    driver: str = DEFAULT_DRIVER,
    renderer: Renderer | None = None,
) -> DubTake:
    """Analyse the source and the dub and set up a take driven by ``driver`` (see
    :meth:`DubTake.use_driver`); close it with ``take.close()``. ``renderer`` draws the
    export (None: warp).

    The speech (the dub's, and the source's own for its viseme library) is aligned in
    another process while this one tracks the face and builds the mouth bank: the take is
    ready in about the longer of the two, not their sum, on two cores."""
    options = options or DubOptions()
    source_path, audio_path = Path(source_path), Path(audio_path)
    text = read_transcript(transcript) if transcript is not None else None
    dub16 = load_audio(audio_path, 16000)
    source = open_media(source_path)
    root = cache_root or user_cache_dir()
    warnings: list[str] = []
    try:
        dub_silent = speech_or_none(dub16) is None
        own_speech = None
        if not source.is_image and source.has_audio:
            own_speech = library_speech(source.path)
        jobs = [] if dub_silent else [(dub16.samples, text, language)]
        if own_speech is not None:
            jobs.append((own_speech.samples, None, "en"))
        regions = load_regions(tracker)

        def mouth_bank(kp: Any) -> MouthBank | None:
            if progress:
                progress("mouth bank", 0, 1)
            return build_bank(source, kp.cache, regions)

        kp, aligned, bank = track_and_align(
            source, source_path, root, tracker, face_index, face_box, jobs, progress, cancel,
            warnings, meanwhile=mouth_bank)
        alignment = None
        if dub_silent:
            warnings.append(f"{audio_path}: the dub is silent; the mouth stays closed")
        else:
            alignment = aligned[0]
            warnings.extend(f"{audio_path}: {n}" for n in alignment.notes)
            if not alignment.words and text is None:
                warnings.append(
                    f"{audio_path}: no speech found in the dub; the mouth stays relaxed"
                )
                alignment = None
        if progress:
            progress("learning", 0, 1)
        own = aligned[-1] if own_speech is not None else None
        library, notes = speaker_library(source, kp.cache, regions, root, progress, cancel,
                                         own=own)
        warnings.extend(notes)
        take = DubTake(source, kp.cache, regions, dub16, alignment, library, options, bank,
                       warnings, source_speech=None if own_speech is None
                       else (own_speech.samples, own), export_renderer=renderer)
        if driver != "visemes":
            take.use_driver(driver)
        return take
    except BaseException:
        source.close()
        raise





def options_from_settings(settings: dict[str, Any]) -> DubOptions:
    """A project's global controls as DubOptions."""
    return DubOptions.from_settings(settings)


def export_settings_from(settings: dict[str, Any]) -> ExportSettings:
    return ExportSettings.from_settings(settings)


def image_reference(path: Path, take: DubTake, region: str, cache_root: Path) -> np.ndarray:
    """D_e from a reference picture: its region's shape over the target's, size-matched.

    A single picture has no neutral of its own to subtract, so the deformation is the
    reference region's shape (scaled to the target's region size, centred on it) minus the
    target's: it carries the reference's expression and some of its proportions. A picture
    of the same person, or a source frame (``frame:N``), gives the purest emotion.
    """
    from core.motion.emotion import region_indices, region_sizes

    with open_media(path) as ref:
        kp = analyze_keypoints(ref, media_hash=file_hash(path), root=cache_root,
                               tracker=get_tracker(take.regions.tracker))
    a, b = kp.cache.canonical, take.cache.canonical
    sa, sb = region_sizes(a, take.regions)[region], region_sizes(b, take.regions)[region]
    idx = region_indices(take.regions, region)
    pa, pb = a[idx] - a[idx].mean(0), b[idx] - b[idx].mean(0)
    out = np.zeros_like(b, dtype=np.float32)
    out[idx] = pa * (sb / sa) - pb
    return out


def apply_project_edits(take: DubTake, project: Any) -> None:
    """Put a project's controls, word edits and emotion clips on a take, then re-compose."""
    take.ramp_ms = float(project.settings["word_ramp_ms"])
    apply_edits(take, project.words, project.emotion_clips, project.cache_dir,
                options_from_settings(project.settings), getattr(project, "phones", None),
                _alignment_of(project))


def _alignment_of(project: Any) -> dict[str, Any] | None:
    """A project's corrected alignment of its dub, as saved (None: the aligner's own)."""
    a = getattr(project, "alignment", None)
    if callable(getattr(project, "dub_alignment", None)):
        a = project.dub_alignment()
    return a


def apply_edits(take: DubTake, words: dict[int, dict[str, Any]],
                emotion_clips: list[dict[str, Any]], cache_root: Path,
                options: DubOptions | None = None,
                phones: dict[int, dict[str, Any]] | None = None,
                alignment: dict[str, Any] | None = None) -> None:
    """Word edits (by word index), phone edits (by phone index) and emotion clips, as
    stored in a project, on a take."""
    from core.project.commands import phone_edits

    if alignment != take.alignment_doc:  # a plain comparison: no alignment built per edit
        take.set_alignment(None if alignment is None else Alignment.from_json(alignment))
        take.alignment_doc = alignment
    take.set_phone_edits(phone_edits(phones or {}))
    styles, timing = {}, {}
    for i, entry in words.items():
        fields = {k: entry[k] for k in ("open", "wide", "round", "alpha", "silent") if k in entry}
        if fields:
            styles[int(i)] = WordStyle(**fields)
        if "start" in entry and "end" in entry:
            timing[int(i)] = (float(entry["start"]), float(entry["end"]))
    take.word_styles, take.word_timing = styles, timing
    clips, sources = [], {}
    for c in emotion_clips:
        if c.get("emotion"):
            key = c["emotion"]
        elif "frame" in (c.get("source") or {}):
            key = f"frame:{int(c['source']['frame'])}"
        else:
            ref = c["source"]["image"]
            key = f"image:{ref.hash}:{c['region']}"
            if key not in take.emotion_sources:
                sources[key] = image_reference(Path(ref.path), take, c["region"], cache_root)
        clips.append(EmotionClip(c["region"], float(c["start"]), float(c["end"]), key,
                                 float(c["intensity"]), float(c["fade_in"]),
                                 float(c["fade_out"])))
    take.emotion_sources.update(sources)
    take.emotion_clips = clips
    take.update(options)


def project_renderer(settings: dict[str, Any], folder: Path | None = None) -> Renderer | None:
    """The export renderer a project's settings name (None: warp). A relative weights
    folder is taken from the project folder."""
    name = settings.get("renderer", DEFAULT_RENDERER)
    if name == DEFAULT_RENDERER:
        return None
    weights = settings.get("weights")
    if weights is not None and folder is not None:
        weights = Path(folder) / Path(weights).expanduser()
    return create_renderer(name, load_regions(settings["tracker"]), weights=weights)


def open_project_take(project: Any, progress: Progress | None = None,
                      cancel: Callable[[], bool] | None = None,
                      export_renderer: bool = True) -> DubTake:
    """The take a project describes: its media, analysis (in its cache/) and edits.
    ``export_renderer`` False leaves the project's renderer to be set at export (the window
    opens a project for its preview even when the neural renderer's weights are missing)."""
    project.require_media()
    if project.dub is None:
        raise StudioError(project.json_path, "the project has no dub audio yet")
    s = project.settings
    # what would fail after the analysis fails now: the driver's model, the word edits
    check_driver_model(s["driver"], project.folder, s["tracker"])
    check_word_edits(project)
    box = s.get("face_box")
    drawer = project_renderer(s, project.folder) if export_renderer else None
    take = open_take(
        project.source.path, project.dub.path,
        transcript=None if project.transcript is None else project.transcript.path,
        options=options_from_settings(s), cache_root=project.cache_dir, tracker=s["tracker"],
        face_index=s.get("face_index"),
        face_box=None if box is None else (box[0], box[1], box[0] + box[2], box[1] + box[3]),
        progress=progress, cancel=cancel, driver=resolve_driver(s["driver"], project.folder),
        renderer=drawer,
    )
    try:
        apply_project_edits(take, project)
    except BaseException:
        take.close()
        raise
    return take


def export_take(take: DubTake, output: str | Path, dub_path: str | Path,
                settings: ExportSettings, progress: Progress | None = None,
                cancel: Callable[[], bool] | None = None,
                yield_to: Callable[[], bool] | None = None) -> Path:
    """Write a take to an MP4 (the dub's sound at its own rate); rendering pauses while
    ``yield_to()`` is true (the window's live preview has a frame to draw)."""
    out = check_output_path(output)
    dub_audio = load_audio(dub_path, None, mono=False)
    source_audio = None
    src = take.source
    if settings.mix_source_audio and not src.is_image and src.has_audio:
        a = load_audio(src.path, None)
        source_audio = (a.samples, a.sample_rate)
    return export_mp4(
        out, take.frames(), fps=src.frame_rate if not src.is_image else IMAGE_FPS,
        frame_count=take.frame_count, audio=dub_audio.samples,
        sample_rate=dub_audio.sample_rate, settings=settings, source_audio=source_audio,
        progress=progress,
        cancel=cancel, yield_to=yield_to,
    )

