"""Where a command may write: never over one of its inputs or the project's own files.

Every command that writes a file (``studio dub``, ``studio export``, ``studio train``, the
window's export) asks :func:`check_output` before any work starts. It compares the output
with every input and with the project's files both by resolved path (so ``a/../b`` and
symbolic links count) and with :func:`os.path.samefile` (so hard links count too), and
refuses a place inside the project's ``cache/`` (which the studio deletes and rewrites) or
``models/`` (the trained adapters; only training writes there). The refusal is one line
naming the output and what it would have destroyed.

A video's container comes from the output's extension: ``.mp4``, ``.mov`` or ``.mkv``; any
other is refused at the door rather than written as MP4 data under a misleading name
(``.avi`` cannot hold the AAC sound every player expects, so it is refused too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from core.errors import StudioError

#: Output extension -> FFmpeg muxer.
VIDEO_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
MODEL_SUFFIX = ".safetensors"
PROJECT_FILES = {"project.json": "project file", "project.autosave.json": "project's autosave"}


def video_container(path: str | Path) -> str:
    """The FFmpeg muxer for a video output, chosen by its extension; StudioError if none."""
    p = Path(path)
    fmt = VIDEO_CONTAINERS.get(p.suffix.lower())
    if fmt is None:
        what = f"a {p.suffix} file" if p.suffix else "a file without an extension"
        raise StudioError(p, f"cannot write {what}: the studio writes H.264 + AAC video as "
                             f"{', '.join(VIDEO_CONTAINERS)}; name the output with one of them")
    return fmt


def check_output_folder(path: str | Path, what: str = "the video") -> Path:
    """Fail now, in the user's words, if nothing could be saved at ``path``."""
    p = Path(path)
    if p.is_dir():
        raise StudioError(p, f"is a folder; choose a file name for {what}")
    folder = p.parent
    if not folder.exists():
        raise StudioError(p, f"folder {folder} does not exist")
    if not folder.is_dir():
        raise StudioError(p, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StudioError(p, f"folder {folder} is read-only (no permission to write in it)")
    return p


def _real(path: Path) -> Path:
    return Path(os.path.normcase(os.path.realpath(path)))


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file: by resolved path, or by inode if both exist."""
    a, b = Path(a), Path(b)
    try:
        if os.path.samefile(a, b):
            return True
    except (OSError, ValueError):
        pass
    try:
        return _real(a) == _real(b)
    except (OSError, ValueError):
        return False


def inside(path: str | Path, folder: str | Path) -> bool:
    """True when ``path`` lies in ``folder`` (resolved; the folder itself counts)."""
    try:
        p, f = _real(Path(path)), _real(Path(folder))
    except (OSError, ValueError):
        return False
    return p == f or f in p.parents


def check_output(
    path: str | Path,
    inputs: Mapping[str, str | Path | None] | Iterable[tuple[str, str | Path | None]] = (),
    *,
    project_folder: str | Path | None = None,
    models_allowed: bool = False,
    what: str = "the video",
) -> Path:
    """Refuse ``path`` as an output if it is (or would write into) an input or project file.

    ``inputs`` maps what each input is to the user ("source", "dub", "edits file") to its
    path (None entries are skipped). With ``project_folder``, its ``project.json``, autosave,
    ``cache/`` and (unless ``models_allowed``) ``models/`` are protected too. Also checks
    that the folder exists and is writable. Returns the path.
    """
    out = Path(path)
    pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
    for role, given in pairs:
        if given is not None and same_file(out, given):
            raise StudioError(out, f"is the {role} ({given}); writing there would destroy it. "
                                   "Choose another output file")
    if project_folder is not None:
        folder = Path(project_folder)
        for name, role in PROJECT_FILES.items():
            if same_file(out, folder / name):
                raise StudioError(out, f"is the {role}; writing there would destroy the "
                                       "project. Choose another output file")
        places = [("cache", "its working files")]
        if not models_allowed:
            places.append(("models", "its trained models"))
        for sub, held in places:
            if inside(out, folder / sub):
                raise StudioError(out, f"is inside the project's {sub}/ folder, which holds "
                                       f"{held}; choose a place outside it")
    return check_output_folder(out, what)
