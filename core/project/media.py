"""Media references: a file named by path *and* content hash, so a moved file is found again.

Paths are absolute in memory; on disk they are relative to the project folder when the file
lies inside it (so the folder can be moved or copied whole) and absolute otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import MediaError
from core.hashing import file_hash

KINDS = ("video", "image", "audio", "text")
ROLE_KINDS = {"source": ("video", "image"), "dub": ("audio",), "transcript": ("text",)}
# Folders of a project that never hold user media; skipped when searching for a moved file.
_SKIP_DIRS = {"cache", "models", "__pycache__"}


class InvalidValue(ValueError):
    """A value that breaks the project schema; the message names the key and the rule."""


@dataclass(frozen=True)
class MediaRef:
    """A media file: absolute ``path``, BLAKE2b ``hash``, ``kind`` and byte ``size``."""

    path: Path
    hash: str
    kind: str
    size: int | None = None

    @classmethod
    def from_file(cls, path: str | Path, kind: str | None = None) -> MediaRef:
        """Hash an existing file; ``kind`` is guessed (image or video) when not given."""
        path = Path(path).expanduser().absolute()
        if not path.is_file():
            raise MediaError(path, "no such file")
        if kind is None:
            kind = guess_kind(path)
        try:
            return cls(path, file_hash(path), kind, path.stat().st_size)
        except OSError as exc:
            raise MediaError(path, f"cannot read it ({exc.strerror or exc})") from exc

    def to_json(self, folder: Path) -> dict[str, Any]:
        out: dict[str, Any] = {"path": stored_path(self.path, folder), "hash": self.hash,
                               "kind": self.kind}
        if self.size is not None:
            out["size"] = self.size
        return out

    @classmethod
    def from_json(cls, data: Any, folder: Path, where: str,
                  kinds: tuple[str, ...] = KINDS) -> MediaRef:
        if not isinstance(data, dict):
            raise InvalidValue(f"{where}: a media reference is an object with path and hash")
        unknown = set(data) - {"path", "hash", "kind", "size"}
        if unknown:
            raise InvalidValue(f"{where}: unknown field {sorted(unknown)[0]!r}")
        path, digest, kind = data.get("path"), data.get("hash"), data.get("kind")
        if not isinstance(path, str) or not path:
            raise InvalidValue(f"{where}.path: must be a non-empty string")
        if not isinstance(digest, str) or len(digest) != 32 or not _is_hex(digest):
            raise InvalidValue(f"{where}.hash: must be a 32-digit hex content hash")
        if kind not in kinds:
            raise InvalidValue(f"{where}.kind: must be one of {', '.join(kinds)}, not {kind!r}")
        size = data.get("size")
        if size is not None and (type(size) is not int or size < 0):
            raise InvalidValue(f"{where}.size: must be a byte count")
        p = Path(path)
        return cls(p if p.is_absolute() else folder / p, digest, kind, size)

    def at(self, path: Path) -> MediaRef:
        return replace(self, path=path)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def guess_kind(path: Path) -> str:
    """``"image"`` for a still picture (by its bytes), else ``"video"``."""
    from core.media.image import looks_like_image  # lazy: pulls in OpenCV

    return "image" if looks_like_image(path) else "video"


def stored_path(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (POSIX slashes) when inside it, else absolute."""
    try:
        return path.absolute().relative_to(folder.absolute()).as_posix()
    except ValueError:
        return str(path.absolute())


def _files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def is_present(ref: MediaRef) -> bool:
    """Cheap check: the file exists and, when the size is known, has that size."""
    try:
        st = ref.path.stat()
    except OSError:
        return False
    return ref.path.is_file() and (ref.size is None or st.st_size == ref.size)


def locate(ref: MediaRef, folder: Path) -> Path | None:
    """Find a file with ``ref``'s content inside ``folder``: size first, hash only on a match."""
    for path in _files(folder):
        try:
            if ref.size is not None and path.stat().st_size != ref.size:
                continue
            if file_hash(path) == ref.hash:
                return path.absolute()
        except OSError:
            continue
    return None
