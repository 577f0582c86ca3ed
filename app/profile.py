"""Line profiles (Fiji's straight line selection + Analyze ▸ Plot Profile).

* :func:`line_profile` — the values along a line of a 2-D frame, interpolated, averaged over a
  band of parallel lines (the line's width);
* :func:`profile_distances` — the calibrated distance of each sample from the line's start;
* :class:`ProfileWindow` — a live plot of the profile of a view's line selection, with a
  statistics line, *Copy* and *Save CSV*.

Sampling convention (that of :func:`skimage.measure.profile_line`, so results agree with it to
float precision): a line from ``start`` to ``end`` (``(row, col)`` pixel indices, pixel centres
at integers) of length ``L`` pixels is sampled at ``n = ceil(L + 1)`` evenly spaced points,
both ends included (spacing ``L / (n - 1) <= 1`` pixel: "one point per pixel length"). A width
``w`` averages ``w`` parallel lines one pixel apart, centred on the line (``width=1``: the line
alone). Values between pixel centres are interpolated with a spline of the given ``order``
(1: bilinear); outside the frame the frame is reflected about its outer pixel edges
(:func:`scipy.ndimage.map_coordinates` ``mode="reflect"``, ``profile_line``'s default), so a
line along the border with a width keeps sensible values.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from micrographia.dataset import Table
from micrographia.errors import MicrographiaError, ParameterError

__all__ = ["line_profile", "profile_distances", "line_length", "ProfileWindow"]


def _sample_count(start: Sequence[float], end: Sequence[float]) -> int:
    return int(math.ceil(math.hypot(end[0] - start[0], end[1] - start[1]) + 1))


def line_profile(frame: np.ndarray, start_px: Sequence[float], end_px: Sequence[float],
                 width: int = 1, order: int = 1) -> np.ndarray:
    """Return the values along a line of a 2-D frame.

    Parameters
    ----------
    frame : numpy.ndarray
        The 2-D frame (complex values: their magnitude).
    start_px, end_px : sequence of float
        ``(row, col)`` of the line's ends in (fractional) pixel indices.
    width : int
        Number of parallel lines, one pixel apart, averaged (1: the line alone).
    order : int
        Spline order of the interpolation (0 nearest, 1 bilinear, 3 cubic).

    Returns
    -------
    numpy.ndarray
        ``ceil(L + 1)`` float64 values for a line ``L`` pixels long, the ends included.

    Raises
    ------
    ParameterError
        When the frame is not 2-D or the width or order is invalid.
    """
    from scipy import ndimage

    a = np.asarray(frame)
    if a.ndim != 2:
        raise ParameterError(f"line_profile needs a 2-D frame, got {a.ndim} dimensions")
    if int(width) < 1:
        raise ParameterError(f"line_profile: width must be at least 1 pixel, got {width}")
    if not 0 <= int(order) <= 5:
        raise ParameterError(f"line_profile: order must be 0..5, got {order}")
    if np.iscomplexobj(a):
        a = np.abs(a)
    a = a.astype(np.float64, copy=False)
    r0, c0 = (float(v) for v in start_px)
    r1, c1 = (float(v) for v in end_px)
    n = _sample_count((r0, c0), (r1, c1))
    rows = np.linspace(r0, r1, n)
    cols = np.linspace(c0, c1, n)
    w = int(width)
    if w > 1:
        length = math.hypot(r1 - r0, c1 - c0)
        # unit normal to the line (zero-length line: across the rows)
        nr, nc = ((c1 - c0) / length, -(r1 - r0) / length) if length > 0 else (0.0, 1.0)
        offsets = np.arange(w, dtype=np.float64) - (w - 1) / 2.0
        rows = rows[:, None] + offsets[None, :] * nr
        cols = cols[:, None] + offsets[None, :] * nc
    else:
        rows, cols = rows[:, None], cols[:, None]
    values = ndimage.map_coordinates(a, np.stack([rows, cols]), order=int(order),
                                     mode="reflect", prefilter=int(order) > 1)
    return values.mean(axis=1)


def line_length(start_px: Sequence[float], end_px: Sequence[float],
                scale: Sequence[float] = (1.0, 1.0)) -> float:
    """Return the calibrated length of a line given in pixel indices.

    Parameters
    ----------
    start_px, end_px : sequence of float
        ``(row, col)`` of the ends.
    scale : sequence of float
        ``(row scale, column scale)``: calibrated size of a pixel along each axis.

    Returns
    -------
    float
        ``hypot(d_row * scale_row, d_col * scale_col)``.
    """
    return float(math.hypot((end_px[0] - start_px[0]) * scale[0],
                            (end_px[1] - start_px[1]) * scale[1]))


def profile_distances(start_px: Sequence[float], end_px: Sequence[float],
                      scale: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """Return the calibrated distance from the start of each sample of :func:`line_profile`.

    Parameters
    ----------
    start_px, end_px : sequence of float
        ``(row, col)`` of the ends.
    scale : sequence of float
        ``(row scale, column scale)``.

    Returns
    -------
    numpy.ndarray
        ``n`` distances from 0 to the calibrated length.
    """
    n = _sample_count(start_px, end_px)
    return np.linspace(0.0, line_length(start_px, end_px, scale), n)


def _units(y_units: str, x_units: str) -> tuple[str, bool]:
    """Distance units and whether the calibration is used (both axes in the same units)."""
    if y_units == x_units and y_units not in ("", "<undefined>"):
        return y_units, True
    return "px", False


#: Y-axis label of the profile of complex data, by the view's complex display mode.
_COMPLEX_AXIS = {"amplitude": "amplitude |z|", "log_amplitude": "log(1 + |z|)",
                 "phase": "phase (rad)", "real": "real part", "imaginary": "imaginary part"}


class ProfileWindow(QtWidgets.QWidget):
    """A live plot of the profile along a view's line selection.

    Parameters
    ----------
    view : DatasetView
        A view with a line selection (:meth:`DatasetView.line_roi`); when it has none, a
        horizontal line through the centre of the image is drawn.
    parent : QWidget, optional
        Parent widget (the window stays a separate top-level window).

    Signals
    -------
    refreshed()
        The profile was recomputed.

    Notes
    -----
    x is the calibrated distance along the line (pixels when the two image axes have
    different units), y the value averaged over the line's width. The window follows the
    view's ``lineChanged`` and ``frameChanged`` signals.
    """

    refreshed = QtCore.Signal()

    def __init__(self, view: Any, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        self.view = view
        ds = view.dataset
        self.setWindowTitle("Plot Profile" + (f" — {ds.title}" if ds.title else ""))
        self._distance = np.zeros(0)
        self._values = np.zeros(0)
        self._units = "px"
        self._length = 0.0
        if view.line_roi() is None:
            view.ensure_line_roi()  # a horizontal line through the centre
        lay = QtWidgets.QVBoxLayout(self)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.curve = self.plot.plot(pen=pg.mkPen((255, 210, 60), width=1.5))
        lay.addWidget(self.plot, 1)
        self.stats_label = QtWidgets.QLabel()
        self.stats_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.stats_label)
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        self.copy_button = QtWidgets.QPushButton("Copy")
        self.copy_button.setToolTip("Copy the profile (distance, value) as tab-separated text")
        self.copy_button.clicked.connect(self.copy)
        self.save_button = QtWidgets.QPushButton("Save CSV…")
        self.save_button.clicked.connect(self._save_clicked)
        row.addWidget(self.copy_button)
        row.addWidget(self.save_button)
        lay.addLayout(row)
        view.lineChanged.connect(self.refresh)
        view.frameChanged.connect(self.refresh)
        if hasattr(view, "displayChanged"):  # complex data: the quantity shown may change
            view.displayChanged.connect(self._display_changed)
        self.resize(520, 360)
        self.refresh()

    # ---- public API
    def profile(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the profile shown.

        Returns
        -------
        tuple of numpy.ndarray
            ``(distance, values)``; empty when the view has no line.
        """
        return self._distance, self._values

    @property
    def units(self) -> str:
        """Units of the distance axis (``"px"`` when the image is not calibrated)."""
        return self._units

    def statistics(self) -> dict[str, float]:
        """Return the length of the line and the min, max and mean of the profile.

        Returns
        -------
        dict
            ``length`` (in :attr:`units`), ``min``, ``max``, ``mean``, ``count``.
        """
        v = self._values[np.isfinite(self._values)]
        if v.size == 0:
            nan = float("nan")
            return {"length": self._length, "min": nan, "max": nan, "mean": nan, "count": 0}
        return {"length": self._length, "min": float(v.min()), "max": float(v.max()),
                "mean": float(v.mean()), "count": int(v.size)}

    def table(self) -> Table:
        """Return the profile as a table (``distance`` with units, ``value``).

        Returns
        -------
        Table
            Two columns.
        """
        title = f"profile of {self.view.dataset.title}" if self.view.dataset.title else "profile"
        return Table({"distance": self._distance, "value": self._values},
                     units={"distance": self._units}, title=title)

    def text(self) -> str:
        """Return the profile as tab-separated text with a header line.

        Returns
        -------
        str
            The text.
        """
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t", lineterminator="\n")
        w.writerow([f"distance ({self._units})", "value"])
        for d, v in zip(self._distance, self._values):
            w.writerow([repr(float(d)), repr(float(v))])
        return buf.getvalue()

    def copy(self) -> None:
        """Copy the profile to the clipboard as tab-separated text."""
        QtWidgets.QApplication.clipboard().setText(self.text())

    def save_csv(self, path: str | os.PathLike[str]) -> os.PathLike[str]:
        """Write the profile as a CSV table, atomically (``micrographia.io.write``).

        Parameters
        ----------
        path : path-like
            Target ``.csv`` file.

        Returns
        -------
        Path
            The written file.
        """
        from pathlib import Path

        from micrographia import io as mio

        return mio.write(self.table(), Path(os.fspath(path)))

    def refresh(self, *_: Any) -> None:
        """Recompute the profile from the view's line and frame."""
        line = self.view.line_roi_pixels()
        axes = self.view.line_axes()
        if line is None or axes is None:
            self._distance, self._values, self._length = np.zeros(0), np.zeros(0), 0.0
            self.curve.setData([], [])
            self.stats_label.setText("No line selection: use the view's Line tool.")
            self.refreshed.emit()
            return
        ya, xa = axes
        units, calibrated = _units(ya.units, xa.units)
        scale = (abs(ya.scale), abs(xa.scale)) if calibrated else (1.0, 1.0)
        frame = np.asarray(self.view.current_frame())
        self._values = line_profile(frame, line["start"], line["end"], line["width"])
        self._distance = profile_distances(line["start"], line["end"], scale)
        self._length = line_length(line["start"], line["end"], scale)
        self._units = units
        self.curve.setData(self._distance, self._values)
        self.plot.setLabel("bottom", f"distance ({units})")
        mode = getattr(self.view, "complex_mode", lambda: None)()
        self.plot.setLabel("left", _COMPLEX_AXIS.get(mode, "value"))
        s = self.statistics()
        idx = self.view.current_index()
        where = f"  frame {list(idx)}" if idx and type(self.view).__name__ == "StackView" else ""
        self.stats_label.setText(
            f"length {s['length']:.5g} {units}, width {line['width']} px, "
            f"{s['count']} points   min {s['min']:.5g}   max {s['max']:.5g}   "
            f"mean {s['mean']:.5g}{where}")
        self.refreshed.emit()

    def _save_clicked(self) -> None:
        base = (self.view.dataset.title or "profile").replace("/", "_") + "-profile.csv"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save profile", base,
                                                        "CSV table (*.csv)")
        if not path:
            return
        if not path.lower().endswith(".csv"):
            path += ".csv"
        try:
            self.save_csv(path)
        except (MicrographiaError, OSError) as exc:
            QtWidgets.QMessageBox.critical(self, "Save failed", str(exc))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop following the view when closed.

        Parameters
        ----------
        event : QCloseEvent
            The event.
        """
        for sig in (self.view.lineChanged, self.view.frameChanged):
            try:
                sig.disconnect(self.refresh)
            except (RuntimeError, TypeError):
                pass
        if hasattr(self.view, "displayChanged"):
            try:
                self.view.displayChanged.disconnect(self._display_changed)
            except (RuntimeError, TypeError):
                pass
        super().closeEvent(event)

    def _display_changed(self, changed: Any) -> None:
        if "complex" in changed:
            self.refresh()
