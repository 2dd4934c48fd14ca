"""What the user chooses for an MP4 export: quality, speed and the audio mix.

Checked when built, so a bad value fails in the dialog, not minutes into an encode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.vocabulary import AUDIO_BITRATE, CRF, PRESET_DEFAULT, SOURCE_AUDIO_GAIN, X264_PRESETS


@dataclass(frozen=True)
class ExportSettings:
    """H.264 + AAC export settings.

    ``crf``: x264 constant rate factor, 0 (lossless, which some players cannot play) to 51
    (worst); 18 is visually lossless. ``preset``: x264 speed/size trade-off. ``audio_bitrate``:
    AAC bits per second. ``mix_source_audio``: add the source clip's own audio under the dub,
    scaled by ``source_audio_gain`` (0.3 keeps room tone and music audible under speech).
    """

    crf: int = CRF.default
    preset: str = PRESET_DEFAULT
    audio_bitrate: int = AUDIO_BITRATE.default
    mix_source_audio: bool = False
    source_audio_gain: float = 0.3  # `studio dub`'s; a project's default is the vocabulary's
    #: the output's frame height (None: the source's); frames are scaled down to it,
    #: keeping the aspect, with even dimensions (4:2:0 needs them)
    height: int | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any], height: int | None = None
                      ) -> ExportSettings:
        """The export settings of a project's settings (its ``export`` group), at an
        output ``height`` (None: the source's)."""
        e = settings["export"]
        return cls(crf=int(e["crf"]), preset=e["preset"],
                   audio_bitrate=int(e["audio_bitrate"]),
                   mix_source_audio=bool(e["mix_source_audio"]),
                   source_audio_gain=float(e["source_audio_gain"]), height=height)

    def __post_init__(self) -> None:
        if isinstance(self.crf, bool) or not isinstance(self.crf, int):
            raise ValueError(f"crf must be a whole number from 0 to 51, got {self.crf!r}")
        CRF.check(self.crf)
        if self.preset not in X264_PRESETS:
            raise ValueError(
                f"preset must be one of {', '.join(X264_PRESETS)}; got {self.preset!r}"
            )
        if isinstance(self.audio_bitrate, bool) or not isinstance(self.audio_bitrate, int):
            raise ValueError(f"audio_bitrate must be a whole number, got {self.audio_bitrate!r}")
        AUDIO_BITRATE.check(self.audio_bitrate)
        gain = self.source_audio_gain
        if isinstance(gain, bool) or not isinstance(gain, int | float) or not math.isfinite(gain):
            raise ValueError(f"source_audio_gain must be a number, got {gain!r}")
        SOURCE_AUDIO_GAIN.check(gain)
        if self.height is not None and (isinstance(self.height, bool)
                                        or not isinstance(self.height, int)
                                        or self.height < 16):
            raise ValueError(f"height must be a whole number of pixels from 16, "
                             f"got {self.height!r}")
