"""The dub job: make the face in a clip or portrait speak new audio, and write an MP4.

One object, :class:`DubTake`, holds everything a take needs between edits (keypoints, the
dub's alignment, the viseme library, the lip motion, the mouth bank) so the studio can
re-compose and re-render frames cheaply; :func:`dub` runs the whole job for the command
line. All inputs and the output path are checked before any long work starts.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.align import Alignment, align, read_transcript
from core.align.beside import AlignBeside
from core.analysis import Progress, track_face
from core.errors import StudioError
from core.export import ExportSettings, check_output_path, export_mp4
from core.hashing import file_hash
from core.keypoints.analyze import analyze_keypoints
from core.keypoints.cache import KeypointCache
from core.keypoints.decompose import recompose
from core.keypoints.regions import RegionSet, load_regions
from core.media import load_audio, open_media
from core.media.audio import Audio, is_silent, rms_envelope
from core.motion.composer import Composer
from core.motion.driver import LipMotion, VisemeDriver
from core.motion.emotion import (
    EMOTIONS,
    EmotionClip,
    emotion_mask,
    emotion_offsets,
    preset_deformation,
    reference_deformation,
)
from core.motion.idle import blink_curve, blink_shape, idle_pose
from core.motion.library import VisemeLibrary, default_library, learn_library
from core.motion.mouth import closed_rest, lip_limits, lower_face_weight
from core.motion.timeline import LONGER, SHORTER, output_frame_count, source_frames
from core.motion.words import StyledWord, WordStyle, style_directions
from core.outputs import check_output
from core.paths import user_cache_dir
from core.project.project import check_driver_model, check_word_edits, resolve_driver
from core.render.mouth import MouthBank, MouthFill, inner_lip_shapes
from core.render.registry import Renderer, create_renderer
from core.render.warp import WarpRenderer, resize_for
from core.tracking.base import get_tracker
from core.tracking.selection import Box

IMAGE_FPS = 25.0
DEFAULT_DRIVER = "learned"  # the lip model shipped in resources/lipsync/

#: The source's own speech the speaker's visemes are learned from: its first seconds give
#: every class enough examples, and a long clip's analysis no longer grows with its length
#: (recognising a minute of speech costs about 20 s of CPU on this machine).
LIBRARY_SPEECH_S = 30.0


def library_speech(path: Path) -> Audio | None:
    """The start of a source's own speech at 16 kHz (None when it is silent)."""
    speech = load_audio(path, 16000)
    speech = Audio(speech.samples[: round(LIBRARY_SPEECH_S * 16000)], 16000)
    return None if is_silent(speech) else speech


@dataclass(frozen=True)
class DubOptions:
    """The global controls of a take (per-word and emotion edits come with the project)."""

    alpha: float = 1.0
    beta: float = 0.0
    smoothing: float = 0.5
    longer: str = "pingpong"
    shorter: str = "silent"
    idle_motion: bool = True
    av_offset_frames: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 2.0:
            raise ValueError(f"alpha must be from 0 to 2, got {self.alpha}")
        if not 0.0 <= self.beta <= 2.0:
            raise ValueError(f"beta (loudness) must be from 0 to 2, got {self.beta}")
        if not 0.0 <= self.smoothing <= 10.0:
            raise ValueError(f"smoothing must be from 0 to 10 frames, got {self.smoothing}")
        if self.longer not in LONGER:
            raise ValueError(f"longer must be one of {', '.join(LONGER)}, got {self.longer!r}")
        if self.shorter not in SHORTER:
            raise ValueError(f"shorter must be one of {', '.join(SHORTER)}, got {self.shorter!r}")
        if abs(self.av_offset_frames) > 10:
            raise ValueError(f"av offset must be within ±10 frames, got {self.av_offset_frames}")


