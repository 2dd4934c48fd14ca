"""The preview pane: the current frame, fitted or zoomed, with an optional keypoint overlay."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView


def to_qimage(rgb: np.ndarray) -> QImage:
    """An HxWx3 uint8 RGB array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


POSTER_SIDE = 640  # the longer side of the source frames shown while the analysis runs


class PreviewView(QGraphicsView):
    """Shows one picture; fits it to the pane until the user zooms (wheel), fit again with
    :meth:`fit`. The picture keeps its place in scene units whatever its resolution, so the
    preview-size and full-size renders of a frame replace each other without a jump."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._poster: tuple[object, float] | None = None  # (open source, when last shown)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QBrush(QColor(30, 30, 30)))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.placeholder = self.scene().addText("Drop a video or a portrait, then a dub")
        self.placeholder.setDefaultTextColor(QColor(200, 200, 200))
        self.fitted = True
        self.frame_size: tuple[int, int] | None = None  # the source's (w, h)
        self.image: QImage | None = None

    def show_frame(self, rgb: np.ndarray, frame_size: tuple[int, int],
                   points: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        image = to_qimage(rgb)
        if points is not None:
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            r = max(1.0, image.width() / 400)
            painter.setPen(Qt.PenStyle.NoPen)
            for pts, color in ((points[0], QColor(255, 80, 80, 200)),
                               (points[1], QColor(80, 255, 120, 220))):
                painter.setBrush(color)
                for x, y in pts:
                    painter.drawEllipse(QPointF(float(x), float(y)), r, r)
            painter.end()
        self.image = image
        self.placeholder.setVisible(False)
        self.item.setPixmap(QPixmap.fromImage(image))
        w, h = frame_size
        self.item.setScale(w / max(1, image.width()))
        first = self.frame_size != frame_size
        self.frame_size = frame_size
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        if first or self.fitted:
            self.fit()

    def show_poster(self, path: Path, text: str) -> bool:
        """The source's first frame under ``text`` while the analysis runs; then, as the
        tracking reports its progress, the frame it has reached (:meth:`show_tracked`)."""
        from core.media.source import open_media

        self.end_poster()
        try:
            source = open_media(path)
            rgb = np.ascontiguousarray(source.frame(0, max_side=POSTER_SIDE))
        except Exception:  # noqa: BLE001 - only a picture to wait with; the job says more
            return False
        self._poster = (source, time.monotonic())
        self.show_frame(rgb, (source.width, source.height))
        self.placeholder.setPlainText(text)
        self.placeholder.setVisible(True)
        return True

    def show_tracked(self, frame: int) -> None:
        """The source frame the tracking has reached (at most every half second: the
        window decodes it again, so it stays a glance, not a second decode of the clip)."""
        if self._poster is None:
            return
        source, shown = self._poster
        now = time.monotonic()
        if now - shown < 0.5 or not 0 <= frame < source.frame_count:
            return
        try:
            rgb = np.ascontiguousarray(source.frame(frame, max_side=POSTER_SIDE))
        except Exception:  # noqa: BLE001 - a glance only
            return
        self._poster = (source, now)
        self.show_frame(rgb, (source.width, source.height))
        self.placeholder.setVisible(True)

    def end_poster(self) -> None:
        if self._poster is not None:
            self._poster[0].close()
            self._poster = None

    def clear(self, text: str = "Drop a video or a portrait, then a dub") -> None:
        self.end_poster()
        self.item.setPixmap(QPixmap())
        self.image = None
        self.frame_size = None
        self.placeholder.setPlainText(text)
        self.placeholder.setVisible(True)

    def fit(self) -> None:
        self.fitted = True
        if self.frame_size is not None:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self.fitted = False
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.fitted:
            self.fit()
