"""MP4 export: H.264 video + AAC audio, written with PyAV, atomically.

Rules decided here:

* **Where.** :func:`check_output_path` fails with a :class:`StudioError` naming the folder
  before any frame is rendered, so a bad path costs the user nothing (callers also check the
  output against their inputs with :func:`core.outputs.check_output`). The container is
  chosen by the extension: ``.mp4``, ``.mov`` or ``.mkv``; another is refused. The file is
  encoded to a hidden ``.<name>.<random>.partial.<ext>`` beside the output, locked while it
  is written, and renamed over the output only once it is complete; on cancel or any error
  the partial file is removed and whatever was at the output path before is left as it was.
  A partial file left by a killed export is swept by the next export into that folder.
* **Picture.** libx264, yuv420p (what every player decodes), CRF and preset from
  :class:`ExportSettings`, frame threads so the encoder keeps both cores busy, and the
  RGB -> YUV conversion of the next frame overlapping the encoding of this one. 4:2:0 needs
  an even width and height: an odd size gets one more column/row, a copy of the last one
  (nothing is cropped away, and a repeated edge line is invisible where a black one is not).
  RGB is converted with the BT.709 matrix, limited range, and the stream is tagged so, which
  is how this studio's reader and all common players turn it back into the same RGB.
* **Rate.** The float ``fps`` becomes an exact fraction: 23.976 / 29.97 / 59.94 (and any
  ``n * 1000/1001`` written to two or three decimals) become ``n*1000/1001``; other rates
  their nearest fraction with a denominator up to 1001 (25 -> 25/1, 12.5 -> 25/2).
* **Sound.** AAC at 44.1 or 48 kHz: those rates are kept, every other rate is resampled to
  48 kHz (low rates such as 16 kHz are valid AAC but not played everywhere). Mono stays
  mono (unless mixed with a stereo source: then it is copied to both sides at full level);
  stereo stays stereo; more channels are downmixed to stereo by FFmpeg. The video defines
  the length, ``frame_count / fps``: the audio is cut or padded with silence to that many
  samples.
  With ``mix_source_audio`` the source audio is resampled to the same rate (the output rate,
  so a 16 kHz dub does not band-limit the source's music to 8 kHz), scaled by
  ``source_audio_gain`` and added to the dub. Both start at timeline 0. The soundtrack is
  clipped to [-1, 1] (full scale) either way.
  Audio is written interleaved with the video (each frame's share after it), so the file
  streams well; ``+faststart`` puts the index first, so it plays while it downloads.
"""

from __future__ import annotations

import math
import operator
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.video.reformatter import VideoReformatter

from core.atomic import create_temp, fsync_path, sweep_temp_files
from core.errors import Cancelled, StudioError
from core.export.settings import ExportSettings
from core.outputs import check_output_folder, video_container
from core.progress import Progress

AAC_KEPT_RATES = (44100, 48000)
AAC_DEFAULT_RATE = 48000
MAX_FPS = 1000.0
_AUDIO_CHUNK = 1024  # the AAC encoder's frame size
_RESAMPLE_CHUNK = 1 << 16
_BT709 = 1  # AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace BT.709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG

CancelCheck = Callable[[], bool]


def check_output_path(path: str | Path) -> Path:
    """Fail now, in the user's words, if the export could not be saved at ``path``: a
    folder, a missing or read-only folder, or an extension that is not a video container."""
    p = check_output_folder(path)
    video_container(p)
    return p


