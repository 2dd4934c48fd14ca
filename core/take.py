"""A take: a source face speaking a dub, and everything an edit re-uses between edits
(keypoints, the dub's alignment, the viseme library, the lip motion, the mouth bank), so
the studio re-composes and re-renders frames cheaply. How a take is made from media or a
project is in :mod:`core.take_build`; the command line's whole job in :mod:`core.dub`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core import vocabulary
from core.align import Alignment
from core.errors import StudioError
from core.keypoints.cache import KeypointCache
from core.keypoints.decompose import recompose
from core.keypoints.regions import RegionSet
from core.media import open_media
from core.media.audio import Audio, rms_envelope
from core.motion import drivers
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
from core.motion.library import VisemeLibrary
from core.motion.mouth import closed_rest, lip_limits, lower_face_weight
from core.motion.timeline import LONGER, SHORTER, output_frame_count, source_frames
from core.motion.words import StyledWord, WordStyle, style_directions
from core.render.mouth import MouthBank, MouthFill, inner_lip_shapes
from core.render.registry import DEFAULT as DEFAULT_RENDERER
from core.render.registry import Renderer, create_renderer
from core.render.warp import resize_for

IMAGE_FPS = 25.0
DEFAULT_DRIVER = drivers.DEFAULT  # the lip model shipped in resources/lipsync/
@dataclass(frozen=True)
class DubOptions:
    """The global controls of a take (per-word and emotion edits come with the project);
    ranges and defaults are those of :mod:`core.vocabulary`."""

    alpha: float = vocabulary.ALPHA.default
    beta: float = vocabulary.BETA.default
    smoothing: float = vocabulary.SMOOTHING.default
    longer: str = LONGER[0]
    shorter: str = SHORTER[0]
    idle_motion: bool = True
    av_offset_frames: int = vocabulary.AV_OFFSET.default
    seed: int = 0

    def __post_init__(self) -> None:
        for key, control in vocabulary.GLOBAL_CONTROLS.items():
            control.check(getattr(self, key))
        if self.longer not in LONGER:
            raise ValueError(f"longer must be one of {', '.join(LONGER)}, got {self.longer!r}")
        if self.shorter not in SHORTER:
            raise ValueError(f"shorter must be one of {', '.join(SHORTER)}, got {self.shorter!r}")

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> DubOptions:
        """A project's global controls."""
        return cls(
            alpha=float(settings["alpha"]), beta=float(settings["beta"]),
            smoothing=float(settings["smoothing"]), longer=settings["longer"],
            shorter=settings["shorter"], idle_motion=bool(settings["idle_motion"]),
            av_offset_frames=int(settings["av_offset_frames"]),
        )


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
    # the learned driver per model file (None: the shipped one), fitted to the speaker once
    learned_drivers: dict[Any, Any] = field(default_factory=dict, init=False,
                                            repr=False)

    def __post_init__(self) -> None:
        self.fps = IMAGE_FPS if self.source.is_image else self.source.fps
        self.frame_count = output_frame_count(
            self.source.frame_count, self.dub.duration, self.fps, self.options.shorter,
            self.source.is_image,
        )
        self.source_index = source_frames(
            self.frame_count, self.source.frame_count, self.options.longer
        )
        self._warp = create_renderer(DEFAULT_RENDERER, self.regions)
        self.renderer: Renderer = self._warp
        self.use_renderer(self.export_renderer)
        self.lip_weight = lower_face_weight(self.cache.canonical, self.regions)
        self.rest = closed_rest(self.cache.canonical, self.regions)
        self.limits = lip_limits(self.cache.canonical, self.regions)
        self.driver_name = "visemes"
        # the aligner's own alignment; dub_alignment is it with the editor's phone edits
        self.original_alignment = self.aligned = self.dub_alignment
        self.alignment_doc: dict[str, Any] | None = None  # the project's, as last applied
        self.phone_edits: dict[int, Any] = {}
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
        """Drive the lips with the driver a setting names (the registry,
        :mod:`core.motion.drivers`): "learned" (the shipped lip model), "visemes", or a model
        file (absolute), whose metadata says which driver it is for.

        A learned model that cannot serve (corrupt, another version, other keypoints) is
        refused with a warning naming the file, and the take falls back to the visemes.
        """
        from core.motion.drivers import create_driver

        try:
            driver = create_driver(name)
        except ValueError:
            raise ValueError(f"unknown driver {name!r}; use learned, visemes or "
                             "audio2exp:<model>") from None
        try:
            self.lips = driver.motion(self)
        except StudioError as exc:
            if not driver.falls_back:
                raise
            self.warnings.append(f"{exc}; the lips follow the visemes instead")
            self.lips, name = self.viseme_lips, "visemes"
        self.driver_name = name
        self._composer_cache = None
        self.update()

    def set_alignment(self, alignment: Alignment | None) -> None:
        """Use the editor's corrected alignment of the dub (a retyped word), or with None
        the aligner's own; the phone edits are applied to it anew."""
        new = self.aligned if alignment is None else alignment
        if new is self.original_alignment:
            return
        self.original_alignment = new
        edits, self.phone_edits = self.phone_edits, {None: None}  # forces a recompute
        self.set_phone_edits(edits)

    def set_phone_edits(self, edits: dict[int, Any]) -> None:
        """Apply the phone track's edits (``PhoneEdit`` by phone index) to the aligner's
        alignment and recompute the lip motion from it: the viseme motion, and the current
        driver's (a learned driver keeps its fitted speaker adaptation, so this is cheap).
        Does not re-compose: the caller's ``update`` does."""
        from core.motion.phones import edited_alignment

        edits = {int(i): e for i, e in edits.items() if not e.empty}
        if edits == self.phone_edits:
            return
        self.phone_edits = edits
        al = self.original_alignment
        self.dub_alignment = None if al is None else (
            edited_alignment(al, edits) if edits else al)
        self.viseme_lips = VisemeDriver(self.library).motion(
            self.dub_alignment, self.frame_count, self.fps)
        self._composer_cache = None
        if self.driver_name == "visemes":
            self.lips = self.viseme_lips
            return
        from core.motion.drivers import create_driver

        try:
            self.lips = create_driver(self.driver_name).motion(self)
        except StudioError as exc:
            self.warnings.append(f"{exc}; the lips follow the visemes instead")
            self.lips, self.driver_name = self.viseme_lips, "visemes"

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


