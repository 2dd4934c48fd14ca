"""The editing session: one project, its take, its undo history, and the work on them.

A plain evented model (no Qt): the window binds its widgets to it, ``studio export`` and
the tests drive the same object. It owns the project and the take (and the generation of
the edits the take last had), a typed snapshot of the edits, the driver and renderer
switching, the export on a detached twin, the reference-image jobs, and the drawing of a
preview frame (which source frame, at what size, with which overlay).

Long work is offered as plain functions of ``(progress, cancel)`` (``analysis``,
``switch_driver``, ``export``, ``read_reference``) so the caller runs them on whatever
thread it has; what they return is handed back with :meth:`EditSession.adopt` and the like
on the caller's own thread.

Events (``callback(name, payload)``, through :attr:`EditSession.events`): the project's own
events (``setting_changed``, ``word_changed``, ``media_changed``...) with the generation
already moved on for an edit; ``take_opened`` {take}; ``take_closed``; ``driver_applied``
{driver}; ``history_changed`` {can_undo, can_redo, clean, undo_text, redo_text}.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import StudioError
from core.progress import Progress
from core.project.commands import ChangeEmotionClip, Command
from core.project.events import EventEmitter
from core.project.history import History
from core.project.project import Project, resolve_driver

#: the project's events that change what the take draws
EDIT_EVENTS = ("setting_changed", "word_changed", "word_timing_changed",
               "emotion_clips_changed", "phones_changed",
               "alignment_changed")


@dataclass(frozen=True)
class Edits:
    """A frozen copy of what a take reads from a project (its settings, word edits and
    emotion clips), so a worker thread never reads the project while the user edits it."""

    settings: dict[str, Any]
    words: dict[int, dict[str, Any]]
    emotion_clips: list[dict[str, Any]]
    cache_dir: Path
    phones: dict[int, dict[str, Any]]
    alignment: dict[str, Any] | None = None

    @classmethod
    def of(cls, project: Any) -> Edits:
        return cls(copy.deepcopy(project.settings), copy.deepcopy(project.words),
                   copy.deepcopy(project.emotion_clips), project.cache_dir,
                   copy.deepcopy(project.phones), copy.deepcopy(project.dub_alignment()))


class TakeHandle:
    """A take shared by the preview, the driver switch and the export (which only holds
    the lock to take a detached twin of it): one lock, and the generation of the edits last
    put on it."""

    def __init__(self, take: Any) -> None:
        self.take = take
        self.lock = threading.RLock()
        self.generation = -1

    def sync(self, edits: Edits, generation: int) -> None:
        """Put ``edits`` on the take if they are newer than what it has (hold the lock)."""
        if generation != self.generation:
            from core.take_build import apply_project_edits

            apply_project_edits(self.take, edits)
            self.generation = generation

    def close(self) -> None:
        with self.lock:
            self.take.close()


@dataclass(frozen=True)
class Drawn:
    """One drawn preview frame: output frame ``frame`` and, with the overlay, the tracked
    and edited keypoints in the picture's pixels."""

    frame: int
    image: np.ndarray  # HxWx3 uint8 RGB
    points: tuple[np.ndarray, np.ndarray] | None


def preview_size(width: int, height: int, side: int | None) -> tuple[int, int]:
    """The size a frame is drawn at for a preview whose longer side is ``side`` (None:
    full size); never larger than the frame."""
    if side is None or max(width, height) <= side:
        return width, height
    k = side / max(width, height)
    return max(1, round(width * k)), max(1, round(height * k))


def draw(handle: TakeHandle, frame: int, generation: int, edits: Edits, *,
         source_view: bool = False, overlay: bool = False,
         side: int | None = None) -> Drawn:
    """Output frame ``frame`` of a take with ``edits`` (of ``generation``), drawn by its
    preview renderer at ``side`` (None: full size), or the source frame itself."""
    from core.render.warp import resize_for

    with handle.lock:
        take = handle.take
        handle.sync(edits, generation)
        j = min(max(int(frame), 0), take.frame_count - 1)
        image = take.source.frame(int(take.source_index[j]))
        w0, h0 = image.shape[1], image.shape[0]
        size = preview_size(w0, h0, side)
        out = None if size == (w0, h0) else size
        if source_view:
            image = image if out is None else resize_for(image, size)
        else:
            image = take.render(j, image, out_size=out)
        points = None
        if overlay and take.valid(j):
            tracked, edited = take.keypoints(slice(j, j + 1))
            scale = np.array([size[0] / w0, size[1] / h0], np.float32)
            points = (tracked[0, :, :2] * scale, edited[0, :, :2] * scale)
    return Drawn(j, np.ascontiguousarray(image, dtype=np.uint8), points)


