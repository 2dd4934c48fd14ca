"""The phone track and the markers bound to the session: a dragged phone boundary or a
picked mouth shape becomes an undoable command (one per drag), the row is redrawn from the
aligner's alignment with the project's phone edits, and the viseme menu shows each class's
mouth as this speaker makes it."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

from core.motion.phones import VISEME_CLASSES, editor_alignment, phone_viseme, viseme_mouth
from core.project.commands import (
    add_marker,
    remove_marker,
    retime_phone,
    retype_command,
    set_phone_viseme,
)
from studio.workers import Job

ICON_SIZE = (40, 28)


def mouth_icons(shapes: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, QIcon]:
    """A small drawing of each mouth (lips and the opening between them), all at one scale
    so an open mouth looks bigger than a closed one."""
    if not shapes:
        return {}
    every = np.concatenate([o for o, _ in shapes.values()])
    lo, hi = every.min(0), every.max(0)
    w, h = ICON_SIZE
    k = 0.9 * min(w / max(hi[0] - lo[0], 1e-6), h / max(hi[1] - lo[1], 1e-6))
    centre = (lo + hi) / 2

    def poly(points: np.ndarray) -> QPolygonF:
        xy = (points - centre) * k + np.array([w / 2, h / 2])
        return QPolygonF([QPointF(float(x), float(y)) for x, y in xy])

    icons = {}
    for vis, (outer, inner) in shapes.items():
        pix = QPixmap(w, h)
        pix.fill(QColor(235, 225, 215))
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(120, 30, 40), 1))
        painter.setBrush(QBrush(QColor(200, 80, 90)))
        painter.drawPolygon(poly(outer))
        painter.setBrush(QBrush(QColor(40, 15, 20)))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon(poly(inner))
        painter.end()
        icons[vis] = QIcon(pix)
    return icons


class PhoneTrackBindings(QObject):
    """Binds the timeline's phone row and markers of ``editing.window`` to its session."""

    def __init__(self, editing: Any) -> None:
        super().__init__(editing)
        self.editing = editing
        self.window = editing.window
        self.session = editing.session
        self._icons_for: Any = None
        self._shown: tuple[Any, Any] | None = None
        self.retype_job: Job | None = None
        self.dialog: Any = None  # the open "Retype word" dialog
        t = self.window.timeline
        t.phone_boundary_dragged.connect(self.retime)
        t.phone_viseme_picked.connect(self.pick_viseme)
        t.marker_added.connect(lambda at: self._push_marker(add_marker, at))
        t.word_retype_requested.connect(self.ask_retype)
        t.marker_removed.connect(lambda at: self._push_marker(remove_marker, at))
        self.session.events.connect(self._on_session)

    def _on_session(self, name: str, payload: dict[str, Any]) -> None:
        if name == "phones_changed":
            self.window.autosave_timer.start()
            self.fill()
            self.window.request_render()
        elif name == "alignment_changed":
            self.window.autosave_timer.start()
            self.editing.fill_words()
            self.editing.show_words()
            self.window.request_render()
        elif name == "markers_changed":
            self.window.autosave_timer.start()
            self.window.timeline.set_markers(payload["markers"])

    def _original(self) -> Any:
        """The dub's alignment before phone edits: the corrected one, else the aligner's."""
        take, project = self.session.take, self.session.project
        if take is None or project is None:
            return None
        return editor_alignment(take.aligned, project.dub_alignment(), {})

    def alignment(self) -> Any:
        """The alignment the timeline shows: corrected words, edited phones (cached per
        edit generation)."""
        take, project = self.session.take, self.session.project
        if take is None or project is None:
            return None
        key = (self.session.generation, take)
        if self._shown is None or self._shown[0] != key:
            self._shown = (key, editor_alignment(take.aligned, project.dub_alignment(),
                                                 project.phones))
        return self._shown[1]

    def ask_retype(self, index: int) -> None:
        """Double-click on a word: type what was said there."""
        from PySide6.QtWidgets import QInputDialog

        al = self.alignment()
        if al is None or not 0 <= index < len(al.words):
            return
        if self.dialog is not None:
            self.dialog.close()
        dialog = QInputDialog(self.window)
        dialog.setWindowTitle("Retype word")
        dialog.setLabelText(f"Word {index + 1} ({al.words[index].text!r}) is:")
        dialog.setTextValue(al.words[index].text)
        dialog.textValueSelected.connect(lambda text: self.retype(index, text))
        self.dialog = dialog
        dialog.open()

    def retype(self, index: int, text: str) -> Job | None:
        """Re-align word ``index`` as ``text`` on a worker; one undo step when it is done,
        a one-line error (and nothing changed) when the audio does not hold it."""
        take, project, al = self.session.take, self.session.project, self._original()
        if al is None or project.dub is None:
            return None
        args = (al, project.dub.hash, take.dub.samples, index, text, dict(project.words),
                dict(project.phones), project.cache_dir / "align")
        job = Job("Retyping a word", lambda progress, cancel: retype_command(*args))
        self.retype_job = job
        job.failed.connect(lambda exc: self.window.show_error(exc, "Cannot retype that word"))
        job.succeeded.connect(lambda command, pr=project: pr is self.session.project
                              and self.editing.push(command))
        job.finished.connect(lambda job=job: self.window.jobs.retire(job))
        job.start()
        return job

    def retime(self, index: int, at: float, token: int) -> None:
        """Move the boundary after phone ``index`` to ``at`` (one undo step per drag)."""
        al, project = self._original(), self.session.project
        if al is not None and project is not None:
            self.editing.push(retime_phone(al, project.phones, index, at),
                              ("phone", index, token))

    def pick_viseme(self, index: int, viseme: str) -> None:
        project = self.session.project
        if project is not None and self._original() is not None:
            self.editing.push(set_phone_viseme(project.phones, index, viseme or None))

    def _push_marker(self, make: Any, at: float) -> None:
        project = self.session.project
        if project is not None:
            command = make(project, at)
            if command is not None:
                self.editing.push(command)

    def fill(self) -> None:
        """The phone row (the aligner's phones with the project's edits) and the markers."""
        t, project, edited = self.window.timeline, self.session.project, self.alignment()
        t.set_markers([] if project is None else project.markers)
        if project is None or edited is None:
            t.set_phones([], [], set())
            return
        t.set_phones(edited.phones, [phone_viseme(p) for p in edited.phones],
                     set(project.phones))
        take = self.session.take
        if take is not self._icons_for:
            self._icons_for = take
            t.mouth_icons = mouth_icons({
                v: viseme_mouth(take.library, take.cache.canonical, take.regions, v)
                for v in VISEME_CLASSES})
