"""The phone track and the markers bound to the session: a dragged phone boundary or a
picked mouth shape becomes an undoable command (one per drag), the row is redrawn from the
aligner's alignment with the project's phone edits, and the viseme menu shows each class's
mouth as this speaker makes it."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

from core.motion.phones import VISEME_CLASSES, edited_alignment, phone_viseme, viseme_mouth
from core.project.commands import (
    add_marker,
    phone_edits,
    remove_marker,
    retime_phone,
    set_phone_viseme,
)

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
        t = self.window.timeline
        t.phone_boundary_dragged.connect(self.retime)
        t.phone_viseme_picked.connect(self.pick_viseme)
        t.marker_added.connect(lambda at: self._push_marker(add_marker, at))
        t.marker_removed.connect(lambda at: self._push_marker(remove_marker, at))
        self.session.events.connect(self._on_session)

    def _on_session(self, name: str, payload: dict[str, Any]) -> None:
        if name == "phones_changed":
            self.window.autosave_timer.start()
            self.fill()
            self.window.request_render()
        elif name == "markers_changed":
            self.window.autosave_timer.start()
            self.window.timeline.set_markers(payload["markers"])

    def _original(self) -> Any:
        take = self.session.take
        return None if take is None else getattr(take, "original_alignment", None)

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
        t, project, al = self.window.timeline, self.session.project, self._original()
        t.set_markers([] if project is None else project.markers)
        if project is None or al is None:
            t.set_phones([], [], set())
            return
        edited = edited_alignment(al, phone_edits(project.phones)) if project.phones else al
        t.set_phones(edited.phones, [phone_viseme(p) for p in edited.phones],
                     set(project.phones))
        take = self.session.take
        if take is not self._icons_for:
            self._icons_for = take
            t.mouth_icons = mouth_icons({
                v: viseme_mouth(take.library, take.cache.canonical, take.regions, v)
                for v in VISEME_CLASSES})