@dataclass
class OpenedTake:
    """What :meth:`EditSession.analyse` hands back to :meth:`EditSession.adopt`."""

    project: Any
    take: Any
    source_audio: np.ndarray | None  # the source's own sound at 16 kHz, for the waveform
    generation: int


class EditSession:
    """One project being edited, and its take once the analysis has made it."""

    def __init__(self, project: Project | None = None) -> None:
        self.events = EventEmitter()
        self.project: Project | None = None
        self.history: History | None = None
        self.handle: TakeHandle | None = None
        self.generation = 0
        self._snap: tuple[int, Edits] | None = None
        self._drag: Any = None
        self.dub_path: Path | None = None  # a take of media: its dub (``open_media``)
        if project is not None:
            self.set_project(project)

    @classmethod
    def open(cls, folder: str | Path) -> EditSession:
        return cls(Project.open(folder))

    @staticmethod
    def preload(tracker: str = "mediapipe") -> None:
        """Import what the first analysis and render need (torch, the renderer, the
        aligner, the exporter, the tracker's backend): a head start, on any thread."""
        import core.take_build  # noqa: F401
        from core.tracking.registry import load_backend

        load_backend(tracker)

    # -- the project ------------------------------------------------------------------

    def set_project(self, project: Project) -> None:
        """Edit ``project`` from now on (the take of the last one is closed)."""
        self.close_take()
        if self.project is not None:
            self.project.events.disconnect(self._on_project)
        if self.history is not None:
            self.history.events.disconnect(self._on_history)
        self.project = project
        self.history = History(project)
        self.history.events.connect(self._on_history)
        self._drag = None
        self.generation += 1
        project.events.connect(self._on_project)

    def close_project(self) -> None:
        """Edit nothing from now on (File → Close; the caller asked about unsaved work)."""
        self.close_take()
        if self.project is not None:
            self.project.events.disconnect(self._on_project)
        if self.history is not None:
            self.history.events.disconnect(self._on_history)
        self.project, self.history, self._drag = None, None, None
        self.generation += 1

    def _on_project(self, name: str, payload: dict[str, Any]) -> None:
        if name in EDIT_EVENTS:
            self.generation += 1
        self.events.emit(name, **payload)

    def _on_history(self, name: str, payload: dict[str, Any]) -> None:
        self.events.emit("history_changed", **payload)

    def edit(self, command: Command, drag: Any = None) -> None:
        """Do ``command`` as an undo step. Commands of one drag (the same ``drag`` token,
        not None) merge into one step; raises what the command raises, changing nothing."""
        history = self._need_history()
        if drag is None or drag != self._drag:
            history.seal()
        history.push(command)
        self._drag = drag
        if drag is None:
            history.seal()

    def undo(self) -> None:
        self._need_history().undo()
        self._drag = None

    def redo(self) -> None:
        self._need_history().redo()
        self._drag = None

    def _need_history(self) -> History:
        if self.history is None:
            raise StudioError(None, "no project is open")
        return self.history

    def save(self) -> None:
        self._need_project().save()

    def _need_project(self) -> Project:
        if self.project is None:
            raise StudioError(None, "no project is open")
        return self.project

    def edits(self) -> Edits:
        """The project's edits as of now, copied once per generation."""
        if self._snap is None or self._snap[0] != self.generation:
            self._snap = (self.generation, Edits.of(self._need_project()))
        return self._snap[1]

    # -- the take ---------------------------------------------------------------------

    @property
    def take(self) -> Any:
        return None if self.handle is None else self.handle.take

    def analysis(self, renderer: bool = False) -> Callable[..., OpenedTake]:
        """The work of analysing the project's media (tracking, alignment) and making its
        take with the edits as they are now: checked and copied here, run on any thread
        (it reads only the frozen copy).

        ``renderer``: load the project's renderer first (its weights checked before any
        long work) and put it on the take; by default it is loaded at export, so a preview
        opens even without its weights."""
        from types import SimpleNamespace

        project = self._need_project()
        project.require_media()
        if project.dub is None:
            raise StudioError(project.json_path, "the project has no dub audio yet")
        generation, edits = self.generation, self.edits()
        view = SimpleNamespace(
            source=project.source, dub=project.dub, transcript=project.transcript,
            json_path=project.json_path, folder=project.folder, require_media=lambda: None,
            settings=edits.settings, words=edits.words, emotion_clips=edits.emotion_clips,
            cache_dir=edits.cache_dir, phones=edits.phones, alignment=edits.alignment)

        def work(progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None) -> OpenedTake:
            from core.media import load_audio
            from core.take_build import open_project_take

            take = open_project_take(view, progress=progress, cancel=cancel,
                                     export_renderer=renderer)
            source_audio = None
            try:
                if not take.source.is_image and take.source.has_audio:
                    source_audio = load_audio(take.source.path, 16000).samples
            except StudioError:
                pass
            return OpenedTake(project, take, source_audio, generation)

        return work

    def adopt(self, opened: OpenedTake) -> bool:
        """Make an analysed take this session's (False, and the take closed, when the
        project changed meanwhile)."""
        if opened.project is not self.project:
            opened.take.close()
            return False
        self.close_take()
        self.handle = TakeHandle(opened.take)
        self.handle.generation = opened.generation
        self.events.emit("take_opened", take=opened.take)
        return True

    def open_take(self, progress: Progress | None = None,
                  cancel: Callable[[], bool] | None = None, renderer: bool = True) -> Any:
        """Analyse and adopt in one go (the command line, tests), the project's renderer
        loaded first; returns the take with the project's edits on it."""
        opened = self.analysis(renderer)(progress, cancel)
        self.adopt(opened)
        with self.handle.lock:
            self.handle.sync(self.edits(), self.generation)
        return self.take

    def sync_take(self) -> Any:
        """Put the project's edits as of now on the take (the command line, tests)."""
        with self.handle.lock:
            self.handle.sync(self.edits(), self.generation)
        return self.take

    def open_media(self, source: str | Path, dub: str | Path, **options: Any) -> Any:
        """A take of media without a project (``studio dub``): see
        :func:`core.take_build.open_take` for ``options``; returns the take."""
        from core.take_build import open_take

        take = open_take(source, dub, **options)
        self.close_take()
        self.handle = TakeHandle(take)
        self.handle.generation = self.generation
        self.dub_path = Path(dub)
        self.events.emit("take_opened", take=take)
        return take

    def apply_edits(self, words: dict[int, dict[str, Any]],
                    emotion_clips: list[dict[str, Any]], cache_root: Path) -> None:
        """Word edits and emotion clips (as a project stores them) on a take of media."""
        from core.take_build import apply_edits

        with self.handle.lock:
            apply_edits(self.handle.take, words, emotion_clips, cache_root)

    def export_media(self, output: Path, settings: Any, progress: Progress | None = None,
                     cancel: Callable[[], bool] | None = None) -> Path:
        """Export a take of media (checked by the caller) with its own renderer, here."""
        from core.take_build import export_take

        with self.handle.lock:
            return export_take(self.handle.take, output, self.dub_path, settings, progress,
                               cancel)

    def close_take(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            handle.close()
            self.events.emit("take_closed")

    def close(self) -> None:
        self.close_take()

    def draw(self, frame: int, generation: int, edits: Edits, *, source_view: bool = False,
             overlay: bool = False, side: int | None = None) -> Drawn:
        """A preview frame (any thread; see :func:`draw`)."""
        if self.handle is None:
            raise StudioError(None, "no take to draw yet")
        return draw(self.handle, frame, generation, edits, source_view=source_view,
                    overlay=overlay, side=side)

    # -- the lip driver -----------------------------------------------------------------

    def wanted_driver(self, compare: bool = False) -> str:
        """The driver the take should have now: the project's (its model file made
        absolute), or visemes to compare against them."""
        if self.project is None or compare:
            return "visemes"
        return resolve_driver(str(self.project.settings.get("driver", "learned")),
                              self.project.folder)

    def driver_needs_switch(self, compare: bool = False) -> bool:
        take = self.take
        return take is not None and getattr(take, "driver_name", "visemes") != \
            self.wanted_driver(compare)

    def switch_driver(self, compare: bool = False) -> Callable[..., str]:
        """The work of putting the wanted driver on the take (for any thread)."""
        handle, wanted = self.handle, self.wanted_driver(compare)

        def work(progress: Progress | None = None, cancel: Any = None) -> str:
            with handle.lock:
                handle.take.use_driver(wanted)
            return wanted

        return work

    def driver_switched(self) -> None:
        """The driver switch ended (on the caller's thread): the take draws anew."""
        self.generation += 1
        self.events.emit("driver_applied", driver=str(getattr(self.take, "driver_name", "")))

    # -- export -------------------------------------------------------------------------

    def export(self, output: str | Path, *, hook: Callable[..., None] | None = None,
               yield_to: Callable[[], bool] | None = None,
               on_twin: Callable[[Any], None] | None = None,
               take_renderer: bool = False,
               settings: Any = None) -> Callable[..., Path]:
        """Check ``output`` now (never over the project's files or media; a one-line
        StudioError naming the problem) and return the export's work: it renders a twin of
        the take, taken under the lock, with the project's renderer, while the preview goes
        on rendering the take itself. ``yield_to()`` true pauses the rendering (the preview
        has a frame to draw); ``hook(stage, done, total)`` follows its progress.
        ``take_renderer``: draw with the renderer the take was opened with (else the one
        the project's settings name when the export starts). ``settings``: the export
        settings (default: the project's)."""
        from core.background import lower_thread_priority
        from core.export import ExportSettings, check_output_path
        from core.outputs import check_output
        from core.take_build import export_take, project_renderer

        project, handle = self._need_project(), self.handle
        if handle is None:
            raise StudioError(None, "nothing to export yet: drop a video and a dub")
        out = Path(output)
        check_output(out, project.inputs(), project_folder=project.folder)
        check_output_path(out)
        try:
            settings = settings or ExportSettings.from_settings(project.settings)
        except ValueError as exc:
            raise StudioError(project.json_path, str(exc)) from None
        generation, edits, dub_path = self.generation, self.edits(), project.dub.path
        project_settings, folder = copy.deepcopy(project.settings), project.folder

        def work(progress: Progress, cancel: Callable[[], bool]) -> Path:
            drawer = None if take_renderer else project_renderer(project_settings, folder)

            def report(stage: str, done: float, total: float) -> None:
                progress(stage, done, total)
                if hook is not None:
                    hook(stage, done, total)

            # the export never starves the preview: its threads (this one, the frame
            # producer and x264's, which inherit it) run at a lower OS priority
            lower_thread_priority()
            with handle.lock:
                handle.sync(edits, generation)
                twin = handle.take.detached()
            if not take_renderer:
                twin.use_renderer(drawer)
            if on_twin is not None:
                on_twin(twin)
            try:
                return export_take(twin, out, dub_path, settings, report, cancel,
                                   yield_to=yield_to)
            finally:
                twin.close()

        return work

    # -- emotion from a picture ---------------------------------------------------------

    def read_reference(self, clip_id: str, path: str | Path) -> Callable[..., Any]:
        """The work of reading a reference picture for a clip (any thread): the picture
        is checked and its face tracked into the project's cache; it returns the picture's
        media reference, for :meth:`use_reference`."""
        project, take = self._need_project(), self.take
        if take is None:
            raise StudioError(None, "no take yet: wait for the analysis")
        region = project.clip(clip_id)["region"]
        path = Path(path)

        def work(progress: Progress | None = None, cancel: Any = None) -> Any:
            from core.media.image import open_image
            from core.project.media import MediaRef
            from core.take_build import image_reference

            ref = MediaRef.from_file(path, "image")
            open_image(path).close()  # a picture, not a video or something else
            try:
                # the keypoints land in the project's cache: the renderer reads them there
                image_reference(path, take, region, project.cache_dir)
            except StudioError:
                raise
            except Exception as exc:  # noqa: BLE001 - named with the file in the dialog
                raise StudioError(path, f"cannot use its face ({exc})") from exc
            return ref

        return work

    def use_reference(self, project: Any, clip_id: str, ref: Any) -> bool:
        """Make a read picture the clip's emotion source (one undo step), if the clip is
        still there in the same project."""
        if project is not self.project or not any(
                c["id"] == clip_id for c in project.emotion_clips):
            return False
        self.edit(ChangeEmotionClip(clip_id, source={"image": ref}))
        return True
