"""The lip drivers a take can be driven by, by name: one protocol, one factory each.

A project's ``driver`` setting and the command line's ``--driver`` name a driver:
``visemes``, ``learned`` (the lip model shipped in resources/), or a model file. A model
file's driver is found by what the file says it is (the key of its safetensors metadata),
not by how the setting is spelt: ``learned:<file>`` and ``audio2exp:<file>`` (the old
spellings, still read) and a bare ``<file>.safetensors`` all open the same way.
Factories import their backend lazily, so listing the names costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.errors import StudioError


class LipDriver(Protocol):
    """Makes the lips' motion for a take's dub (``take``: a :class:`core.take.DubTake`)."""

    #: a model that cannot serve falls back to the visemes with a warning (else: an error)
    falls_back: bool

    def motion(self, take: Any) -> Any:
        """The take's LipMotion (per-frame lip offsets and holds) for its dub."""
        ...


@dataclass(frozen=True)
class DriverEntry:
    """One registered driver: its factory(model file or None), and the metadata key that
    marks its model files (None: a driver without a model file)."""

    factory: Callable[[Path | None], LipDriver]
    metadata_key: str | None = None


class _Visemes:
    falls_back = False

    def __init__(self, model: Path | None = None) -> None:
        pass

    def motion(self, take: Any) -> Any:
        return take.viseme_lips


class _Learned:
    falls_back = True

    def __init__(self, model: Path | None = None) -> None:
        self.model = model

    def motion(self, take: Any) -> Any:
        """The lip model's motion for the dub, in this speaker's style and timing when the
        source is a video with speech (fitted on the speaker's own footage). A dub the
        analysis found no speech in (silence, music) keeps the lips at rest, as the
        visemes do."""
        import numpy as np

        from core.motion.driver import LipMotion
        from core.motion.lipsync import LearnedDriver

        fitted = take.learned_drivers  # loaded and fitted to the speaker once per take
        driver = fitted.get(self.model)
        if driver is None:
            driver = LearnedDriver.load(self.model, take.regions)
            if take.source_speech is not None and take.dub_alignment is not None:
                samples, alignment = take.source_speech
                driver.adapt(samples, take.cache.expression(),
                             np.asarray(take.cache.validity), take.cache.fps,
                             take.cache.canonical, take.regions, alignment=alignment,
                             library=take.library)
            fitted[self.model] = driver
        if take.dub_alignment is None:  # a silent dub, or no speech in it: lips at rest
            return LipMotion(np.zeros_like(take.viseme_lips.delta),
                             np.zeros_like(take.viseme_lips.hold))
        return driver.motion(take.dub.samples, take.frame_count, take.fps,
                             take.cache.canonical, take.regions,
                             alignment=take.dub_alignment, library=take.library)


class _Audio2Exp:
    falls_back = False

    def __init__(self, model: Path | None) -> None:
        if model is None:
            raise ValueError("the audio2exp driver needs its model file")
        self.model = model

    def motion(self, take: Any) -> Any:
        from core.motion.audio2exp import Audio2ExpDriver

        adapter = Audio2ExpDriver.load(self.model, take.regions)
        expression = take.cache.expression(take.source_index)
        # a residual adapter corrects its base driver (the lip model, or the visemes of
        # an older adapter) on the dub's own sound and phones
        return adapter.motion(take.dub, expression, take.lip_weight, take.frame_count,
                              take.fps, alignment=take.dub_alignment, library=take.library,
                              canonical=take.cache.canonical, regions=take.regions)


#: name → entry. A backend is one file plus one entry here (or a call to register_driver).
DRIVERS: dict[str, DriverEntry] = {
    "learned": DriverEntry(_Learned, "lipsync"),
    "visemes": DriverEntry(_Visemes),
    "audio2exp": DriverEntry(_Audio2Exp, "audio2exp"),
}
DEFAULT = "learned"  # the lip model shipped in resources/lipsync/
#: the spellings of a model-file setting kept from older projects ("learned:<file>")
MODEL_PREFIXES = ("learned:", "audio2exp:")
MODEL_SUFFIX = ".safetensors"


def register_driver(name: str, factory: Callable[[Path | None], LipDriver],
                    metadata_key: str | None = None) -> None:
    """Add a driver: ``name`` in a project's settings, or a model file whose metadata has
    ``metadata_key``, is then driven by ``factory(model file or None)``."""
    DRIVERS[name] = DriverEntry(factory, metadata_key)


def driver_names() -> tuple[str, ...]:
    """The drivers a setting may name without a model file."""
    return tuple(n for n, e in DRIVERS.items() if e.metadata_key is None or n == DEFAULT)


def model_file(setting: str) -> str | None:
    """The model file a driver setting names (as written), or None for a named driver."""
    for prefix in MODEL_PREFIXES:
        if setting.startswith(prefix):
            return setting[len(prefix):]
    if setting not in DRIVERS and setting.lower().endswith(MODEL_SUFFIX):
        return setting
    return None


def file_kind(path: str | Path) -> str:
    """The registered driver a model file is for, by the key in its safetensors metadata;
    StudioError naming the file when it is missing, unreadable or of no known driver."""
    from core.safemeta import safetensors_metadata

    p, meta = safetensors_metadata(path, missing="no such lip model file",
                                   unreadable="not a readable lip model (corrupt or truncated")
    for name, entry in DRIVERS.items():
        if entry.metadata_key is not None and entry.metadata_key in meta:
            return name
    raise StudioError(p, "not a lip model (no lipsync or audio2exp description in the file)")


def driver_kind(setting: str, fallback: bool = False) -> str:
    """The registered driver a setting means: its name, or its model file's kind. With
    ``fallback``, an unreadable file counts as its old prefix's kind (``learned`` without
    one), so that driver's own loader names the problem."""
    model = model_file(setting)
    if model is None:
        if setting not in DRIVERS:
            raise ValueError(f"unknown driver {setting!r}; use "
                             f"{', '.join(driver_names())} or a model file")
        return setting
    try:
        return file_kind(model)
    except StudioError:
        if not fallback:
            raise
        return setting.split(":", 1)[0] if setting.startswith(MODEL_PREFIXES) else DEFAULT


def create_driver(setting: str) -> LipDriver:
    """The driver a setting (model paths absolute) names."""
    model = model_file(setting)
    kind = driver_kind(setting, fallback=True)
    return DRIVERS[kind].factory(None if model is None else Path(model))
