"""Where the studio keeps its files: resources shipped in the wheel and the user cache."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "talking-face-studio"


def resources_dir() -> Path:
    """The ``resources/`` package folder (region sets, presets, sample media)."""
    import resources

    return Path(resources.__file__).resolve().parent


def user_cache_dir() -> Path:
    """Cache for one-off runs outside a project; ``STUDIO_CACHE_DIR`` overrides it."""
    override = os.environ.get("STUDIO_CACHE_DIR")
    path = Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def weights_dir() -> Path:
    """Where downloaded model weights live (``studio weights fetch``); ``STUDIO_WEIGHTS_DIR``
    overrides it. Not created here: a missing folder means nothing was fetched."""
    override = os.environ.get("STUDIO_WEIGHTS_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME)) / "weights"
