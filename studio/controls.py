"""The control panel: global controls, the word inspector and the emotion clip inspector.

It only shows values and reports what the user moved (``setting_edited``, ``word_edited``,
``clip_edited``...); the window turns those into core commands on the undo stack. Each
slider drag carries a token, so one drag becomes one undo step.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core import vocabulary
from core.project.schema import EMOTIONS, REGIONS, RENDERERS

_tokens = itertools.count(1)


class ValueSlider(QWidget):
    """A horizontal slider over [lo, hi] in steps, with a number field beside it to type
    the value; a double-click on the slider puts the default back.

    ``edited(value, token)`` fires for user and programmatic moves (not for :meth:`show`);
    the token changes whenever the handle is pressed or released, on keyboard steps, on a
    typed value and on a reset. :meth:`show_mixed` says the selected things differ.
    """

    edited = Signal(float, int)

    def __init__(self, lo: float, hi: float, step: float, fmt: str = "{:.2f}",
                 parent=None, default: float | None = None) -> None:
        super().__init__(parent)
        self.lo, self.step, self.fmt = lo, step, fmt
        self.default = lo if default is None else float(default)
        self.mixed = False
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((hi - lo) / step))
        self.entry = QDoubleSpinBox()
        self.entry.setDecimals(max(0, -math.floor(math.log10(step) + 1e-9)))
        self.entry.setRange(lo, hi)
        self.entry.setSingleStep(step)
        self.entry.setKeyboardTracking(False)  # a typed value counts when it is done
        suffix = fmt.split("}", 1)[1] if "}" in fmt else ""
        self.entry.setSuffix(suffix)
        self.entry.setMinimumWidth(64)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.entry)
        self.token = next(_tokens)
        self._quiet = False
        self.slider.sliderPressed.connect(self._new_token)
        self.slider.sliderReleased.connect(self._new_token)
        self.slider.valueChanged.connect(self._changed)
        self.entry.valueChanged.connect(self._typed)
        self.slider.installEventFilter(self)

    @classmethod
    def of(cls, control: vocabulary.Control, hi: float | None = None) -> ValueSlider:
        """The slider of a control defined in :mod:`core.vocabulary` (``hi``: where the
        slider ends when the control has no upper limit)."""
        default = control.default if control.default is not None else 1.0
        s = cls(control.lo, control.hi if hi is None else hi, control.step, control.fmt,
                default=default)
        tip = control.tip or control.what
        if tip:
            s.tip = (f"{tip[0].upper()}{tip[1:]} (from {control.lo:g} to "
                     f"{(control.hi if hi is None else hi):g}; default {default:g}; "
                     "double-click the slider to reset)")
            s.setToolTip(s.tip)
        return s

    tip = ""

    def eventFilter(self, obj: Any, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if obj is self.slider and event.type() == QEvent.Type.MouseButtonDblClick:
            self.reset()
            return True
        return False

    def reset(self) -> None:
        """Back to the default, as one undo step."""
        self._new_token()
        self.setValue(self.default)
        self._new_token()

    def _new_token(self) -> None:
        self.token = next(_tokens)

    def value(self) -> float:
        return round(self.lo + self.slider.value() * self.step, 6)

    def setValue(self, value: float) -> None:  # noqa: N802 - Qt style, as a user move
        index = round((value - self.lo) / self.step)
        if index == self.slider.value() and self.mixed:
            self._changed(index)  # one value for every selected thing, as asked
        self.slider.setValue(index)

    def show_value(self, value: float) -> None:
        """Show a value without reporting it (the project changed, e.g. undo)."""
        self._quiet = True
        try:
            self.slider.setValue(round((value - self.lo) / self.step))
            self._show_entry()
        finally:
            self._quiet = False
        self.mixed = False
        self.setToolTip(self.tip)

    def show_mixed(self, value: float) -> None:
        """The selected things differ: the handle at the first one's value, the field
        says "mixed"; moving either sets them all."""
        self.show_value(value)
        self.mixed = True
        self.entry.lineEdit().setText("mixed")
        self.setToolTip(f"{self.tip}\nmixed: the selected words differ")

    def _show_entry(self) -> None:
        self.entry.blockSignals(True)
        try:
            self.entry.setValue(self.value())
        finally:
            self.entry.blockSignals(False)

    def _typed(self, value: float) -> None:
        if self._quiet:
            return
        self._new_token()
        self.setValue(value)
        self._new_token()
        self._show_entry()

    def _changed(self, _: int) -> None:
        if not self._quiet:
            self.mixed = False
            self._show_entry()
            self.edited.emit(self.value(), self.token)


class ControlPanel(QWidget):
    setting_edited = Signal(str, object, int)  # key, value, drag token (0: no merge)
    word_edited = Signal(str, object, int)  # field, value, drag token
    add_clip = Signal(str, str)  # region, emotion
    clip_edited = Signal(str, str, object, int)  # clip id, field, value, drag token
    clip_image_requested = Signal(str)  # clip id: the user wants to pick a source image
    remove_clip = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("controls")
        lay = QVBoxLayout(self)

        g = QGroupBox("Global")
        form = QFormLayout(g)
        self.alpha = ValueSlider.of(vocabulary.ALPHA)
        self.beta = ValueSlider.of(vocabulary.BETA)
        self.smoothing = ValueSlider.of(vocabulary.SMOOTHING)
        for control, s in ((vocabulary.ALPHA, self.alpha), (vocabulary.BETA, self.beta),
                           (vocabulary.SMOOTHING, self.smoothing)):
            form.addRow(control.label, s)
        self.driver = QComboBox()
        self.driver.addItem("learned", "learned")
        self.driver.addItem("visemes", "visemes")
        self.driver.setToolTip("The lip driver: the learned lip model (hears the sound; "
                               "default), visemes (a mouth shape per phone), or an adapter "
                               "fine-tuned on this project (Train menu)")
        self.renderer = QComboBox()
        self.renderer.addItems(list(RENDERERS))
        form.addRow("driver", self.driver)
        form.addRow("renderer", self.renderer)
        lay.addWidget(g)
        for key, s in (("alpha", self.alpha), ("beta", self.beta),
                       ("smoothing", self.smoothing)):
            s.edited.connect(lambda v, t, key=key: self.setting_edited.emit(key, v, t))
        self.driver.activated.connect(
            lambda _: self.setting_edited.emit("driver", self.driver_value(), 0))
        self.renderer.activated.connect(
            lambda _: self.setting_edited.emit("renderer", self.renderer.currentText(), 0))

        w = QGroupBox("Word")
        self.word_box = w
        form = QFormLayout(w)
        self.word_label = QLabel("no word selected")
        self.word_label.setWordWrap(True)
        form.addRow(self.word_label)
        self.open = ValueSlider.of(vocabulary.WORD_SHAPE)
        self.wide = ValueSlider.of(vocabulary.WORD_SHAPE)
        self.round = ValueSlider.of(vocabulary.WORD_SHAPE)
        self.word_alpha_on = QCheckBox(vocabulary.WORD_ALPHA.label)
        self.word_alpha = ValueSlider.of(vocabulary.WORD_ALPHA)
        self.silent = QCheckBox("silent (closed lips)")
        form.addRow("open", self.open)
        form.addRow("wide", self.wide)
        form.addRow("round", self.round)
        form.addRow(self.word_alpha_on, self.word_alpha)
        form.addRow(self.silent)
        self.saturation = QLabel("")
        self.saturation.setWordWrap(True)
        self.saturation.setToolTip("Where α, β and the word scales ask for more opening "
                                   "than the face can give, the opening saturates smoothly")
        form.addRow(self.saturation)
        lay.addWidget(w)
        for field, s in (("open", self.open), ("wide", self.wide), ("round", self.round)):
            s.edited.connect(lambda v, t, field=field: self.word_edited.emit(field, v, t))
        self.word_alpha.edited.connect(
            lambda v, t: self.word_alpha_on.isChecked() and self.word_edited.emit("alpha", v, t))
        self.word_alpha_on.clicked.connect(
            lambda on: self.word_edited.emit("alpha", self.word_alpha.value() if on else None, 0))
        self.silent.clicked.connect(lambda on: self.word_edited.emit("silent", bool(on), 0))
        self.silent.clicked.connect(lambda _: self.silent.setTristate(False))

        e = QGroupBox("New emotion clip")
        form = QFormLayout(e)
        self.region = QComboBox()
        self.region.addItems(list(REGIONS))
        self.emotion = QComboBox()
        self.emotion.addItems([x for x in EMOTIONS if x != "neutral"])
        add = QPushButton("Add clip over the selection")
        add.setToolTip("An emotion clip on the region's track, over the selected words "
                       "(or one second at the playhead)")
        add.clicked.connect(lambda: self.add_clip.emit(self.region.currentText(),
                                                       self.emotion.currentText()))
        self.add_button = add
        form.addRow("region", self.region)
        form.addRow("emotion", self.emotion)
        form.addRow(add)
        c = QGroupBox("Selected emotion clip")
        form = QFormLayout(c)
        self.clip_label = QLabel("no clip selected")
        self.clip_emotion = QComboBox()
        self.clip_emotion.addItems(list(EMOTIONS))
        self.clip_emotion.setToolTip("The clip's preset emotion (choosing one replaces a "
                                     "source image)")
        self.clip_source = QLabel("preset")
        self.clip_source.setWordWrap(True)
        self.source_button = QPushButton("Source image…")
        self.source_button.setToolTip("Take the emotion from a reference picture of a face "
                                      "(its expression on this clip's region)")
        self.clear_source = QPushButton("Clear")
        self.clear_source.setToolTip("Back to the preset emotion")
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_button, 1)
        source_row.addWidget(self.clear_source)
        self.intensity = ValueSlider.of(vocabulary.INTENSITY)
        self.fade_in = ValueSlider.of(vocabulary.FADE, hi=vocabulary.FADE_SLIDER_MAX)
        self.fade_out = ValueSlider.of(vocabulary.FADE, hi=vocabulary.FADE_SLIDER_MAX)
        self.remove = QPushButton("Remove clip")
        form.addRow(self.clip_label)
        form.addRow("emotion", self.clip_emotion)
        form.addRow("source", self.clip_source)
        form.addRow(source_row)
        form.addRow("intensity", self.intensity)
        form.addRow("fade in", self.fade_in)
        form.addRow("fade out", self.fade_out)
        form.addRow(self.remove)
        self.clip_id: str | None = None
        self._presets: dict[str, str] = {}  # clip id -> the preset it had, for "Clear"
        for field, s in (("intensity", self.intensity), ("fade_in", self.fade_in),
                         ("fade_out", self.fade_out)):
            s.edited.connect(lambda v, t, field=field: self.clip_id and self.clip_edited.emit(
                self.clip_id, field, v, t))
        self.remove.clicked.connect(lambda: self.clip_id and self.remove_clip.emit(self.clip_id))
        self.clip_emotion.activated.connect(lambda _: self._preset_chosen())
        self.clear_source.clicked.connect(self._preset_chosen)
        self.source_button.clicked.connect(
            lambda: self.clip_id and self.clip_image_requested.emit(self.clip_id))
        lay.addWidget(e)
        lay.addWidget(c)
        lay.addStretch(1)
        self.show_words([], None)
        self.show_clip(None)

    def show_settings(self, settings: dict[str, Any]) -> None:
        self.alpha.show_value(float(settings["alpha"]))
        self.beta.show_value(float(settings["beta"]))
        self.smoothing.show_value(min(10.0, float(settings["smoothing"])))
        self.renderer.setCurrentText(str(settings.get("renderer", "warp")))
        self.show_driver(str(settings.get("driver", "learned")))

    def driver_value(self) -> str:
        """The ``driver`` setting of the chosen entry."""
        return str(self.driver.currentData() or self.driver.currentText())

    def set_drivers(self, choices: list[tuple[str, str]]) -> None:
        """The driver entries, as (label, setting value); the shown one stays if offered."""
        current = self.driver_value()
        self.driver.blockSignals(True)
        try:
            self.driver.clear()
            for label, value in choices:
                self.driver.addItem(label, value)
        finally:
            self.driver.blockSignals(False)
        self.show_driver(current)

    def add_driver(self, label: str, value: str) -> None:
        if self.driver.findData(value) < 0:
            self.driver.addItem(label, value)

    def show_driver(self, value: str) -> None:
        """Show the entry of a ``driver`` setting (added, named by its value, if unknown)."""
        i = self.driver.findData(value)
        if i < 0:
            self.driver.addItem(value.split("/")[-1], value)
            i = self.driver.count() - 1
        self.driver.setCurrentIndex(i)

    def show_words(self, texts: list[str], style: dict[str, Any] | None,
                   styles: list[dict[str, Any]] | None = None) -> None:
        """The inspector for the selected words (``style``: the first one's fields;
        ``styles``: every selected word's, so a field where they differ shows "mixed")."""
        on = bool(texts) and style is not None
        for wgt in (self.open, self.wide, self.round, self.word_alpha_on, self.word_alpha,
                    self.silent):
            wgt.setEnabled(on)
        if not on:
            self.word_label.setText("no word selected (click one on the timeline; "
                                    "shift-click adds)")
            return
        self.word_label.setText(" · ".join(f"“{t}”" for t in texts))
        styles = styles or [style]
        for field, s in (("open", self.open), ("wide", self.wide), ("round", self.round)):
            differ = len({float(x[field]) for x in styles}) > 1
            (s.show_mixed if differ else s.show_value)(float(style[field]))
        own = style.get("alpha")
        self.word_alpha_on.setChecked(own is not None)
        owns = {x.get("alpha") for x in styles}
        (self.word_alpha.show_mixed if len(owns) > 1 else self.word_alpha.show_value)(
            1.0 if own is None else float(own))
        silent = {bool(x["silent"]) for x in styles}
        self.silent.setTristate(len(silent) > 1)
        self.silent.setCheckState(Qt.CheckState.PartiallyChecked if len(silent) > 1 else
                                  Qt.CheckState.Checked if style["silent"] else
                                  Qt.CheckState.Unchecked)

    def show_saturation(self, share: float | None) -> None:
        """How much of the asked opening the face could not give, over the selected words
        (else at the playhead): the α and word sliders stop opening the mouth there."""
        if share is None or share < 0.005:
            self.saturation.setText("opening: within the face's reach")
            self.saturation.setStyleSheet("")
        else:
            self.saturation.setText(f"opening saturates: {100 * share:.0f} % of the asked "
                                    "motion is held back")
            self.saturation.setStyleSheet("color: #d08000;")

    def _preset_chosen(self) -> None:
        """The combo's preset as the clip's emotion (also what "Clear" does to an image)."""
        if self.clip_id:
            self.clip_edited.emit(self.clip_id, "emotion", self.clip_emotion.currentText(), 0)

    def show_clip(self, clip: dict[str, Any] | None) -> None:
        self.clip_id = None if clip is None else clip["id"]
        for wgt in (self.clip_emotion, self.source_button, self.intensity, self.fade_in,
                    self.fade_out, self.remove):
            wgt.setEnabled(clip is not None)
        self.clear_source.setEnabled(clip is not None and "source" in clip)
        if clip is None:
            self.clip_label.setText("no clip selected")
            self.clip_source.setText("")
            return
        source = clip.get("source") or {}
        if clip.get("emotion"):
            self._presets[clip["id"]] = clip["emotion"]
            self.clip_source.setText("preset")
        elif "image" in source:
            ref = source["image"]
            self.clip_source.setText(f"image {Path(str(getattr(ref, 'path', ref))).name}")
            self.clip_source.setToolTip(str(getattr(ref, "path", ref)))
        elif "frame" in source:
            self.clip_source.setText(f"source frame {int(source['frame'])}")
        self.clip_emotion.setCurrentText(self._presets.get(clip["id"], "neutral"))
        name = clip.get("emotion") or "reference"
        self.clip_label.setText(f"{name} on {clip['region']}, "
                                f"{float(clip['start']):.2f}–{float(clip['end']):.2f} s")
        self.intensity.show_value(float(clip["intensity"]))
        self.fade_in.show_value(float(clip["fade_in"]))
        self.fade_out.show_value(float(clip["fade_out"]))
