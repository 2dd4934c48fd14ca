"""All media input, through FFmpeg (PyAV) for video and audio and OpenCV for still images."""

from core.media.audio import (
    DEFAULT_SAMPLE_RATE,
    Audio,
    is_silent,
    load_audio,
    peak_rms_dbfs,
    rms_envelope,
)
from core.media.image import DEFAULT_IMAGE_FPS, ImageSource, looks_like_image, open_image
from core.media.source import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Source,
    is_audio_path,
    is_image_path,
    is_video_path,
    open_media,
)
from core.media.video import DEFAULT_CACHE_FRAMES, VideoSource, open_video, resize_frame

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_CACHE_FRAMES",
    "DEFAULT_IMAGE_FPS",
    "DEFAULT_SAMPLE_RATE",
    "IMAGE_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Audio",
    "ImageSource",
    "Source",
    "VideoSource",
    "is_audio_path",
    "is_image_path",
    "is_silent",
    "is_video_path",
    "load_audio",
    "looks_like_image",
    "open_image",
    "open_media",
    "open_video",
    "peak_rms_dbfs",
    "resize_frame",
    "rms_envelope",
]
