"""The face trackers, by name: one protocol (:class:`core.tracking.base.Tracker`), one
factory each. A project (``settings.tracker``) and the command line (``--tracker``) choose
by name; factories import their backend lazily, so listing the names costs nothing."""

from __future__ import annotations

from collections.abc import Callable

from core.tracking.base import Tracker


def _mediapipe() -> Tracker:
    from core.tracking.mediapipe_tracker import MediaPipeTracker

    return MediaPipeTracker()


def _face_alignment() -> Tracker:
    from core.tracking.face_alignment_tracker import FaceAlignmentTracker

    return FaceAlignmentTracker()


#: name → factory(). A backend is one file plus one entry here (or register_tracker).
FACTORIES: dict[str, Callable[[], Tracker]] = {"mediapipe": _mediapipe,
                                               "face_alignment": _face_alignment}
ALIASES = {"face-alignment": "face_alignment"}
DEFAULT = "mediapipe"


#: the module of each backend, to import ahead of the first analysis
MODULES = {"mediapipe": "core.tracking.mediapipe_tracker",
           "face_alignment": "core.tracking.face_alignment_tracker"}


def load_backend(name: str = DEFAULT) -> None:
    """Import a backend's module without making a tracker (a head start)."""
    import importlib

    module = MODULES.get(ALIASES.get(name, name))
    if module is not None:
        importlib.import_module(module)


def register_tracker(name: str, factory: Callable[[], Tracker]) -> None:
    FACTORIES[name] = factory


def tracker_names() -> tuple[str, ...]:
    return tuple(FACTORIES)


def get_tracker(name: str = DEFAULT) -> Tracker:
    """The tracker called ``name``: ``mediapipe`` (default) or ``face_alignment``."""
    factory = FACTORIES.get(ALIASES.get(name, name))
    if factory is None:
        raise ValueError(f"unknown tracker {name!r}: choose {' or '.join(FACTORIES)}")
    return factory()
