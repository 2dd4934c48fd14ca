"""The edits the user makes with the controls and the timeline, turned into commands on
the session's undo history, and the word and clip inspectors kept up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from core.errors import StudioError
from core.project.commands import (
    AddEmotionClip,
    ChangeEmotionClip,
    RemoveEmotionClip,
    SetSetting,
    SetWordStyle,
    SetWordTiming,
)
from studio.phonetrack import PhoneTrackBindings
from studio.workers import Job


class EditBindings(QObject):
    """Binds the control panel and the timeline of ``window`` to its session."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.selected: list[int] = []
        self.image_dialog: QFileDialog | None = None
        self.image_job: Job | None = None
        c, t = window.controls, window.timeline
        c.setting_edited.connect(self._setting_edited)
        c.word_edited.connect(self._word_edited)
        c.add_clip.connect(self._add_clip)
        c.clip_edited.connect(self._clip_edited)
        c.remove_clip.connect(lambda cid: self.push(RemoveEmotionClip(cid)))
        c.clip_image_requested.connect(self.choose_clip_image)
        t.selection_changed.connect(self._selection_changed)
        t.clip_clicked.connect(self.show_clip)
        t.word_timing_dragged.connect(
            lambda i, s, e, token: self.push(SetWordTiming(i, s, e), ("timing", i, token)))
        t.clip_dragged.connect(lambda cid, fields, token: self.push(
            ChangeEmotionClip(cid, **fields), ("clip-drag", cid, tuple(sorted(fields)), token)))
        self.phone_track = PhoneTrackBindings(self)

    @property
    def project(self) -> Any:
        return self.session.project

    def push(self, command: Any, drag: Any = None) -> bool:
        """Do ``command`` as an undo step (one per drag); a refused edit shows why."""
        if self.project is None:
            return False
        try:
            self.session.edit(command, drag)
        except StudioError as exc:
            self.window.show_error(exc, "Cannot make that edit")
            return False
        return True

    def _setting_edited(self, key: str, value: Any, token: int) -> None:
        self.push(SetSetting(key, value), ("setting", key, token) if token else None)
        if key == "renderer" and self.project is not None:
            from core.render.registry import preview_note

            note = preview_note(str(value))
            if note:
                self.window.statusBar().showMessage(note, 10000)

    def _word_edited(self, field: str, value: Any, token: int) -> None:
        if self.selected:
            drag = ("word", field, tuple(self.selected), token) if token else None
            self.push(SetWordStyle(list(self.selected), field, value), drag)

    def _add_clip(self, region: str, emotion: str) -> None:
        take = self.session.take
        if self.project is None or take is None:
            return
        span = self.selection_span()
        if span is not None:
            start, end = span
        else:
            t = self.window.frame / take.fps
            start, end = max(0.0, t - 0.5), t + 0.5
        cmd = AddEmotionClip({"region": region, "emotion": emotion, "start": round(start, 3),
                              "end": round(end, 3), "intensity": 1.0,
                              "fade_in": 0.1, "fade_out": 0.1})
        if self.push(cmd):
            self.window.timeline.click_clip(cmd.id)

    def _clip_edited(self, clip_id: str, field: str, value: Any, token: int) -> None:
        if self.project is not None:
            if field == "emotion" and any(c["id"] == clip_id and c.get("emotion") == value
                                          for c in self.project.emotion_clips):
                return  # already that preset: no empty undo step
            drag = ("clip", clip_id, field, token) if token else None
            self.push(ChangeEmotionClip(clip_id, **{field: value}), drag)

    def choose_clip_image(self, clip_id: str) -> QFileDialog | None:
        """"Source image…": a (non-blocking) file dialog; the chosen picture is checked,
        then becomes the clip's emotion source. The dialog stays in ``image_dialog``."""
        if self.project is None:
            return None
        dlg = QFileDialog(self.window, "Emotion from a reference image", "",
                          "Images (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff)")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
        dlg.setOption(QFileDialog.Option.DontUseNativeDialog, not self.window.prompts)
        dlg.fileSelected.connect(lambda name, cid=clip_id: name and self.set_clip_image(cid,
                                                                                       name))
        self.image_dialog = dlg
        dlg.open()
        return dlg

    def set_clip_image(self, clip_id: str, path: str | Path) -> Job | None:
        """Use the face in ``path`` as the emotion source of a clip: one undo step, once a
        worker has read the picture and found its face. A bad picture (unreadable, no face)
        gives an error dialog naming it and leaves the clip as it was."""
        project = self.project
        if project is None or self.session.take is None:
            return None
        try:
            work = self.session.read_reference(clip_id, path)
        except StudioError as exc:
            self.window.show_error(exc, "Cannot use that image")
            return None
        job = Job("Reading the image", lambda progress, cancel: work(progress, cancel))
        self.image_job = job
        self.window.statusBar().showMessage(f"Reading {Path(path).name}…", 4000)
        job.failed.connect(lambda exc: self.window.show_error(exc, "Cannot use that image"))
        job.succeeded.connect(lambda ref, cid=clip_id, pr=project: self._image_read(pr, cid,
                                                                                    ref))
        job.finished.connect(lambda job=job: self._image_job_done(job))
        job.start()
        return job

    def _image_read(self, project: Any, clip_id: str, ref: Any) -> None:
        try:
            self.session.use_reference(project, clip_id, ref)
        except StudioError as exc:
            self.window.show_error(exc, "Cannot make that edit")

    def _image_job_done(self, job: Job) -> None:
        self.window.jobs.retire(job)
        if job is self.image_job:
            self.image_job = None

    def show_clip(self, clip_id: str) -> None:
        clip = None
        if clip_id and self.project is not None:
            clip = next((c for c in self.project.emotion_clips if c["id"] == clip_id), None)
        self.window.controls.show_clip(clip)

    def _selection_changed(self, indices: list[int]) -> None:
        self.selected = list(indices)
        self.show_words()
        if self.selected and self.session.take is not None and not self.window.playing:
            w = self._word_span(self.selected[0])
            if w is not None:
                self.window.seek_time((w[0] + w[1]) / 2)

    def _word_span(self, i: int) -> tuple[float, float] | None:
        al = self.phone_track.alignment()
        if al is None or not 0 <= i < len(al.words):
            return None
        return (self.project.word_timing(i) if self.project is not None else None) or (
            al.words[i].start, al.words[i].end)

    def selection_span(self) -> tuple[float, float] | None:
        """Seconds from the first selected word's start to the last one's end."""
        spans = [s for i in self.selected if (s := self._word_span(i)) is not None]
        if not spans:
            return None
        return min(s for s, _ in spans), max(e for _, e in spans)

    def show_words(self) -> None:
        """The word inspector, for the selected words."""
        al = self.phone_track.alignment()
        if self.project is None or al is None or not self.selected:
            self.window.controls.show_words([], None)
            return
        texts = [al.words[i].text for i in self.selected if i < len(al.words)]
        self.window.controls.show_words(texts, self.project.word_style(self.selected[0]),
                                        [self.project.word_style(i) for i in self.selected])
        self.show_saturation()

    def show_saturation(self) -> None:
        """The share of the asked opening held back over the selected words (else at the
        playhead), read from the take when no render holds it."""
        handle, take = self.session.handle, self.session.take
        if handle is None or take is None or not handle.lock.acquire(blocking=False):
            return
        try:
            span = self.selection_span()
            fps, n = take.fps, take.frame_count
            a, b = ((round(span[0] * fps), round(span[1] * fps) + 1) if span is not None
                    else (self.window.frame, self.window.frame + 1))
            values = take.saturation(slice(max(0, min(a, n - 1)), max(1, min(b, n))))
        except Exception:  # noqa: BLE001 - a readout only; the take may be mid-switch
            return
        finally:
            handle.lock.release()
        self.window.controls.show_saturation(float(values.max()) if values.size else None)

    def fill_words(self) -> None:
        """The timeline's words, with their timing fixes and which are edited."""
        self.phone_track.fill()
        al = self.phone_track.alignment()
        if al is None or self.project is None:
            self.window.timeline.set_words([], {}, set())
            return
        timing = {i: t for i in self.project.words
                  if (t := self.project.word_timing(i)) is not None}
        self.window.timeline.set_words(al.words, timing,
                                       set(self.project.words))