def frame_rate_fraction(fps: float | Fraction) -> Fraction:
    """The exact rate for ``fps``: the stream time base is its inverse, so it must be exact."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        value = float(fps)
        if not math.isfinite(value):
            raise ValueError(f"fps must be a finite number, got {fps!r}")
        n = round(value * 1.001)
        ntsc = Fraction(n * 1000, 1001)
        if n > 0 and abs(value - float(ntsc)) < 0.005 and abs(value - n) > 0.01:
            rate = ntsc
        else:
            rate = Fraction(value).limit_denominator(1001)
    if not 0 < rate <= MAX_FPS:
        raise ValueError(f"fps must be above 0 and at most {MAX_FPS:g}, got {fps!r}")
    return rate


def aac_sample_rate(sample_rate: int) -> int:
    """The rate the AAC track is written at for a dub at ``sample_rate``."""
    return sample_rate if sample_rate in AAC_KEPT_RATES else AAC_DEFAULT_RATE


def export_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float | Fraction,
    frame_count: int,
    audio: np.ndarray,
    sample_rate: int,
    settings: ExportSettings,
    source_audio: tuple[np.ndarray, int] | None = None,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
    yield_to: CancelCheck | None = None,
) -> Path:
    """Encode ``frame_count`` RGB frames and the dub to an MP4 at ``path``; return the path.

    ``frames`` yields (H, W, 3) uint8 RGB arrays, all the same size; it is consumed lazily
    on a producer thread, a few frames ahead of the encoder (with their RGB -> YUV
    conversion), so rendering the next frames overlaps encoding this one. While
    ``yield_to()`` is true (the live preview has a frame to draw) no new frame is taken.
    ``audio`` is float32 ``(n,)`` or ``(channels, n)`` at ``sample_rate``; ``source_audio``
    is ``(samples, rate)`` of the source clip, mixed in only when
    ``settings.mix_source_audio``. ``progress("exporting", done, total)`` follows every
    frame; ``cancel()`` is asked before every frame and a True answer raises :class:`Cancelled`.
    Raises :class:`StudioError` for an unusable output path (before the first frame is
    asked for) and for write failures, ValueError for bad arguments.
    """
    out = check_output_path(path)
    rate = frame_rate_fraction(fps)
    frame_count = _whole(frame_count, "frame_count", 1, 2**31)
    if not isinstance(settings, ExportSettings):
        raise TypeError(f"settings must be an ExportSettings, got {type(settings).__name__}")
    source = source_audio if settings.mix_source_audio else None
    out_rate, sound = _prepare_audio(
        audio, sample_rate, source, settings.source_audio_gain, rate, frame_count
    )
    with _PartialMp4(out, rate, out_rate, sound.shape[0], settings) as mp4, \
            _Ahead(frames, frame_count, cancel, yield_to, settings.height) as ahead:
        for i in range(frame_count):
            if cancel is not None and cancel():
                raise Cancelled()
            mp4.write_video(*ahead.next(i))
            mp4.write_audio(sound, round((i + 1) * out_rate / rate))
            if progress is not None:
                progress("exporting", i + 1, frame_count)
        if cancel is not None and cancel():
            raise Cancelled()
        mp4.commit()
    return out


class _Ahead:
    """The frames, taken, checked and converted to YUV on a producer thread, up to
    :data:`AHEAD` ahead of the encoder. A failure there is raised by :meth:`next`; leaving
    the ``with`` block stops the producer and waits for the frame it is on."""

    def __init__(self, frames: Iterable[np.ndarray], total: int, cancel: CancelCheck | None,
                 yield_to: CancelCheck | None, height: int | None = None) -> None:
        self._frames = frames
        self._height = height  # scale each frame to this height (None: as it comes)
        self._total = total
        self._cancel = cancel
        self._yield_to = yield_to
        self._queue: queue.Queue = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        # one RGB -> YUV converter for the whole export (a new one per frame sets up
        # swscale again, which costs more than the conversion)
        self._yuv = VideoReformatter()
        self._thread = threading.Thread(target=self._produce, name="export-frames",
                                        daemon=True)

    def __enter__(self) -> _Ahead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)  # unblock a producer waiting to put
            except queue.Empty:
                pass
        self._thread.join()

    def next(self, i: int) -> tuple[tuple[int, int], Any]:
        """Frame ``i`` as ((width, height), YUV VideoFrame)."""
        kind, value = self._queue.get()
        if kind == "error":
            raise value
        if kind == "end":
            raise ValueError(f"frames ended after {i} of the {self._total} promised")
        return value

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        it = iter(self._frames)
        try:
            for i in range(self._total):
                while self._yield_to is not None and self._yield_to() and \
                        not self._stop.is_set():
                    time.sleep(0.002)  # the preview draws first
                if self._stop.is_set() or (self._cancel is not None and self._cancel()):
                    return
                try:
                    rgb = _next_frame(it, i, self._total)
                except StopIteration_:
                    self._put(("end", None))
                    return
                h, w = rgb.shape[:2]
                frame = av.VideoFrame.from_ndarray(_even(rgb), format="rgb24")
                size = {}
                if self._height is not None and self._height < h:
                    w, h = scaled_size(w, h, self._height)
                    size = {"width": w, "height": h}
                frame = self._yuv.reformat(frame, format="yuv420p", dst_colorspace="ITU709",
                                           dst_color_range="MPEG", **size)
                if not self._put(("frame", ((w, h), frame))):
                    return
        except BaseException as exc:  # noqa: BLE001 - raised on the encoding thread
            self._put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


# -- frames -------------------------------------------------------------------------------


class StopIteration_(Exception):  # noqa: N801 - StopIteration cannot leave a generator
    """The frames ended early."""


#: Frames rendered and converted ahead of the encoder.
AHEAD = 4


def _next_frame(it: Iterator[np.ndarray], i: int, total: int) -> np.ndarray:
    try:
        frame = next(it)
    except StopIteration:
        raise StopIteration_() from None
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"frame {i} must be an (H, W, 3) uint8 RGB array, got {frame.shape} {frame.dtype}"
        )
    return frame


def scaled_size(width: int, height: int, to_height: int) -> tuple[int, int]:
    """A ``width`` x ``height`` frame scaled down to ``to_height`` (kept aspect, both even)."""
    h = max(2, to_height - to_height % 2)
    return max(2, round(width * h / height / 2) * 2), h


def _even(frame: np.ndarray) -> np.ndarray:
    """Grow an odd width/height by one copy of the last column/row (4:2:0 needs even)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)


