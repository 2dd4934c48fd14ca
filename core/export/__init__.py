"""Export: the edited video and its dub as an MP4 that plays everywhere."""

from core.export.settings import X264_PRESETS, ExportSettings
from core.export.writer import aac_sample_rate, check_output_path, export_mp4, frame_rate_fraction

__all__ = [
    "X264_PRESETS",
    "ExportSettings",
    "aac_sample_rate",
    "check_output_path",
    "export_mp4",
    "frame_rate_fraction",
]
