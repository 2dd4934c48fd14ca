"""Video input: any file FFmpeg reads, seen as a constant-rate timeline of RGB frames.

Everything downstream (tracking, editing, export) counts in timeline frames ``i`` at time
``i / fps``, so variable-frame-rate files, rotated phone clips and damaged files all look
the same to it.

Timeline rules (decided here, relied on elsewhere):

* **Rate.** ``fps`` is the stream's nominal rate: FFmpeg's guessed rate (``r_frame_rate``,
  falling back to the average rate) when it is between 1 and 240 fps, else the average rate,
  else the median packet interval, else 25. For constant-rate files all of these agree; for
  variable-rate files the nominal rate is the finest rate the camera used, so no motion is
  lost (frames repeat in the gaps instead).
* **Origin.** Timeline time 0 is the first video frame or the first audio sample, whichever
  comes first (:func:`timeline_origin`); :func:`core.media.audio.load_audio` pads the audio
  of a video to the same origin, so frame ``i`` and sample ``round(i / fps * sample_rate)``
  play together. Slots before the first video frame show it.
* **Mapping.** Slot ``i`` shows the source frame with the largest pts ``<= (i + 0.5) / fps``:
  the pts rounded to the nearest slot, as FFmpeg's fps filter does. Rounding (instead of a
  strict ``<= i / fps``) keeps constant-rate files whose pts were rounded to a coarse time base
  (1 ms in mkv/webm) from dropping and repeating frames.
* **Length.** The timeline ends where the last decodable frame ends (its pts plus its
  duration), ``frame_count = round((end - origin) * fps)``.
* **Damaged files.** Packets the demuxer flags as corrupt (a file cut inside a frame) are left
  out. When the file looks cut short (fewer packets than the index promises, or a corrupt or
  unreadable tail), the last group of pictures is decoded at open and the timeline ends at
  the last frame that really decodes; ``truncated`` is then True. Zero decodable frames is an
  error. A frame that fails to decode in the middle shows the previous good frame.
* **Rotation.** ``rotation`` is the clockwise turn (0/90/180/270) needed for display, the
  convention of the old ``rotate`` tag; FFmpeg's display matrix stores the opposite
  (counter-clockwise) angle. Frames come out turned and ``width``/``height`` are the display
  size. Mirroring in the display matrix is ignored.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from core.errors import MediaError

DEFAULT_CACHE_FRAMES = 32
_MIN_RATE, _MAX_RATE = 1, 240
# A seek flushes the decoder and refills its frame threads; decoding a few unneeded frames
# forward costs about as much, so targets this close past a keyframe are read, not sought.
_FRAMES_PER_SEEK = 4
_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
# FFmpeg AVColorSpace values -> names PyAV's reformatter takes.
_COLORSPACES = {1: "ITU709", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


def _check_path(path: str | Path) -> Path:
    """Fail early, with the user's words, on paths that cannot be media at all."""
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if p.is_dir():
        raise MediaError(p, "is a folder, not a media file")
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as err:
        raise MediaError(p, f"cannot be read ({err.strerror or err})") from err
    if size == 0:
        raise MediaError(p, "is empty (0 bytes)")
    return p


