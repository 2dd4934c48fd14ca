"""One entry point for whatever the user drops on the studio: a video or a still image.

The :class:`Source` protocol is what the rest of the studio codes against, so trackers and
the editor never ask which kind they hold except through ``is_image``.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from core.errors import MediaError
from core.media.image import ImageSource, looks_like_image, open_image
from core.media.video import VideoSource, open_video

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".3gp",
        ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".ogv", ".gif",
    }
)  # fmt: skip
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff"}
)
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS | AUDIO_EXTENSIONS


@runtime_checkable
class Source(Protocol):
    """What :class:`VideoSource` and :class:`ImageSource` share."""

    @property
    def path(self) -> Path: ...
    @property
    def frame_count(self) -> int: ...
    @property
    def fps(self) -> float: ...
    @property
    def frame_rate(self) -> Fraction: ...
    @property
    def duration(self) -> float: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def rotation(self) -> int: ...
    @property
    def has_audio(self) -> bool: ...
    @property
    def is_image(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def timestamps(self) -> np.ndarray: ...

    def frame(
        self, i: int, *, size: tuple[int, int] | None = None, max_side: int | None = None
    ) -> np.ndarray: ...

    def frames(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        size: tuple[int, int] | None = None,
        max_side: int | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]: ...

    def close(self) -> None: ...
    def __enter__(self) -> Source: ...
    def __exit__(self, *exc: object) -> None: ...


def _suffix(path: str | Path) -> str:
    return Path(path).suffix.lower()


def is_video_path(path: str | Path) -> bool:
    """By extension only; for file dialogs and drag-and-drop filters."""
    return _suffix(path) in VIDEO_EXTENSIONS


def is_image_path(path: str | Path) -> bool:
    """By extension only; for file dialogs and drag-and-drop filters."""
    return _suffix(path) in IMAGE_EXTENSIONS


def is_audio_path(path: str | Path) -> bool:
    """By extension only; for file dialogs and drag-and-drop filters."""
    return _suffix(path) in AUDIO_EXTENSIONS


def open_media(path: str | Path) -> VideoSource | ImageSource:
    """Open a video or an image, deciding by the file's first bytes before its name.

    A file that starts like an image is an image. One only named like an image is tried as
    an image first and then handed to FFmpeg, which reads more formats (and renamed videos).
    """
    p = Path(path)
    sniffed = looks_like_image(p)
    if sniffed or is_image_path(p):
        try:
            return open_image(p)
        except MediaError:
            if sniffed or not p.is_file():
                raise
    return open_video(p)
