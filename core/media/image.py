"""Still images as one-frame sources, so a portrait photo drives the same pipeline as a video.

OpenCV decodes them: its ``IMREAD_COLOR*`` modes apply the EXIF orientation (checked for
OpenCV 4.11 in ``tests/test_media.py``), turn grey into three channels, drop alpha and
reduce 16-bit images to 8 bits. The bytes are read by Python and decoded from memory so
paths with non-ASCII characters work on every platform.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from core.errors import MediaError
from core.media.video import _check_path, resize_frame

DEFAULT_IMAGE_FPS = 25.0

_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"BM",  # BMP
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)


def looks_like_image(path: str | Path) -> bool:
    """True when the file starts like a JPEG, PNG, WebP, BMP or TIFF, whatever its name."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


class ImageSource:
    """A still image seen as a one-frame timeline."""

    def __init__(self, path: str | Path, *, fps: float = DEFAULT_IMAGE_FPS) -> None:
        self._path = _check_path(path)
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self._rate = Fraction(fps).limit_denominator(1001)
        try:
            data = np.fromfile(self._path, dtype=np.uint8)
        except OSError as err:
            raise MediaError(self._path, f"cannot be read ({err.strerror or err})") from err
        rgb = cv2.imdecode(data, cv2.IMREAD_COLOR_RGB)
        if rgb is None:
            raise MediaError(self._path, "is not an image OpenCV can read (JPEG, PNG, WebP, BMP)")
        rgb = np.ascontiguousarray(rgb)
        rgb.flags.writeable = False
        self._rgb: np.ndarray | None = rgb
        self._height, self._width = rgb.shape[:2]
        self._timestamps = np.zeros(1)
        self._timestamps.flags.writeable = False

    @property
    def path(self) -> Path:
        return self._path

    @property
    def frame_count(self) -> int:
        return 1

    @property
    def fps(self) -> float:
        return float(self._rate)

    @property
    def frame_rate(self) -> Fraction:
        return self._rate

    @property
    def duration(self) -> float:
        return 1 / self.fps

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def rotation(self) -> int:
        """Always 0: the EXIF orientation is already applied to the pixels."""
        return 0

    @property
    def has_audio(self) -> bool:
        return False

    @property
    def is_image(self) -> bool:
        return True

    @property
    def truncated(self) -> bool:
        return False

    @property
    def timestamps(self) -> np.ndarray:
        return self._timestamps

    def frame(
        self, i: int = 0, *, size: tuple[int, int] | None = None, max_side: int | None = None
    ) -> np.ndarray:
        """The image as HxWx3 uint8 RGB (read-only at full size), optionally downscaled."""
        if i != 0:
            raise IndexError(f"frame {i} is outside 0..0 of {self._path.name}")
        if self._rgb is None:
            raise ValueError(f"{self._path}: image is closed")
        return resize_frame(self._rgb, size, max_side)

    def frames(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        size: tuple[int, int] | None = None,
        max_side: int | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The one frame, when ``start..stop`` covers it."""
        if start <= 0 and (stop is None or stop > 0):
            yield 0, self.frame(0, size=size, max_side=max_side)

    def close(self) -> None:
        """Drop the pixels; safe to call twice."""
        self._rgb = None

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"ImageSource({str(self._path)!r}, {self.width}x{self.height})"


def open_image(path: str | Path, *, fps: float = DEFAULT_IMAGE_FPS) -> ImageSource:
    """Open a still image; raises MediaError naming the file if it cannot be decoded."""
    return ImageSource(path, fps=fps)
