"""Audio input: any audio file, or the sound of a video, as float samples at a chosen rate.

Decoding and resampling go through FFmpeg (PyAV's ``AudioResampler``). Mono is the mean of
the channels, the convention of ``ffmpeg -ac 1`` to integer PCM, librosa and Whisper;
FFmpeg's float down-mix instead sums stereo at -3 dB each, which exceeds full scale on
dual-mono tracks. The audio of a video that starts after its first frame is padded with
silence, so sample 0 plays with timeline frame 0 (see :func:`core.media.video.timeline_origin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from core.errors import MediaError
from core.media.probe import check_sample_rate
from core.media.video import (
    _open_container,
    _picture_streams,
    decoded_frames,
    timeline_origin,
)

DEFAULT_SAMPLE_RATE = 16000
_SILENCE_WINDOW_S = 0.05


@dataclass
class Audio:
    """Float samples, full scale 1.0: shape ``(n,)`` when mono, else ``(channels, n)``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / self.sample_rate

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else self.samples.shape[0]


def load_audio(
    path: str | Path, sample_rate: int | None = DEFAULT_SAMPLE_RATE, mono: bool = True
) -> Audio:
    """Decode the first audio track of ``path``; ``sample_rate=None`` keeps the file's rate.

    Raises MediaError naming the file when it is missing, unreadable, has no audio track or
    its audio holds no samples.
    """
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    p = Path(path)
    container = _open_container(p)
    try:
        if not container.streams.audio:
            raise MediaError(p, "has no audio track")
        stream = container.streams.audio[0]
        stream.codec_context.thread_type = "AUTO"
        check_sample_rate(p, int(stream.codec_context.sample_rate or stream.rate or 0))
        rate = int(sample_rate or stream.codec_context.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise MediaError(p, "audio track has no sample rate")
        chunks, first_time = _decode(container, stream, rate)
        lead = 0
        video = _picture_streams(container)
        if video and video[0].start_time is not None and first_time is not None:
            first_video = float(video[0].start_time * video[0].time_base)
            lead = max(0, round((first_time - timeline_origin(container, first_video)) * rate))
    finally:
        container.close()
    if not chunks:
        raise MediaError(p, "audio track is empty (0 samples)")
    samples = np.concatenate(chunks, axis=1)
    if lead:
        samples = np.concatenate([np.zeros((samples.shape[0], lead), np.float32), samples], axis=1)
    if samples.shape[1] == 0:
        raise MediaError(p, "audio track is empty (0 samples)")
    if mono:
        samples = samples[0] if samples.shape[0] == 1 else samples.mean(axis=0, dtype=np.float32)
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), rate)


def _decode(container: Any, stream: Any, rate: int) -> tuple[list[np.ndarray], float | None]:
    """Planar float chunks at ``rate`` and the time (s) of the first decoded sample."""
    resampler = av.AudioResampler(format="fltp", rate=rate)
    chunks: list[np.ndarray] = []
    first_time: float | None = None
    for frame in decoded_frames(container, stream):
        if first_time is None and frame.time is not None:
            first_time = float(frame.time)
        chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
    chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    return [c for c in chunks if c.shape[1]], first_time


def _power_cumsum(audio: Audio, window_s: float) -> tuple[np.ndarray, int]:
    """Cumulative sum of the mono power (float64, leading 0) and the window in samples."""
    x = audio.samples.astype(np.float64)
    power = x**2 if x.ndim == 1 else (x**2).mean(axis=0)
    cum = np.concatenate([[0.0], np.cumsum(power)])
    return cum, max(1, round(window_s * audio.sample_rate))


def peak_rms_dbfs(audio: Audio, window_s: float = _SILENCE_WINDOW_S) -> float:
    """Loudness of the loudest ``window_s`` stretch in dB full scale (-inf for silence)."""
    n = audio.samples.shape[-1]
    if n == 0:
        return float("-inf")
    cum, w = _power_cumsum(audio, window_s)
    w = min(w, n)
    mean_power = (cum[w:] - cum[:-w]) / w
    peak = float(np.sqrt(max(mean_power.max(), 0.0)))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def is_silent(audio: Audio, threshold_dbfs: float = -50.0) -> bool:
    """True when no 50 ms stretch is louder than ``threshold_dbfs`` (RMS, dB full scale).

    Windowed RMS rather than the sample peak, so a lone click does not count as sound.
    """
    return peak_rms_dbfs(audio) < threshold_dbfs


def rms_envelope(
    audio: Audio, fps: float, window_s: float | None = None, n_frames: int | None = None
) -> np.ndarray:
    """Linear RMS loudness per video frame, float32.

    Frame ``i`` covers ``[i / fps, (i + 1) / fps)``; a ``window_s`` other than ``1 / fps``
    is centred on the middle of that span. Windows past the end of the audio count the
    missing samples as silence. ``n_frames`` defaults to the frames the audio spans.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    sr = audio.sample_rate
    n = audio.samples.shape[-1]
    if n_frames is None:
        n_frames = int(np.ceil(n / sr * fps - 1e-9))
    if n_frames <= 0:
        return np.zeros(0, np.float32)
    width = 1 / fps if window_s is None else window_s
    cum, w = _power_cumsum(audio, width)
    centres = (np.arange(n_frames) + 0.5) / fps * sr
    lo = np.round(centres - w / 2).astype(np.int64)
    hi = np.clip(lo + w, 0, n)
    lo = np.clip(lo, 0, n)
    return np.sqrt(np.maximum((cum[hi] - cum[lo]) / w, 0.0)).astype(np.float32)
