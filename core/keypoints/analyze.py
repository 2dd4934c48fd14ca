"""Track a clip once and cache its keypoints, resuming an interrupted run.

While tracking, raw points go into ``<key>.partial/`` in chunks, with a progress file
written after each chunk. When every frame is tracked the clip is decomposed and the
finished cache is renamed into place in one step.

A video tracker keeps state between frames (MediaPipe looks for the face where it was in
the frame before), so a run resumed mid-way would see the next frames differently from an
uninterrupted one. Tracking is therefore done in segments of :data:`SEGMENT` frames, each
started afresh (``session.reset()``), and a killed run resumes at the start of the segment
it was in: the resumed cache is bit for bit the uninterrupted one. The face followed
across segments is the one nearest the last face picked, as within a segment.
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
from core.progress import Progress
from core.tracking.base import FaceCandidate, Tracker
from core.tracking.gaps import fill_gaps
from core.tracking.human import human_face_score, is_human
from core.tracking.registry import get_tracker
from core.tracking.selection import Box, FaceSelector

MAX_FACES = 4
#: Frames per tracking segment (a multiple of the commit chunk): a resumed run re-tracks
#: at most this many frames, and the tracker starts afresh this often (every ~10 s).
SEGMENT = 256


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


def has_cache(root: Path, media_hash: str, tracker: Tracker, face_index: int | None = None,
              face_box: Box | None = None) -> bool:
    """Whether a finished cache of these keypoints is on disk (it is still checked on use)."""
    return (Path(root) / "keypoints" / cache_key(media_hash, tracker, face_index,
                                                 face_box)).is_dir()


def analyze_keypoints(
    source,
    *,
    media_hash: str,
    root: Path,
    tracker: Tracker | None = None,
    face_index: int | None = None,
    face_box: Box | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    chunk: int = 32,
    segment: int = SEGMENT,
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

    _sweep_unfinished(base)
    partial = base / f"{key}.partial"
    run = _PartialRun.open_or_create(partial, source.frame_count, tracker, media_hash,
                                     segment)
    resumed_at = run.resume_frame() or None
    tracked_now = run.track(source, tracker, FaceSelector(face_index, face_box), progress,
                            cancel, chunk)

    found = np.asarray(run.found, dtype=bool)
    if not found.any():
        most = run.most_faces
        run.discard()
        what = "the image" if getattr(source, "is_image", False) else \
            f"any of its {source.frame_count} frames"
        if face_index and 0 < most <= face_index:
            faces = "1 face is" if most == 1 else f"{most} faces are"
            raise NoFaceError(source.path, f"face {face_index} was asked for, but no more "
                              f"than {faces} in view in {what} (faces are numbered from 0, "
                              "largest first)")
        if face_box is not None and most > 0:
            raise NoFaceError(source.path, f"no face overlaps the face box given "
                              f"({', '.join(f'{v:g}' for v in face_box)}); {most} face"
                              f"{'s' if most > 1 else ''} found elsewhere")
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
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        remove_folder(tmp)  # another run of the same clip finished first: its cache serves
    run.discard()
    cache = KeypointCache.open(final, expect)
    return KeypointAnalysis(cache, from_cache=False, tracked_now=tracked_now,
                            resumed_at=resumed_at, rebuilt_reason=rebuilt, gaps=gaps,
                            seconds=time.perf_counter() - started)


def _sweep_unfinished(base: Path) -> None:
    """Remove cache folders a killed run was writing (``<key>.tmp-<pid>`` of a dead pid)."""
    try:
        entries = list(base.glob("*.tmp-*"))
    except OSError:
        return
    for folder in entries:
        pid = folder.name.rsplit(".tmp-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            remove_folder(folder)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


class _PartialRun:
    """Raw tracked points of an unfinished analysis, flushed chunk by chunk."""

    def __init__(self, folder: Path, state: dict) -> None:
        self.folder = folder
        self.state = state
        mode = "r+"
        self.points = np.load(folder / "points.npy", mmap_mode=mode)
        self.found = np.load(folder / "found.npy", mmap_mode=mode)
        n, p = int(state["frames"]), int(state["points"])
        if self.points.shape != (n, p, 3) or self.found.shape != (n,):
            raise ValueError("the partial run's arrays do not match its progress file")

    @property
    def frames_done(self) -> int:
        return int(self.state["frames_done"])

    @property
    def segment(self) -> int:
        return int(self.state["segment"])

    @property
    def most_faces(self) -> int:
        """The most faces the tracker saw in one frame so far."""
        return int(self.state.get("most_faces", 0))

    def resume_frame(self) -> int:
        """Where tracking goes on: the start of the segment the last run stopped in."""
        return min(self.frames_done, int(self.state["frames"])) // self.segment * self.segment

    @classmethod
    def open_or_create(cls, folder: Path, frames: int, tracker: Tracker, media_hash: str,
                       segment: int = SEGMENT):
        state = {"frames": frames, "points": tracker.n_points, "tracker": tracker.name,
                 "tracker_version": tracker.version, "media_hash": media_hash,
                 "segment": segment}
        try:
            saved = json.loads((folder / "progress.json").read_text())
            if isinstance(saved, dict) and all(saved.get(k) == v for k, v in state.items()) \
                    and type(saved.get("frames_done")) is int and saved["frames_done"] >= 0:
                return cls(folder, saved)
        except Exception:  # noqa: BLE001 - any damage: the run starts again
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
        total = source.frame_count
        if self.frames_done >= total:
            return 0
        start = self.resume_frame()
        # frames of the segment being redone start blank, as they did the first time
        self.found[start:] = 0
        self.points[start:] = 0
        if start > 0:  # keep following the same face after a resume
            seen = np.flatnonzero(np.asarray(self.found[:start]))
            if len(seen):
                selector.last = FaceCandidate(np.asarray(self.points[seen[-1]])).box
        session = tracker.open_session(static=bool(getattr(source, "is_image", False)),
                                       max_faces=MAX_FACES)
        done = start
        most = self.most_faces
        try:
            for i, frame in source.frames(start):
                if i > start and i % self.segment == 0:
                    session.reset()  # each segment is tracked as if from scratch
                faces = session.detect(frame)
                most = max(most, len(faces))
                face = selector.pick(faces)
                if face is not None:
                    self.points[i] = face.points
                    self.found[i] = 1
                done = i + 1
                self.state["most_faces"] = most
                if done % chunk == 0 or done == total:
                    self._commit(done)
                    if progress:
                        progress("tracking", done, total)
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
