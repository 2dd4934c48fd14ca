"""``studio weights fetch``: the official LivePortrait files from Hugging Face.

Only the five checkpoints the renderer needs are downloaded (about 500 MB), with
huggingface_hub's own progress bars, into ``liveportrait/`` under the destination; each
file lands under a temporary name and is renamed when complete (huggingface_hub's
download does that). The result is then loaded strictly, as the renderer would.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import StudioError
from core.render.liveportrait.weights import FILES, HF_REPO, HF_SUBFOLDER, checkpoint_paths


class FetchError(StudioError):
    """The weights could not be downloaded."""


def fetch_weights(dest: str | Path, *, revision: str | None = None) -> Path:
    """Download the official checkpoints into ``dest`` (the official layout) and check that
    they load; returns ``dest``. Fails with one clear line when offline."""
    dest = Path(dest).expanduser()
    try:
        import huggingface_hub
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise FetchError(None, "fetching weights needs huggingface_hub: pip install "
                               "huggingface_hub (or name a folder that already holds the "
                               "official files with --weights)") from exc
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    patterns = [f"{HF_SUBFOLDER}/{rel}" for rel in FILES.values()]
    errors = huggingface_hub.errors
    offline = (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, ConnectionError,
               TimeoutError, OSError)
    try:
        snapshot_download(repo_id=HF_REPO, allow_patterns=patterns, local_dir=dest,
                          revision=revision)
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as exc:
        _tidy(dest, created)
        raise FetchError(dest, f"huggingface.co has no {HF_REPO} at that revision "
                               f"({type(exc).__name__})") from exc
    except Exception as exc:  # the HTTP client's own errors vary between versions
        _tidy(dest, created)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        why = "offline, or the site is unreachable" if isinstance(exc, offline) or any(
            w in type(exc).__name__ for w in ("Connect", "Timeout", "Network")) else "failed"
        raise FetchError(dest, f"cannot download the LivePortrait weights from huggingface.co "
                               f"({why}: {first}). On a machine with internet run `studio "
                               "weights fetch --to DIR`, copy DIR here and pass --weights DIR"
                         ) from exc
    checkpoint_paths(dest)
    return dest


def _tidy(dest: Path, created: bool) -> None:
    """Remove the destination again if this fetch made it and nothing landed in it."""
    if created:
        try:
            dest.rmdir()
        except OSError:
            pass
