"""The keypoint cache: pose and expression of every frame, on disk, memory-mapped.

One folder per (media content hash, tracker, tracker version). Each field is a ``.npy``
file opened with ``mmap_mode``, so a 10-minute clip opens instantly and pages in only the
frames that are looked at. The expression is stored as int16 in steps of 2⁻¹⁴ canonical
units, which keeps a minute of 25 fps video under 6 MB with a recomposition error far below
1e-4 of the face size. ``meta.json`` is written last, with a checksum of every field: a
folder without a valid one is not a cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_write_json
from core.hashing import file_hash
from core.keypoints.decompose import Decomposition, recompose

CACHE_VERSION = 1
EXP_QUANTUM = 2.0**-14
_EXP_LIMIT = 32767 * EXP_QUANTUM


def _fields(n_points: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {
        "rotation": ("float32", (3, 3)),
        "scale": ("float32", ()),
        "translation": ("float32", (3,)),
        "expression": ("int16", (n_points, 3)),
        "validity": ("uint8", ()),
    }


class CacheInvalid(Exception):
    """The folder is not a complete, consistent cache; the reason says why."""


class KeypointCache:
    """A finished analysis of one clip, read from disk."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        n = meta["points"]
        self._arrays = {
            name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _fields(n)
        }
        self.canonical = np.load(folder / "canonical.npy")

    # --- reading --------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return int(self.meta["frames"])

    @property
    def n_points(self) -> int:
        return int(self.meta["points"])

    @property
    def tracker(self) -> str:
        return str(self.meta["tracker"])

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """Frame ranges [start, stop) where no face could be found or filled in."""
        return [tuple(g) for g in self.meta["gaps"]]

    @property
    def rotation(self) -> np.ndarray:
        return self._arrays["rotation"]

    @property
    def scale(self) -> np.ndarray:
        return self._arrays["scale"]

    @property
    def translation(self) -> np.ndarray:
        return self._arrays["translation"]

    @property
    def validity(self) -> np.ndarray:
        return self._arrays["validity"]

    def expression(self, frames: slice | np.ndarray = slice(None)) -> np.ndarray:
        """E_t in canonical units, float32."""
        return self._arrays["expression"][frames].astype(np.float32) * np.float32(EXP_QUANTUM)

    def points(self, frames: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The tracked keypoints K_t (pixels), recomposed from pose and expression."""
        return recompose(
            self.canonical,
            self.expression(frames),
            np.asarray(self.rotation[frames]),
            np.asarray(self.scale[frames]),
            np.asarray(self.translation[frames]),
        ).astype(np.float32)

    def points2d(self, frames: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The keypoints projected on the image: x, y in pixels."""
        return self.points(frames)[..., :2]

    def nbytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    # --- writing and opening ----------------------------------------------------------
    @staticmethod
    def write(folder: Path, dec: Decomposition, meta: dict[str, Any], chunk: int = 1024) -> None:
        """Write a finished decomposition into an empty ``folder`` (fields first, meta last)."""
        folder.mkdir(parents=True, exist_ok=True)
        t_count, n = dec.expression.shape[:2]
        np.save(folder / "canonical.npy", dec.canonical.astype(np.float32))
        sources = {
            "rotation": dec.rotation,
            "scale": dec.scale,
            "translation": dec.translation,
            "validity": dec.validity,
        }
        checksums = {}
        for name, (dtype, shape) in _fields(n).items():
            path = folder / f"{name}.npy"
            out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(t_count, *shape))
            for a in range(0, t_count, chunk):
                b = min(t_count, a + chunk)
                if name == "expression":
                    e = np.clip(dec.expression[a:b], -_EXP_LIMIT, _EXP_LIMIT)
                    out[a:b] = np.round(e / EXP_QUANTUM).astype(np.int16)
                else:
                    out[a:b] = sources[name][a:b]
            out.flush()
            del out
            checksums[name] = file_hash(path)
        checksums["canonical"] = file_hash(folder / "canonical.npy")
        meta = dict(meta, version=CACHE_VERSION, frames=t_count, points=n, checksums=checksums,
                    exp_quantum=EXP_QUANTUM)
        atomic_write_json(folder / "meta.json", meta)

    @classmethod
    def open(cls, folder: Path, expect: dict[str, Any] | None = None) -> KeypointCache:
        """Open and validate a cache folder; raise CacheInvalid if anything is off."""
        try:
            return cls._open(folder, expect)
        except CacheInvalid:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage means: not a usable cache
            raise CacheInvalid(f"damaged ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _open(cls, folder: Path, expect: dict[str, Any] | None) -> KeypointCache:
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise CacheInvalid("no meta.json (unfinished or not a cache)")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise CacheInvalid(f"meta.json unreadable: {exc}") from exc
        if not isinstance(meta, dict):
            raise CacheInvalid("meta.json is not an object")
        if meta.get("version") != CACHE_VERSION:
            raise CacheInvalid(f"cache version {meta.get('version')} != {CACHE_VERSION}")
        for key, value in (expect or {}).items():
            if meta.get(key) != value:
                raise CacheInvalid(f"{key} is {meta.get(key)!r}, expected {value!r}")
        try:
            t_count, n = int(meta["frames"]), int(meta["points"])
            checksums = meta["checksums"]
            for name, (dtype, shape) in [*_fields(n).items(), ("canonical", ("float32", ()))]:
                path = folder / f"{name}.npy"
                if not path.is_file():
                    raise CacheInvalid(f"{name}.npy is missing")
                arr = np.load(path, mmap_mode="r")
                want = (n, 3) if name == "canonical" else (t_count, *shape)
                if arr.shape != want or arr.dtype != np.dtype(dtype):
                    raise CacheInvalid(f"{name}.npy has {arr.dtype}{arr.shape}, want {dtype}{want}")
                del arr
                if file_hash(path) != checksums.get(name):
                    raise CacheInvalid(f"{name}.npy does not match its checksum")
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheInvalid(f"meta.json is incomplete: {exc}") from exc
        return cls(folder, meta)


def remove_folder(folder: Path) -> None:
    """Delete a cache folder, tolerating a half-deleted one (or a file in its place)."""
    if folder.is_file() or folder.is_symlink():
        folder.unlink(missing_ok=True)
        return
    shutil.rmtree(folder, ignore_errors=True)
