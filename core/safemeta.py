"""The description block of a safetensors model file, read without loading its weights.

Every model the studio reads (the lip model, the fine-tuned adapters, the driver registry's
check of what a file is) opens the file's metadata the same way, and a missing or damaged
file is refused the same way: one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import StudioError


def safetensors_metadata(path: str | Path, *, missing: str, unreadable: str
                         ) -> tuple[Path, dict[str, str]]:
    """(the path, its metadata) of a safetensors file; StudioError naming the file with
    ``missing`` when there is no such file, and ``unreadable`` plus the reader's complaint
    when it is not a readable safetensors file."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    if not p.is_file():
        raise StudioError(p, missing)
    try:
        with safe_open(str(p), framework="pt") as f:
            return p, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise StudioError(p, f"{unreadable}: {exc})") from None
