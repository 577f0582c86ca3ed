"""Result tables in the desktop app: statistics, plots and markers over the source image.

What Fiji's Results table and overlays, and HyperSpy's scree plot, give a microscopist:

* :func:`column_statistics` and :func:`column_histogram` — the numbers behind the table
  window's status line and its histogram;
* :class:`ColumnHistogramWindow` — histogram of any numeric column (bin count chosen by the
  user), calibrated axis label with units, mean and median drawn as vertical lines;
* :class:`ScatterWindow` — one column against another;
* :class:`ScreePlotWindow` — ``denoise.pca``'s scree table: explained variance ratio against
  component on a log axis, the number of kept components marked;
* :class:`MarkerOverlay` — a table's points (``x``/``y`` pixel columns of ``peaks.*``, or the
  calibrated ``centroid_x``/``centroid_y`` of ``measure.regions``) drawn over the image window
  they were measured on, following its frame for stacks (``frame`` column), with row ↔ marker
  selection;
* :func:`find_source_window` / :func:`attach_results` — the wiring the main window uses.

Coordinates: an image view draws sample ``i`` of an axis at ``offset + i * scale``, the *centre*
of pixel ``i`` (see :mod:`micrographia.app.views`). Pixel coordinates from ``peaks.*`` use the
same convention (pixel ``(0, 0)`` is the centre of the first pixel), so a marker for pixel
``(x, y)`` is drawn at ``(x_axis.offset + x * x_axis.scale, y_axis.offset + y * y_axis.scale)``;
calibrated ``centroid_x``/``centroid_y`` are used as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from micrographia.dataset import Axis, Table
from micrographia.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from .image_window import ImageWindow, TableWindow

__all__ = ["column_label", "numeric_columns", "column_statistics", "column_histogram",
           "default_bins", "marker_columns", "marker_positions", "find_source_window",
           "is_scree", "ColumnHistogramWindow", "ScatterWindow", "ScreePlotWindow",
           "MarkerOverlay", "attach_results"]

MAX_BINS = 10000
_X_POSITIONS = ("x", "x_cal", "centroid_x", "centroid_x_px")
_Y_POSITIONS = ("y", "y_cal", "centroid_y", "centroid_y_px")
_MARKER_PEN = pg.mkPen((0, 230, 255), width=1.5)
_HIGHLIGHT_PEN = pg.mkPen((255, 230, 0), width=2.5)
_MEAN_PEN = pg.mkPen((220, 60, 40), width=2)
_MEDIAN_PEN = pg.mkPen((40, 160, 60), width=2, style=QtCore.Qt.PenStyle.DashLine)


# -- numbers -------------------------------------------------------------------------------
def column_label(table: Table, name: str) -> str:
    """Return a column's axis label, ``"name (units)"`` when it has units.

    Parameters
    ----------
    table : Table
        The table.
    name : str
        Column name.

    Returns
    -------
    str
        The label.
    """
    units = table.units.get(name, "")
    return f"{name} ({units})" if units else name


def numeric_columns(table: Table) -> list[str]:
    """Return the names of the table's numeric (integer, float or bool) columns.

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    list of str
        Column names, in table order.
    """
    return [c for c in table.columns if table[c].dtype.kind in "iufb"]


def _values(table: Table, name: str) -> np.ndarray:
    if name not in table:
        raise ParameterError(f"no column {name!r}; columns are {', '.join(table.columns)}")
    col = table[name]
    if col.dtype.kind not in "iufb":
        raise ParameterError(f"column {name!r} is not numeric ({col.dtype})")
    return np.asarray(col, dtype=np.float64)


def column_statistics(values: Any) -> dict[str, float]:
    """Return count, mean, sample standard deviation, median, min and max of finite values.

    Parameters
    ----------
    values : array_like
        Numbers; NaN and infinities are left out.

    Returns
    -------
    dict
        ``count`` (int), ``mean``, ``std`` (sample standard deviation, ``ddof=1`` as Fiji's
        Summarize; NaN for fewer than two values), ``median``, ``min``, ``max`` (NaN when
        there is no finite value).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    nan = float("nan")
    if v.size == 0:
        return {"count": 0, "mean": nan, "std": nan, "median": nan, "min": nan, "max": nan}
    return {"count": int(v.size), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else nan,
            "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def default_bins(values: Any) -> int:
    """Return a bin count for a histogram of ``values`` (numpy's ``"auto"`` rule, 5 to 256).

    Parameters
    ----------
    values : array_like
        Numbers; non-finite ones are ignored.

    Returns
    -------
    int
        Number of bins.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size < 2 or v.min() == v.max():
        return 10
    n = len(np.histogram_bin_edges(v, bins="auto")) - 1
    return int(min(max(n, 5), 256))


def column_histogram(values: Any, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the finite values, as :func:`numpy.histogram` with ``bins`` equal bins.

    Parameters
    ----------
    values : array_like
        Numbers; NaN and infinities are left out.
    bins : int
        Number of bins (1 to 10000); they span the finite values' ``[min, max]``.

    Returns
    -------
    counts : numpy.ndarray
        int64 counts, ``bins`` of them.
    edges : numpy.ndarray
        ``bins + 1`` bin edges.

    Raises
    ------
    ParameterError
        For a bin count out of range.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or \
            not 1 <= int(bins) <= MAX_BINS:
        raise ParameterError(f"bins must be an integer from 1 to {MAX_BINS}, got {bins!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    counts, edges = np.histogram(v, bins=int(bins))
    return counts.astype(np.int64), edges


# -- which table columns are positions, and where the table came from ----------------------
def marker_columns(table: Table) -> tuple[str, str, bool] | None:
    """Return the position columns of a table: ``(x column, y column, calibrated)``.

    Parameters
    ----------
    table : Table
        A result table.

    Returns
    -------
    tuple or None
        ``("x", "y", False)`` for pixel positions (``peaks.*``), ``("centroid_x",
        "centroid_y", True)`` for calibrated centroids (``measure.regions``), None when the
        table has neither pair.
    """
    if "x" in table and "y" in table and table["x"].dtype.kind in "iuf" \
            and table["y"].dtype.kind in "iuf":
        return "x", "y", False
    if "centroid_x" in table and "centroid_y" in table:
        return "centroid_x", "centroid_y", True
    return None


def marker_positions(table: Table, y_axis: Axis, x_axis: Axis) -> tuple[np.ndarray, np.ndarray]:
    """Return every row's position in a view's calibrated coordinates.

    Parameters
    ----------
    table : Table
        A table with position columns (see :func:`marker_columns`).
    y_axis, x_axis : Axis
        The image's signal axes (rows, columns).

    Returns
    -------
    x, y : numpy.ndarray
        float64 coordinates, one per row: pixel positions are mapped to
        ``offset + index * scale`` (pixel centres, the views' convention), calibrated ones are
        returned unchanged.

    Raises
    ------
    ParameterError
        When the table has no position columns.
    """
    cols = marker_columns(table)
    if cols is None:
        raise ParameterError("the table has no x/y or centroid_x/centroid_y columns")
    xc, yc, calibrated = cols
    x = np.asarray(table[xc], dtype=np.float64)
    y = np.asarray(table[yc], dtype=np.float64)
    if calibrated:
        return x.copy(), y.copy()
    return x_axis.offset + x * x_axis.scale, y_axis.offset + y * y_axis.scale


def is_scree(table: Table) -> bool:
    """Tell whether a table is a PCA scree table (``denoise.pca``).

    Parameters
    ----------
    table : Table
        A table.

    Returns
    -------
    bool
        True when it has ``component`` and ``explained_variance_ratio`` columns.
    """
    return "component" in table and "explained_variance_ratio" in table


_IMAGE_KINDS = ("image", "stack", "image_series")


def _shows_images(window: Any) -> bool:
    """Whether a window's view draws one image (or a stack's frame) in calibrated coordinates."""
    view = getattr(window, "view", None)
    ds = getattr(view, "dataset", None)
    return (ds is not None and ds.kind in _IMAGE_KINDS and ds.kind in getattr(view, "kinds", ())
            and getattr(view, "view_box", None) is not None)


def _fits(table: Table, window: Any) -> bool:
    """Whether a table's positions can be drawn over a window (a stack needs ``frame``)."""
    return _shows_images(window) and (not window.view.dataset.nav_axes or "frame" in table)


def find_source_window(table: Table, windows: Iterable[Any],
                       fallback: Any = None) -> ImageWindow | None:
    """Find the open image window a table was measured on.

    The table's provenance (a :class:`~micrographia.provenance.RunNode`) names its inputs;
    the first open image window whose dataset has the first input's provenance is the
    source. Otherwise ``fallback`` (the window the operation was run from) is used when it
    is still open and shows images. Positions without a ``frame`` column are never drawn
    over a stack (which frame would they belong to?).

    Parameters
    ----------
    table : Table
        A result table.
    windows : iterable
        The open windows.
    fallback : ImageWindow, optional
        The window the operation was started from.

    Returns
    -------
    ImageWindow or None
        The source window.
    """
    wins = list(windows)
    ref = getattr(table, "provenance", None)
    inputs = getattr(getattr(ref, "node", None), "inputs", None) or ()
    first = inputs[0] if inputs else None
    if first is not None:
        for w in wins:
            if getattr(w.dataset, "provenance", None) == first and _fits(table, w):
                return w
    if fallback is not None and fallback in wins and _fits(table, fallback):
        return fallback
    return None


# -- plot windows --------------------------------------------------------------------------
class _PlotWindow(QtWidgets.QWidget):
    """A top-level plot window about one table."""

    def __init__(self, table: Table, title: str, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        self.table = table
        self.setWindowTitle(title + (f" — {table.title}" if table.title else ""))
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.addWidget(self.plot, 1)
        self.resize(560, 420)

    def _combo(self, columns: Sequence[str], current: str) -> QtWidgets.QComboBox:
        combo = QtWidgets.QComboBox()
        for c in columns:
            combo.addItem(column_label(self.table, c), c)
        combo.setCurrentIndex(max(0, list(columns).index(current)))
        return combo


class ColumnHistogramWindow(_PlotWindow):
    """Histogram of one numeric column of a table, with its mean and median.

    Parameters
    ----------
    table : Table
        The table.
    column : str, optional
        Column shown first (default: the first numeric column).
    bins : int, optional
        Number of bins (default: :func:`default_bins`).
    parent : QWidget, optional
        Qt parent (the window stays top-level).

    Raises
    ------
    ParameterError
        When the table has no numeric column, the column is unknown or not numeric, or the
        bin count is out of range.
    """

    def __init__(self, table: Table, column: str | None = None, bins: int | None = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(table, "Histogram", parent)
        self.columns = numeric_columns(table)
        if not self.columns:
            raise ParameterError("the table has no numeric column to plot")
        column = self.columns[0] if column is None else column
        _values(table, column)
        self.counts = np.zeros(0, dtype=np.int64)
        self.edges = np.zeros(1)
        self.stats = column_statistics([])
        self.plot.setLabel("left", "count")
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0,
                                     brush=pg.mkBrush(90, 120, 200, 150),
                                     pen=pg.mkPen(50, 70, 150))
        self.plot.addItem(self.curve)
        self.mean_line = pg.InfiniteLine(angle=90, movable=False, pen=_MEAN_PEN,
                                         label="mean", labelOpts={"position": 0.92,
                                                                  "color": (200, 50, 30)})
        self.median_line = pg.InfiniteLine(angle=90, movable=False, pen=_MEDIAN_PEN,
                                           label="median", labelOpts={"position": 0.82,
                                                                      "color": (30, 130, 50)})
        self.plot.addItem(self.mean_line)
        self.plot.addItem(self.median_line)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Column:"))
        self.column_combo = self._combo(self.columns, column)
        row.addWidget(self.column_combo, 1)
        row.addWidget(QtWidgets.QLabel("Bins:"))
        self.bins_spin = QtWidgets.QSpinBox()
        self.bins_spin.setRange(1, MAX_BINS)
        self.bins_spin.setKeyboardTracking(False)
        row.addWidget(self.bins_spin)
        self._layout.addLayout(row)
        self.stats_label = QtWidgets.QLabel()
        self.stats_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout.addWidget(self.stats_label)
        self.bins_spin.setValue(int(bins) if bins is not None else
                                default_bins(_values(table, column)))
        if bins is not None:
            column_histogram([], int(bins))  # validates the count
        self.column_combo.currentIndexChanged.connect(self._column_changed)
        self.bins_spin.valueChanged.connect(lambda _v: self.refresh())
        self.refresh()

    @property
    def column(self) -> str:
        """The column shown."""
        return str(self.column_combo.currentData())

    @property
    def bins(self) -> int:
        """The number of bins."""
        return int(self.bins_spin.value())

    def set_column(self, column: str, bins: int | None = None) -> None:
        """Show another column (and optionally another bin count).

        Parameters
        ----------
        column : str
            A numeric column.
        bins : int, optional
            Number of bins; default: keep the current count.

        Raises
        ------
        ParameterError
            For an unknown or non-numeric column or a bad bin count.
        """
        _values(self.table, column)
        if bins is not None:
            column_histogram([], bins)
        self.column_combo.blockSignals(True)
        self.column_combo.setCurrentIndex(self.columns.index(column))
        self.column_combo.blockSignals(False)
        if bins is not None:
            self.bins_spin.blockSignals(True)
            self.bins_spin.setValue(int(bins))
            self.bins_spin.blockSignals(False)
        self.refresh()

    def _column_changed(self) -> None:
        self.bins_spin.blockSignals(True)
        self.bins_spin.setValue(default_bins(_values(self.table, self.column)))
        self.bins_spin.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the histogram and the statistics."""
        v = _values(self.table, self.column)
        self.counts, self.edges = column_histogram(v, self.bins)
        self.stats = column_statistics(v)
        if self.counts.size:
            self.curve.setData(self.edges, self.counts)
        else:
            self.curve.setData([], [])
        self.plot.setLabel("bottom", column_label(self.table, self.column))
        s = self.stats
        for line, key in ((self.mean_line, "mean"), (self.median_line, "median")):
            line.setVisible(bool(np.isfinite(s[key])))
            if np.isfinite(s[key]):
                line.setValue(s[key])
        units = self.table.units.get(self.column, "")
        u = f" {units}" if units else ""
        missing = len(v) - s["count"]
        self.stats_label.setText(
            f"n = {s['count']}" + (f" ({missing} not finite)" if missing else "")
            + f"   mean = {s['mean']:.5g}{u}   std = {s['std']:.5g}{u}"
            f"   median = {s['median']:.5g}{u}   min = {s['min']:.5g}   max = {s['max']:.5g}")


class ScatterWindow(_PlotWindow):
    """One numeric column of a table plotted against another.

    Parameters
    ----------
    table : Table
        The table.
    x, y : str, optional
        Columns on the horizontal and vertical axes (default: the first two numeric ones).
    parent : QWidget, optional
        Qt parent (the window stays top-level).

    Raises
    ------
    ParameterError
        When the table has no numeric column or a column is unknown or not numeric.
    """

    def __init__(self, table: Table, x: str | None = None, y: str | None = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(table, "Scatter plot", parent)
        self.columns = numeric_columns(table)
        if not self.columns:
            raise ParameterError("the table has no numeric column to plot")
        x = self.columns[0] if x is None else x
        y = self.columns[min(1, len(self.columns) - 1)] if y is None else y
        _values(table, x)
        _values(table, y)
        self.points = pg.ScatterPlotItem(size=7, pen=pg.mkPen(30, 60, 140),
                                         brush=pg.mkBrush(70, 110, 210, 160))
        self.plot.addItem(self.points)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("x:"))
        self.x_combo = self._combo(self.columns, x)
        row.addWidget(self.x_combo, 1)
        row.addWidget(QtWidgets.QLabel("y:"))
        self.y_combo = self._combo(self.columns, y)
        row.addWidget(self.y_combo, 1)
        self._layout.addLayout(row)
        self.info_label = QtWidgets.QLabel()
        self._layout.addWidget(self.info_label)
        self.x_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.y_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.refresh()

    @property
    def x_column(self) -> str:
        """The column on the horizontal axis."""
        return str(self.x_combo.currentData())

    @property
    def y_column(self) -> str:
        """The column on the vertical axis."""
        return str(self.y_combo.currentData())

    def set_columns(self, x: str, y: str) -> None:
        """Plot other columns.

        Parameters
        ----------
        x, y : str
            Numeric columns.

        Raises
        ------
        ParameterError
            For an unknown or non-numeric column.
        """
        _values(self.table, x)
        _values(self.table, y)
        for combo, c in ((self.x_combo, x), (self.y_combo, y)):
            combo.blockSignals(True)
            combo.setCurrentIndex(self.columns.index(c))
            combo.blockSignals(False)
        self.refresh()

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the plotted points (rows where both values are finite).

        Returns
        -------
        x, y : numpy.ndarray
            The coordinates.
        """
        x = _values(self.table, self.x_column)
        y = _values(self.table, self.y_column)
        ok = np.isfinite(x) & np.isfinite(y)
        return x[ok], y[ok]

    def refresh(self) -> None:
        """Redraw the points and the axis labels."""
        x, y = self.data()
        self.points.setData(x=x, y=y)
        self.plot.setLabel("bottom", column_label(self.table, self.x_column))
        self.plot.setLabel("left", column_label(self.table, self.y_column))
        # image rows grow downwards: plot y positions the way the image shows them
        self.plot.getViewBox().invertY(self.y_column in _Y_POSITIONS
                                       and self.x_column in _X_POSITIONS)
        text = f"{len(x)} points"
        if len(x) > 2 and np.std(x) > 0 and np.std(y) > 0:
            text += f"   Pearson r = {np.corrcoef(x, y)[0, 1]:.4f}"
        self.info_label.setText(text)


class ScreePlotWindow(_PlotWindow):
    """HyperSpy-style scree plot of a PCA scree table (``denoise.pca``).

    Explained variance ratio against component number on a logarithmic axis; the components
    kept (``metadata["n_components"]``) are drawn in orange and a vertical line marks the cut.

    Parameters
    ----------
    table : Table
        A scree table (``component`` and ``explained_variance_ratio`` columns).
    parent : QWidget, optional
        Qt parent (the window stays top-level).

    Raises
    ------
    ParameterError
        When the table is not a scree table.
    """

    def __init__(self, table: Table, parent: QtWidgets.QWidget | None = None):
        if not is_scree(table):
            raise ParameterError("a scree plot needs 'component' and "
                                 "'explained_variance_ratio' columns")
        super().__init__(table, "Scree plot", parent)
        self.components = np.asarray(table["component"], dtype=np.float64)
        self.ratios = np.asarray(table["explained_variance_ratio"], dtype=np.float64)
        kept = table.metadata.get("n_components")
        self.n_components = int(kept) if kept is not None else None
        self.plot.setLogMode(x=False, y=True)
        self.plot.setLabel("bottom", "principal component")
        self.plot.setLabel("left", "explained variance ratio")
        pos = self.ratios > 0  # a log axis cannot show zeros
        self.curve = pg.PlotDataItem(self.components[pos], self.ratios[pos],
                                     pen=pg.mkPen(120, 120, 120), symbol="o", symbolSize=6,
                                     symbolBrush=pg.mkBrush(120, 120, 120),
                                     symbolPen=None)
        self.plot.addItem(self.curve)
        self.kept_curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=8,
                                          symbolBrush=pg.mkBrush(240, 130, 20),
                                          symbolPen=pg.mkPen(150, 70, 0))
        self.plot.addItem(self.kept_curve)
        self.cut_line: pg.InfiniteLine | None = None
        if self.n_components is not None:
            keep = pos & (self.components <= self.n_components)
            self.kept_curve.setData(self.components[keep], self.ratios[keep])
            self.cut_line = pg.InfiniteLine(
                self.n_components + 0.5, angle=90, movable=False,
                pen=pg.mkPen(220, 60, 40, style=QtCore.Qt.PenStyle.DashLine),
                label=f"{self.n_components} kept", labelOpts={"position": 0.9,
                                                               "color": (200, 50, 30)})
            self.plot.addItem(self.cut_line)
        if len(self.components):
            self.plot.setXRange(0.5, min(self.components[-1], 50) + 0.5, padding=0.02)
        kept_text = "" if self.n_components is None else \
            f"{self.n_components} components kept, explaining " \
            f"{self.ratios[:self.n_components].sum():.4%} of the variance.  "
        note = QtWidgets.QLabel(kept_text + f"{len(self.components)} components in the table"
                                + ("" if pos.all() else f" ({int((~pos).sum())} with zero "
                                   "variance not drawn)"))
        note.setWordWrap(True)
        self._layout.addWidget(note)
        self.note_label = note


# -- markers -------------------------------------------------------------------------------
class MarkerOverlay(QtCore.QObject):
    """A table's positions drawn over an image window, with row ↔ marker selection.

    Parameters
    ----------
    table : Table
        A table with position columns (:func:`marker_columns`).
    window : ImageWindow
        The image window drawn over (its current view; a ``frame`` column restricts the
        markers to the frame shown, as the flat index over the navigation axes).
    parent : QObject, optional
        Qt parent.

    Notes
    -----
    ``markerClicked(int)`` carries the table row of a clicked marker; ``detached()`` says the
    image window was closed (the overlay is gone).

    Raises
    ------
    ParameterError
        When the table has no position columns or the window does not show images.
    """

    markerClicked = QtCore.Signal(int)
    detached = QtCore.Signal()

    def __init__(self, table: Table, window: ImageWindow,
                 parent: QtCore.QObject | None = None):
        super().__init__(parent)
        if marker_columns(table) is None:
            raise ParameterError("the table has no x/y or centroid_x/centroid_y columns")
        if not _shows_images(window):
            raise ParameterError("markers can only be drawn over an image or a stack")
        if not _fits(table, window):
            raise ParameterError("the table has no 'frame' column: its positions cannot be "
                                 "drawn over a stack")
        self.table = table
        self.window: ImageWindow | None = window
        self.view: Any = None
        self._visible = True
        self._selected = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros(0, dtype=np.int64)
        self.item = pg.ScatterPlotItem(size=11, symbol="o", pen=_MARKER_PEN,
                                       brush=pg.mkBrush(0, 0, 0, 0), pxMode=True)
        self.item.setZValue(20)
        # a dark rim under each marker keeps it visible on bright regions
        self.shadow = pg.ScatterPlotItem(size=11, symbol="o", pen=pg.mkPen(0, 0, 0, 200, width=4),
                                         brush=pg.mkBrush(0, 0, 0, 0), pxMode=True)
        self.shadow.setZValue(19)
        self.highlight = pg.ScatterPlotItem(size=17, symbol="o", pen=_HIGHLIGHT_PEN,
                                            brush=pg.mkBrush(0, 0, 0, 0), pxMode=True)
        self.highlight.setZValue(21)
        self.item.sigClicked.connect(self._on_clicked)
        self.highlight.sigClicked.connect(self._on_clicked)
        window.closed.connect(self._on_window_closed)
        window.historyChanged.connect(self.refresh)  # the window may show another view now
        self._attach(window.view)
        self.refresh()

    # attach / detach
    def _attach(self, view: Any) -> None:
        self.view = view
        for it in (self.shadow, self.item, self.highlight):
            view.view_box.addItem(it)
        view.frameChanged.connect(self.refresh)

    def _release_view(self) -> None:
        view, self.view = self.view, None
        if view is None:
            return
        try:
            view.frameChanged.disconnect(self.refresh)
        except (RuntimeError, TypeError):
            pass
        try:
            vb = view.view_box
            for it in (self.shadow, self.item, self.highlight):
                if it.scene() is not None:
                    vb.removeItem(it)
        except RuntimeError:  # the view was already deleted
            pass

    def remove(self) -> None:
        """Take the markers off the image for good."""
        self._release_view()
        win, self.window = self.window, None
        if win is not None:
            for sig, slot in ((win.closed, self._on_window_closed),
                              (win.historyChanged, self.refresh)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass

    def _on_window_closed(self, *_args: object) -> None:
        self.remove()
        self.detached.emit()

    # state
    @property
    def attached(self) -> bool:
        """Whether the overlay is still on an open image window."""
        return self.window is not None and self.view is not None

    def is_visible(self) -> bool:
        """Whether the markers are shown (see :meth:`set_visible`).

        Returns
        -------
        bool
            The state.
        """
        return self._visible

    def set_visible(self, visible: bool) -> None:
        """Show or hide the markers.

        Parameters
        ----------
        visible : bool
            Show them.
        """
        self._visible = bool(visible)
        for it in (self.shadow, self.item, self.highlight):
            it.setVisible(self._visible)

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every row's position in the view's calibrated coordinates.

        Returns
        -------
        x, y : numpy.ndarray
            One entry per table row (all frames).
        """
        ds = self.view.dataset if self.view is not None else self.window.dataset
        return marker_positions(self.table, ds.axes[-2], ds.axes[-1])

    def current_frame(self) -> int | None:
        """Return the flat navigation index of the frame shown (None for a single image).

        Returns
        -------
        int or None
            The index, as the ``frame`` column counts frames.
        """
        view = self.view
        if view is None:
            return None
        nav = tuple(view.dataset.nav_shape)
        index = tuple(view.current_index())
        if not nav or len(index) != len(nav):
            return None
        return int(np.ravel_multi_index(index, nav))

    def shown_rows(self) -> np.ndarray:
        """Return the table rows drawn now (those of the frame shown when there is a frame).

        Returns
        -------
        numpy.ndarray
            int64 row indices, ascending.
        """
        return self._rows.copy()

    def selected_rows(self) -> np.ndarray:
        """Return the table rows highlighted (selected in the table window).

        Returns
        -------
        numpy.ndarray
            int64 row indices.
        """
        return self._selected.copy()

    def marker_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return what the marker item draws: x, y (view coordinates) and the table rows.

        Returns
        -------
        x, y, rows : numpy.ndarray
            The spots of the scatter item.
        """
        x, y = self.item.getData()
        rows = np.array([p.data() for p in self.item.points()], dtype=np.int64)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), rows

    def highlight_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions of the highlighted (selected) markers drawn now.

        Returns
        -------
        x, y : numpy.ndarray
            View coordinates.
        """
        x, y = self.highlight.getData()
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def set_selected(self, rows: Iterable[int]) -> None:
        """Highlight the markers of some table rows.

        Parameters
        ----------
        rows : iterable of int
            Table row indices.
        """
        self._selected = np.unique(np.asarray(list(rows), dtype=np.int64))
        self._draw_highlight()

    def refresh(self) -> None:
        """Redraw the markers (after a frame change or a dataset replacement)."""
        win = self.window
        if win is None:
            return
        if self.view is not win.view:  # the window swapped its view (another kind)
            self._release_view()
            if not _shows_images(win):
                for it in (self.shadow, self.item, self.highlight):
                    it.setData([])
                return
            self._attach(win.view)
        x, y = self.positions()
        rows = np.arange(len(self.table), dtype=np.int64)
        frame = self.current_frame()
        if "frame" in self.table:
            if frame is None:
                frame = 0
            rows = rows[np.asarray(self.table["frame"]) == frame]
        ok = np.isfinite(x[rows]) & np.isfinite(y[rows])
        self._rows = rows[ok]
        self.item.setData(x=x[self._rows], y=y[self._rows], data=list(self._rows))
        self.shadow.setData(x=x[self._rows], y=y[self._rows])
        self._draw_highlight()

    def _draw_highlight(self) -> None:
        if self.window is None or self.view is None:
            return
        x, y = self.positions()
        rows = self._rows[np.isin(self._rows, self._selected)]
        self.highlight.setData(x=x[rows], y=y[rows], data=list(rows))

    def _on_clicked(self, _item: Any, points: Any, _ev: Any = None) -> None:
        pts = list(points)
        if pts:
            self.markerClicked.emit(int(pts[0].data()))


# -- wiring --------------------------------------------------------------------------------
def attach_results(window: TableWindow, windows: Iterable[Any], target: Any = None) -> None:
    """Connect a new table window to what the app shows (called by the main window).

    Draws the table's positions over its source image window (:func:`find_source_window`),
    opens the scree plot of a PCA scree table next to the table, and the drift plot
    (``align_tools.DriftPlotWindow``) of an ``alignment.register_stack`` shifts table.

    Parameters
    ----------
    window : TableWindow
        The table window just opened.
    windows : iterable
        The open windows.
    target : ImageWindow, optional
        The window the operation was started from.
    """
    table = window.table
    if marker_columns(table) is not None:
        source = find_source_window(table, windows, target)
        if source is not None:
            window.set_source(source)
    if is_scree(table):
        plot = window.show_scree()
        if plot is not None:
            geo = window.frameGeometry()
            plot.move(geo.right() + 10, geo.top())
    from .align_tools import DriftPlotWindow, is_shifts_table

    if is_shifts_table(table):  # alignment.register_stack: the drift plot next to the table
        drift = window._keep_plot(DriftPlotWindow(table, parent=window))
        geo = window.frameGeometry()
        drift.move(geo.right() + 10, geo.top())
