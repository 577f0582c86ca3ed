"""Analyze ▸ Segment ▸ Pixel classifier…: paint training strokes, preview, create the result.

The tool window is bound to one image window. The user picks a class (1 to 9, each with a
colour and an editable name) and a brush radius, and drags on the image to paint strokes
(drawn as a translucent coloured overlay; the *Eraser* paints "unlabelled"). *Train &
preview* runs ``segment.pixel_classifier`` in the background without recording it and shows
the classes as a translucent overlay; more strokes where it is wrong, preview again; *Create
result* runs the same operation through :meth:`MainWindow.run_operation`, so it is recorded in
the session log with the strokes as a literal and the label image (or the class
probabilities) opens in a new window.

While *Paint* is on, a left-button drag on the image paints instead of panning (the wheel
still zooms; turn *Paint* off to pan with the mouse). Keys 1–9 pick the class, Ctrl+Z undoes
the last stroke.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from micrographia.dataset import Dataset
from micrographia.errors import MicrographiaError
from micrographia.plugins.classify import OP_ID, rasterize_strokes

__all__ = ["ClassifierTool", "open_classifier_tool", "CLASS_COLOURS", "MAX_CLASSES"]

MAX_CLASSES = 9
#: RGB colour of classes 1..9 (matplotlib's tab10 without grey).
CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (228, 26, 28), (55, 126, 220), (77, 200, 74), (255, 190, 0), (170, 80, 200),
    (0, 200, 200), (255, 127, 14), (240, 110, 190), (150, 100, 50))
DEFAULT_NAMES = ("particle", "support", "vacuum")
TOOL_NAME = "pixel_classifier"


def _round(v: float) -> float:
    return float(round(float(v), 2))


class _PaintItem(pg.ImageItem):
    """Transparent-where-unpainted RGBA overlay that turns left-button drags into strokes."""

    def __init__(self, tool: ClassifierTool) -> None:
        super().__init__(axisOrder="row-major")
        self._tool = tool

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph API)
        """Paint while the left button is dragged (when painting is on)."""
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or not self._tool.painting():
            ev.ignore()
            return
        ev.accept()
        p = ev.buttonDownPos() if ev.isStart() else ev.pos()
        y, x = p.y() - 0.5, p.x() - 0.5  # item coordinates: pixel centres at i + 0.5
        if ev.isStart():
            self._tool.begin_stroke((y, x))
        else:
            self._tool.extend_stroke((y, x))
        if ev.isFinish():
            self._tool.end_stroke()

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph API)
        """Paint a dot on a left click (when painting is on)."""
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or not self._tool.painting():
            ev.ignore()
            return
        ev.accept()
        p = ev.pos()
        self._tool.begin_stroke((p.y() - 0.5, p.x() - 0.5))
        self._tool.end_stroke()


class ClassifierTool(QtWidgets.QWidget):
    """Tool window of the trainable pixel classifier, bound to one image window.

    Parameters
    ----------
    main : MainWindow
        The application (its runner previews, its ``run_operation`` creates the result).
    window : ImageWindow
        The image window painted on (its view shows the overlays).

    Signals
    -------
    strokesChanged()
        A stroke was added, undone or cleared.
    previewShown()
        A preview was computed and drawn.
    previewFailed(str)
        The preview failed (the message).
    """

    strokesChanged = QtCore.Signal()
    previewShown = QtCore.Signal()
    previewFailed = QtCore.Signal(str)

    def __init__(self, main: Any, window: Any) -> None:
        super().__init__(window)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        self.main = main
        self.window_ = window
        self.view = window.view
        ds = self.view.dataset
        self.setWindowTitle("Pixel classifier" + (f" — {ds.title}" if ds.title else ""))
        self._strokes: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._painted: np.ndarray | None = None  # label image of the current frame's strokes
        self._painted_frame = -1
        self._preview: Dataset | None = None
        self._preview_strokes: list[dict[str, Any]] | None = None
        self._preview_watcher: Any = None
        self.result_watcher: Any = None
        self._build_ui()
        self._make_overlays()
        self.view.frameChanged.connect(self._frame_changed)
        self._redraw_strokes()
        self._update_status()

    # -- construction ------------------------------------------------------------------------
    def _build_ui(self) -> None:
        lay = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel(
            "Paint a few strokes of every class on the image, then <b>Train &amp; preview</b>."
            " Add strokes where the preview is wrong.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        box = QtWidgets.QGroupBox("Classes (keys 1–9; double-click a name to rename)")
        bl = QtWidgets.QVBoxLayout(box)
        self.class_list = QtWidgets.QListWidget()
        self.class_list.setMaximumHeight(120)
        bl.addWidget(self.class_list)
        row = QtWidgets.QHBoxLayout()
        self.add_class_button = QtWidgets.QPushButton("Add class")
        self.add_class_button.clicked.connect(lambda: self.add_class())
        self.remove_class_button = QtWidgets.QPushButton("Remove last")
        self.remove_class_button.clicked.connect(self.remove_class)
        row.addWidget(self.add_class_button)
        row.addWidget(self.remove_class_button)
        bl.addLayout(row)
        lay.addWidget(box)
        for name in DEFAULT_NAMES:
            self.add_class(name)
        self.class_list.setCurrentRow(0)

        brush = QtWidgets.QGroupBox("Brush")
        form = QtWidgets.QFormLayout(brush)
        self.paint_check = QtWidgets.QCheckBox("Paint with the left mouse button")
        self.paint_check.setChecked(True)
        self.paint_check.setToolTip("Off: the left button pans the image again")
        form.addRow(self.paint_check)
        self.radius_spin = QtWidgets.QDoubleSpinBox()
        self.radius_spin.setRange(0.5, 200.0)
        self.radius_spin.setSingleStep(0.5)
        self.radius_spin.setValue(3.0)
        self.radius_spin.setSuffix(" px")
        form.addRow("Radius:", self.radius_spin)
        self.eraser_check = QtWidgets.QCheckBox("Eraser (unpaint earlier strokes)")
        form.addRow(self.eraser_check)
        row = QtWidgets.QHBoxLayout()
        self.undo_button = QtWidgets.QPushButton("Undo stroke")
        self.undo_button.clicked.connect(self.undo_stroke)
        self.clear_button = QtWidgets.QPushButton("Clear all")
        self.clear_button.clicked.connect(self.clear_strokes)
        row.addWidget(self.undo_button)
        row.addWidget(self.clear_button)
        form.addRow(row)
        lay.addWidget(brush)

        opts = QtWidgets.QGroupBox("Classifier")
        form = QtWidgets.QFormLayout(opts)
        self.sigmas_edit = QtWidgets.QLineEdit("1, 2, 4, 8")
        self.sigmas_edit.setToolTip("Scales (px) of the features: Gaussian, gradient, Laplacian,"
                                    " DoG, Hessian, structure tensor, local std")
        form.addRow("Feature scales:", self.sigmas_edit)
        self.trees_spin = QtWidgets.QSpinBox()
        self.trees_spin.setRange(1, 1000)
        self.trees_spin.setValue(50)
        form.addRow("Trees:", self.trees_spin)
        self.output_combo = QtWidgets.QComboBox()
        self.output_combo.addItem("Label image", "labels")
        self.output_combo.addItem("Class probabilities", "probabilities")
        form.addRow("Result:", self.output_combo)
        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(45)
        self.opacity_slider.valueChanged.connect(self._opacity_changed)
        form.addRow("Preview opacity:", self.opacity_slider)
        lay.addWidget(opts)

        self.status_label = QtWidgets.QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.status_label)
        row = QtWidgets.QHBoxLayout()
        self.preview_button = QtWidgets.QPushButton("Train && preview")
        self.preview_button.clicked.connect(lambda: self.train_preview())
        self.create_button = QtWidgets.QPushButton("Create result")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(lambda: self.create_result())
        row.addWidget(self.preview_button)
        row.addWidget(self.create_button)
        lay.addLayout(row)
        lay.addStretch(1)
        # keys 1-9 pick the class in the tool and in the image window painted on
        self._shortcuts: list[QtGui.QShortcut] = []
        for parent in (self, self.window_):
            for n in range(1, MAX_CLASSES + 1):
                sc = QtGui.QShortcut(QtGui.QKeySequence(str(n)), parent)
                sc.activated.connect(lambda n=n: self.set_label(n))
                self._shortcuts.append(sc)
        self._shortcuts.append(
            QtGui.QShortcut(QtGui.QKeySequence.StandardKey.Undo, self, self.undo_stroke))

    def _make_overlays(self) -> None:
        vb = self.view.view_box
        if vb is None:
            raise MicrographiaError("the pixel classifier needs an image view")
        self.preview_item = pg.ImageItem(axisOrder="row-major")
        self.preview_item.setZValue(20)
        self.preview_item.setOpacity(self.opacity_slider.value() / 100)
        self.stroke_item = _PaintItem(self)
        self.stroke_item.setZValue(21)
        vb.addItem(self.preview_item, ignoreBounds=True)
        vb.addItem(self.stroke_item, ignoreBounds=True)

    # -- classes -----------------------------------------------------------------------------
    def add_class(self, name: str = "") -> int:
        """Add a class (at most 9).

        Parameters
        ----------
        name : str
            Its name (default ``"class <n>"``).

        Returns
        -------
        int
            Its label, or 0 when there are already 9 classes.
        """
        n = self.class_list.count() + 1
        if n > MAX_CLASSES:
            return 0
        pix = QtGui.QPixmap(14, 14)
        pix.fill(QtGui.QColor(*CLASS_COLOURS[n - 1]))
        item = QtWidgets.QListWidgetItem(QtGui.QIcon(pix), name or f"class {n}")
        item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsEditable)
        item.setToolTip(f"label {n}")
        self.class_list.addItem(item)
        self.add_class_button.setEnabled(n < MAX_CLASSES)
        return n

    def remove_class(self) -> None:
        """Remove the last class (not below two, nor while strokes of it exist)."""
        n = self.class_list.count()
        if n <= 2 or any(s["label"] == n for s in self._strokes):
            self._say(f"Class {n} cannot be removed" + (" (it has strokes)" if n > 2 else ""))
            return
        self.class_list.takeItem(n - 1)
        self.add_class_button.setEnabled(True)

    def class_names(self) -> list[str]:
        """Return the class names, for labels 1, 2, ...

        Returns
        -------
        list of str
            One name per class.
        """
        return [self.class_list.item(i).text() for i in range(self.class_list.count())]

    def label(self) -> int:
        """Return the label painted now (0 with the eraser).

        Returns
        -------
        int
            1..9, or 0.
        """
        if self.eraser_check.isChecked():
            return 0
        return max(self.class_list.currentRow(), 0) + 1

    def set_label(self, label: int) -> None:
        """Paint class ``label`` from now on (adds classes up to it; turns the eraser off).

        Parameters
        ----------
        label : int
            1 to 9.
        """
        label = int(label)
        if not 1 <= label <= MAX_CLASSES:
            raise MicrographiaError(f"class must be 1 to {MAX_CLASSES}, got {label}")
        while self.class_list.count() < label:
            self.add_class()
        self.eraser_check.setChecked(False)
        self.class_list.setCurrentRow(label - 1)

    def set_radius(self, radius: float) -> None:
        """Set the brush radius in pixels.

        Parameters
        ----------
        radius : float
            Radius (0.5 to 200 px).
        """
        self.radius_spin.setValue(float(radius))

    def painting(self) -> bool:
        """Whether left-button drags on the image paint.

        Returns
        -------
        bool
            The *Paint* check box.
        """
        return self.paint_check.isChecked() and self.isVisible()

    # -- strokes -----------------------------------------------------------------------------
    def _frame_index(self) -> int:
        ds = self.view.dataset
        idx = tuple(self.view.current_index())
        if not ds.nav_shape or len(idx) != len(ds.nav_shape):
            return 0
        return int(np.ravel_multi_index(idx, ds.nav_shape))

    def _shape(self) -> tuple[int, int]:
        ds = self.view.dataset
        return int(ds.sig_shape[0]), int(ds.sig_shape[1])

    def _clamp(self, p: Sequence[float]) -> list[float]:
        ny, nx = self._shape()
        return [_round(min(max(float(p[0]), -0.5), ny - 0.5)),
                _round(min(max(float(p[1]), -0.5), nx - 0.5))]

    def begin_stroke(self, point: Sequence[float]) -> None:
        """Start a stroke at ``point`` (``(y, x)`` pixel coordinates) with the current class.

        Parameters
        ----------
        point : sequence of float
            ``(y, x)``, pixel centres at integers (clamped to the image).
        """
        self._current = {"label": self.label(), "radius": _round(self.radius_spin.value()),
                         "points": [self._clamp(point)], "frame": self._frame_index()}
        self._paint_segment(self._current, self._current["points"][-1:])

    def extend_stroke(self, point: Sequence[float]) -> None:
        """Add a point to the stroke being painted (points closer than 0.5 px are skipped).

        Parameters
        ----------
        point : sequence of float
            ``(y, x)`` pixel coordinates.
        """
        if self._current is None:
            self.begin_stroke(point)
            return
        p = self._clamp(point)
        last = self._current["points"][-1]
        if math.hypot(p[0] - last[0], p[1] - last[1]) < 0.5:
            return
        self._current["points"].append(p)
        self._paint_segment(self._current, [last, p])

    def end_stroke(self) -> None:
        """Finish the stroke being painted and add it to the training strokes."""
        if self._current is None:
            return
        stroke, self._current = self._current, None
        self._strokes.append(stroke)
        self._redraw_strokes()
        self.strokesChanged.emit()
        self._update_status()

    def add_stroke(self, points: Sequence[Sequence[float]], label: int | None = None,
                   radius: float | None = None, frame: int | None = None) -> dict[str, Any]:
        """Add a whole stroke (what a mouse drag does), e.g. from a script or a test.

        Parameters
        ----------
        points : sequence of (y, x)
            The polyline in pixel coordinates.
        label : int, optional
            Class (0 erases); default the current class.
        radius : float, optional
            Brush radius in pixels; default the current radius.
        frame : int, optional
            Flat frame index of a stack; default the frame shown.

        Returns
        -------
        dict
            The stroke as it will be passed to the operation.
        """
        if not points:
            raise MicrographiaError("a stroke needs at least one point")
        if label is not None:
            if label:
                self.set_label(label)
            else:
                self.eraser_check.setChecked(True)
        if radius is not None:
            self.set_radius(radius)
        self.begin_stroke(points[0])
        if frame is not None and self._current is not None:
            self._current["frame"] = int(frame)
        for p in points[1:]:
            self.extend_stroke(p)
        stroke = self._current
        self.end_stroke()
        assert stroke is not None
        return self._literal(stroke)

    def undo_stroke(self) -> None:
        """Remove the last stroke."""
        if self._strokes:
            self._strokes.pop()
            self._redraw_strokes()
            self.strokesChanged.emit()
            self._update_status()

    def clear_strokes(self) -> None:
        """Remove every stroke and the preview."""
        self._strokes.clear()
        self._preview = None
        self.preview_item.clear()
        self._redraw_strokes()
        self.strokesChanged.emit()
        self._update_status()

    @staticmethod
    def _literal(s: dict[str, Any]) -> dict[str, Any]:
        return {"label": int(s["label"]), "radius": float(s["radius"]),
                "points": [list(p) for p in s["points"]], "frame": int(s["frame"])}

    def strokes(self) -> list[dict[str, Any]]:
        """Return the training strokes, as passed to ``segment.pixel_classifier``.

        Returns
        -------
        list of dict
            ``{"label", "radius", "points": [[y, x], ...], "frame"}`` each.
        """
        return [self._literal(s) for s in self._strokes]

    def sigmas(self) -> tuple[float, ...]:
        """Return the feature scales typed in the tool.

        Returns
        -------
        tuple of float
            The scales.

        Raises
        ------
        MicrographiaError
            When the text is not a list of numbers.
        """
        text = self.sigmas_edit.text().replace(";", ",").replace(" ", ",")
        try:
            out = tuple(float(t) for t in text.split(",") if t.strip())
        except ValueError:
            raise MicrographiaError(f"feature scales must be numbers separated by commas, "
                                    f"got {self.sigmas_edit.text()!r}") from None
        if not out:
            raise MicrographiaError("give at least one feature scale")
        return out

    def params(self, output: str | None = None) -> dict[str, Any]:
        """Return the operation's options for the current strokes and settings.

        Parameters
        ----------
        output : str, optional
            ``"labels"`` or ``"probabilities"``; default the *Result* choice.

        Returns
        -------
        dict
            Keyword options of ``segment.pixel_classifier``.
        """
        return {"strokes": self.strokes(), "sigmas": self.sigmas(),
                "n_estimators": int(self.trees_spin.value()),
                "output": output or self.output_combo.currentData()}

    # -- running -----------------------------------------------------------------------------
    def train_preview(self) -> Any:
        """Train on the strokes and show the classes over the image (not recorded).

        Returns
        -------
        TaskWatcher or None
            The background task (None when the options are invalid).
        """
        from .runner import preview

        try:
            params = self.params(output="labels")
        except MicrographiaError as exc:
            self._say(str(exc), error=True)
            return None
        old = self._preview_watcher
        if old is not None and not old.is_done():
            old.cancel()
        w = self.main.runner.submit(preview, OP_ID, (self.view.dataset,), params,
                                    name="pixel classifier preview")
        self._preview_watcher = w
        strokes = params["strokes"]
        w.finished.connect(lambda result, s=strokes: self._show_preview(result, s))
        w.failed.connect(self._preview_error)
        self._say("Training…")
        return w

    def _show_preview(self, result: Any, strokes: list[dict[str, Any]]) -> None:
        if not isinstance(result, Dataset):
            return
        self._preview = result
        self._preview_strokes = strokes
        self._redraw_preview()
        self._update_status()
        self.previewShown.emit()

    def _preview_error(self, message: str, _details: str = "") -> None:
        self._say(f"Preview failed: {message}", error=True)
        self.previewFailed.emit(message)

    def create_result(self) -> Any:
        """Run the classifier, recorded, and open its result in a new window.

        Returns
        -------
        TaskWatcher or None
            The task (None when the options are invalid).
        """
        try:
            params = self.params()
        except MicrographiaError as exc:
            self._say(str(exc), error=True)
            return None
        self.window_.flush_display()
        self.result_watcher = self.main.run_operation(OP_ID, [self.view.dataset], params,
                                                      target=self.window_)
        w = self.result_watcher
        w.finished.connect(lambda _r: self._say("Result created (recorded in the session log)"))
        w.failed.connect(lambda msg, _d: self._say(f"Creating the result failed: {msg}",
                                                   error=True))
        self._say("Creating the result…")
        return w

    def preview_dataset(self) -> Dataset | None:
        """Return the last preview (labels of every frame), None before the first.

        Returns
        -------
        Dataset or None
            The unrecorded result of the last *Train & preview*.
        """
        return self._preview

    # -- drawing -----------------------------------------------------------------------------
    def _rgba(self, labels: np.ndarray, alpha: int) -> np.ndarray:
        lut = np.zeros((256, 4), np.uint8)
        for i, c in enumerate(CLASS_COLOURS):
            lut[i + 1] = (*c, alpha)
        return lut[labels]

    def _place(self, item: pg.ImageItem) -> None:
        image = self.view.image_item
        if image is not None:
            item.setTransform(image.transform())

    def _paint_segment(self, stroke: dict[str, Any], points: list[list[float]]) -> None:
        """Paint one new piece of the stroke being drawn onto the overlay (fast path)."""
        frame = self._frame_index()
        if self._painted is None or self._painted_frame != frame:
            self._redraw_strokes()
        assert self._painted is not None
        seg = rasterize_strokes([{"label": 1, "radius": stroke["radius"], "points": points}],
                                self._shape())
        self._painted[seg > 0] = stroke["label"]
        self._show_strokes()

    def _redraw_strokes(self) -> None:
        frame = self._frame_index()
        self._painted = rasterize_strokes(self._strokes, self._shape(), frame)
        self._painted_frame = frame
        self._show_strokes()

    def _show_strokes(self) -> None:
        assert self._painted is not None
        self.stroke_item.setImage(self._rgba(self._painted, 220), autoLevels=False)
        self._place(self.stroke_item)

    def _redraw_preview(self) -> None:
        if self._preview is None:
            self.preview_item.clear()
            return
        data = self._preview.numpy()
        if data.ndim > 2:
            nav = self._preview.nav_shape
            k = self._frame_index()
            data = data[np.unravel_index(k, nav)] if k < int(np.prod(nav)) else data.reshape(
                (-1,) + data.shape[-2:])[0]
        self.preview_item.setImage(self._rgba(np.asarray(data, np.uint8), 255),
                                   autoLevels=False)
        self._place(self.preview_item)

    def _opacity_changed(self, value: int) -> None:
        self.preview_item.setOpacity(value / 100)

    def _frame_changed(self) -> None:
        self._redraw_strokes()
        self._redraw_preview()

    def preview_overlay(self) -> np.ndarray | None:
        """Return the RGBA image of the preview overlay now drawn (None when none).

        Returns
        -------
        numpy.ndarray or None
            ``(rows, columns, 4)`` uint8.
        """
        img = self.preview_item.image
        return None if img is None else np.asarray(img)

    def stroke_overlay(self) -> np.ndarray:
        """Return the label image of the strokes drawn on the frame shown.

        Returns
        -------
        numpy.ndarray
            uint8, 0 where nothing is painted.
        """
        assert self._painted is not None
        return self._painted.copy()

    # -- status ------------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("QLabel { color: #b00020; }" if error else "")
        self.status_label.setText(text)

    def _update_status(self) -> None:
        n = len(self._strokes)
        labels = sorted({s["label"] for s in self._strokes if s["label"]})
        names = self.class_names()
        used = ", ".join(names[k - 1] if k <= len(names) else str(k) for k in labels)
        text = f"{n} stroke{'s' if n != 1 else ''}" + (f" ({used})" if used else "")
        if self._preview is not None:
            stale = self._preview_strokes != self.strokes()
            text += "; preview shown" + (" (strokes changed since)" if stale else "")
        self._say(text)
        ok = len(labels) >= 2
        self.preview_button.setEnabled(ok)
        self.create_button.setEnabled(ok)
        self.undo_button.setEnabled(bool(n))
        self.clear_button.setEnabled(bool(n))

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802, D102
        w = self._preview_watcher
        if w is not None and not w.is_done():
            w.cancel()
        try:
            vb = self.view.view_box
            for item in (self.preview_item, self.stroke_item):
                if vb is not None and item.scene() is not None:
                    vb.removeItem(item)
        except RuntimeError:  # the view was deleted first (its window closed)
            pass
        try:
            self.view.frameChanged.disconnect(self._frame_changed)
        except (RuntimeError, TypeError):
            pass
        for sc in self._shortcuts:  # those on the image window go with the tool
            sc.setEnabled(False)
            sc.deleteLater()
        self._shortcuts.clear()
        super().closeEvent(ev)


def open_classifier_tool(main: Any, window: Any) -> ClassifierTool | None:
    """Open (or raise) the pixel classifier tool of an image window.

    Parameters
    ----------
    main : MainWindow
        The application.
    window : ImageWindow
        The image window to paint on.

    Returns
    -------
    ClassifierTool or None
        The tool, None when the window shows no image.
    """
    if getattr(window, "view", None) is None or window.view.view_box is None:
        return None
    tool = window.tool(TOOL_NAME)
    if tool is None:
        tool = ClassifierTool(main, window)
        window.set_tool(TOOL_NAME, tool)
        tool.resize(360, 640)
    tool.show()
    tool.raise_()
    tool.activateWindow()
    return tool
