"""Is this file what it is meant to be? Checked when a file enters a project or a command.

A quick look (the container's streams, an image's header), never a decode of the whole
file, so a JPEG given as the voice track, a text file given as the source or audio at a
rate no player handles are refused at the door with one line naming the file, not
minutes later in the middle of an export.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import MediaError, TranscriptError

#: The highest audio sample rate the studio reads (FFmpeg's resampler and AAC top out
#: around here; 768 kHz files exist but nothing plays them).
MAX_SAMPLE_RATE = 384_000
MIN_SAMPLE_RATE = 1_000
TEXT_SUFFIXES = (".txt", ".srt", ".vtt")


def check_audio(path: str | Path) -> None:
    """A file with an audio track at a sample rate the studio reads, or a MediaError."""
    from core.media.image import looks_like_image
    from core.media.video import _check_path, _open_container

    p = _check_path(path)
    if looks_like_image(p):
        raise MediaError(p, "is a picture, not sound: the voice track must be an audio file "
                            "(wav, mp3, m4a, flac, ...) or a video with sound")
    container = _open_container(p)
    try:
        if not container.streams.audio:
            raise MediaError(p, "has no audio track: the voice track must be an audio file "
                                "(wav, mp3, m4a, flac, ...) or a video with sound")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
    finally:
        container.close()
    check_sample_rate(p, rate)


def check_sample_rate(path: Path, rate: int) -> None:
    if rate <= 0:
        raise MediaError(path, "the audio track has no sample rate")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise MediaError(path, f"audio at {rate} Hz: the studio reads {MIN_SAMPLE_RATE} to "
                               f"{MAX_SAMPLE_RATE} Hz; resample it (48000 Hz is standard)")


def check_picture(path: str | Path) -> str:
    """A video with a picture stream, or an image OpenCV reads; returns its kind."""
    from core.media.image import looks_like_image, open_image
    from core.media.video import _check_path, _open_container, _picture_streams

    p = _check_path(path)
    if looks_like_image(p):
        open_image(p).close()
        return "image"
    container = _open_container(p)
    try:
        has_picture = bool(_picture_streams(container))
    finally:
        container.close()
    if not has_picture:
        raise MediaError(p, "has no picture: the source must be a video or a portrait image")
    return "video"


def check_transcript(path: str | Path) -> str:
    """The text of a .txt, .srt or .vtt transcript, or a TranscriptError naming it."""
    from core.align.text import read_transcript

    p = Path(path)
    if p.suffix.lower() not in TEXT_SUFFIXES:
        raise TranscriptError(p, f"not a transcript: use a {', '.join(TEXT_SUFFIXES)} file "
                                 "(UTF-8 text)")
    return read_transcript(p)


def check_kind(path: str | Path, kind: str) -> None:
    """Check ``path`` against a media kind: video, image, audio or text."""
    if kind == "audio":
        check_audio(path)
    elif kind == "text":
        check_transcript(path)
    elif kind == "image":
        from core.media.image import open_image

        open_image(path).close()
    elif kind == "video":
        check_picture(path)
    else:
        raise ValueError(f"unknown media kind {kind!r}")
