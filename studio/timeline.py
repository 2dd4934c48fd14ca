"""The waveform and timeline panes: two pyqtgraph plots sharing one time axis (seconds).

The waveform shows the dub's samples and loudness envelope, with the source's sound below;
the timeline has a ruler (its time axis), a playhead, a word track and one emotion track per
facial region. Both zoom and scroll together (wheel, drag).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from core.project.schema import REGIONS

AXIS_WIDTH = 60
ROW_HEIGHT = 1.0
_WORD = QColor(70, 120, 190)
_WORD_EDITED = QColor(190, 130, 50)
_SELECTED = QColor(250, 210, 80)
_CLIP = QColor(150, 90, 180)


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
        y = dict(_rows())["words"]
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
        for item in self.clip_blocks.values():
            p.removeItem(item)
        self.clip_blocks = {}
        for c in clips:
            y = region_y(c["region"])
            block = _Block(QRectF(float(c["start"]), y - 0.4,
                                  max(float(c["end"]) - float(c["start"]), 1e-3), 0.8),
                           lambda shift, cid=c["id"]: self.click_clip(cid))
            name = c.get("emotion") or "reference"
            block.setToolTip(f"{name} on {c['region']}, intensity {float(c['intensity']):.2f}")
            p.addItem(block)
            self.clip_blocks[c["id"]] = block
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

    def clear_all(self) -> None:
        self.set_words([], {}, set())
        self.set_clips([])
