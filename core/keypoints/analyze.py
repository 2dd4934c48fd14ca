"""Track a clip once and cache its keypoints, resuming an interrupted run.

While tracking, raw points go into ``<key>.partial/`` in chunks, with a progress file
written after each chunk, so a killed run picks up at the last chunk. When every frame is
tracked the clip is decomposed and the finished cache is renamed into place in one step.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_json
from core.errors import Cancelled, NoFaceError
from core.keypoints.cache import CacheInvalid, KeypointCache, remove_folder
from core.keypoints.decompose import decompose
from core.keypoints.regions import load_regions
from core.tracking.base import FaceCandidate, Tracker, get_tracker
from core.tracking.gaps import fill_gaps
from core.tracking.human import human_face_score, is_human
from core.tracking.selection import Box, FaceSelector

MAX_FACES = 4


@dataclass
class KeypointAnalysis:
    """What an analysis run did, for the summary the user sees."""

    cache: KeypointCache
    from_cache: bool
    tracked_now: int = 0
    resumed_at: int | None = None
    rebuilt_reason: str | None = None
    seconds: float = 0.0
    gaps: list[tuple[int, int]] = field(default_factory=list)

    @property
    def face_share(self) -> float:
        """Share of frames with a face found (tracked or filled in)."""
        return float((np.asarray(self.cache.validity) > 0).mean())


def cache_key(
    media_hash: str, tracker: Tracker, face_index: int | None, face_box: Box | None
) -> str:
    key = f"{media_hash}-{tracker.name}-{tracker.version}"
    if face_index:
        key += f"-face{face_index}"
    if face_box is not None:
        key += "-box" + "_".join(str(int(v)) for v in face_box)
    return key


def analyze_keypoints(
    source,
    *,
    media_hash: str,
    root: Path,
    tracker: Tracker | None = None,
    face_index: int | None = None,
    face_box: Box | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    chunk: int = 32,
) -> KeypointAnalysis:
    """Keypoints of every frame of ``source``, from the cache under ``root`` if present."""
    started = time.perf_counter()
    tracker = tracker or get_tracker("mediapipe")
    key = cache_key(media_hash, tracker, face_index, face_box)
    base = Path(root) / "keypoints"
    final = base / key
    expect = {"media_hash": media_hash, "tracker": tracker.name,
              "tracker_version": tracker.version, "frames": source.frame_count}
    rebuilt = None
    if final.exists():
        try:
            cache = KeypointCache.open(final, expect)
            return KeypointAnalysis(cache, from_cache=True, gaps=cache.gaps,
                                    seconds=time.perf_counter() - started)
        except CacheInvalid as exc:
            rebuilt = str(exc)
            remove_folder(final)

    partial = base / f"{key}.partial"
    run = _PartialRun.open_or_create(partial, source.frame_count, tracker, media_hash)
    resumed_at = run.frames_done or None
    tracked_now = run.track(source, tracker, FaceSelector(face_index, face_box), progress,
                            cancel, chunk)

    found = np.asarray(run.found, dtype=bool)
    if not found.any():
        run.discard()
        what = "the image" if getattr(source, "is_image", False) else \
            f"any of its {source.frame_count} frames"
        raise NoFaceError(source.path, f"no human face found in {what}")
    human = human_face_score(source, run.points, found)
    if not is_human(human):
        run.discard()
        raise NoFaceError(source.path, "no human face found (a face-like shape was found but "
                          f"it does not look human, score {human:.2f})")
    points, validity, gaps = fill_gaps(np.asarray(run.points, dtype=np.float64), found)
    dec = decompose(points, validity, load_regions(tracker.name))
    meta = dict(expect, fps=source.fps, width=source.width, height=source.height,
                gaps=[list(g) for g in gaps], source=str(source.path),
                human_score=round(human, 4),
                created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    tmp = base / f"{key}.tmp-{os.getpid()}"
    remove_folder(tmp)
    KeypointCache.write(tmp, dec, meta)
    os.replace(tmp, final)
    run.discard()
    cache = KeypointCache.open(final, expect)
    return KeypointAnalysis(cache, from_cache=False, tracked_now=tracked_now,
                            resumed_at=resumed_at, rebuilt_reason=rebuilt, gaps=gaps,
                            seconds=time.perf_counter() - started)


class _PartialRun:
    """Raw tracked points of an unfinished analysis, flushed chunk by chunk."""

    def __init__(self, folder: Path, state: dict) -> None:
        self.folder = folder
        self.state = state
        mode = "r+"
        self.points = np.load(folder / "points.npy", mmap_mode=mode)
        self.found = np.load(folder / "found.npy", mmap_mode=mode)

    @property
    def frames_done(self) -> int:
        return int(self.state["frames_done"])

    @classmethod
    def open_or_create(cls, folder: Path, frames: int, tracker: Tracker, media_hash: str):
        state = {"frames": frames, "points": tracker.n_points, "tracker": tracker.name,
                 "tracker_version": tracker.version, "media_hash": media_hash}
        try:
            saved = json.loads((folder / "progress.json").read_text())
            if all(saved.get(k) == v for k, v in state.items()):
                return cls(folder, saved)
        except (OSError, ValueError):
            pass
        remove_folder(folder)
        folder.mkdir(parents=True)
        np.lib.format.open_memmap(folder / "points.npy", mode="w+", dtype=np.float32,
                                  shape=(frames, tracker.n_points, 3)).flush()
        np.lib.format.open_memmap(folder / "found.npy", mode="w+", dtype=np.uint8,
                                  shape=(frames,)).flush()
        state["frames_done"] = 0
        atomic_write_json(folder / "progress.json", state)
        return cls(folder, state)

    def track(self, source, tracker: Tracker, selector: FaceSelector, progress, cancel,
              chunk: int) -> int:
        start = self.frames_done
        total = source.frame_count
        if start >= total:
            return 0
        if start > 0:  # keep following the same face after a resume
            seen = np.flatnonzero(np.asarray(self.found[:start]))
            if len(seen):
                selector.last = FaceCandidate(np.asarray(self.points[seen[-1]])).box
        session = tracker.open_session(static=bool(getattr(source, "is_image", False)),
                                       max_faces=MAX_FACES)
        done = start
        try:
            for i, frame in source.frames(start):
                face = selector.pick(session.detect(frame))
                if face is not None:
                    self.points[i] = face.points
                    self.found[i] = 1
                done = i + 1
                if done % chunk == 0 or done == total:
                    self._commit(done)
                    if progress:
                        progress(done, total)
                if cancel and cancel():
                    self._commit(done)
                    raise Cancelled()
        finally:
            session.close()
        if done < total:  # decoder ended early: the rest of the timeline has no picture
            self._commit(total)
        return done - start

    def _commit(self, done: int) -> None:
        self.points.flush()
        self.found.flush()
        self.state["frames_done"] = done
        atomic_write_json(self.folder / "progress.json", self.state)

    def discard(self) -> None:
        del self.points, self.found
        remove_folder(self.folder)
