"""What the user chooses for an MP4 export: quality, speed and the audio mix.

Checked when built, so a bad value fails in the dialog, not minutes into an encode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# x264's presets, fastest first (``x264 --help``).
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
MIN_AUDIO_BITRATE, MAX_AUDIO_BITRATE = 32_000, 512_000
MAX_SOURCE_GAIN = 4.0


@dataclass(frozen=True)
class ExportSettings:
    """H.264 + AAC export settings.

    ``crf``: x264 constant rate factor, 0 (lossless, which some players cannot play) to 51
    (worst); 18 is visually lossless. ``preset``: x264 speed/size trade-off. ``audio_bitrate``:
    AAC bits per second. ``mix_source_audio``: add the source clip's own audio under the dub,
    scaled by ``source_audio_gain`` (0.3 keeps room tone and music audible under speech).
    """

    crf: int = 18
    preset: str = "medium"
    audio_bitrate: int = 192_000
    mix_source_audio: bool = False
    source_audio_gain: float = 0.3

    def __post_init__(self) -> None:
        if isinstance(self.crf, bool) or not isinstance(self.crf, int):
            raise ValueError(f"crf must be a whole number from 0 to 51, got {self.crf!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be from 0 to 51, got {self.crf}")
        if self.preset not in X264_PRESETS:
            raise ValueError(
                f"preset must be one of {', '.join(X264_PRESETS)}; got {self.preset!r}"
            )
        if isinstance(self.audio_bitrate, bool) or not isinstance(self.audio_bitrate, int):
            raise ValueError(f"audio_bitrate must be a whole number, got {self.audio_bitrate!r}")
        if not MIN_AUDIO_BITRATE <= self.audio_bitrate <= MAX_AUDIO_BITRATE:
            raise ValueError(
                f"audio_bitrate must be from {MIN_AUDIO_BITRATE} to {MAX_AUDIO_BITRATE} bit/s, "
                f"got {self.audio_bitrate}"
            )
        gain = self.source_audio_gain
        if isinstance(gain, bool) or not isinstance(gain, int | float) or not math.isfinite(gain):
            raise ValueError(f"source_audio_gain must be a number, got {gain!r}")
        if not 0.0 <= gain <= MAX_SOURCE_GAIN:
            raise ValueError(f"source_audio_gain must be from 0 to {MAX_SOURCE_GAIN}, got {gain}")