def _looks_like_mp4(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(12)
    return head[4:8] == b"ftyp"


def _open_container(path: str | Path) -> Any:
    """Open ``path`` for demuxing, turning FFmpeg's errors into one-line MediaErrors."""
    p = _check_path(path)
    try:
        return av.open(str(p), mode="r")
    except av.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        if _looks_like_mp4(p):
            problem = f"MP4/MOV file is truncated or corrupt; FFmpeg cannot read it ({reason})"
        else:
            problem = f"is not a video or audio file FFmpeg can read ({reason})"
        raise MediaError(p, problem) from err
    except OSError as err:
        raise MediaError(p, f"cannot be read ({err.strerror or err})") from err


def _picture_streams(container: Any) -> list[Any]:
    """Video streams that are moving pictures, not cover art attached to an audio file."""
    return [
        s
        for s in container.streams.video
        if not (s.disposition & av.stream.Disposition.attached_pic)
    ]


def decoded_frames(container: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames of ``stream`` in order, skipping corrupt packets and packets that fail
    to decode; an unreadable tail drains the decoder and ends (what decoded is kept)."""
    demuxer = container.demux(stream)
    while True:
        try:
            packet = next(demuxer)
        except StopIteration:
            return
        except (av.FFmpegError, OSError):
            packet = None
        if packet is not None and packet.is_corrupt:
            continue
        try:
            frames = stream.decode(packet)
        except av.FFmpegError:
            frames = []
        yield from frames
        if packet is None:
            return


def timeline_origin(container: Any, first_video_s: float) -> float:
    """Time 0 of the timeline: the first video frame or the first audio sample, if earlier.

    Shared by video and audio so frame ``i`` and sample ``i / fps * rate`` play together.
    """
    origin = first_video_s
    if container.streams.audio:
        audio = container.streams.audio[0]
        if audio.start_time is not None and audio.time_base:
            origin = min(origin, float(audio.start_time * audio.time_base))
    return origin


def _timeline_rate(stream: Any, pts_s: list[float]) -> Fraction:
    """The nominal rate; see the module docstring for the order of preference."""
    for rate in (stream.guessed_rate, stream.average_rate):
        if rate and _MIN_RATE <= rate <= _MAX_RATE:
            return Fraction(rate)
    if len(pts_s) > 1:
        step = median(b - a for a, b in zip(pts_s, pts_s[1:], strict=False))
        if step > 0 and _MIN_RATE <= 1 / step <= _MAX_RATE:
            return Fraction(1 / step).limit_denominator(1001)
    return Fraction(25)


def _without_tail_holes(sorted_pts: list[int], cut: int, items: list[int]) -> list[int]:
    """Drop the ragged end of a file cut short at decode time ``cut``.

    Frames shown up to ``cut`` have all their packets. Later ones were read only if their
    packet came before the cut, so B-frames between them can be missing: keep them while
    they follow each other at the usual interval and stop at the first hole.
    """
    steps = [b - a for a, b in zip(sorted_pts, sorted_pts[1:], strict=False)]
    typical = median(steps) if steps else 0
    kept = 0
    for k, t in enumerate(sorted_pts):
        if t > cut and k and t - sorted_pts[k - 1] > 1.5 * typical:
            break
        kept = k + 1
    return items[:kept]


def _fit_size(
    width: int, height: int, size: tuple[int, int] | None, max_side: int | None
) -> tuple[int, int] | None:
    """The (w, h) a caller asked for, or None when the frame is already that small."""
    if size is not None:
        w, h = int(size[0]), int(size[1])
        if w < 1 or h < 1:
            raise ValueError(f"size must be positive, got {size}")
        return None if (w, h) == (width, height) else (w, h)
    if max_side is not None:
        if max_side < 1:
            raise ValueError(f"max_side must be positive, got {max_side}")
        scale = max_side / max(width, height)
        if scale >= 1:
            return None
        return max(1, round(width * scale)), max(1, round(height * scale))
    return None


def resize_frame(
    frame: np.ndarray, size: tuple[int, int] | None = None, max_side: int | None = None
) -> np.ndarray:
    """Downscale for previews (area averaging, which does not alias); never upscales by
    ``max_side``."""
    h, w = frame.shape[:2]
    target = _fit_size(w, h, size, max_side)
    if target is None:
        return frame
    return cv2.resize(frame, target, interpolation=cv2.INTER_AREA)


class VideoSource:
    """An open video file with random and sequential access to its timeline frames.

    One decoder serves both kinds of access: reading ahead of the decoder decodes forward,
    anything else seeks to the keyframe before the target. A lock makes a source safe to
    share between threads, but they take turns; open a second source for parallel work.
    Frames returned at full size are shared with the cache and read-only.
    """

    def __init__(self, path: str | Path, *, cache_frames: int = DEFAULT_CACHE_FRAMES) -> None:
        self._path = Path(path)
        self._lock = threading.RLock()
        # one converter for the clip's frames: a new one per frame sets up swscale again,
        # which costs more than the conversion itself
        self._rgb = VideoReformatter()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = max(0, int(cache_frames))
        self._container: Any = _open_container(self._path)
        try:
            self._setup()
        except BaseException:
            self._container.close()
            raise

    # -- opening ------------------------------------------------------------------------

    def _setup(self) -> None:
        c = self._container
        pictures = _picture_streams(c)
        if not pictures:
            extra = " (it is an audio file)" if c.streams.audio else ""
            raise MediaError(self._path, f"has no video stream{extra}")
        self._stream = pictures[0]
        self._stream.codec_context.thread_type = "AUTO"
        self._has_audio = bool(c.streams.audio)
        self._tb = Fraction(self._stream.time_base or Fraction(1, 90000))

        pts, keys, durations, damaged, cut = self._scan_packets()
        order = sorted(range(len(pts)), key=pts.__getitem__)
        if cut is not None:
            order = _without_tail_holes([pts[j] for j in order], cut, order)
        if not order:
            raise MediaError(self._path, "is truncated or corrupt: it holds no whole video frame")
        self._src_pts = [pts[j] for j in order]
        self._src_key = [keys[j] for j in order]
        self._src_dur = [durations[j] for j in order]
        self._truncated = damaged
        self._reindex()
        if damaged:
            self._trim_undecodable_tail()

        # Decode the first frame now: it proves the file decodes, carries the display
        # matrix, and leaves the decoder where sequential reading starts.
        self._seek(0)
        first = self._next_decoded()
        if first is None:
            raise MediaError(self._path, "is truncated or corrupt: no video frame decodes")
        vf = first[1]
        self._rotation = (round(-vf.rotation / 90) * 90) % 360
        if self._rotation in (90, 270):
            self._width, self._height = vf.height, vf.width
        else:
            self._width, self._height = vf.width, vf.height
        self._build_timeline()

    def _scan_packets(self) -> tuple[list[int], list[bool], list[int], bool, int | None]:
        """Demux every video packet once (no decoding) for timestamps and keyframes.

        Also returns whether the file is damaged and, for a file cut short, the decode
        time of the last whole packet (see :func:`_without_tail_holes`).
        """
        s = self._stream
        pts: list[int] = []
        keys: list[bool] = []
        durations: list[int] = []
        seen: set[int] = set()
        damaged = False
        cut: int | None = None
        last_dts: int | None = None
        next_pts = packets = 0
        demuxer = self._container.demux(s)
        while True:
            try:
                packet = next(demuxer)
            except StopIteration:
                break
            except (av.FFmpegError, OSError):  # unreadable tail: keep what was read
                damaged, cut = True, last_dts
                break
            if packet.size == 0:
                continue
            packets += 1
            if packet.is_corrupt:  # a packet cut off by the end of the file
                damaged, cut = True, last_dts
                continue
            t = packet.pts if packet.pts is not None else packet.dts
            if t is None:  # elementary streams without timestamps: count frames
                t = next_pts
            last_dts = packet.dts if packet.dts is not None else t
            cut = None  # whole packets after a bad one: damage in the middle, not the end
            next_pts = t + max(1, int(packet.duration or 0))
            if packet.is_discard or t in seen:  # outside the edit list, or a duplicate
                continue
            seen.add(t)
            pts.append(t)
            keys.append(bool(packet.is_keyframe))
            durations.append(int(packet.duration or 0))
        if s.frames and packets < s.frames:
            damaged = True
            if cut is None:
                cut = last_dts
        return pts, keys, durations, damaged, cut

    def _reindex(self) -> None:
        self._pts_index = {t: k for k, t in enumerate(self._src_pts)}
        self._keys = [k for k, is_key in enumerate(self._src_key) if is_key]
        if not self._keys or self._keys[0] != 0:
            self._keys.insert(0, 0)

    def _trim_undecodable_tail(self) -> None:
        """End the timeline at the last frame that decodes, for files cut short."""
        for key in reversed(self._keys):
            self._seek_to_key(key)
            last = -1
            while (item := self._next_decoded()) is not None:
                last = max(last, item[0])
            if last >= 0:
                del self._src_pts[last + 1 :]
                del self._src_key[last + 1 :]
                del self._src_dur[last + 1 :]
                self._reindex()
                return
        raise MediaError(self._path, "is truncated or corrupt: no video frame decodes")

    def _build_timeline(self) -> None:
        tb = self._tb
        src_s = np.array([float(t * tb) for t in self._src_pts])
        self._rate = _timeline_rate(self._stream, src_s.tolist())
        fps = float(self._rate)
        origin = timeline_origin(self._container, float(src_s[0]))
        steps = np.diff(src_s)
        typical = float(np.median(steps)) if len(steps) else 1 / fps
        last = self._src_dur[-1] * float(tb)
        if not 0 < last <= 10 * typical:  # missing or implausible: a usual frame
            last = typical
        end = src_s[-1] + last
        count = max(1, int(np.floor((end - origin) * fps + 0.5 + 1e-9)))
        slots = origin + (np.arange(count) + 0.5) / fps
        self._timeline = np.clip(np.searchsorted(src_s, slots, side="right") - 1, 0, None)
        self._origin = float(origin)
        self._timestamps = src_s[self._timeline] - origin
        self._timestamps.flags.writeable = False

    # -- decoding -----------------------------------------------------------------------

    def _seek_to_key(self, key: int) -> None:
        self._container.seek(self._src_pts[key], stream=self._stream, backward=True)
        self._decoder: Iterator[Any] | None = decoded_frames(self._container, self._stream)
        self._pos = -1
        self._last: Any = None

    def _seek(self, target: int) -> None:
        """Seek to the keyframe at or before source frame ``target``."""
        self._seek_to_key(self._keys[bisect.bisect_right(self._keys, target) - 1])

    def _next_decoded(self) -> tuple[int, Any] | None:
        """The next (source index, frame) from the decoder, or None at the end."""
        if self._decoder is None:
            return None
        for vf in self._decoder:
            t = vf.pts
            idx = self._pts_index.get(t) if t is not None else self._pos + 1
            if idx is None or idx <= self._pos:
                continue  # a frame outside the timeline (discarded or trimmed)
            self._pos = idx
            self._last = vf
            return idx, vf
        self._decoder = None
        return None

    def _decode_source(self, target: int) -> np.ndarray:
        """RGB of source frame ``target``, decoding forward or seeking as is cheaper."""
        if target == self._pos and self._last is not None:
            return self._to_rgb(self._last)
        key = self._keys[bisect.bisect_right(self._keys, target) - 1]
        if self._decoder is None or not (
            self._pos < target and key - self._pos <= _FRAMES_PER_SEEK
        ):
            self._seek_to_key(key)
        while True:
            previous = self._last if self._pos < target else None
            while (item := self._next_decoded()) is not None and item[0] < target:
                previous = item[1]
            if item is not None and item[0] == target:
                return self._to_rgb(item[1])
            if previous is not None:  # the target did not decode: hold the last good frame
                return self._to_rgb(previous)
            if item is None:
                raise MediaError(self._path, f"source frame {target} could not be decoded")
            if key == 0:  # nothing before the target decodes: show the first that does
                return self._to_rgb(item[1])
            # The seek landed after the target: start from the keyframe before.
            key = self._keys[bisect.bisect_left(self._keys, key) - 1]
            self._seek_to_key(key)

    def _to_rgb(self, vf: Any) -> np.ndarray:
        range_ = int(vf.color_range)
        space = _COLORSPACES.get(int(vf.colorspace))
        if space is None:  # untagged: what players assume
            space = "ITU709" if min(vf.width, vf.height) >= 720 else "ITU601"
        rgb = self._rgb.reformat(
            vf,
            format="rgb24",
            src_colorspace=space,
            src_color_range=range_ if range_ in (1, 2) else None,
        ).to_ndarray()
        code = _ROTATE_CODES.get(self._rotation)
        if code is not None:
            rgb = cv2.rotate(rgb, code)
        rgb = np.ascontiguousarray(rgb)
        rgb.flags.writeable = False
        return rgb

    # -- public -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def frame_count(self) -> int:
        """Frames on the constant-rate timeline."""
        return len(self._timeline)

    @property
    def fps(self) -> float:
        return float(self._rate)

    @property
    def frame_rate(self) -> Fraction:
        """The timeline rate exactly (30000/1001, not 29.97), for muxing on export."""
        return self._rate

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps

    @property
    def width(self) -> int:
        """Display width, after rotation."""
        return self._width

    @property
    def height(self) -> int:
        """Display height, after rotation."""
        return self._height

    @property
    def rotation(self) -> int:
        """Clockwise degrees (0/90/180/270) applied to the coded picture for display."""
        return self._rotation

    @property
    def has_audio(self) -> bool:
        return self._has_audio

    @property
    def is_image(self) -> bool:
        return False

    @property
    def truncated(self) -> bool:
        """True when the file is cut short or damaged: frames its index promises are missing."""
        return self._truncated

    @property
    def start_time(self) -> float:
        """Container time (s) of timeline frame 0."""
        return self._origin

    @property
    def timestamps(self) -> np.ndarray:
        """Source pts (s, from ``start_time``) of the frame each timeline slot shows."""
        return self._timestamps

    @property
    def source_frame_count(self) -> int:
        """Decodable frames in the file (differs from ``frame_count`` for variable rates)."""
        return len(self._src_pts)

    @property
    def cache_size(self) -> int:
        """How many decoded full-size frames the LRU keeps."""
        return self._cache_size

    @cache_size.setter
    def cache_size(self, n: int) -> None:
        with self._lock:
            self._cache_size = max(0, int(n))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def frame(
        self, i: int, *, size: tuple[int, int] | None = None, max_side: int | None = None
    ) -> np.ndarray:
        """Timeline frame ``i`` as HxWx3 uint8 RGB, turned upright.

        ``size=(w, h)`` or ``max_side`` give a downscaled copy for previews. Full-size
        frames are shared with the cache and read-only; copy before drawing on them.
        """
        n = self.frame_count
        if not 0 <= i < n:
            raise IndexError(f"frame {i} is outside 0..{n - 1} of {self._path.name}")
        with self._lock:
            if self._container is None:
                raise ValueError(f"{self._path}: video is closed")
            src = int(self._timeline[i])
            rgb = self._cache.get(src)
            if rgb is not None:
                self._cache.move_to_end(src)
            else:
                try:
                    rgb = self._decode_source(src)
                except (av.FFmpegError, OSError) as err:
                    raise MediaError(self._path, f"frame {i} could not be decoded ({err})") from err
                if self._cache_size:
                    self._cache[src] = rgb
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return resize_frame(rgb, size, max_side)

    def frames(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        size: tuple[int, int] | None = None,
        max_side: int | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Timeline frames ``start..stop-1`` in order, decoded sequentially."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        for i in range(max(0, start), stop):
            yield i, self.frame(i, size=size, max_side=max_side)

    def close(self) -> None:
        """Release the file and the decoded frames; safe to call twice."""
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None
                self._decoder = None
                self._last = None
            self._cache.clear()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.frame_count

    def __repr__(self) -> str:
        return (
            f"VideoSource({str(self._path)!r}, {self.width}x{self.height}, "
            f"{self.fps:g} fps, {self.frame_count} frames)"
        )


def open_video(path: str | Path, *, cache_frames: int = DEFAULT_CACHE_FRAMES) -> VideoSource:
    """Open a video for frame access; raises MediaError naming the file if it cannot."""
    return VideoSource(path, cache_frames=cache_frames)
