"""The waveform and timeline panes: two pyqtgraph plots sharing one time axis (seconds).

The waveform shows the dub's samples and loudness envelope, with the source's sound below;
the timeline has a ruler (its time axis), a playhead, a word track and one emotion track per
facial region. Both zoom and scroll together (wheel, drag).

Under the words, the phone track shows each phone with its viseme: dragging the edge
between two phones retimes both (``phone_boundary_dragged``); a right-click on a phone
offers the mouth shapes (``phone_viseme_picked``). Drags snap to words, phones, markers
and the playhead (within ``SNAP_PX``). Markers, zoom-to-fit and a horizontal scrollbar
work as in an editing suite.

On the timeline, a word block's edges drag to fix its alignment (kept between its
neighbours, never shorter than ``MIN_WORD``); an emotion clip's body drags to move it, its
edges to trim it and the handles at its top corners to change its fades. The pane only
reports where a drag has got to (``word_timing_dragged``, ``clip_dragged``, with one token
per drag); the window turns that into undoable commands.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QIcon, QKeySequence, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QMenu, QScrollBar

from core.motion.phones import MIN_PHONE, VISEME_CLASSES
from core.project.schema import REGIONS

AXIS_WIDTH = 60
ROW_HEIGHT = 1.0
_WORD = QColor(70, 120, 190)
_WORD_EDITED = QColor(190, 130, 50)
_WORD_ESTIMATED = QColor(110, 110, 120)  # not placed by the aligner: its time is a guess
_SELECTED = QColor(250, 210, 80)  # a selected word
_CLIP = QColor(150, 90, 180)
_CLIP_SELECTED = QColor(60, 200, 190)  # a selected clip: never the selected word's colour
_PHONE = QColor(60, 95, 120)
_PHONE_EDITED = QColor(160, 110, 60)
_MARKER = (240, 200, 40)
SNAP_PX = 8  # how near (pixels) a dragged edge snaps to a word, phone, marker or playhead
SCROLL_PX = 14  # the height of the horizontal scrollbar under the plot
GRAB_PX = 5  # how near (pixels) an edge or a fade handle grabs it
HANDLE_PX = 8  # how tall (pixels) the strip under a clip's top that grabs a fade handle is
MIN_WORD = 0.04  # the shortest a dragged word gets (seconds)
MIN_CLIP = 0.04  # the shortest a trimmed clip gets (seconds)
_tokens = itertools.count(1)


@dataclass
class _Drag:
    """A drag under way: what is dragged, where it started and how far it may go."""

    kind: str  # word-start, word-end, clip-move, clip-start, clip-end, fade_in, fade_out
    target: Any  # a word index or a clip id
    t0: float  # the time under the mouse at the press
    start: float
    end: float
    fade_in: float = 0.0
    fade_out: float = 0.0
    lo: float = 0.0  # a word's neighbours' bounds
    hi: float = float("inf")
    token: int = 0
    last: Any = None


_CURSORS = {"phone-edge": Qt.CursorShape.SizeHorCursor,
            "word-start": Qt.CursorShape.SizeHorCursor, "word-end": Qt.CursorShape.SizeHorCursor,
            "clip-start": Qt.CursorShape.SizeHorCursor, "clip-end": Qt.CursorShape.SizeHorCursor,
            "fade_in": Qt.CursorShape.SplitHCursor, "fade_out": Qt.CursorShape.SplitHCursor,
            "clip-move": Qt.CursorShape.SizeAllCursor}


def _rows() -> list[tuple[str, float]]:
    """(label, y centre) of every track, top to bottom."""
    return [("words", -0.5), ("phones", -1.5)] + [(r, -2.5 - i) for i, r in enumerate(REGIONS)]


def region_y(region: str) -> float:
    return dict(_rows())[region]


class _Block(QGraphicsRectItem):
    """A clickable block in view coordinates (seconds × track)."""

    def __init__(self, rect: QRectF, on_click: Any, on_double: Any = None) -> None:
        super().__init__(rect)
        self.on_click = on_click
        self.on_double = on_double
        pen = QPen(QColor(20, 20, 20))
        pen.setWidth(0)  # a hairline: a wider pen would widen the shape by seconds
        self.setPen(pen)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph's name
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.double() and self.on_double is not None:
                self.on_double()
                return
            self.on_click(bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier))


class _Playhead(pg.InfiniteLine):
    def __init__(self) -> None:
        super().__init__(pos=0.0, angle=90, movable=True,
                         pen=pg.mkPen((255, 80, 80), width=2),
                         hoverPen=pg.mkPen((255, 160, 160), width=3))


class WaveformPane(pg.PlotWidget):
    """The dub's waveform and loudness, the source's sound below; drag the playhead to scrub."""

    scrubbed = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("waveform")
        self.setBackground((25, 25, 28))
        p = self.getPlotItem()
        p.setMouseEnabled(x=True, y=False)
        p.showGrid(x=True, y=False, alpha=0.2)
        p.getAxis("left").setTicks([[(0.0, "dub"), (-2.4, "source")]])
        p.getAxis("left").setWidth(AXIS_WIDTH)  # the same as the timeline's: times line up
        p.getAxis("bottom").setStyle(showValues=False)
        p.setClipToView(True)
        p.setDownsampling(auto=True, mode="peak")
        self.dub_curve = p.plot(pen=pg.mkPen((90, 170, 240)))
        self.loud_curve = p.plot(pen=pg.mkPen((250, 200, 80), width=2))
        self.source_curve = p.plot(pen=pg.mkPen((150, 150, 150)))
        self.playhead = _Playhead()
        p.addItem(self.playhead)
        self.playhead.sigDragged.connect(lambda line: self.scrubbed.emit(float(line.value())))
        p.setYRange(-3.5, 1.1, padding=0)

    def set_audio(self, dub: np.ndarray, rate: float, loudness: np.ndarray, fps: float,
                  source: np.ndarray | None = None, source_rate: float = 16000.0) -> None:
        dub = np.asarray(dub, np.float32)
        self.dub_curve.setData(np.arange(len(dub)) / rate, dub)
        loud = np.asarray(loudness, np.float32)
        top = float(loud.max()) if len(loud) and loud.max() > 0 else 1.0
        self.loud_curve.setData(np.arange(len(loud)) / fps, loud / top)  # display scale only
        if source is not None and len(source):
            s = np.asarray(source, np.float32)
            self.source_curve.setData(np.arange(len(s)) / source_rate, s - 2.4)
        else:
            self.source_curve.setData([], [])
        duration = max(len(dub) / rate, len(loud) / fps)
        p = self.getPlotItem()
        p.setLimits(xMin=-0.2, xMax=duration + 0.5)
        p.setXRange(0, duration, padding=0.01)

    def clear_audio(self) -> None:
        for c in (self.dub_curve, self.loud_curve, self.source_curve):
            c.setData([], [])


class TimelinePane(pg.PlotWidget):
    """Ruler (the time axis), playhead, word track and one emotion track per region."""

    word_clicked = Signal(int, bool)  # index, shift held
    clip_clicked = Signal(str)
    scrubbed = Signal(float)
    selection_changed = Signal(list)
    word_timing_dragged = Signal(int, float, float, int)  # index, start, end, drag token
    phone_boundary_dragged = Signal(int, float, int)  # boundary after phone i, time, token
    word_retype_requested = Signal(int)  # a word double-clicked: type it anew
    phone_viseme_picked = Signal(int, str)  # phone index, viseme class ("" its own)
    marker_added = Signal(float)  # at this time (the playhead's)
    marker_removed = Signal(float)  # the one nearest this time
    clip_dragged = Signal(str, object, int)  # clip id, {field: value}, drag token
    drag_finished = Signal(int)  # drag token

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setBackground((25, 25, 28))
        p = self.getPlotItem()
        p.setMouseEnabled(x=True, y=False)
        p.showGrid(x=True, y=False, alpha=0.2)
        rows = _rows()
        p.getAxis("left").setTicks([[(y, name) for name, y in rows]])
        p.getAxis("left").setWidth(AXIS_WIDTH)
        p.getAxis("bottom").setLabel("time", units="s")
        p.setYRange(rows[-1][1] - 0.5, 0.0, padding=0)
        self.playhead = _Playhead()
        p.addItem(self.playhead)
        self.playhead.sigDragged.connect(lambda line: self.scrubbed.emit(float(line.value())))
        p.scene().sigMouseClicked.connect(self._scene_clicked)
        self.words: list[Any] = []
        self.word_blocks: list[_Block] = []
        self.word_labels: list[pg.TextItem] = []
        self.clip_blocks: dict[str, _Block] = {}
        self.clip_fades: dict[str, pg.PlotDataItem] = {}
        self.clips: dict[str, dict[str, Any]] = {}
        self.duration = float("inf")
        self.drag: _Drag | None = None
        self.selected: list[int] = []
        self.selected_clip: str | None = None
        self.edited_words: set[int] = set()
        self.phones: list[Any] = []
        self.phone_blocks: list[_Block] = []
        self.phone_labels: list[pg.TextItem] = []
        self.visemes: list[str] = []
        self.edited_phones: set[int] = set()
        self.mouth_icons: dict[str, QIcon] = {}
        self.clip_labels: dict[str, pg.TextItem] = {}
        self.markers: list[float] = []
        self.marker_lines: list[pg.InfiniteLine] = []
        self.snapping = True
        self.setViewportMargins(0, 0, 0, SCROLL_PX)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal, self)
        self.scrollbar.valueChanged.connect(self._scrolled)
        p.getViewBox().sigXRangeChanged.connect(lambda *_: self._fit_scrollbar())
        for text, keys, slot in (
                ("Add marker at playhead", "M", self.add_marker),
                ("Remove marker near playhead", "Shift+M", self.remove_marker),
                ("Zoom to fit", "Shift+Z", self.zoom_to_fit)):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)

    # -- words ------------------------------------------------------------------------

    def set_words(self, words: list[Any], timing: dict[int, tuple[float, float]],
                  edited: set[int]) -> None:
        """One block per aligned word (``timing`` holds the user's fixes)."""
        p = self.getPlotItem()
        for item in self.word_blocks + self.word_labels:
            p.removeItem(item)
        self.words = list(words)
        self.word_blocks, self.word_labels = [], []
        self.edited_words = set(edited)
        y = region_y("words")
        for i, w in enumerate(self.words):
            start, end = timing.get(i, (w.start, w.end))
            block = _Block(QRectF(start, y - 0.4, max(end - start, 1e-3), 0.8),
                           lambda shift, i=i: self.click_word(i, shift),
                           lambda i=i: self.word_retype_requested.emit(i))
            if getattr(w, "estimated", False):
                block.setToolTip(f"{w.text!r}: the aligner could not place this word; its "
                                 "time is estimated (drag its edges to fix it)")
            p.addItem(block)
            label = pg.TextItem(w.text, color=(240, 240, 240), anchor=(0.5, 0.5))
            label.setPos((start + end) / 2, y)
            p.addItem(label)
            self.word_blocks.append(block)
            self.word_labels.append(label)
        self.selected = [i for i in self.selected if i < len(self.words)]
        self._paint_words()

    def set_edited(self, edited: set[int]) -> None:
        self.edited_words = set(edited)
        self._paint_words()

    def _paint_words(self) -> None:
        for i, block in enumerate(self.word_blocks):
            estimated = getattr(self.words[i], "estimated", False)
            color = (_SELECTED if i in self.selected
                     else _WORD_EDITED if i in self.edited_words
                     else _WORD_ESTIMATED if estimated else _WORD)
            block.setBrush(QBrush(color, Qt.BrushStyle.BDiagPattern if estimated and
                                  i not in self.selected else Qt.BrushStyle.SolidPattern))
            pen = QPen(QColor(240, 90, 90) if estimated else QColor(20, 20, 20))
            pen.setWidth(0)
            pen.setStyle(Qt.PenStyle.DashLine if estimated else Qt.PenStyle.SolidLine)
            block.setPen(pen)

    def click_word(self, index: int, shift: bool = False) -> None:
        """Select a word; with shift, add it to (or take it out of) the selection."""
        if shift:
            sel = [i for i in self.selected if i != index]
            if len(sel) == len(self.selected):
                sel.append(index)
            self.selected = sorted(sel)
        else:
            self.selected = [index]
        self._paint_words()
        self.word_clicked.emit(index, shift)
        self.selection_changed.emit(list(self.selected))

    def select_words(self, indices: list[int]) -> None:
        self.selected = sorted(set(indices))
        self._paint_words()
        self.selection_changed.emit(list(self.selected))

    def word_center(self, index: int) -> QPoint:
        """The viewport position of a word block's centre (for tests and tooltips)."""
        rect = self.word_blocks[index].rect()
        scene = self.getPlotItem().getViewBox().mapViewToScene(rect.center())
        return self.mapFromScene(scene)

    # -- phones -----------------------------------------------------------------------

    def set_phones(self, phones: list[Any], visemes: list[str], edited: set[int]) -> None:
        """One block per phone of the (edited) alignment, labelled with its viseme."""
        p = self.getPlotItem()
        if len(phones) != len(self.phone_blocks):  # else the items are moved, not remade
            for item in self.phone_blocks + self.phone_labels:
                p.removeItem(item)
            self.phone_blocks = [_Block(QRectF(), lambda shift: None) for _ in phones]
            self.phone_labels = [pg.TextItem("", color=(225, 225, 225), anchor=(0.5, 0.5))
                                 for _ in phones]
            for item in self.phone_blocks + self.phone_labels:
                p.addItem(item)
        old = list(zip(self.phones, self.visemes, strict=False))
        self.phones, self.visemes = list(phones), list(visemes)
        self.edited_phones = set(edited)
        y = region_y("phones")
        for i, (ph, vis) in enumerate(zip(self.phones, self.visemes, strict=True)):
            block, label = self.phone_blocks[i], self.phone_labels[i]
            block.setBrush(QBrush(_PHONE_EDITED if i in edited else _PHONE))
            if i < len(old) and old[i] == (ph, vis) and block.toolTip():
                continue  # unchanged
            block.setRect(QRectF(ph.start, y - 0.4, max(ph.end - ph.start, 1e-3), 0.8))
            block.setToolTip(f"{ph.label} → {vis} ({ph.start:.3f}–{ph.end:.3f} s); drag an "
                             "edge to retime, right-click for its mouth shape")
            label.setText(vis)
            label.setPos((ph.start + ph.end) / 2, y)

    def phone_at(self, t: float) -> int | None:
        return next((i for i, ph in enumerate(self.phones) if ph.start <= t < ph.end), None)

    def phone_edge(self, index: int) -> QPoint:
        """The viewport position of the boundary after phone ``index`` (tests, tooltips)."""
        return self.view_point(self.phone_blocks[index].rect().right(), region_y("phones"))

    def viseme_menu(self, index: int) -> QMenu:
        """The mouth shapes to pick for phone ``index``, each drawn (``mouth_icons``)."""
        menu = QMenu(self)
        menu.setTitle(f"Mouth shape of {self.phones[index].label}")
        own = menu.addAction("Its own (from the phone)")
        own.triggered.connect(lambda: self.phone_viseme_picked.emit(index, ""))
        menu.addSeparator()
        for vis in VISEME_CLASSES:
            action = menu.addAction(self.mouth_icons.get(vis, QIcon()), vis)
            action.setCheckable(True)
            action.setChecked(vis == self.visemes[index])
            action.triggered.connect(lambda _=False, v=vis: self.phone_viseme_picked.emit(
                index, v))
        return menu

    # -- markers, zoom, scrolling ------------------------------------------------------

    def set_markers(self, markers: list[float]) -> None:
        p = self.getPlotItem()
        for line in self.marker_lines:
            p.removeItem(line)
        self.markers = sorted(markers)
        self.marker_lines = []
        for i, t in enumerate(self.markers):
            line = pg.InfiniteLine(pos=t, angle=90, movable=False,
                                   pen=pg.mkPen(_MARKER, width=1, style=Qt.PenStyle.DashLine),
                                   label=str(i + 1), labelOpts={"position": 0.97,
                                                                "color": _MARKER})
            p.addItem(line)
            self.marker_lines.append(line)

    def add_marker(self) -> None:
        self.marker_added.emit(float(self.playhead.value()))

    def remove_marker(self) -> None:
        if self.markers:
            self.marker_removed.emit(float(self.playhead.value()))

    def _content_end(self) -> float:
        ends = [b.rect().right() for b in self.word_blocks + self.phone_blocks]
        ends += [float(c["end"]) for c in self.clips.values()]
        if self.duration != float("inf"):
            ends.append(self.duration)
        return max(ends, default=1.0)

    def zoom_to_fit(self) -> None:
        """Show the whole take (all words, phones and clips) at once."""
        self.getPlotItem().setXRange(0.0, self._content_end(), padding=0.01)

    def _fit_scrollbar(self) -> None:
        """The scrollbar's handle shows the visible stretch of the whole take (ms)."""
        lo, hi = self.getPlotItem().getViewBox().viewRange()[0]
        total = self._content_end()
        page = max(1, int((hi - lo) * 1000))
        self.scrollbar.blockSignals(True)
        self.scrollbar.setRange(0, max(0, int(total * 1000) - page))
        self.scrollbar.setPageStep(page)
        self.scrollbar.setSingleStep(max(1, page // 10))
        self.scrollbar.setValue(int(max(lo, 0.0) * 1000))
        self.scrollbar.blockSignals(False)

    def _scrolled(self, value: int) -> None:
        lo, hi = self.getPlotItem().getViewBox().viewRange()[0]
        start = value / 1000.0
        self.getPlotItem().setXRange(start, start + (hi - lo), padding=0)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(ev)
        if "scrollbar" not in self.__dict__:
            return  # pyqtgraph resizes while it is being made
        r = self.contentsRect()
        self.scrollbar.setGeometry(r.left(), r.bottom() - SCROLL_PX + 1, r.width(), SCROLL_PX)

    def snap(self, t: float, sx: float, own: tuple[float, ...] = ()) -> float:
        """``t`` moved onto the nearest word or phone edge, marker or the playhead within
        ``SNAP_PX`` pixels (``sx`` seconds per pixel); ``own``: the dragged item's edges."""
        if not self.snapping:
            return t
        targets = [float(self.playhead.value()), *self.markers]
        for b in self.word_blocks + self.phone_blocks:
            r = b.rect()
            targets += [r.left(), r.right()]
        best, reach = t, SNAP_PX * sx
        for x in targets:
            if any(abs(x - o) < 1e-9 for o in own):
                continue
            if abs(x - t) <= reach:
                best, reach = x, abs(x - t)
        return best

    # -- emotion clips ----------------------------------------------------------------

    def set_clips(self, clips: list[dict[str, Any]]) -> None:
        p = self.getPlotItem()
        for item in (list(self.clip_blocks.values()) + list(self.clip_fades.values())
                     + list(self.clip_labels.values())):
            p.removeItem(item)
        self.clip_blocks, self.clip_fades, self.clip_labels = {}, {}, {}
        self.clips = {c["id"]: dict(c) for c in clips}
        for c in clips:
            y = region_y(c["region"])
            block = _Block(QRectF(float(c["start"]), y - 0.4,
                                  max(float(c["end"]) - float(c["start"]), 1e-3), 0.8),
                           lambda shift, cid=c["id"]: self.click_clip(cid))
            name = c.get("emotion") or "reference"
            block.setToolTip(f"{name} on {c['region']}, intensity {float(c['intensity']):.2f}")
            p.addItem(block)
            self.clip_blocks[c["id"]] = block
            label = pg.TextItem(f"{name} {float(c['intensity']):.0%}", color=(250, 250, 250),
                                anchor=(0, 0.5))
            label.setPos(float(c["start"]), y)
            p.addItem(label)
            self.clip_labels[c["id"]] = label
            start, end = float(c["start"]), float(c["end"])
            fi, fo = float(c.get("fade_in", 0.0)), float(c.get("fade_out", 0.0))
            fades = pg.PlotDataItem([start, start + fi, end - fo, end],
                                    [y - 0.4, y + 0.4, y + 0.4, y - 0.4],
                                    pen=pg.mkPen((235, 235, 235), width=1),
                                    symbol="s", symbolSize=6, symbolBrush=(235, 235, 235))
            p.addItem(fades)
            self.clip_fades[c["id"]] = fades
        if self.selected_clip not in self.clip_blocks:
            self.selected_clip = None
        self._paint_clips()

    def _paint_clips(self) -> None:
        for cid, block in self.clip_blocks.items():
            block.setBrush(QBrush(_CLIP_SELECTED if cid == self.selected_clip else _CLIP))

    def click_clip(self, clip_id: str | None) -> None:
        self.selected_clip = clip_id
        self._paint_clips()
        self.clip_clicked.emit(clip_id or "")

    # -- time -------------------------------------------------------------------------

    def set_duration(self, duration: float) -> None:
        self.duration = float(duration)
        p = self.getPlotItem()
        p.setLimits(xMin=-0.2, xMax=duration + 0.5)
        p.setXRange(0, duration, padding=0.01)

    def _scene_clicked(self, ev) -> None:
        if ev.isAccepted() or ev.button() != Qt.MouseButton.LeftButton:
            return
        vb = self.getPlotItem().getViewBox()
        if vb.sceneBoundingRect().contains(ev.scenePos()):
            t = float(vb.mapSceneToView(ev.scenePos()).x())
            self.scrubbed.emit(max(0.0, t))

    # -- dragging edges, clips and fades ------------------------------------------------

    def view_point(self, t: float, y: float) -> QPoint:
        """The viewport position of view point (seconds, track y), for tests and hit tests."""
        scene = self.getPlotItem().getViewBox().mapViewToScene(QPointF(t, y))
        return self.mapFromScene(scene)

    def word_edge(self, index: int, side: str) -> QPoint:
        """The viewport position just inside a word block's ``left`` or ``right`` edge."""
        rect = self.word_blocks[index].rect()
        p = self.view_point(rect.left() if side == "left" else rect.right(), rect.center().y())
        return QPoint(p.x() + (1 if side == "left" else -1), p.y())

    def _to_view(self, pos: QPointF) -> tuple[float, float, float, float]:
        """(t, y, seconds per pixel, track units per pixel) under a viewport position."""
        vb = self.getPlotItem().getViewBox()
        v = vb.mapSceneToView(self.mapToScene(pos.toPoint()))
        sx, sy = vb.viewPixelSize()
        return float(v.x()), float(v.y()), max(float(sx), 1e-9), max(float(sy), 1e-9)

    def hit(self, pos: QPointF) -> tuple[str, Any] | None:
        """What a press at ``pos`` would drag: (kind, word index or clip id), or None."""
        t, y, sx, sy = self._to_view(pos)
        best = None
        if self.phone_blocks and abs(y - region_y("phones")) <= 0.4:
            edges = [(abs(b.rect().right() - t) / sx, i)
                     for i, b in enumerate(self.phone_blocks[:-1])]
            d, i = min(edges, default=(float("inf"), -1))
            return ("phone-edge", i) if d <= GRAB_PX else None
        for i, block in enumerate(self.word_blocks):
            r = block.rect()
            if not r.top() <= y <= r.bottom():
                continue
            zone = min(GRAB_PX, r.width() / sx / 3)
            inside = r.left() <= t <= r.right()
            for kind, x in (("word-start", r.left()), ("word-end", r.right())):
                d = abs(t - x) / sx
                if d <= zone and (best is None or (d, not inside) < best[0]):
                    best = ((d, not inside), kind, i)
        if best is not None:
            return best[1], best[2]
        for cid, block in self.clip_blocks.items():
            r, c = block.rect(), self.clips[cid]
            if not (r.top() <= y <= r.bottom()
                    and r.left() - GRAB_PX * sx <= t <= r.right() + GRAB_PX * sx):
                continue
            zone = min(GRAB_PX, r.width() / sx / 3)
            if (r.bottom() - y) / sy <= HANDLE_PX:
                fi, fo = float(c.get("fade_in", 0.0)), float(c.get("fade_out", 0.0))
                if abs(t - (r.left() + fi)) / sx <= GRAB_PX:
                    return "fade_in", cid
                if abs(t - (r.right() - fo)) / sx <= GRAB_PX:
                    return "fade_out", cid
            if abs(t - r.left()) / sx <= zone:
                return "clip-start", cid
            if abs(t - r.right()) / sx <= zone:
                return "clip-end", cid
            if r.left() <= t <= r.right():
                return "clip-move", cid
        return None

    def _begin(self, kind: str, target: Any, t: float) -> _Drag:
        if kind == "phone-edge":
            a, b = self.phone_blocks[target].rect(), self.phone_blocks[target + 1].rect()
            return _Drag(kind, target, t, a.right(), a.right(), lo=a.left() + MIN_PHONE,
                         hi=b.right() - MIN_PHONE, token=next(_tokens))
        if kind.startswith("word"):
            rects = [b.rect() for b in self.word_blocks]
            r = rects[target]
            lo = rects[target - 1].right() if target > 0 else 0.0
            hi = rects[target + 1].left() if target + 1 < len(rects) else self.duration
            return _Drag(kind, target, t, r.left(), r.right(), lo=min(lo, r.left()),
                         hi=max(hi, r.right()), token=next(_tokens))
        c = self.clips[target]
        return _Drag(kind, target, t, float(c["start"]), float(c["end"]),
                     float(c.get("fade_in", 0.0)), float(c.get("fade_out", 0.0)),
                     token=next(_tokens))

    def _dragged(self, t: float, sx: float = 0.0) -> None:
        d = self.drag
        dt = t - d.t0
        fades = d.fade_in + d.fade_out
        own = (d.start, d.end)

        def at(x: float) -> float:
            return round(self.snap(x, sx, own), 4)

        if d.kind == "phone-edge":
            value: Any = max(d.lo, min(at(d.start + dt), d.hi))
        elif d.kind == "word-start":
            start = max(d.lo, min(at(d.start + dt), d.end - MIN_WORD))
            value = (start, d.end)
        elif d.kind == "word-end":
            end = min(d.hi, max(at(d.end + dt), d.start + MIN_WORD))
            value = (d.start, end)
        elif d.kind == "clip-move":
            moved = at(d.start + dt) - d.start
            if abs(moved - dt) < 1e-9:
                moved = at(d.end + dt) - d.end
            dt = max(-d.start, min(round(moved, 3), self.duration - d.end))
            value = {"start": d.start + dt, "end": d.end + dt}
        elif d.kind == "clip-start":
            value = {"start": max(0.0, min(at(d.start + dt),
                                           d.end - max(MIN_CLIP, fades)))}
        elif d.kind == "clip-end":
            value = {"end": min(self.duration, max(at(d.end + dt),
                                                   d.start + max(MIN_CLIP, fades)))}
        elif d.kind == "fade_in":
            value = {"fade_in": max(0.0, min(round(d.fade_in + dt, 3),
                                             d.end - d.start - d.fade_out))}
        else:
            value = {"fade_out": max(0.0, min(round(d.fade_out - dt, 3),
                                              d.end - d.start - d.fade_in))}
        if value == d.last:
            return
        d.last = value
        if d.kind == "phone-edge":
            self.phone_boundary_dragged.emit(d.target, value, d.token)
        elif d.kind.startswith("word"):
            self.word_timing_dragged.emit(d.target, value[0], value[1], d.token)
        else:
            self.clip_dragged.emit(d.target, value, d.token)

    def mousePressEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        if ev.button() == Qt.MouseButton.LeftButton and self.drag is None:
            hit = self.hit(ev.position())
            if hit is not None:
                kind, target = hit
                if not kind.startswith(("word", "phone")):
                    self.click_clip(target)
                self.drag = self._begin(kind, target, self._to_view(ev.position())[0])
                ev.accept()
                return
        if ev.button() == Qt.MouseButton.RightButton:
            self.context_menu(ev.position()).popup(ev.globalPosition().toPoint())
            ev.accept()
            return
        super().mousePressEvent(ev)

    def context_menu(self, pos: QPointF) -> QMenu:
        """Right-click: a phone's mouth shapes on the phone track; elsewhere markers,
        zoom-to-fit and snapping."""
        t, y, _, _ = self._to_view(pos)
        i = self.phone_at(t) if abs(y - region_y("phones")) <= 0.4 else None
        if i is not None:
            return self.viseme_menu(i)
        menu = QMenu(self)
        w = next((k for k, b in enumerate(self.word_blocks)
                  if b.rect().left() <= t <= b.rect().right()), None)
        if w is not None and abs(y - region_y("words")) <= 0.4:
            retype = menu.addAction(f"Retype {self.words[w].text!r}…")
            retype.triggered.connect(lambda: self.word_retype_requested.emit(w))
            menu.addSeparator()
        for action in self.actions():
            menu.addAction(action)
        snap = menu.addAction("Snap to words, phones, markers and playhead")
        snap.setCheckable(True)
        snap.setChecked(self.snapping)
        snap.toggled.connect(lambda on: setattr(self, "snapping", on))
        return menu

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        if self.drag is not None:
            self._dragged(*self._to_view(ev.position())[::2])
            ev.accept()
            return
        if ev.buttons() == Qt.MouseButton.NoButton:
            hit = self.hit(ev.position())
            if hit is None:
                self.viewport().unsetCursor()
            else:
                self.viewport().setCursor(_CURSORS[hit[0]])
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            return
        if self.drag is not None and ev.button() == Qt.MouseButton.LeftButton:
            self._dragged(*self._to_view(ev.position())[::2])
            drag, self.drag = self.drag, None
            self.drag_finished.emit(drag.token)
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def clear_all(self) -> None:
        self.set_words([], {}, set())
        self.set_phones([], [], set())
        self.set_markers([])
        self.set_clips([])