def shift_frames(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` delayed by ``k`` frames along time (advanced when negative), edges held."""
    if k == 0 or len(a) == 0:
        return a
    idx = np.clip(np.arange(len(a)) - k, 0, len(a) - 1)
    return a[idx]


@dataclass
class DubTake:
    """A source face speaking a dub: the state an edit re-uses, and the frames it draws."""

    source: Any  # VideoSource | ImageSource
    cache: KeypointCache
    regions: RegionSet
    dub: Audio  # mono at 16 kHz: its loudness drives β; export reads the file again
    dub_alignment: Alignment | None
    library: VisemeLibrary
    options: DubOptions = field(default_factory=DubOptions)
    bank: MouthBank | None = None
    warnings: list[str] = field(default_factory=list)
    # the editor's shaping: per-word styles by word index, timing fixes, emotion clips
    word_styles: dict[int, WordStyle] = field(default_factory=dict)
    word_timing: dict[int, tuple[float, float]] = field(default_factory=dict)
    emotion_clips: list[EmotionClip] = field(default_factory=list)
    emotion_sources: dict[str, np.ndarray] = field(default_factory=dict)
    ramp_ms: float = 40.0
    # the source's own speech (16 kHz samples, its alignment), for the lip model's style
    source_speech: tuple[np.ndarray, Alignment | None] | None = None
    # what export draws with (registry); None: the warp renderer, which also previews
    export_renderer: Renderer | None = None

    def __post_init__(self) -> None:
        self.fps = IMAGE_FPS if self.source.is_image else self.source.fps
        self.frame_count = output_frame_count(
            self.source.frame_count, self.dub.duration, self.fps, self.options.shorter,
            self.source.is_image,
        )
        self.source_index = source_frames(
            self.frame_count, self.source.frame_count, self.options.longer
        )
        self._warp = WarpRenderer(self.regions)
        self.renderer: Renderer = self._warp
        self.use_renderer(self.export_renderer)
        self.lip_weight = lower_face_weight(self.cache.canonical, self.regions)
        self.rest = closed_rest(self.cache.canonical, self.regions)
        self.limits = lip_limits(self.cache.canonical, self.regions)
        self.driver_name = "visemes"
        # kept: the adapter corrects these, and choosing visemes again needs no recompute
        self.viseme_lips: LipMotion = VisemeDriver(self.library).motion(
            self.dub_alignment, self.frame_count, self.fps
        )
        self.lips = self.viseme_lips
        self.loudness = rms_envelope(
            self.dub, self.fps, window_s=2.0 / self.fps, n_frames=self.frame_count
        )
        self._pose_cache: tuple[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._composer_cache: tuple[tuple, Composer] | None = None
        self._emotion_key: tuple | None = None
        self.directions = style_directions(self.library)
        self.update()

    # -- motion -----------------------------------------------------------------------

    def _composer(self) -> Composer:
        """The warm composition; rebuilt only when the source motion itself changes."""
        o = self.options
        key = (o.av_offset_frames, o.idle_motion and self.source.is_image, o.seed)
        if self._composer_cache is None or self._composer_cache[0] != key:
            expression = self.cache.expression(self.source_index)
            if self.source.is_image and o.idle_motion:
                blink = blink_curve(self.frame_count, self.fps, o.seed).astype(np.float32)
                expression += blink[:, None, None] * blink_shape(self.cache.canonical,
                                                                 self.regions)
            k = o.av_offset_frames
            composer = Composer(
                expression, self.lip_weight, self.rest, shift_frames(self.lips.delta, k),
                shift_frames(self.lips.hold, k), self.loudness, self.directions,
                movable=emotion_mask(self.regions) if self.regions.n_points == 478 else None,
                limits=self.limits,
            )
            self._composer_cache = (key, composer)
            self._emotion_key = None
        return self._composer_cache[1]

    def update(self, options: DubOptions | None = None) -> None:
        """Re-compose after any edit (controls, word styles, emotion clips): milliseconds,
        since only what the edit touched is recomputed."""
        if options is not None:
            self.options = options
        o = self.options
        composer = self._composer()
        clips = tuple(self.emotion_clips)
        sources = tuple(sorted((k, id(v)) for k, v in self.emotion_sources.items()))
        old = self._emotion_key
        span = None
        if old is not None and old[1] == sources and old[0] != clips and old[0] and clips:
            # an edit of some clips: the emotion term changes only over their time spans
            moved = set(old[0]).symmetric_difference(clips)
            lo = max(0, int(np.floor(min(c.start for c in moved) * self.fps)) - 1)
            hi = min(self.frame_count, int(np.ceil(max(c.end for c in moved) * self.fps)) + 2)
            span = slice(lo, hi)
        changed = (clips, sources) != old and span is None
        composer.update(
            alpha=o.alpha, beta=o.beta, smoothing=o.smoothing, words=self.styled_words(),
            ramp=self.ramp_ms / 1000.0 * self.fps,
            emotion=self.emotion() if changed else None, emotion_changed=changed,
        )
        if span is not None:
            composer.update_emotion(span, self.emotion(np.arange(span.start, span.stop)))
        self._emotion_key = (clips, sources)

    @property
    def edited(self) -> np.ndarray:
        """E'_t of every output frame over all points (T, N, 3) (materialised: for tests,
        export of keypoints; rendering asks only for the frames it draws)."""
        return self._composer().rows(np.arange(self.frame_count))

    def saturation(self, frames: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Per output frame, the share of the asked lip motion the face could not give
        (0: none; it grows smoothly as α, word scales and β ask for more): what a control
        shows so the user sees where more no longer opens the mouth."""
        return self._composer().saturation[frames].copy()

    def compose(self, options: DubOptions | None = None) -> np.ndarray:
        """Re-compose and return E'_t for every output frame (T, N, 3)."""
        self.update(options)
        return self.edited

    def use_driver(self, name: str) -> None:
        """Drive the lips with "learned" (the shipped lip model, or "learned:<model file>"),
        "visemes" or "audio2exp:<model file>" (a fine-tuned adapter).

        A learned model that cannot serve (corrupt, another version, other keypoints) is
        refused with a warning naming the file, and the take falls back to the visemes.
        """
        if name == "visemes":
            self.lips = self.viseme_lips
        elif name == "learned" or name.startswith("learned:"):
            try:
                self.lips = self._learned_motion(name.split(":", 1)[1] if ":" in name else None)
            except StudioError as exc:
                self.warnings.append(f"{exc}; the lips follow the visemes instead")
                self.lips, name = self.viseme_lips, "visemes"
        elif name.startswith("audio2exp:"):
            from core.motion.audio2exp import Audio2ExpDriver

            adapter = Audio2ExpDriver.load(name.split(":", 1)[1], self.regions)
            expression = self.cache.expression(self.source_index)
            # a residual adapter corrects its base driver (the lip model, or the visemes of
            # an older adapter) on the dub's own sound and phones
            self.lips = adapter.motion(self.dub, expression, self.lip_weight,
                                       self.frame_count, self.fps,
                                       alignment=self.dub_alignment, library=self.library,
                                       canonical=self.cache.canonical, regions=self.regions)
        else:
            raise ValueError(f"unknown driver {name!r}; use learned, visemes or "
                             "audio2exp:<model>")
        self.driver_name = name
        self._composer_cache = None
        self.update()

    def _learned_motion(self, path: str | None) -> LipMotion:
        """The lip model's motion for the dub, in this speaker's style and timing when the
        source is a video with speech (fitted on the speaker's own footage). A dub the
        analysis found no speech in (silence, music) keeps the lips at rest, as the
        visemes do."""
        from core.motion.lipsync import LearnedDriver

        driver = LearnedDriver.load(path, self.regions)
        if self.dub_alignment is None:  # a silent dub, or no speech in it: lips at rest
            return LipMotion(np.zeros_like(self.viseme_lips.delta),
                             np.zeros_like(self.viseme_lips.hold))
        if self.source_speech is not None:
            samples, alignment = self.source_speech
            driver.adapt(samples, self.cache.expression(), np.asarray(self.cache.validity),
                         self.cache.fps, self.cache.canonical, self.regions,
                         alignment=alignment, library=self.library)
        return driver.motion(self.dub.samples, self.frame_count, self.fps,
                             self.cache.canonical, self.regions,
                             alignment=self.dub_alignment, library=self.library)
    def use_renderer(self, renderer: Renderer | None) -> None:
        """Export with ``renderer`` (None: warp). The preview uses it too when it is fast
        enough here; otherwise the preview stays on the warp renderer, and a warning says so."""
        self.export_renderer = renderer
        if renderer is None or renderer.preview:
            self.renderer = renderer or self._warp
            return
        self.renderer = self._warp
        note = (f"renderer {renderer.name}: too slow for a live preview without a GPU, so the "
                f"preview shows the warp renderer; export draws with {renderer.name}")
        if note not in self.warnings:
            self.warnings.append(note)

    def styled_words(self) -> list[StyledWord]:
        """Edited words as spans of output frames, moved earlier by the lips' lead."""
        if self.dub_alignment is None:
            return []
        lead = VisemeDriver.anticipation
        out = []
        for i, style in sorted(self.word_styles.items()):
            if not 0 <= i < len(self.dub_alignment.words):
                continue
            w = self.dub_alignment.words[i]
            start, end = self.word_timing.get(i, (w.start, w.end))
            shift = self.options.av_offset_frames / self.fps
            out.append(StyledWord((start - lead + shift) * self.fps,
                                  (end - lead + shift) * self.fps, style))
        return out

    def deformation(self, key: str) -> np.ndarray:
        """D_e of an emotion clip's key: a preset's name, ``frame:N`` of the source, or a
        reference the caller put in ``emotion_sources``."""
        if key in self.emotion_sources:
            return self.emotion_sources[key]
        if key in EMOTIONS:
            return preset_deformation(key, self.cache.canonical, self.regions)
        if key.startswith("frame:"):
            f = int(key.split(":", 1)[1])
            if not 0 <= f < self.source.frame_count:
                raise ValueError(f"emotion source frame {f} is outside the source")
            return reference_deformation(self.cache.expression(slice(f, f + 1))[0], None,
                                         self.regions, keep_gap=True)
        raise KeyError(f"no emotion deformation named {key!r}")

    def emotion(self, frames: np.ndarray | None = None) -> np.ndarray | None:
        """Σ_r λ_r(t)·M_r⊙D for every output frame (or some), or None without clips."""
        if not self.emotion_clips:
            return None if frames is None else np.zeros(
                (len(frames), self.regions.n_points, 3), np.float32)
        times = (np.arange(self.frame_count) if frames is None else frames) / self.fps
        defs = {c.key: self.deformation(c.key) for c in self.emotion_clips}
        return emotion_offsets(self.emotion_clips, defs, self.regions, times)

    def pose(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(R, s, τ) per output frame: the source's, with idle motion for a portrait."""
        idle = self.source.is_image and self.options.idle_motion
        key = (idle, self.options.seed if idle else None)
        if self._pose_cache is None or self._pose_cache[0] != key:
            idx = self.source_index
            rot = np.asarray(self.cache.rotation[idx], np.float64)
            scale = np.asarray(self.cache.scale[idx], np.float64)
            trans = np.asarray(self.cache.translation[idx], np.float64)
            if idle:
                sway, drift = idle_pose(self.frame_count, self.fps, self.options.seed)
                rot = rot @ sway
                trans = trans + scale[:, None] * drift
            self._pose_cache = (key, (rot, scale, trans))
        return self._pose_cache[1]

    def valid(self, j: int) -> bool:
        """Whether output frame ``j`` shows a tracked face (else it passes through)."""
        return bool(self.cache.validity[self.source_index[j]] > 0)

    def keypoints(self, frames: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tracked (K_t) and edited (K'_t) pixel keypoints of output frames, (n, N, 3) each."""
        idx = np.arange(self.frame_count)[frames]
        src = self.cache.points(self.source_index[idx])
        rot, scale, trans = self.pose()
        dst = recompose(self.cache.canonical, self._composer().rows(idx), rot[idx],
                        scale[idx], trans[idx]).astype(np.float32)
        return src, dst

    def close(self) -> None:
        self.source.close()

    def detached(self) -> DubTake:
        """A twin that renders on another thread while this take goes on rendering (an export
        beside the live preview).

        It shares what is only read (keypoint cache, regions, library, mouth bank, lip
        motion, pose) but has its own source reader (a decoder is not thread-safe), its own
        renderer and its own warm composer, with this take's edits, options and driver as
        they are now. Take it under the lock that guards this take; close it when done
        (closing it leaves this take open).
        """
        twin = copy.copy(self)
        twin.source = open_media(self.source.path)
        # a renderer's mesh topology and networks are immutable, shared; caches are not
        twin._warp = copy.copy(self._warp)
        twin.renderer = twin._warp if self.renderer is self._warp else copy.copy(self.renderer)
        if self.export_renderer is self.renderer:
            twin.export_renderer = twin.renderer
        elif self.export_renderer is not None:
            twin.export_renderer = copy.copy(self.export_renderer)
        twin.word_styles = dict(self.word_styles)
        twin.word_timing = dict(self.word_timing)
        twin.emotion_clips = list(self.emotion_clips)
        twin.emotion_sources = dict(self.emotion_sources)
        twin.warnings = list(self.warnings)
        if self._composer_cache is not None:
            key, composer = self._composer_cache
            # the composer re-composes in place: the twin gets its own arrays, all but the
            # source expression, which it only reads
            shared = {id(composer.expression): composer.expression}
            twin._composer_cache = (key, copy.deepcopy(composer, shared))
        return twin

    # -- pictures ---------------------------------------------------------------------

    def _portrait_fill(self) -> MouthFill:
        if np.abs(self.rest).max() > 0:
            # the portrait shows its own teeth and mouth inside: stretching them reads
            # far better than a painted cavity, until the edit opens it 3× wider
            return MouthFill(start=0.6, full=0.3)
        return MouthFill()

    def mouth_fills(self) -> list[MouthFill]:
        """What fills the edited inner mouth of every output frame (bank entries chosen
        along time with a smoothness cost, for export)."""
        if self.bank is None:
            return [self._portrait_fill()] * self.frame_count
        _, dst = self.keypoints(slice(None))
        choice = self.bank.choose(inner_lip_shapes(dst, self.regions))
        return [self.bank.fill(int(i)) for i in choice]

    def render(self, j: int, frame: np.ndarray, fill: MouthFill | None = None,
               out_size: tuple[int, int] | None = None,
               renderer: Renderer | None = None) -> np.ndarray:
        """Output frame ``j`` drawn from its source ``frame`` (full size unless ``out_size``)
        by the preview renderer, or by ``renderer``.

        Without ``fill`` (a single preview frame) the bank entry nearest this frame's mouth
        is used; export passes the entries chosen along time.
        """
        renderer = renderer or self.renderer
        if not self.valid(j):
            if out_size is None:
                return np.array(frame, copy=True)
            return resize_for(np.asarray(frame), out_size)
        src, dst = self.keypoints(slice(j, j + 1))
        if fill is None and self.bank is None:
            fill = self._portrait_fill()
        elif fill is None:
            nearest = self.bank.choose(inner_lip_shapes(dst, self.regions))[0]
            fill = self.bank.fill(int(nearest))
        return renderer.render(frame, src[0], dst[0], out_size=out_size, mouth=fill)

    def frames(self, cancel: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
        """Every output frame at full resolution, in order (for export), drawn by the export
        renderer; one that renders batches (on a GPU) gets them."""
        renderer = self.export_renderer or self.renderer
        fills = self.mouth_fills()
        batch = int(getattr(renderer, "batch_size", 1))
        if batch <= 1 or not hasattr(renderer, "render_batch"):
            for j, frame in source_in_order(self.source, self.source_index):
                yield self.render(j, frame, fills[j], renderer=renderer)
            return
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> Iterator[np.ndarray]:
            src, dst = self.keypoints(np.array([j for j, _ in pending]))
            live = [k for k, (j, _) in enumerate(pending) if self.valid(j)]
            drawn = renderer.render_batch(
                [(pending[k][1], src[k], dst[k], fills[pending[k][0]]) for k in live])
            out = [np.array(f, copy=True) for _, f in pending]  # no face: passes through
            for k, image in zip(live, drawn, strict=True):
                out[k] = image
            pending.clear()
            yield from out

        for j, frame in source_in_order(self.source, self.source_index):
            pending.append((j, frame))
            if len(pending) == batch:
                yield from flush()
        if pending:
            yield from flush()


def source_in_order(source: Any, index: np.ndarray, chunk: int = 24
                    ) -> Iterator[tuple[int, np.ndarray]]:
    """(output j, source frame) following ``index``; backward runs (ping-pong) are decoded
    forward in chunks and played back reversed, never one seek per frame."""
    n = len(index)
    j = 0
    while j < n:
        step = 1 if j + 1 >= n or index[j + 1] >= index[j] else -1
        end = j + 1
        while end < n and index[end] - index[end - 1] == step and step != 0:
            end += 1
        if step == 1 and index[j] + (end - j - 1) == index[end - 1]:
            for k, (_, frame) in enumerate(source.frames(int(index[j]), int(index[end - 1]) + 1)):
                yield j + k, frame
        else:
            k = j
            while k < end:
                stop = min(end, k + chunk)
                hi, lo = int(index[k]), int(index[stop - 1])
                lo, hi = min(lo, hi), max(lo, hi)
                got = {i: f for i, f in source.frames(lo, hi + 1)}
                for m in range(k, stop):
                    yield m, got[int(index[m])]
                k = stop
        j = end


# -- the job --------------------------------------------------------------------------------


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
            progress=None if progress is None else (lambda f: progress("learning", f, 1)),
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
    beside = None
    try:
        dub_silent = is_silent(dub16)
        own_speech = None
        if not source.is_image and source.has_audio:
            own_speech = library_speech(source.path)
        jobs = [] if dub_silent else [(dub16.samples, text, language, root / "align")]
        if own_speech is not None:
            jobs.append((own_speech.samples, None, "en", root / "align"))
        beside = AlignBeside(jobs)
        kp = track_face(source, source_path, root, tracker, face_index, face_box, progress,
                        cancel, warnings)
        regions = load_regions(tracker)
        if progress:
            progress("mouth bank", 0, 1)
        bank = build_bank(source, kp.cache, regions)
        if progress:
            progress("aligning", 0, 1)
        aligned = beside.result(
            cancel, None if progress is None else (lambda f: progress("aligning", f, 1)))
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
    finally:
        if beside is not None:
            beside.close()


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
    renderer: str = "warp",
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
    drawer = None if renderer == "warp" else create_renderer(
        renderer, load_regions(tracker), weights=weights)
    take = open_take(
        source_path, audio_path, transcript=transcript, options=options,
        cache_root=cache_root, tracker=tracker, face_index=face_index, face_box=face_box,
        language=language, progress=progress, cancel=cancel, driver=driver,
        renderer=drawer,
    )
    try:
        if edits is not None:
            e = edits(take)
            apply_edits(take, e.words, e.emotions, cache_root or user_cache_dir())
        export_take(take, out, audio_path, settings, progress, cancel)
    finally:
        take.close()
    al = take.dub_alignment
    return DubResult(
        output=out, frame_count=take.frame_count, fps=take.fps,
        duration=take.frame_count / take.fps, coverage=take.library.coverage(),
        warnings=take.warnings, seconds=time.perf_counter() - started,
        words=0 if al is None else len(al.words),
    )


# -- projects ---------------------------------------------------------------------------------


def options_from_settings(settings: dict[str, Any]) -> DubOptions:
    """A project's global controls as DubOptions."""
    return DubOptions(
        alpha=float(settings["alpha"]), beta=float(settings["beta"]),
        smoothing=float(settings["smoothing"]), longer=settings["longer"],
        shorter=settings["shorter"], idle_motion=bool(settings["idle_motion"]),
        av_offset_frames=int(settings["av_offset_frames"]),
    )


def export_settings_from(settings: dict[str, Any]) -> ExportSettings:
    e = settings["export"]
    return ExportSettings(crf=int(e["crf"]), preset=e["preset"],
                          audio_bitrate=int(e["audio_bitrate"]),
                          mix_source_audio=bool(e["mix_source_audio"]),
                          source_audio_gain=float(e["source_audio_gain"]))


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
                options_from_settings(project.settings))


def apply_edits(take: DubTake, words: dict[int, dict[str, Any]],
                emotion_clips: list[dict[str, Any]], cache_root: Path,
                options: DubOptions | None = None) -> None:
    """Word edits (by word index) and emotion clips, as stored in a project, on a take."""
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
    name = settings.get("renderer", "warp")
    if name == "warp":
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
        progress=None if progress is None else (lambda d, t: progress("exporting", d, t)),
        cancel=cancel, yield_to=yield_to,
    )
