"""The user's vocabulary, defined once: each control's range, step and default; the
emotion regions and the emotions.

The project schema (:mod:`core.project.schema`), the take's options
(:class:`core.take.DubOptions`), the window's sliders and the command line's options are
all built from these definitions, so a range is written here and nowhere else. Adding an
emotion region is one entry in :data:`REGION_PARTS` plus its index sets in
``resources/regions/<tracker>.json`` (and its rows in ``resources/emotions/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Control:
    """One numeric control: its limits (``hi`` None: no upper limit), default and step."""

    lo: float
    hi: float | None
    default: Any
    step: float = 0.01
    integer: bool = False
    #: how errors name it ("alpha", "beta (loudness)") and its unit (" frames", " s")
    what: str = ""
    unit: str = ""
    label: str = ""  # the window's row label
    tip: str = ""  # the window's tool tip and the command line's help
    fmt: str = "{:.2f}"  # how the window prints its value

    def check(self, value: float) -> None:
        """ValueError naming the control when ``value`` is outside its range."""
        hi = float("inf") if self.hi is None else self.hi
        if self.lo <= value <= hi:
            return
        if self.integer and self.hi is not None and self.lo == -self.hi:
            raise ValueError(f"{self.what} must be within ±{self.hi:g}{self.unit}, "
                             f"got {value}")
        raise ValueError(f"{self.what} must be from {self.lo:g} to {hi:g}{self.unit}, "
                         f"got {value}")


#: The take's global controls (settings of the same name in a project).
ALPHA = Control(0, 2, 1.0, what="alpha", label="α mouth",
                tip="mouth scale α: 0 closed, 1 nominal, 2 exaggerated")
BETA = Control(0, 2, 0.0, what="beta (loudness)", label="β loudness",
               tip="loudness β: how much the dub's loudness scales the lips")
SMOOTHING = Control(0, 10, 0.5, step=0.1, what="smoothing", unit=" frames", label="smoothing",
                    tip="smoothing of the motion, in frames", fmt="{:.1f}")
AV_OFFSET = Control(-10, 10, 0, step=1, integer=True, what="av offset", unit=" frames",
                    label="A/V offset",
                    tip="move the lips by this many frames (+ later, - earlier)")
WORD_RAMP_MS = Control(0, 1000, 40.0, step=1, what="word ramp", unit=" ms")
#: A word's style (per-word edits).
WORD_SHAPE = Control(0, 3, 1.0, what="word shape")  # open, wide, round
WORD_ALPHA = Control(0, 2, None, what="word alpha", label="own α")
#: An emotion clip's strength and fades.
INTENSITY = Control(0, 1.5, 1.0, what="intensity")
FADE = Control(0, None, 0.0, what="fade", unit=" s", fmt="{:.2f} s")
FADE_SLIDER_MAX = 2.0  # the window's fade sliders end here; a file may hold longer fades
#: Export.
CRF = Control(0, 51, 18, step=1, integer=True, what="crf", tip="H.264 quality, 0-51")
AUDIO_BITRATE = Control(32000, 512000, 192000, step=1000, integer=True, what="audio_bitrate",
                        unit=" bit/s")
SOURCE_AUDIO_GAIN = Control(0, 2, 0.5, what="source_audio_gain")
#: x264's presets, fastest first (``x264 --help``), and a project's default: on talking
#: faces at CRF 18, "faster" gives medium's file size within 2 % and 0.2-0.3 dB less PSNR
#: (at 38-43 dB) in two thirds of the time (``bench/encoder_presets.py``).
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
PRESET_DEFAULT = "faster"

#: The take's global controls by their settings key.
GLOBAL_CONTROLS: dict[str, Control] = {
    "alpha": ALPHA, "beta": BETA, "smoothing": SMOOTHING, "av_offset_frames": AV_OFFSET,
}
LONGER = ("pingpong", "hold")  # when the dub outlasts the video
SHORTER = ("silent", "trim")  # when the video outlasts the dub

#: Emotion regions, each made of the tracker's region sets (resources/regions/*.json), and
#: the weight of its points that border skin outside every emotion region (the soft edge).
REGION_PARTS: dict[str, tuple[tuple[str, ...], float]] = {
    "brows": (("left_brow", "right_brow"), 1.0),
    "eyes": (("left_eye", "right_eye"), 1.0),
    "mouth": (("mouth",), 1.0),
    "cheeks": (("cheeks",), 0.5),
}
REGIONS: tuple[str, ...] = tuple(REGION_PARTS)
#: The emotion presets (rows of resources/emotions/<tracker>.json); neutral first.
EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contemptuous",
)
