"""Alignment in the desktop app: the drift plot of a shifts table and the point-pair tool.

* :class:`DriftPlotWindow` — opened next to the shifts table of ``alignment.register_stack``:
  ``dx`` and ``dy`` against frame (pixels, or calibrated units with the *Calibrated units*
  toggle) above the correlation ``quality`` against frame, with outlier frames (see
  :func:`drift_outliers`) marked in red and listed in the window's status line.
* :class:`PointPairTool` — Align ▸ Point Pairs…: bound to two open image windows (reference
  and moving, chosen in combos). Click a point on the reference, then the matching point on
  the moving image; numbered markers appear on both. *Register* runs
  ``alignment.register_pair`` with ``method="points"`` and the clicked pairs as a literal
  through :meth:`MainWindow.run_operation`, so it is recorded in the session log, and opens
  the registered image and the transform table.

Outlier rule (drift plot)
-------------------------
A frame is an outlier when its shift jumps away from the smooth drift or its correlation is
poor:

* *jump*: the residuals ``r_x = dx - median_w(dx)`` and ``r_y = dy - median_w(dy)`` from a
  running median over ``window`` frames (7 by default, edges repeated) are scaled by a robust
  spread ``s = max(1.4826 · MAD(r), min_spread)`` per component (MAD: median absolute
  deviation from the median; ``min_spread`` = 0.1 px, the sub-pixel precision of the
  registration, keeps a perfectly smooth drift from flagging round-off); the frame is flagged
  when ``max(|r_x| / s_x, |r_y| / s_y) > k`` (k = 4);
* *quality*: ``quality < quality_fraction · median(quality)`` (0.5 by default), which also
  catches frames without contrast (quality 0).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from micrographia.dataset import Dataset, Table
from micrographia.errors import ParameterError

from .results import _PlotWindow

if TYPE_CHECKING:  # pragma: no cover
    from .image_window import ImageWindow
    from .main_window import MainWindow
    from .runner import TaskWatcher

__all__ = ["SHIFTS_OP", "PAIR_OP", "MIN_PAIRS", "is_shifts_table", "drift_outliers",
           "DriftPlotWindow", "PointPairTool", "open_point_pair_tool"]

SHIFTS_OP = "alignment.register_stack"
PAIR_OP = "alignment.register_pair"
#: Models of ``alignment.register_pair(method="points")`` and their minimum number of pairs.
MIN_PAIRS: dict[str, int] = {"translation": 1, "euclidean": 2, "similarity": 2, "affine": 3}
_SHIFT_COLUMNS = ("frame", "dx", "dy", "quality")
_DX_PEN = pg.mkPen((40, 90, 200), width=2)
_DY_PEN = pg.mkPen((230, 120, 20), width=2)
_OUTLIER_PEN = pg.mkPen((220, 0, 0), width=2)
_REF_COLOUR = (0, 230, 255)
_MOV_COLOUR = (255, 80, 200)
_PENDING_COLOUR = (255, 230, 0)


# -- drift -----------------------------------------------------------------------------------
def is_shifts_table(table: Any) -> bool:
    """Tell whether a table holds the per-frame shifts of ``alignment.register_stack``.

    Parameters
    ----------
    table : Table
        A table.

    Returns
    -------
    bool
        True when its provenance names ``alignment.register_stack``, or (a table read back
        from a file) when it has the ``frame``, ``dx``, ``dy`` and ``quality`` columns.
    """
    if not isinstance(table, Table):
        return False
    node = getattr(getattr(table, "provenance", None), "node", None)
    if getattr(node, "op", None) == SHIFTS_OP:
        return all(c in table for c in ("frame", "dx", "dy"))
    return all(c in table for c in _SHIFT_COLUMNS)


def _running_median(v: np.ndarray, window: int) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(v, size=window, mode="nearest")


def drift_outliers(dx: Any, dy: Any, quality: Any = None, *, window: int = 7, k: float = 4.0,
                   min_spread: float = 0.1, quality_fraction: float = 0.5
                   ) -> dict[str, np.ndarray]:
    """Find frames whose shift jumps away from the smooth drift or whose quality is poor.

    The rule is in this module's docstring: residuals from a running median of the
    trajectory beyond ``k`` robust spreads (1.4826 · MAD, at least ``min_spread`` px), or a
    quality below ``quality_fraction`` times the median quality.

    Parameters
    ----------
    dx, dy : array_like
        Shifts per frame, in frame order (pixels).
    quality : array_like, optional
        Correlation quality per frame (higher is better).
    window : int
        Length of the running median (odd, ≥ 3; an even value is made odd).
    k : float
        Threshold in robust spreads (> 0).
    min_spread : float
        Smallest spread used (px, ≥ 0).
    quality_fraction : float
        Quality threshold as a fraction of the median quality (0 to 1).

    Returns
    -------
    dict
        ``jump`` (bool per frame), ``low_quality`` (bool), ``outlier`` (either),
        ``score`` (``max(|r_x| / s_x, |r_y| / s_y)``), ``smooth_dx``/``smooth_dy`` (the
        running medians) and ``quality_threshold`` (0-d array; NaN without quality).

    Raises
    ------
    ParameterError
        For arrays of different lengths or options out of range.
    """
    x = np.asarray(dx, dtype=np.float64).ravel()
    y = np.asarray(dy, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ParameterError(f"dx and dy must have the same length, got {x.size} and {y.size}")
    if isinstance(window, bool) or int(window) != window or window < 3:
        raise ParameterError(f"window must be an integer ≥ 3, got {window!r}")
    if not (math.isfinite(k) and k > 0):
        raise ParameterError(f"k must be > 0, got {k!r}")
    if not (math.isfinite(min_spread) and min_spread >= 0):
        raise ParameterError(f"min_spread must be ≥ 0, got {min_spread!r}")
    if not (0 <= quality_fraction <= 1):
        raise ParameterError(f"quality_fraction must be from 0 to 1, got {quality_fraction!r}")
    w = int(window) | 1
    n = x.size
    finite = np.isfinite(x) & np.isfinite(y)
    sx = np.where(finite, x, 0.0)
    sy = np.where(finite, y, 0.0)
    mx = _running_median(sx, w) if n else sx
    my = _running_median(sy, w) if n else sy
    rx, ry = sx - mx, sy - my
    score = np.zeros(n)
    if n:
        spreads = []
        for r in (rx, ry):
            rf = r[finite]
            mad = float(np.median(np.abs(rf - np.median(rf)))) if rf.size else 0.0
            spreads.append(max(1.4826 * mad, float(min_spread), 1e-12))
        score = np.maximum(np.abs(rx) / spreads[0], np.abs(ry) / spreads[1])
    jump = (score > k) | ~finite
    low = np.zeros(n, dtype=bool)
    qthr = float("nan")
    if quality is not None:
        q = np.asarray(quality, dtype=np.float64).ravel()
        if q.shape != x.shape:
            raise ParameterError(f"quality must have one value per frame, got {q.size} for "
                                 f"{n} frames")
        qf = q[np.isfinite(q)]
        if qf.size:
            qthr = float(quality_fraction * np.median(qf))
            low = ~(q >= qthr)
    return {"jump": jump, "low_quality": low, "outlier": jump | low, "score": score,
            "smooth_dx": mx, "smooth_dy": my, "quality_threshold": np.asarray(qthr)}


class DriftPlotWindow(_PlotWindow):
    """Drift of a stack: shifts and correlation quality against frame, outliers marked.

    Parameters
    ----------
    table : Table
        The shifts table of ``alignment.register_stack`` (``frame``, ``dx``, ``dy``, optional
        ``dx_cal``/``dy_cal`` and ``quality``).
    calibrated : bool
        Show ``dx_cal``/``dy_cal`` (calibrated units) instead of pixels at first.
    window, k, quality_fraction : optional
        Options of :func:`drift_outliers`.
    parent : QWidget, optional
        Qt parent (the window stays top-level).

    Raises
    ------
    ParameterError
        When the table has no ``frame``/``dx``/``dy`` columns.
    """

    def __init__(self, table: Table, calibrated: bool = False, *, window: int = 7,
                 k: float = 4.0, quality_fraction: float = 0.5,
                 parent: QtWidgets.QWidget | None = None):
        for c in ("frame", "dx", "dy"):
            if c not in table:
                raise ParameterError(f"a drift plot needs a {c!r} column; columns are "
                                     f"{', '.join(table.columns)}")
        super().__init__(table, "Drift", parent)
        order = np.argsort(np.asarray(table["frame"], dtype=np.float64), kind="stable")
        self._order = order
        self.frames = np.asarray(table["frame"], dtype=np.float64)[order]
        self.has_quality = "quality" in table
        self.has_calibrated = "dx_cal" in table and "dy_cal" in table
        self.quality = (np.asarray(table["quality"], dtype=np.float64)[order]
                        if self.has_quality else None)
        self.result = drift_outliers(self._col("dx"), self._col("dy"), self.quality,
                                     window=window, k=k, quality_fraction=quality_fraction)
        self.k = float(k)
        self.window = int(window) | 1
        self.quality_fraction = float(quality_fraction)
        self.plot.setLabel("bottom", "frame")
        self.plot.addLegend(offset=(10, 10))
        self.dx_curve = self.plot.plot(pen=_DX_PEN, name="dx")
        self.dy_curve = self.plot.plot(pen=_DY_PEN, name="dy")
        self.smooth_dx_curve = self.plot.plot(
            pen=pg.mkPen((40, 90, 200, 110), width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.smooth_dy_curve = self.plot.plot(
            pen=pg.mkPen((230, 120, 20, 110), width=1, style=QtCore.Qt.PenStyle.DashLine))
        self.outlier_items = pg.ScatterPlotItem(size=12, symbol="o", pen=_OUTLIER_PEN,
                                                brush=pg.mkBrush(0, 0, 0, 0), name="outlier")
        self.plot.addItem(self.outlier_items)
        self.quality_plot: pg.PlotWidget | None = None
        self.quality_curve: pg.PlotDataItem | None = None
        self.quality_outliers: pg.ScatterPlotItem | None = None
        if self.quality is not None:
            qp = pg.PlotWidget()
            qp.setBackground("w")
            qp.showGrid(x=True, y=True, alpha=0.25)
            qp.setLabel("left", "quality")
            qp.setLabel("bottom", "frame")
            qp.setXLink(self.plot)
            qp.setMaximumHeight(180)
            self.quality_curve = qp.plot(self.frames, self.quality,
                                         pen=pg.mkPen(110, 110, 110), symbol="o", symbolSize=5,
                                         symbolPen=None, symbolBrush=pg.mkBrush(60, 140, 60))
            self.quality_outliers = pg.ScatterPlotItem(size=11, symbol="o", pen=_OUTLIER_PEN,
                                                       brush=pg.mkBrush(0, 0, 0, 0))
            qp.addItem(self.quality_outliers)
            thr = float(self.result["quality_threshold"])
            if math.isfinite(thr):
                qp.addItem(pg.InfiniteLine(thr, angle=0, movable=False,
                                           pen=pg.mkPen(220, 60, 40,
                                                        style=QtCore.Qt.PenStyle.DashLine)))
            self._layout.addWidget(qp, 0)
            self.quality_plot = qp
        row = QtWidgets.QHBoxLayout()
        self.calibrated_check = QtWidgets.QCheckBox("Calibrated units")
        self.calibrated_check.setEnabled(self.has_calibrated)
        self.calibrated_check.setChecked(bool(calibrated) and self.has_calibrated)
        row.addWidget(self.calibrated_check)
        row.addStretch(1)
        self._layout.addLayout(row)
        self.status_label = QtWidgets.QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout.addWidget(self.status_label)
        self.calibrated_check.toggled.connect(lambda _on: self.refresh())
        self.resize(620, 560)
        self.refresh()

    def _col(self, name: str) -> np.ndarray:
        return np.asarray(self.table[name], dtype=np.float64)[self._order]

    @property
    def calibrated(self) -> bool:
        """Whether the shifts are shown in calibrated units."""
        return self.calibrated_check.isChecked()

    def set_calibrated(self, on: bool) -> None:
        """Show the shifts in calibrated units (``dx_cal``/``dy_cal``) or in pixels.

        Parameters
        ----------
        on : bool
            Calibrated units.

        Raises
        ------
        ParameterError
            When the table has no calibrated columns.
        """
        if on and not self.has_calibrated:
            raise ParameterError("the table has no dx_cal/dy_cal columns")
        self.calibrated_check.setChecked(bool(on))

    def outlier_frames(self) -> list[int]:
        """Return the frames flagged as outliers (jump or low quality).

        Returns
        -------
        list of int
            Frame numbers, ascending.
        """
        return [int(f) for f in self.frames[self.result["outlier"]]]

    def curve_data(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return what the curves draw.

        Returns
        -------
        dict
            ``dx``, ``dy`` (and ``quality``) → (frames, values), as drawn.
        """
        out = {}
        items = [("dx", self.dx_curve), ("dy", self.dy_curve)]
        if self.quality_curve is not None:
            items.append(("quality", self.quality_curve))
        for name, item in items:
            x, y = item.getData()
            out[name] = (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return out

    def outlier_markers(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions of the red outlier markers on the shift plot.

        Returns
        -------
        x, y : numpy.ndarray
            Frames and shift values (a flagged frame has a marker on dx and on dy).
        """
        x, y = self.outlier_items.getData()
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def refresh(self) -> None:
        """Redraw the curves in the chosen units and update the status line."""
        cal = self.calibrated and self.has_calibrated
        xn, yn = ("dx_cal", "dy_cal") if cal else ("dx", "dy")
        dx, dy = self._col(xn), self._col(yn)
        units = self.table.units.get(xn, "") if cal else "px"
        self.dx_curve.setData(self.frames, dx)
        self.dy_curve.setData(self.frames, dy)
        # the running medians in the units shown (calibrated: same per-axis factor)
        fx = fy = 1.0
        if cal:
            px, py = self._col("dx"), self._col("dy")
            with np.errstate(divide="ignore", invalid="ignore"):
                rx, ry = dx / px, dy / py
            rx, ry = rx[np.isfinite(rx)], ry[np.isfinite(ry)]
            fx = float(np.median(rx)) if rx.size else 1.0
            fy = float(np.median(ry)) if ry.size else 1.0
        self.smooth_dx_curve.setData(self.frames, self.result["smooth_dx"] * fx)
        self.smooth_dy_curve.setData(self.frames, self.result["smooth_dy"] * fy)
        self.plot.setLabel("left", f"shift ({units})" if units else "shift")
        bad = self.result["outlier"]
        self.outlier_items.setData(x=np.concatenate([self.frames[bad], self.frames[bad]]),
                                   y=np.concatenate([dx[bad], dy[bad]]))
        if self.quality_outliers is not None and self.quality is not None:
            self.quality_outliers.setData(x=self.frames[bad], y=self.quality[bad])
        self.status_label.setText(self.summary_text())

    def summary_text(self) -> str:
        """Return the status line: number of frames, total drift and the outlier frames.

        Returns
        -------
        str
            The text shown under the plots.
        """
        r = self.result
        n = len(self.frames)
        dx, dy = self._col("dx"), self._col("dy")
        text = f"{n} frames"
        if n:
            text += (f" · drift dx {np.nanmin(dx):.2f} … {np.nanmax(dx):.2f} px, "
                     f"dy {np.nanmin(dy):.2f} … {np.nanmax(dy):.2f} px")
        bad = np.flatnonzero(r["outlier"])
        if not bad.size:
            return text + (f" · no outliers (jump > {self.k:g}×MAD from a {self.window}-frame "
                           "running median, or quality < "
                           f"{self.quality_fraction:g}×median)")
        parts = []
        for i in bad[:20]:
            why = []
            if r["jump"][i]:
                why.append(f"jump {r['score'][i]:.1f}×MAD")
            if r["low_quality"][i] and self.quality is not None:
                why.append(f"quality {self.quality[i]:.3g}")
            parts.append(f"{int(self.frames[i])} ({', '.join(why)})")
        more = f" and {bad.size - 20} more" if bad.size > 20 else ""
        return text + f" · {bad.size} outlier frame(s): " + "; ".join(parts) + more


# -- point pairs -----------------------------------------------------------------------------
def _is_single_image(window: Any) -> bool:
    view = getattr(window, "view", None)
    ds = getattr(view, "dataset", None)
    return (isinstance(ds, Dataset) and ds.kind == "image" and not ds.nav_axes
            and getattr(view, "view_box", None) is not None)


class _SideMarkers:
    """Numbered markers of one side (reference or moving) drawn on an image view."""

    def __init__(self, colour: tuple[int, int, int]):
        self.colour = colour
        self.view: Any = None
        self.items = pg.ScatterPlotItem(size=13, symbol="+", pen=pg.mkPen(colour, width=2),
                                        brush=pg.mkBrush(*colour), pxMode=True)
        self.items.setZValue(30)
        self.pending = pg.ScatterPlotItem(size=15, symbol="o",
                                          pen=pg.mkPen(_PENDING_COLOUR, width=2),
                                          brush=pg.mkBrush(0, 0, 0, 0), pxMode=True)
        self.pending.setZValue(31)
        self.labels: list[pg.TextItem] = []

    def attach(self, view: Any) -> None:
        if view is self.view:
            return
        self.detach()
        self.view = view
        if view is not None:
            view.view_box.addItem(self.items)
            view.view_box.addItem(self.pending)

    def detach(self) -> None:
        view, self.view = self.view, None
        if view is None:
            return
        try:
            for it in [self.items, self.pending, *self.labels]:
                if it.scene() is not None:
                    view.view_box.removeItem(it)
        except RuntimeError:  # the view was deleted
            pass
        self.labels = []

    def draw(self, points: Sequence[tuple[float, float]],
             pending: tuple[float, float] | None) -> None:
        """Draw numbered points ((y, x) pixels) and an optional pending point."""
        view = self.view
        if view is None:
            return
        ya, xa = view.dataset.axes[-2], view.dataset.axes[-1]

        def to_view(y: float, x: float) -> tuple[float, float]:
            return xa.offset + x * xa.scale, ya.offset + y * ya.scale

        pos = [to_view(y, x) for y, x in points]
        self.items.setData(pos=pos)
        self.pending.setData(pos=[to_view(*pending)] if pending is not None else [])
        for t in self.labels:
            if t.scene() is not None:
                view.view_box.removeItem(t)
        self.labels = []
        for i, (vx, vy) in enumerate(pos, start=1):
            t = pg.TextItem(str(i), color=self.colour, anchor=(-0.2, 1.1),
                            fill=pg.mkBrush(0, 0, 0, 140))
            t.setPos(vx, vy)
            t.setZValue(32)
            view.view_box.addItem(t)
            self.labels.append(t)


class PointPairTool(QtWidgets.QWidget):
    """Align ▸ Point Pairs…: click matching points on two images, then register.

    Parameters
    ----------
    main : MainWindow
        The application (its open image windows fill the combos; its ``run_operation``
        runs and records the registration).
    reference, moving : ImageWindow, optional
        Windows chosen at first (default: the active image window and another one).
    parent : QWidget, optional
        Qt parent (the tool stays a top-level window).

    Notes
    -----
    Points are pixel coordinates ``(y, x)`` with the first pixel's centre at 0 (the
    convention of ``alignment.register_pair``). ``pairsChanged()`` is emitted when a pair is
    added or removed or a pending reference point changes.
    """

    pairsChanged = QtCore.Signal()

    def __init__(self, main: MainWindow, reference: ImageWindow | None = None,
                 moving: ImageWindow | None = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent if parent is not None else main)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        self.setWindowTitle("Point pairs")
        self.main = main
        self._pairs: list[tuple[float, float, float, float]] = []
        self._pending: tuple[float, float] | None = None
        self._ref_win: ImageWindow | None = None
        self._mov_win: ImageWindow | None = None
        self._scenes: list[tuple[Any, Any]] = []
        self._followed: list[Any] = []
        self.result_watcher: TaskWatcher | None = None
        self.ref_markers = _SideMarkers(_REF_COLOUR)
        self.mov_markers = _SideMarkers(_MOV_COLOUR)

        lay = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QFormLayout()
        self.ref_combo = QtWidgets.QComboBox()
        self.mov_combo = QtWidgets.QComboBox()
        self.model_combo = QtWidgets.QComboBox()
        for m, n in MIN_PAIRS.items():
            self.model_combo.addItem(f"{m} (≥ {n} pair{'s' if n > 1 else ''})", m)
        self.model_combo.setCurrentIndex(list(MIN_PAIRS).index("euclidean"))
        form.addRow("Reference:", self.ref_combo)
        form.addRow("Moving:", self.mov_combo)
        form.addRow("Model:", self.model_combo)
        lay.addLayout(form)
        self.pick_check = QtWidgets.QCheckBox("Pick points by clicking (reference, then moving)")
        self.pick_check.setChecked(True)
        lay.addWidget(self.pick_check)
        self.pairs_list = QtWidgets.QListWidget()
        self.pairs_list.setMinimumHeight(110)
        lay.addWidget(self.pairs_list, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.remove_button = QtWidgets.QPushButton("Remove last")
        self.clear_button = QtWidgets.QPushButton("Clear")
        self.register_button = QtWidgets.QPushButton("Register")
        self.register_button.setDefault(True)
        for b in (self.remove_button, self.clear_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.register_button)
        lay.addLayout(buttons)
        self.status_label = QtWidgets.QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.status_label)

        self.remove_button.clicked.connect(lambda _c=False: self.remove_last())
        self.clear_button.clicked.connect(lambda _c=False: self.clear())
        self.register_button.clicked.connect(lambda _c=False: self.register())
        self.model_combo.currentIndexChanged.connect(lambda _i: self._update())
        self.ref_combo.currentIndexChanged.connect(lambda _i: self._windows_chosen())
        self.mov_combo.currentIndexChanged.connect(lambda _i: self._windows_chosen())
        main.windowsChanged.connect(self._fill_combos)
        self._fill_combos(reference, moving)
        self.resize(420, 380)

    # ---- windows
    def image_windows(self) -> list[ImageWindow]:
        """Return the open windows that show a single 2-D image (the choices).

        Returns
        -------
        list of ImageWindow
            In the main window's order.
        """
        return [w for w in self.main.windows() if _is_single_image(w)]

    def _fill_combos(self, reference: Any = None, moving: Any = None) -> None:
        wins = self.image_windows()
        ref = reference if reference in wins else self._ref_win
        mov = moving if moving in wins else self._mov_win
        if ref not in wins:
            active = getattr(self.main, "_active", None)
            ref = active if active in wins else (wins[0] if wins else None)
        if mov not in wins or mov is ref:
            others = [w for w in wins if w is not ref]
            mov = others[-1] if others else None
        for combo, cur in ((self.ref_combo, ref), (self.mov_combo, mov)):
            combo.blockSignals(True)
            combo.clear()
            for w in wins:
                combo.addItem(w.windowTitle() or w.dataset.title or "image", w)
            if cur is not None:
                combo.setCurrentIndex(wins.index(cur))
            combo.blockSignals(False)
        self._windows_chosen()

    def set_windows(self, reference: ImageWindow, moving: ImageWindow) -> None:
        """Choose the reference and moving image windows (the pairs are cleared if changed).

        Parameters
        ----------
        reference, moving : ImageWindow
            Open windows showing single images.

        Raises
        ------
        ParameterError
            When a window is not one of :meth:`image_windows`.
        """
        wins = self.image_windows()
        for w, what in ((reference, "reference"), (moving, "moving")):
            if w not in wins:
                raise ParameterError(f"the {what} window is not an open single-image window")
        for combo, w in ((self.ref_combo, reference), (self.mov_combo, moving)):
            combo.blockSignals(True)
            combo.setCurrentIndex(wins.index(w))
            combo.blockSignals(False)
        self._windows_chosen()

    @property
    def reference_window(self) -> ImageWindow | None:
        """The reference image window."""
        return self._ref_win

    @property
    def moving_window(self) -> ImageWindow | None:
        """The moving image window."""
        return self._mov_win

    def _windows_chosen(self) -> None:
        ref = self.ref_combo.currentData()
        mov = self.mov_combo.currentData()
        if ref is not self._ref_win or mov is not self._mov_win:
            if self._pairs or self._pending is not None:
                self._pairs.clear()
                self._pending = None
                self.pairsChanged.emit()
            self._ref_win, self._mov_win = ref, mov
            self._follow([w for w in (ref, mov) if w is not None])
        self._views_changed()

    def _follow(self, windows: list[Any]) -> None:
        """Listen to ``historyChanged`` of exactly these windows (their view may be swapped)."""
        for w in [w for w in self._followed if w not in windows]:
            try:
                w.historyChanged.disconnect(self._views_changed)
            except (RuntimeError, TypeError):
                pass
        for w in windows:
            if w not in self._followed:
                w.historyChanged.connect(self._views_changed)
        self._followed = list(dict.fromkeys(windows))

    def _views_changed(self) -> None:
        """(Re)attach markers and click handlers to the windows' current views."""
        self._disconnect_scenes()
        for markers, win, is_ref in ((self.ref_markers, self._ref_win, True),
                                     (self.mov_markers, self._mov_win, False)):
            view = win.view if win is not None and _is_single_image(win) else None
            markers.attach(view)
            if view is not None:
                scene = view.graphics.scene()

                def handler(event: Any, _m: _SideMarkers = markers, _r: bool = is_ref) -> None:
                    self._on_click(event, _m, _r)

                scene.sigMouseClicked.connect(handler)
                self._scenes.append((scene, handler))
        self._update()

    def _disconnect_scenes(self) -> None:
        for scene, handler in self._scenes:
            try:
                scene.sigMouseClicked.disconnect(handler)
            except (RuntimeError, TypeError):
                pass
        self._scenes = []

    # ---- pairs
    @property
    def model(self) -> str:
        """The transform model."""
        return str(self.model_combo.currentData())

    def set_model(self, model: str) -> None:
        """Choose the transform model.

        Parameters
        ----------
        model : {"translation", "euclidean", "similarity", "affine"}
            The model.

        Raises
        ------
        ParameterError
            For an unknown model.
        """
        if model not in MIN_PAIRS:
            raise ParameterError(f"model must be one of {', '.join(MIN_PAIRS)}, got {model!r}")
        self.model_combo.setCurrentIndex(list(MIN_PAIRS).index(model))

    def pairs(self) -> list[tuple[float, float, float, float]]:
        """Return the point pairs ``(y_ref, x_ref, y_mov, x_mov)`` in pixels.

        Returns
        -------
        list of tuple
            In the order they were added.
        """
        return list(self._pairs)

    def pending(self) -> tuple[float, float] | None:
        """Return the reference point clicked whose moving partner is awaited.

        Returns
        -------
        tuple or None
            ``(y, x)`` in reference pixels.
        """
        return self._pending

    def add_pair(self, y_ref: float, x_ref: float, y_mov: float, x_mov: float) -> int:
        """Add a point pair (pixel coordinates, first pixel's centre at 0).

        Parameters
        ----------
        y_ref, x_ref : float
            Point on the reference.
        y_mov, x_mov : float
            The matching point on the moving image.

        Returns
        -------
        int
            The pair's number (1-based).

        Raises
        ------
        ParameterError
            For a non-finite coordinate.
        """
        vals = tuple(float(v) for v in (y_ref, x_ref, y_mov, x_mov))
        if not all(math.isfinite(v) for v in vals):
            raise ParameterError(f"point coordinates must be finite, got {vals}")
        self._pairs.append(vals)  # type: ignore[arg-type]
        self._pending = None
        self._changed()
        return len(self._pairs)

    def click_reference(self, y: float, x: float) -> None:
        """Act as a click on the reference at pixel ``(y, x)``: the pending point of a pair.

        Parameters
        ----------
        y, x : float
            Reference pixel coordinates.
        """
        self._pending = (float(y), float(x))
        self._changed()
        self._message(f"Pair {len(self._pairs) + 1}: now click the matching point on the "
                      "moving image")

    def click_moving(self, y: float, x: float) -> int | None:
        """Act as a click on the moving image at pixel ``(y, x)``: completes the pending pair.

        Parameters
        ----------
        y, x : float
            Moving-image pixel coordinates.

        Returns
        -------
        int or None
            The number of the pair completed; None (and a hint) without a pending point.
        """
        if self._pending is None:
            self._message("Click a point on the reference first", error=True)
            return None
        return self.add_pair(*self._pending, y, x)

    def remove_last(self) -> None:
        """Remove the pending reference point, or else the last pair."""
        if self._pending is not None:
            self._pending = None
        elif self._pairs:
            self._pairs.pop()
        else:
            return
        self._changed()

    def clear(self) -> None:
        """Remove every pair and the pending point."""
        if self._pairs or self._pending is not None:
            self._pairs.clear()
            self._pending = None
            self._changed()

    def _changed(self) -> None:
        self.pairsChanged.emit()
        self._update()

    def _on_click(self, event: Any, markers: _SideMarkers, is_ref: bool) -> None:
        """Handle a left click on the reference's or the moving image's view."""
        if not self.pick_check.isChecked() or event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        view = markers.view
        if view is None:
            return
        pos = event.scenePos()
        try:
            vb = view.view_box
            if not vb.sceneBoundingRect().contains(pos):
                return
            p = vb.mapSceneToView(pos)
        except RuntimeError:  # the view was deleted
            return
        ya, xa = view.dataset.axes[-2], view.dataset.axes[-1]
        x = (p.x() - xa.offset) / xa.scale
        y = (p.y() - ya.offset) / ya.scale
        ny, nx = view.dataset.shape[-2:]
        if not (-0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5):
            return
        x, y = round(x, 3), round(y, 3)
        if is_ref:
            self.click_reference(y, x)
        else:
            self.click_moving(y, x)
        event.accept()

    # ---- state and running
    def _message(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("QLabel { color: #b00020; }" if error else "")
        self.status_label.setText(text)

    def _update(self) -> None:
        self.ref_markers.draw([(p[0], p[1]) for p in self._pairs], self._pending)
        self.mov_markers.draw([(p[2], p[3]) for p in self._pairs], None)
        self.pairs_list.clear()
        for i, (yr, xr, ym, xm) in enumerate(self._pairs, start=1):
            self.pairs_list.addItem(f"{i}: reference (x {xr:.2f}, y {yr:.2f}) → "
                                    f"moving (x {xm:.2f}, y {ym:.2f})")
        if self._pending is not None:
            self.pairs_list.addItem(f"{len(self._pairs) + 1}: reference (x "
                                    f"{self._pending[1]:.2f}, y {self._pending[0]:.2f}) → …")
        need = MIN_PAIRS[self.model]
        ok_windows = (self._ref_win is not None and self._mov_win is not None
                      and self._ref_win is not self._mov_win)
        self.register_button.setEnabled(ok_windows and len(self._pairs) >= need)
        self.remove_button.setEnabled(bool(self._pairs) or self._pending is not None)
        self.clear_button.setEnabled(bool(self._pairs) or self._pending is not None)
        if not ok_windows:
            self._message("Open two images and choose a reference and a different moving "
                          "image", error=True)
        elif self._pending is None:
            more = max(0, need - len(self._pairs))
            self._message(f"{len(self._pairs)} pair(s)"
                          + (f"; {self.model} needs {more} more" if more else
                             "; ready to register")
                          + ". Click a point on the reference, then its match on the moving "
                          "image.")

    def points_param(self) -> tuple[tuple[float, float, float, float], ...]:
        """Return the ``points`` option passed to ``alignment.register_pair``.

        Returns
        -------
        tuple of tuple
            ``((y_ref, x_ref, y_mov, x_mov), ...)``.
        """
        return tuple(self._pairs)

    def register(self) -> TaskWatcher | None:
        """Run ``alignment.register_pair(method="points")`` on the pairs (recorded).

        Returns
        -------
        TaskWatcher or None
            The task; None (with the reason in the status line) when the windows or the
            number of pairs do not allow it.
        """
        ref, mov = self._ref_win, self._mov_win
        if ref is None or mov is None or ref is mov:
            self._message("Choose a reference and a different moving image", error=True)
            return None
        need = MIN_PAIRS[self.model]
        if len(self._pairs) < need:
            self._message(f"A {self.model} fit needs at least {need} pair(s), there are "
                          f"{len(self._pairs)}", error=True)
            return None
        ref.flush_display()
        mov.flush_display()
        params = {"method": "points", "model": self.model, "points": self.points_param()}
        watcher = self.main.run_operation(PAIR_OP, [ref.dataset, mov.dataset], params,
                                          target=ref)
        self.result_watcher = watcher
        self._message("Registering…")
        watcher.finished.connect(self._on_result)
        watcher.failed.connect(lambda msg, _d: self._message(f"Registration failed: {msg}",
                                                             error=True))
        return watcher

    def _on_result(self, result: Any) -> None:
        items = list(result) if isinstance(result, tuple) else [result]
        table = next((t for t in items if isinstance(t, Table)), None)
        if table is None or not len(table):
            self._message("Registered (recorded in the session log)")
            return
        row = {c: table[c][0] for c in ("rotation", "scale", "dx", "dy", "rms_residual")
               if c in table}
        if len(row) < 5:
            self._message("Registered (recorded in the session log)")
            return
        self._message(f"Registered (recorded in the session log): rotation "
                      f"{float(row['rotation']):.3f}°, scale {float(row['scale']):.4f}, "
                      f"dx {float(row['dx']):.2f} px, dy {float(row['dy']):.2f} px, "
                      f"RMS residual {float(row['rms_residual']):.3f} px")

    def closeEvent(self, ev: Any) -> None:  # noqa: N802, D102
        self._disconnect_scenes()
        self._follow([])
        self.ref_markers.detach()
        self.mov_markers.detach()
        try:
            self.main.windowsChanged.disconnect(self._fill_combos)
        except (RuntimeError, TypeError):
            pass
        self._ref_win = self._mov_win = None
        super().closeEvent(ev)


_TOOLS: weakref.WeakKeyDictionary[Any, PointPairTool] = weakref.WeakKeyDictionary()


def open_point_pair_tool(main: MainWindow) -> PointPairTool:
    """Show the point-pair tool of a main window (one per main window), making it if needed.

    Parameters
    ----------
    main : MainWindow
        The application.

    Returns
    -------
    PointPairTool
        The tool, shown and raised.
    """
    tool = _TOOLS.get(main)
    if tool is None or not tool.isVisible():
        if tool is not None:
            tool.deleteLater()
        tool = PointPairTool(main)
        _TOOLS[main] = tool
    tool.show()
    tool.raise_()
    tool.activateWindow()
    return tool
