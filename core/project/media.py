"""Media references: a file named by path *and* content hash, so a moved file is found again.

Paths are absolute in memory; on disk they are relative to the project folder when the file
lies inside it (so the folder can be moved or copied whole) and absolute otherwise.
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import MediaError
from core.hashing import file_hash

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
KINDS = ("video", "image", "audio", "text")
ROLE_KINDS = {"source": ("video", "image"), "dub": ("audio",), "transcript": ("text",)}
# Folders of a project that never hold user media; skipped when searching for a moved file.
_SKIP_DIRS = {"cache", "models", "__pycache__"}


class InvalidValue(ValueError):
    """A value that breaks the project schema; the message names the key and the rule."""


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut short for a one-line message, whatever the value: a huge integer,
    a deeply nested list or a megabyte of text."""
    if type(value) is int and value.bit_length() > 64:
        return "a huge number"
    if type(value) is float:
        return f"{value:g}"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class MediaRef:
    """A media file: absolute ``path``, BLAKE2b ``hash``, ``kind`` and byte ``size``."""

    path: Path
    hash: str
    kind: str
    size: int | None = None

    @classmethod
    def from_file(cls, path: str | Path, kind: str | None = None, check: bool = True
                  ) -> MediaRef:
        """Hash an existing file; ``kind`` is found (image or video) when not given.

        With ``check`` the file must be what its kind says (a quick look, see
        :mod:`core.media.probe`): sound for audio, a picture for video or image, UTF-8
        .txt/.srt/.vtt for text; a MediaError or TranscriptError names it otherwise."""
        path = Path(path).expanduser().absolute()
        if not path.is_file():
            raise MediaError(path, "no such file")
        if check:
            from core.media.probe import check_kind, check_picture

            if kind in (None, "video"):
                kind = check_picture(path)  # a source may be either
            else:
                check_kind(path, kind)
        elif kind is None:
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
            raise InvalidValue(f"{where}: unknown field {shown(sorted(unknown)[0])}")
        path, digest, kind = data.get("path"), data.get("hash"), data.get("kind")
        if not isinstance(path, str) or not path:
            raise InvalidValue(f"{where}.path: must be a non-empty string")
        check_path_text(path, f"{where}.path")
        if not isinstance(digest, str) or len(digest) != 32 or not _is_hex(digest):
            raise InvalidValue(f"{where}.hash: must be a 32-digit hex content hash")
        if kind not in kinds:
            raise InvalidValue(f"{where}.kind: must be one of {', '.join(kinds)}, "
                               f"not {shown(kind)}")
        size = data.get("size")
        if size is not None and (type(size) is not int or size < 0):
            raise InvalidValue(f"{where}.size: must be a byte count")
        p = Path(path)
        return cls(p if p.is_absolute() else folder / p, digest, kind, size)

    def at(self, path: Path) -> MediaRef:
        return replace(self, path=path)


def shown_key(key: Any, limit: int = 40) -> str:
    """A key of the document as it stands in a dotted name (``words.3.opne``), cut short."""
    if not isinstance(key, str):
        return shown(key, limit)
    text = key.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "..."


def check_path_text(path: str, where: str, base: str = "the project folder") -> None:
    """A path as written in a project file: no NUL or undecodable characters, and a relative
    path stays inside the project folder (files outside it are stored absolute)."""
    if "\x00" in path:
        raise InvalidValue(f"{where}: contains a NUL character")
    try:
        os.fsencode(path)
    except UnicodeError:
        raise InvalidValue(f"{where}: is not a valid file name (undecodable characters)"
                           ) from None
    p = Path(path)
    if not p.is_absolute() and Path(os.path.normpath(p)).parts[:1] == ("..",):
        raise InvalidValue(f"{where}: {shown(path)} climbs out of {base}; a file "
                           "outside it is given by its absolute path")


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
