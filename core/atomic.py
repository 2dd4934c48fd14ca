"""Atomic writes: a file is either the old one or the new one, never half of each.

Every output is written to a hidden temporary file beside it, named ``.<name>.<8 hex>.tmp``
(``.<name>.<8 hex>.partial.<ext>`` for a video), and renamed over it once complete. The
writer holds an advisory lock (``flock``) on its temporary file for as long as it writes,
and the kernel drops that lock when the writer dies, even by SIGKILL. So
:func:`sweep_temp_files` can tell a temporary file left by a killed run (nobody holds its
lock) from one another process is writing right now, and removes only the first kind.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; sweeping goes by age instead
    fcntl = None  # type: ignore[assignment]

#: The names of the studio's own temporary files: ``.<name>.<token>.tmp`` (``<token>``: 8
#: hex digits; 8 of ``[a-z0-9_]`` from older versions, made by ``tempfile.mkstemp``) and
#: ``.<name>.<8 hex>.partial.<mp4|mov|mkv>`` (a video being encoded).
TEMP_NAME = re.compile(r"^\..+\.(?:[a-z0-9_]{8}\.tmp|[0-9a-f]{8}\.partial\.(?:mp4|mov|mkv))$")
#: Without flock (Windows), a temporary file this old (seconds) is taken as abandoned.
_STALE_AGE_S = 24 * 3600.0


def create_temp(path: str | Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, empty, locked temporary file beside ``path``: ``(fd, temp path)``.

    The caller writes it (through ``fd`` or by its path), renames it into place, then closes
    ``fd`` (which releases the lock); on failure it removes the file and closes ``fd``.
    """
    path = Path(path)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        _lock(fd)
        try:  # a sweep between our create and our lock removed it: take another name
            if os.fstat(fd).st_ino == os.stat(tmp).st_ino:
                return fd, tmp
        except OSError:
            pass
        os.close(fd)
    raise FileExistsError(f"no free temporary file name beside {path}")


def _lock(fd: int) -> None:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # a file system without locks: the file is still ours by its unique name


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it into place."""
    path = Path(path)
    fd, tmp = create_temp(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    fsync_path(path.parent)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of the studio's temporary file names."""
    return bool(TEMP_NAME.match(name))


def sweep_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temporary files that killed runs left in ``folder``; returns them.

    Only files named like the studio's own (:data:`TEMP_NAME`) whose lock nobody holds are
    removed, so a save or an export running in another process keeps its file. Best effort:
    a file that cannot be looked at or removed stays.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_temp_name(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if _abandoned(Path(entry.path)):
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _abandoned(path: Path) -> bool:
    """Remove ``path`` if no live writer holds its lock; True when it was removed."""
    if fcntl is None:  # pragma: no cover - Windows
        if time.time() - path.stat().st_mtime > _STALE_AGE_S:
            path.unlink()
            return True
        return False
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # someone is writing it
        # still the same file under that name (not renamed into place meanwhile)
        if os.fstat(fd).st_ino != os.stat(path, follow_symlinks=False).st_ino:
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries after a rename, to disk; best effort."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
