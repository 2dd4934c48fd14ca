"""The waveform and timeline panes: two pyqtgraph plots sharing one time axis (seconds).

The waveform shows the dub's samples and loudness envelope, with the source's sound below;
the timeline has a ruler (its time axis), a playhead, a word track and one emotion track per
facial region. Both zoom and scroll together (wheel, drag).

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
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from core.project.schema import REGIONS

AXIS_WIDTH = 60
ROW_HEIGHT = 1.0
_WORD = QColor(70, 120, 190)
_WORD_EDITED = QColor(190, 130, 50)
_SELECTED = QColor(250, 210, 80)
_CLIP = QColor(150, 90, 180)
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


_CURSORS = {"word-start": Qt.CursorShape.SizeHorCursor, "word-end": Qt.CursorShape.SizeHorCursor,
            "clip-start": Qt.CursorShape.SizeHorCursor, "clip-end": Qt.CursorShape.SizeHorCursor,
            "fade_in": Qt.CursorShape.SplitHCursor, "fade_out": Qt.CursorShape.SplitHCursor,
            "clip-move": Qt.CursorShape.SizeAllCursor}


def _rows() -> list[tuple[str, float]]:
    """(label, y centre) of every track, top to bottom."""
    return [("words", -0.5)] + [(r, -1.5 - i) for i, r in enumerate(REGIONS)]


def region_y(region: str) -> float:
    return dict(_rows())[region]


class _Block(QGraphicsRectItem):
    """A clickable block in view coordinates (seconds × track)."""

    def __init__(self, rect: QRectF, on_click: Any) -> None:
        super().__init__(rect)
        self.on_click = on_click
        pen = QPen(QColor(20, 20, 20))
        pen.setWidth(0)  # a hairline: a wider pen would widen the shape by seconds
        self.setPen(pen)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph's name
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
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
                           lambda shift, i=i: self.click_word(i, shift))
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
            color = (_SELECTED if i in self.selected
                     else _WORD_EDITED if i in self.edited_words else _WORD)
            block.setBrush(QBrush(color))

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

    # -- emotion clips ----------------------------------------------------------------

    def set_clips(self, clips: list[dict[str, Any]]) -> None:
        p = self.getPlotItem()
        for item in list(self.clip_blocks.values()) + list(self.clip_fades.values()):
            p.removeItem(item)
        self.clip_blocks, self.clip_fades = {}, {}
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
            block.setBrush(QBrush(_SELECTED if cid == self.selected_clip else _CLIP))

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

    def _dragged(self, t: float) -> None:
        d = self.drag
        dt = t - d.t0
        fades = d.fade_in + d.fade_out
        if d.kind == "word-start":
            start = max(d.lo, min(round(d.start + dt, 3), d.end - MIN_WORD))
            value: Any = (start, d.end)
        elif d.kind == "word-end":
            end = min(d.hi, max(round(d.end + dt, 3), d.start + MIN_WORD))
            value = (d.start, end)
        elif d.kind == "clip-move":
            dt = max(-d.start, min(round(dt, 3), self.duration - d.end))
            value = {"start": d.start + dt, "end": d.end + dt}
        elif d.kind == "clip-start":
            value = {"start": max(0.0, min(round(d.start + dt, 3),
                                           d.end - max(MIN_CLIP, fades)))}
        elif d.kind == "clip-end":
            value = {"end": min(self.duration, max(round(d.end + dt, 3),
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
        if d.kind.startswith("word"):
            self.word_timing_dragged.emit(d.target, value[0], value[1], d.token)
        else:
            self.clip_dragged.emit(d.target, value, d.token)

    def mousePressEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        if ev.button() == Qt.MouseButton.LeftButton and self.drag is None:
            hit = self.hit(ev.position())
            if hit is not None:
                kind, target = hit
                if not kind.startswith("word"):
                    self.click_clip(target)
                self.drag = self._begin(kind, target, self._to_view(ev.position())[0])
                ev.accept()
                return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        if self.drag is not None:
            self._dragged(self._to_view(ev.position())[0])
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
        if self.drag is not None and ev.button() == Qt.MouseButton.LeftButton:
            self._dragged(self._to_view(ev.position())[0])
            drag, self.drag = self.drag, None
            self.drag_finished.emit(drag.token)
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def clear_all(self) -> None:
        self.set_words([], {}, set())
        self.set_clips([])