# -- audio --------------------------------------------------------------------------------


def _planar(samples: np.ndarray, what: str) -> np.ndarray:
    """``(n,)`` or ``(channels, n)`` float audio as a float32 ``(channels, n)`` array."""
    a = np.asarray(samples)
    if a.ndim == 1:
        a = a[np.newaxis]
    if a.ndim == 2 and a.shape[0] > 8 and 1 <= a.shape[1] <= 8:
        raise ValueError(
            f"{what} has shape {a.shape}, which looks like (n, channels); pass (channels, n)"
        )
    if a.ndim != 2 or not 1 <= a.shape[0] <= 8:
        raise ValueError(f"{what} must be (n,) or (channels, n) with 1-8 channels, got {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{what} must be float samples in [-1, 1], got {a.dtype}")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinite samples")
    return a


def _whole(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` (numpy integers welcome, bools and floats not)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{what} must be from {low} to {high}, got {number}")
    return number


def _resample(a: np.ndarray, rate: int, out_rate: int, stereo: bool) -> np.ndarray:
    """Planar float audio at ``out_rate``, mono or stereo.

    Mono becomes stereo by copying it to both sides at full level (FFmpeg's upmix would lower
    it by 3 dB); more than two channels are downmixed to stereo by FFmpeg's resampler.
    """
    channels = a.shape[0]
    in_layout = av.AudioLayout(f"{channels}c").name
    out_layout = in_layout if channels <= 2 else "stereo"
    if rate != out_rate or in_layout != out_layout:
        resampler = AudioResampler(format="fltp", layout=out_layout, rate=out_rate)
        parts: list[np.ndarray] = []
        for start in range(0, a.shape[1], _RESAMPLE_CHUNK):
            chunk = np.ascontiguousarray(a[:, start : start + _RESAMPLE_CHUNK])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=in_layout)
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            parts.extend(f.to_ndarray() for f in resampler.resample(frame))
        parts.extend(f.to_ndarray() for f in resampler.resample(None))
        width = min(channels, 2)
        a = np.concatenate(parts, axis=1) if parts else np.zeros((width, 0), np.float32)
        a = a.astype(np.float32, copy=False)
    if stereo and a.shape[0] == 1:
        a = np.repeat(a, 2, axis=0)
    return a


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    """Cut ``a`` to ``n`` samples or pad it with silence: the video sets the length."""
    if a.shape[1] >= n:
        return a[:, :n]
    return np.pad(a, ((0, 0), (0, n - a.shape[1])))


def _prepare_audio(
    audio: np.ndarray,
    sample_rate: int,
    source_audio: tuple[np.ndarray, int] | None,
    source_gain: float,
    rate: Fraction,
    frame_count: int,
) -> tuple[int, np.ndarray]:
    """The whole soundtrack at the AAC rate, exactly as long as the video."""
    dub = _planar(audio, "audio")
    dub_rate = _whole(sample_rate, "audio sample_rate", 1000, 384_000)
    source = src_rate = None
    if source_audio is not None:
        source = _planar(source_audio[0], "source audio")
        src_rate = _whole(source_audio[1], "source audio sample rate", 1000, 384_000)
    out_rate = aac_sample_rate(dub_rate)
    n = round(frame_count * out_rate / rate)
    stereo = dub.shape[0] > 1 or (source is not None and source.shape[0] > 1)
    mix = _fit(_resample(dub, dub_rate, out_rate, stereo), n)
    if source is not None and src_rate is not None:
        src = _fit(_resample(source, src_rate, out_rate, stereo), n)
        mix = mix + src * np.float32(source_gain)
    return out_rate, np.ascontiguousarray(np.clip(mix, -1.0, 1.0), dtype=np.float32)


# -- the file -----------------------------------------------------------------------------


class _PartialMp4:
    """The video being encoded: a hidden partial file that becomes the output on
    :meth:`commit`.

    Leaving the ``with`` block without committing (cancel, error) closes and deletes the
    partial file; the output path is only ever touched by the final rename. The partial file
    stays locked while it is written, so a sweep by another export leaves it alone.
    """

    def __init__(
        self, out: Path, rate: Fraction, audio_rate: int, channels: int, settings: ExportSettings
    ) -> None:
        self._out = out
        self._rate = rate
        self._audio_rate = audio_rate
        self._channels = channels
        self._settings = settings
        self._format = video_container(out)
        self._tmp = out  # set by __enter__
        self._lock_fd: int | None = None
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._size: tuple[int, int] = (0, 0)
        self._frames = 0
        self._audio_pos = 0
        self._committed = False

    def __enter__(self) -> _PartialMp4:
        sweep_temp_files(self._out.parent)  # what killed exports left here
        try:
            self._lock_fd, self._tmp = create_temp(
                self._out, f".partial{self._out.suffix.lower()}")
        except OSError as err:
            raise StudioError(
                self._out, f"cannot write in folder {self._out.parent} ({err.strerror or err})"
            ) from err
        try:
            with self._writing():
                options = {"movflags": "+faststart"} if self._format in ("mp4", "mov") else {}
                self._container = av.open(
                    str(self._tmp), "w", format=self._format, container_options=options)
                self._add_audio_stream()
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._committed:
            self._discard()

    # -- writing --------------------------------------------------------------------------

    def write_video(self, size: tuple[int, int], frame: Any) -> None:
        """Encode one frame: ``size`` (width, height) before padding to even, ``frame`` the
        YUV VideoFrame (:class:`_Ahead` makes both)."""
        w, h = size
        if self._video is None:
            self._size = (w, h)
            self._add_video_stream(w + w % 2, h + h % 2)
        elif (w, h) != self._size:
            raise ValueError(
                f"frame {self._frames} is {w}x{h}, the first frame was "
                f"{self._size[0]}x{self._size[1]}"
            )
        frame.pts = self._frames
        frame.time_base = self._video.codec_context.time_base
        with self._writing():
            self._container.mux(self._video.encode(frame))
        self._frames += 1

    def write_audio(self, sound: np.ndarray, upto: int) -> None:
        """Encode ``sound`` up to sample ``upto``, in whole AAC frames until the very end."""
        total = sound.shape[1]
        upto = min(upto, total)
        while self._audio_pos < upto:
            end = min(self._audio_pos + _AUDIO_CHUNK, total)
            if end > upto:  # a partial AAC frame only as the last one
                break
            chunk = np.ascontiguousarray(sound[:, self._audio_pos : end])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._audio.layout)
            frame.sample_rate = self._audio_rate
            frame.pts = self._audio_pos
            frame.time_base = Fraction(1, self._audio_rate)
            with self._writing():
                self._container.mux(self._audio.encode(frame))
            self._audio_pos = end

    def commit(self) -> None:
        """Flush the encoders, finish the file and rename it over the output."""
        with self._writing():
            self._container.mux(self._video.encode(None))
            self._container.mux(self._audio.encode(None))
            self._container.close()
            fsync_path(self._tmp)
            os.replace(self._tmp, self._out)
        self._committed = True
        self._unlock()
        fsync_path(self._out.parent)

    # -- internals ------------------------------------------------------------------------

    def _add_audio_stream(self) -> None:
        s = self._container.add_stream("aac", rate=self._audio_rate)
        s.layout = "mono" if self._channels == 1 else "stereo"
        s.format = "fltp"
        s.bit_rate = self._settings.audio_bitrate
        s.codec_context.time_base = Fraction(1, self._audio_rate)
        self._audio = s

    def _add_video_stream(self, width: int, height: int) -> None:
        s = self._container.add_stream("libx264", rate=self._rate)
        s.width, s.height = width, height
        s.pix_fmt = "yuv420p"
        cc = s.codec_context
        cc.time_base = 1 / self._rate
        cc.options = {"crf": str(self._settings.crf), "preset": self._settings.preset}
        cc.colorspace = cc.color_primaries = cc.color_trc = _BT709
        cc.color_range = _LIMITED_RANGE
        # x264's frame threads (0 = one per core and a half): whole frames in parallel, which
        # keeps 2 cores busy; PyAV's default, slice threads, splits each frame and scales worse.
        s.thread_type = "FRAME"
        s.thread_count = 0
        self._video = s

    def _writing(self) -> AbstractContextManager[None]:
        return _write_errors(self._out)

    def _discard(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
            self._container = None
        if self._lock_fd is not None:
            self._tmp.unlink(missing_ok=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


@contextmanager
def _write_errors(out: Path) -> Iterator[None]:
    """Turn FFmpeg and file-system failures while writing into a StudioError on the output."""
    try:
        yield
    except (av.FFmpegError, OSError) as err:
        raise StudioError(out, f"could not write the video ({err})") from err
