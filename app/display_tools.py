"""Display tools working on any :class:`~micrographia.app.views.DatasetView`.

* :class:`HistogramWindow` — histogram and statistics of the frame shown (or of its ROI),
  updated live when the view's frame or display changes;
* :class:`BrightnessContrastDialog` — display range, auto-contrast, gamma and mapping, applied
  live through ``view.apply_display``;
* :func:`colormap_menu` — fills a *Colormaps* menu acting on the active view.

The tools only use the view contract: ``dataset``, ``current_frame()``, ``roi_region()``,
``display_settings()``, ``apply_display(dict)`` and the ``frameChanged``/``displayChanged``
signals (and ``roiChanged`` when a view has it). They never record: the shell records the
view's ``displayChanged``.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from micrographia.io.render import auto_clim, finite_values, percentiles

__all__ = ["HistogramWindow", "BrightnessContrastDialog", "colormap_menu", "frame_values",
           "roi_values", "statistics"]


class _ViewLike(Protocol):
    """The part of the DatasetView contract the tools use."""

    frameChanged: Any
    displayChanged: Any

    @property
    def dataset(self) -> Any: ...  # noqa: D102

    def current_frame(self) -> np.ndarray: ...  # noqa: D102

    def roi_region(self) -> dict[str, tuple[float, float]] | None: ...  # noqa: D102

    def display_settings(self) -> dict[str, Any]: ...  # noqa: D102

    def apply_display(self, settings: dict[str, Any]) -> None: ...  # noqa: D102


def frame_values(frame: Any) -> np.ndarray:
    """Return a frame as a real float64 array (complex values: their magnitude).

    Parameters
    ----------
    frame : array_like
        The values shown.

    Returns
    -------
    numpy.ndarray
        Real values, same shape.
    """
    a = np.asarray(frame)
    if np.iscomplexobj(a):
        a = np.abs(a)
    return a.astype(np.float64, copy=False)


def roi_values(frame: np.ndarray, dataset: Any,
               region: Mapping[str, tuple[float | None, float | None]] | None
               ) -> tuple[np.ndarray, str]:
    """Return the part of a 2-D frame inside an ROI and a description of it.

    The frame's two dimensions are matched to the dataset's axes by name: the signal axes of
    an image-like dataset, or the navigation axes (a navigator image) whose sizes fit the
    frame. A sample is inside when its calibrated coordinate ``c`` satisfies
    ``start <= c < stop`` (the rule of ``image.crop``).

    Parameters
    ----------
    frame : numpy.ndarray
        The 2-D frame.
    dataset : Dataset or None
        The dataset shown (for the axes).
    region : mapping or None
        ``{axis name: (start, stop)}`` in calibrated units.

    Returns
    -------
    tuple
        ``(values, text)``: the selected values (the whole frame when there is no usable
        ROI) and a short description such as ``"ROI x [1, 5) nm, y [0, 3) nm"``.
    """
    if not region or dataset is None or np.ndim(frame) != 2:
        return frame, "whole frame"
    axes = list(getattr(dataset, "axes", ()))
    candidates = [tuple(a for a in axes if not a.navigate), tuple(a for a in axes if a.navigate)]
    pair = None
    for cand in candidates:
        if len(cand) == 2 and tuple(a.size for a in cand) == tuple(frame.shape) and set(
                region) <= {a.name for a in cand}:
            pair = cand
            break
    if pair is None:
        return frame, "whole frame (ROI not on this image)"
    slices: list[Any] = []
    parts = []
    for ax in pair:
        if ax.name not in region:
            slices.append(slice(None))
            continue
        start, stop = region[ax.name]
        c = ax.coords
        keep = np.ones(ax.size, dtype=bool)
        if start is not None:
            keep &= c >= float(start) - 1e-9 * abs(ax.scale)
        if stop is not None:
            keep &= c < float(stop) - 1e-9 * abs(ax.scale)
        slices.append(keep)
        parts.append(f"{ax.name} [{_fmt(start)}, {_fmt(stop)}) {ax.units}".rstrip())
    sel = frame[np.ix_(*[s if isinstance(s, np.ndarray) else np.ones(n, dtype=bool)
                         for s, n in zip(slices, frame.shape)])]
    return sel, "ROI " + ", ".join(parts)


def _fmt(v: Any) -> str:
    if v is None:
        return "…"
    return f"{float(v):.6g}"


def statistics(values: np.ndarray) -> dict[str, float]:
    """Return the statistics shown by :class:`HistogramWindow`.

    Parameters
    ----------
    values : numpy.ndarray
        Real values; non-finite ones are left out.

    Returns
    -------
    dict
        ``count`` (finite values), ``min``, ``max``, ``mean``, ``std`` (population, as
        ``numpy.std``), ``median``, ``p1`` and ``p99`` (percentiles); NaN when empty.

    Notes
    -----
    The numbers are those of ``numpy.min``, ``max``, ``mean``, ``std`` and ``percentile``
    on the finite values as float64, computed with fewer passes: no mask when every value is
    finite, the mean reused by the standard deviation (numpy's own formula), and the three
    percentiles from one selection of six order statistics instead of a full partition.
    """
    v = _finite_float64(values)
    return _statistics_of_finite(v)


def _finite_float64(values: Any) -> np.ndarray:
    """Return the finite values as a contiguous 1-D float64 array (copied only when needed)."""
    return finite_values(np.asarray(values, dtype=np.float64))


def _statistics_of_finite(v: np.ndarray) -> dict[str, float]:
    """:func:`statistics` of a contiguous 1-D float64 array of finite values."""
    if v.size == 0:
        nan = float("nan")
        return {"count": 0, "min": nan, "max": nan, "mean": nan, "std": nan, "median": nan,
                "p1": nan, "p99": nan}
    n = v.size
    mean = np.add.reduce(v) / n  # numpy.mean: the pairwise sum divided by the count
    dev = v - mean
    np.multiply(dev, dev, out=dev)
    std = np.sqrt(np.add.reduce(dev) / n)  # numpy.std's own steps, without a second mean
    del dev
    p1, med, p99 = percentiles(v, [1.0, 50.0, 99.0])
    return {"count": int(n), "min": float(v.min()), "max": float(v.max()),
            "mean": float(mean), "std": float(std), "median": float(med),
            "p1": float(p1), "p99": float(p99)}


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two frames hold the same values (NaN equal to NaN), cheaply when they differ.

    The same array object is the same; otherwise a strided sample of about 4k values is
    compared before the whole arrays (frames that differ almost always differ there).
    """
    if a is b:
        return True
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan = a.dtype.kind in "fc"
    if a.size > 65536:
        step = (a.size // 4096) | 1
        if not np.array_equal(a.ravel()[::step], b.ravel()[::step], equal_nan=nan):
            return False
    return bool(np.array_equal(a, b, equal_nan=nan))


class _Result:
    """What one histogram computation gives (made in a worker thread, read in the GUI)."""

    __slots__ = ("counts", "edges", "stats", "text", "size", "finite")

    def __init__(self, counts: np.ndarray, edges: np.ndarray, stats: dict[str, float],
                 text: str, size: int, finite: int) -> None:
        self.counts, self.edges, self.stats = counts, edges, stats
        self.text, self.size, self.finite = text, size, finite


def _compute(frame: np.ndarray, dataset: Any, region: Any, bins: int) -> _Result:
    """Histogram and statistics of a frame (or its ROI); pure numpy, no Qt (worker thread)."""
    values, text = roi_values(frame_values(frame), dataset, region)
    finite = _finite_float64(values)
    stats = _statistics_of_finite(finite)
    if finite.size:
        counts, edges = np.histogram(finite, bins=bins)
    else:
        counts, edges = np.zeros(bins, np.int64), np.linspace(0, 1, bins + 1)
    return _Result(counts, edges, stats, text, int(values.size), int(finite.size))


_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """Return the worker thread computing histograms (one, shared by every window)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="histogram")
        return _POOL


_STAT_LABELS = (("count", "Count"), ("min", "Min"), ("max", "Max"), ("mean", "Mean"),
                ("std", "Std dev"), ("median", "Median"), ("p1", "1 % percentile"),
                ("p99", "99 % percentile"))


def _connect(view: Any, name: str, slot: Callable[..., None]) -> None:
    sig = getattr(view, name, None)
    if sig is not None and hasattr(sig, "connect"):
        sig.connect(slot)


def _disconnect(view: Any, name: str, slot: Callable[..., None]) -> None:
    sig = getattr(view, name, None)
    if sig is not None and hasattr(sig, "disconnect"):
        try:
            sig.disconnect(slot)
        except (RuntimeError, TypeError):
            pass


class HistogramWindow(QtWidgets.QWidget):
    """Histogram and statistics of the frame a view shows (or of its ROI).

    Parameters
    ----------
    view : DatasetView
        The view followed; the window refreshes on its ``frameChanged`` and
        ``displayChanged`` signals (and ``roiChanged`` when present).
    parent : QWidget, optional
        Parent widget (the window stays a separate top-level window).

    Notes
    -----
    The bins span the finite values' ``[min, max]`` (as :func:`numpy.histogram`); the
    display range of the view is drawn as two vertical lines.

    The computation runs in a worker thread, so stepping through frames never waits for it:
    while one computation runs, further changes only remember the latest request (started
    when the running one ends); a result for a frame no longer shown is dropped; the window
    says "computing…" meanwhile. :meth:`statistics` and :meth:`histogram` wait for the
    latest request (for scripts and tests); :meth:`is_busy` and :meth:`wait` tell and wait.
    ``refreshed`` is emitted each time the numbers of the latest request are shown.
    """

    refreshed = QtCore.Signal()

    DEFAULT_BINS = 256
    ROI_POLL_MS = 250
    #: How often the GUI thread looks for a finished computation (ms).
    POLL_MS = 10

    def __init__(self, view: _ViewLike, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        self.view = view
        ds = getattr(view, "dataset", None)
        self.setWindowTitle("Histogram" + (f" — {ds.title}" if getattr(ds, "title", "") else ""))
        self._counts = np.zeros(0, dtype=np.int64)
        self._edges = np.zeros(1, dtype=np.float64)
        self._stats = statistics(np.zeros(0))
        self._last: np.ndarray | None = None
        self._last_region: Any = None
        self._generation = 0  # of the latest request
        self._shown_generation = 0  # of the numbers shown
        self._future: concurrent.futures.Future[_Result] | None = None
        self._future_generation = 0
        self._queued: tuple[int, np.ndarray, Any, Any, int] | None = None
        self._closed = False
        self._source_text = ""

        lay = QtWidgets.QVBoxLayout(self)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("left", "count")
        self.plot.showGrid(x=False, y=True, alpha=0.3)
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0,
                                     brush=pg.mkBrush(90, 120, 200, 160),
                                     pen=pg.mkPen(60, 80, 160))
        self.plot.addItem(self.curve)
        pen = pg.mkPen(200, 60, 40, style=QtCore.Qt.PenStyle.DashLine)
        self.low_line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.high_line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.plot.addItem(self.low_line)
        self.plot.addItem(self.high_line)
        lay.addWidget(self.plot, 1)

        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(QtWidgets.QLabel("Bins:"))
        self.bins_spin = QtWidgets.QSpinBox()
        self.bins_spin.setRange(2, 65536)
        self.bins_spin.setValue(self.DEFAULT_BINS)
        self.bins_spin.setKeyboardTracking(False)
        self.bins_spin.valueChanged.connect(self._recompute)
        controls.addWidget(self.bins_spin)
        self.log_check = QtWidgets.QCheckBox("Log counts")
        self.log_check.toggled.connect(self._apply_log)
        controls.addWidget(self.log_check)
        self.roi_check = QtWidgets.QCheckBox("ROI only")
        self.roi_check.setChecked(True)
        self.roi_check.setToolTip("Use the view's rectangle ROI when one is drawn")
        self.roi_check.toggled.connect(self._recompute)
        controls.addWidget(self.roi_check)
        controls.addStretch(1)
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.refresh_button.clicked.connect(self._recompute)
        controls.addWidget(self.refresh_button)
        lay.addLayout(controls)

        self.source_label = QtWidgets.QLabel()
        lay.addWidget(self.source_label)
        grid = QtWidgets.QGridLayout()
        self.stat_labels: dict[str, QtWidgets.QLabel] = {}
        for i, (key, text) in enumerate(_STAT_LABELS):
            value = QtWidgets.QLabel()
            value.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QtWidgets.QLabel(text + ":"), i // 2, 2 * (i % 2))
            grid.addWidget(value, i // 2, 2 * (i % 2) + 1)
            self.stat_labels[key] = value
        lay.addLayout(grid)

        _connect(view, "frameChanged", self.refresh)
        _connect(view, "displayChanged", self.refresh)
        _connect(view, "roiChanged", self.refresh)
        # views without a roiChanged signal: look at the ROI a few times a second while shown
        self._roi_timer = QtCore.QTimer(self)
        self._roi_timer.setInterval(self.ROI_POLL_MS)
        self._roi_timer.timeout.connect(self._poll_roi)
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(self.POLL_MS)
        self._poll.timeout.connect(self._collect)
        self.resize(460, 420)
        self.refresh()

    # ---- public API
    def values(self) -> np.ndarray:
        """Return the values histogrammed now (frame or ROI, as the view displays them).

        Returns
        -------
        numpy.ndarray
            The values (not flattened, non-finite ones included).
        """
        frame = frame_values(self.view.current_frame())
        region = self.view.roi_region() if self.roi_check.isChecked() else None
        return roi_values(frame, getattr(self.view, "dataset", None), region)[0]

    def histogram(self, wait: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return the counts and bin edges shown.

        Parameters
        ----------
        wait : bool
            First wait for the computation of the latest request, if one is running (the
            window itself never waits); False returns what is shown now.

        Returns
        -------
        tuple of numpy.ndarray
            ``(counts, edges)`` as :func:`numpy.histogram` gives them.
        """
        if wait:
            self.wait()
        return self._counts.copy(), self._edges.copy()

    def statistics(self, wait: bool = True) -> dict[str, float]:
        """Return the statistics shown.

        Parameters
        ----------
        wait : bool
            First wait for the computation of the latest request, if one is running (the
            window itself never waits); False returns what is shown now.

        Returns
        -------
        dict
            See :func:`statistics`.
        """
        if wait:
            self.wait()
        return dict(self._stats)

    def is_busy(self) -> bool:
        """Tell whether the numbers shown are not those of the latest request yet.

        Returns
        -------
        bool
            True while a computation runs or waits to run.
        """
        return self._shown_generation != self._generation

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait (blocking) until the numbers of the latest request are shown.

        For scripts and tests; the window never calls it.

        Parameters
        ----------
        timeout : float
            Seconds to wait at most.

        Returns
        -------
        bool
            True when the numbers shown are up to date.
        """
        import time

        end = time.monotonic() + timeout
        while self._future is not None:
            left = end - time.monotonic()
            if left <= 0:
                break
            concurrent.futures.wait([self._future], timeout=left)
            self._collect()
        return not self.is_busy()

    def bins(self) -> int:
        """Return the number of bins.

        Returns
        -------
        int
            Bins.
        """
        return int(self.bins_spin.value())

    def set_bins(self, n: int) -> None:
        """Set the number of bins (2 to 65536).

        Parameters
        ----------
        n : int
            Bins.
        """
        self.bins_spin.setValue(int(n))

    def log_counts(self) -> bool:
        """Tell whether counts are drawn on a log scale.

        Returns
        -------
        bool
            True for a log scale.
        """
        return self.log_check.isChecked()

    def set_log_counts(self, on: bool) -> None:
        """Draw counts on a log (or linear) scale.

        Parameters
        ----------
        on : bool
            True for a log scale.
        """
        self.log_check.setChecked(bool(on))

    def refresh(self, *_: Any) -> None:
        """Recompute when the frame or ROI changed and redraw the display-range lines.

        The recomputation runs in the worker thread (see the class notes): this returns at
        once.
        """
        if self._closed:
            return
        try:
            frame = np.asarray(self.view.current_frame())
            region = self.view.roi_region() if self.roi_check.isChecked() else None
        except RuntimeError:  # the view was deleted
            return
        if not (self._last is not None and region == self._last_region
                and _same_values(frame, self._last)):
            self._recompute()
        self._update_lines()

    # ---- internals
    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802
        """Start following the ROI when shown.

        Parameters
        ----------
        event : QShowEvent
            The event.
        """
        super().showEvent(event)
        if self._closed:  # shown again after being closed: follow the view again
            self._closed = False
            for name in ("frameChanged", "displayChanged", "roiChanged"):
                _connect(self.view, name, self.refresh)
            self._last = None
            self.refresh()
        if getattr(self.view, "roiChanged", None) is None:
            self._roi_timer.start()

    def hideEvent(self, event: QtGui.QHideEvent) -> None:  # noqa: N802
        """Stop following the ROI when hidden.

        Parameters
        ----------
        event : QHideEvent
            The event.
        """
        self._roi_timer.stop()
        super().hideEvent(event)

    def _poll_roi(self) -> None:
        try:
            region = self.view.roi_region() if self.roi_check.isChecked() else None
        except RuntimeError:  # the view was deleted
            self._roi_timer.stop()
            return
        if region != self._last_region:
            self._recompute()

    def _recompute(self, *_: Any) -> None:
        """Ask for the histogram of the frame (or ROI) shown now, computed in the worker."""
        if self._closed:
            return
        try:
            frame = np.asarray(self.view.current_frame())
            region = self.view.roi_region() if self.roi_check.isChecked() else None
            dataset = getattr(self.view, "dataset", None)
        except RuntimeError:  # the view was deleted
            return
        self._last = frame
        self._last_region = region
        self._generation += 1
        request = (self._generation, frame, dataset, region, self.bins())
        if self._future is None:
            self._start(request)
        else:  # one computation at a time: remember only the latest request
            self._queued = request
        self._show_busy(True)

    def _start(self, request: tuple[int, np.ndarray, Any, Any, int]) -> None:
        generation, frame, dataset, region, bins = request
        self._future = _pool().submit(_compute, frame, dataset, region, bins)
        self._future_generation = generation
        self._poll.start()

    def _collect(self) -> None:
        """Take a finished computation (GUI thread): show it, or drop it when stale."""
        fut = self._future
        if fut is None:
            self._poll.stop()
            return
        if not fut.done():
            return
        self._future = None
        generation = self._future_generation
        queued, self._queued = self._queued, None
        if queued is not None and not self._closed:
            self._start(queued)  # a newer request came meanwhile: this result is stale
            return
        self._poll.stop()
        if generation != self._generation or self._closed:
            return
        try:
            result = fut.result()
        except Exception as exc:  # shown, never raised into the event loop
            self._shown_generation = generation
            self._source_text = f"Histogram failed: {exc}"
            self._show_busy(False)
            return
        self._apply(generation, result)

    def _apply(self, generation: int, result: _Result) -> None:
        self._shown_generation = generation
        self._stats = result.stats
        self._counts, self._edges = result.counts, result.edges
        self._source_text = (f"{result.text}: {result.size} values"
                             + (f" ({result.size - result.finite} not finite)"
                                if result.finite != result.size else ""))
        for key, label in self.stat_labels.items():
            v = self._stats[key]
            label.setText(str(v) if key == "count" else f"{v:.6g}")
        self._show_busy(False)
        self._draw()
        self.refreshed.emit()

    def _show_busy(self, busy: bool) -> None:
        text = self._source_text
        if busy:
            text = f"{text}  — computing…" if text else "computing…"
        self.source_label.setText(text)
        for label in self.stat_labels.values():
            label.setEnabled(not busy)

    def _draw(self) -> None:
        y = self._counts.astype(np.float64)
        if self.log_counts():
            # log10(0) is not finite: draw empty bins on the baseline (count 1, log 0)
            y = np.where(y > 0, y, 1.0)
        self.curve.setData(self._edges, y, stepMode="center", fillLevel=0.0)

    def _apply_log(self, on: bool) -> None:
        self.plot.setLogMode(x=False, y=bool(on))
        self.plot.setLabel("left", "count (log)" if on else "count")
        self._draw()

    def _update_lines(self) -> None:
        try:
            settings = self.view.display_settings()
        except Exception:  # a view being torn down
            return
        clim = settings.get("clim")
        if clim is None:
            clim = auto_clim(frame_values(self.view.current_frame()),
                             float(settings.get("auto_saturation", 0.35)))
        self.low_line.setValue(float(clim[0]))
        self.high_line.setValue(float(clim[1]))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop following the view when closed.

        Parameters
        ----------
        event : QCloseEvent
            The event.
        """
        self._roi_timer.stop()
        self._closed = True  # a computation still running finishes in the worker, unseen
        self._poll.stop()
        self._queued = None
        for name in ("frameChanged", "displayChanged", "roiChanged"):
            _disconnect(self.view, name, self.refresh)
        super().closeEvent(event)


class BrightnessContrastDialog(QtWidgets.QDialog):
    """Display range, auto-contrast, gamma and mapping of a view, applied live.

    Parameters
    ----------
    view : DatasetView
        The view adjusted through ``view.apply_display``.
    parent : QWidget, optional
        Parent widget.

    Notes
    -----
    The sliders span the data range of the frame shown (widened to include the current
    display range). *Auto* sets the range that saturates the given percent of the pixels
    (:func:`micrographia.io.render.auto_clim`, ImageJ's Auto); *Reset* sets the full data
    range.
    """

    SLIDER_STEPS = 1000
    MAPPINGS = ("linear", "log", "sqrt")

    def __init__(self, view: _ViewLike, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.setWindowTitle("Brightness/Contrast")
        self._syncing = False
        self._data_range = (0.0, 1.0)
        self._range = (0.0, 1.0)
        self._clim = (0.0, 1.0)

        lay = QtWidgets.QVBoxLayout(self)
        self.hist_plot = pg.PlotWidget()
        self.hist_plot.setMenuEnabled(False)
        self.hist_plot.setMouseEnabled(x=False, y=False)
        self.hist_plot.hideButtons()
        self.hist_plot.hideAxis("left")
        self.hist_plot.setFixedHeight(100)
        self.hist_curve = pg.PlotDataItem(stepMode="center", fillLevel=0.0,
                                          brush=pg.mkBrush(150, 150, 150, 180),
                                          pen=pg.mkPen(110, 110, 110))
        self.hist_plot.addItem(self.hist_curve)
        pen = pg.mkPen(200, 60, 40)
        self.low_line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.high_line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hist_plot.addItem(self.low_line)
        self.hist_plot.addItem(self.high_line)
        self.hist_plot.setToolTip("Histogram of the frame (log counts) and the display range")
        lay.addWidget(self.hist_plot)
        grid = QtWidgets.QGridLayout()
        self.min_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.max_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.min_spin = QtWidgets.QDoubleSpinBox()
        self.max_spin = QtWidgets.QDoubleSpinBox()
        for row, (text, slider, spin) in enumerate((("Minimum", self.min_slider, self.min_spin),
                                                    ("Maximum", self.max_slider, self.max_spin))):
            slider.setRange(0, self.SLIDER_STEPS)
            spin.setKeyboardTracking(False)
            grid.addWidget(QtWidgets.QLabel(text + ":"), row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(spin, row, 2)
        self.min_slider.valueChanged.connect(lambda v: self._slider_moved(v, low=True))
        self.max_slider.valueChanged.connect(lambda v: self._slider_moved(v, low=False))
        self.min_spin.valueChanged.connect(lambda v: self._spin_changed(v, low=True))
        self.max_spin.valueChanged.connect(lambda v: self._spin_changed(v, low=False))

        grid.addWidget(QtWidgets.QLabel("Gamma:"), 2, 0)
        self.gamma_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.gamma_slider.setRange(-200, 200)  # log10(gamma) * 200: 0.1 .. 10
        self.gamma_spin = QtWidgets.QDoubleSpinBox()
        self.gamma_spin.setRange(0.1, 10.0)
        self.gamma_spin.setDecimals(2)
        self.gamma_spin.setSingleStep(0.05)
        self.gamma_spin.setKeyboardTracking(False)
        self.gamma_spin.setValue(1.0)
        grid.addWidget(self.gamma_slider, 2, 1)
        grid.addWidget(self.gamma_spin, 2, 2)
        self.gamma_slider.valueChanged.connect(
            lambda v: self.gamma_spin.setValue(round(10 ** (v / 200.0), 2)))
        self.gamma_spin.valueChanged.connect(self._gamma_changed)

        grid.addWidget(QtWidgets.QLabel("Mapping:"), 3, 0)
        self.mapping_combo = QtWidgets.QComboBox()
        self.mapping_combo.addItems(list(self.MAPPINGS))
        self.mapping_combo.currentTextChanged.connect(self._mapping_changed)
        grid.addWidget(self.mapping_combo, 3, 1, 1, 2)
        lay.addLayout(grid)

        self.range_label = QtWidgets.QLabel()
        lay.addWidget(self.range_label)

        row = QtWidgets.QHBoxLayout()
        self.auto_button = QtWidgets.QPushButton("Auto")
        self.auto_button.setToolTip("Saturate the given percent of the pixels, half at each end")
        self.auto_button.clicked.connect(lambda: self.auto())
        row.addWidget(self.auto_button)
        row.addWidget(QtWidgets.QLabel("saturated:"))
        self.saturation_spin = QtWidgets.QDoubleSpinBox()
        self.saturation_spin.setRange(0.0, 50.0)
        self.saturation_spin.setDecimals(2)
        self.saturation_spin.setSingleStep(0.05)
        self.saturation_spin.setSuffix(" %")
        self.saturation_spin.setValue(0.35)
        row.addWidget(self.saturation_spin)
        self.reset_button = QtWidgets.QPushButton("Reset")
        self.reset_button.setToolTip("Full data range, gamma 1, linear mapping")
        self.reset_button.clicked.connect(self.reset)
        row.addWidget(self.reset_button)
        lay.addLayout(row)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay.addWidget(close)

        _connect(view, "displayChanged", self._on_display_changed)
        _connect(view, "frameChanged", self._on_frame_changed)
        self._on_frame_changed()

    # ---- public API
    def data_range(self) -> tuple[float, float]:
        """Return the finite (min, max) of the frame shown.

        Returns
        -------
        tuple of float
            ``(min, max)``; ``(v, v + 1)`` for a constant frame.
        """
        return self._data_range

    def clim(self) -> tuple[float, float]:
        """Return the display range shown by the controls.

        Returns
        -------
        tuple of float
            ``(low, high)``.
        """
        return self._clim

    def set_clim(self, low: float, high: float) -> None:
        """Set the display range and apply it to the view.

        Parameters
        ----------
        low, high : float
            The range; ``low < high`` is enforced by moving ``high`` when needed.
        """
        low, high = float(low), float(high)
        if not high > low:
            high = low + self._min_step()
        self._clim = (low, high)
        self._widen(low, high)
        self._show_clim()
        self.view.apply_display({"clim": (low, high)})

    def auto(self, saturation: float | None = None) -> tuple[float, float]:
        """Apply the auto-contrast range.

        Parameters
        ----------
        saturation : float, optional
            Percent of saturated pixels (half at each end); default the spin box's value
            (0.35 initially).

        Returns
        -------
        tuple of float
            The range applied.
        """
        if saturation is not None:
            self.saturation_spin.setValue(float(saturation))
        sat = float(self.saturation_spin.value())
        lo, hi = auto_clim(self._frame(), sat)
        self._clim = (lo, hi)
        self._widen(lo, hi)
        self._show_clim()
        self.view.apply_display({"clim": (lo, hi), "auto_saturation": sat})
        return lo, hi

    def reset(self) -> None:
        """Set the full data range, gamma 1 and linear mapping."""
        self._syncing = True
        try:
            self.gamma_spin.setValue(1.0)
            self.gamma_slider.setValue(0)
            self.mapping_combo.setCurrentText("linear")
        finally:
            self._syncing = False
        lo, hi = self._data_range
        self._clim = (lo, hi)
        self._range = (lo, hi)
        self._configure_spins()
        self._show_clim()
        self.view.apply_display({"clim": (lo, hi), "gamma": 1.0, "mapping": "linear"})

    def set_gamma(self, gamma: float) -> None:
        """Set the gamma (0.1 to 10) and apply it.

        Parameters
        ----------
        gamma : float
            Exponent applied after the mapping.
        """
        self.gamma_spin.setValue(float(gamma))

    def set_mapping(self, mapping: str) -> None:
        """Set the value mapping and apply it.

        Parameters
        ----------
        mapping : {"linear", "log", "sqrt"}
            The mapping.
        """
        if mapping not in self.MAPPINGS:
            raise ValueError(f"mapping must be one of {', '.join(self.MAPPINGS)}")
        self.mapping_combo.setCurrentText(mapping)

    # ---- internals
    def _frame(self) -> np.ndarray:
        return frame_values(self.view.current_frame())

    def _min_step(self) -> float:
        lo, hi = self._range
        return (hi - lo) / self.SLIDER_STEPS or 1e-12

    def _on_frame_changed(self, *_: Any) -> None:
        v = self._frame()
        finite = v[np.isfinite(v)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
        else:
            lo, hi = 0.0, 1.0
        if not hi > lo:
            hi = lo + 1.0
        self._data_range = (lo, hi)
        self._range = (lo, hi)
        self.range_label.setText(f"Data range: {lo:.6g} … {hi:.6g}")
        if finite.size:
            counts, edges = np.histogram(finite, bins=256, range=(lo, hi))
            self.hist_curve.setData(edges, np.log10(1.0 + counts), stepMode="center",
                                    fillLevel=0.0)
        else:
            self.hist_curve.setData([], [])
        self._on_display_changed()

    def _on_display_changed(self, *_: Any) -> None:
        s = self.view.display_settings()
        clim = s.get("clim")
        if clim is None:
            clim = auto_clim(self._frame(), float(s.get("auto_saturation", 0.35)))
        self._clim = (float(clim[0]), float(clim[1]))
        self._widen(*self._clim)
        self._syncing = True
        try:
            self._show_clim()
            g = float(s.get("gamma", 1.0))
            self.gamma_spin.setValue(g)
            self.gamma_slider.setValue(round(200 * math.log10(max(g, 1e-3))))
            m = str(s.get("mapping", "linear"))
            if m in self.MAPPINGS:
                self.mapping_combo.setCurrentText(m)
            if "auto_saturation" in s and s["auto_saturation"] is not None:
                self.saturation_spin.setValue(float(s["auto_saturation"]))
        finally:
            self._syncing = False

    def _widen(self, low: float, high: float) -> None:
        lo, hi = self._range
        new = (min(lo, low), max(hi, high))
        if new != self._range:
            self._range = new
        self._configure_spins()

    def _configure_spins(self) -> None:
        lo, hi = self._range
        span = hi - lo
        dec = int(min(8, max(2, 4 - math.floor(math.log10(span)) if span > 0 else 2)))
        for spin in (self.min_spin, self.max_spin):
            spin.blockSignals(True)
            spin.setDecimals(dec)
            spin.setRange(lo, hi)
            spin.setSingleStep(span / 100 if span > 0 else 1.0)
            spin.blockSignals(False)

    def _to_slider(self, v: float) -> int:
        lo, hi = self._range
        return round((v - lo) / (hi - lo) * self.SLIDER_STEPS) if hi > lo else 0

    def _from_slider(self, i: int) -> float:
        lo, hi = self._range
        return lo + (hi - lo) * i / self.SLIDER_STEPS

    def _show_clim(self) -> None:
        lo, hi = self._clim
        self.low_line.setValue(lo)
        self.high_line.setValue(hi)
        for w, v in ((self.min_spin, lo), (self.max_spin, hi)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        for w, v in ((self.min_slider, lo), (self.max_slider, hi)):
            w.blockSignals(True)
            w.setValue(self._to_slider(v))
            w.blockSignals(False)

    def _slider_moved(self, i: int, *, low: bool) -> None:
        if self._syncing:
            return
        v = self._from_slider(i)
        self._set_one(v, low=low)

    def _spin_changed(self, v: float, *, low: bool) -> None:
        if self._syncing:
            return
        self._set_one(float(v), low=low)

    def _set_one(self, v: float, *, low: bool) -> None:
        lo, hi = self._clim
        step = self._min_step()
        if low:
            lo = v
            if not hi > lo:  # push the other end, as ImageJ does
                hi = min(lo + step, self._range[1])
                lo = min(lo, hi - step)
        else:
            hi = v
            if not hi > lo:
                lo = max(hi - step, self._range[0])
                hi = max(hi, lo + step)
        self.set_clim(lo, hi)

    def _gamma_changed(self, g: float) -> None:
        self.gamma_slider.blockSignals(True)
        self.gamma_slider.setValue(round(200 * math.log10(max(g, 1e-3))))
        self.gamma_slider.blockSignals(False)
        if not self._syncing:
            self.view.apply_display({"gamma": float(g)})

    def _mapping_changed(self, m: str) -> None:
        if not self._syncing and m:
            self.view.apply_display({"mapping": m})

    def done(self, result: int) -> None:
        """Stop following the view when the dialog closes.

        Parameters
        ----------
        result : int
            The dialog result.
        """
        _disconnect(self.view, "displayChanged", self._on_display_changed)
        _disconnect(self.view, "frameChanged", self._on_frame_changed)
        super().done(result)


def _icon(name: str) -> QtGui.QIcon:
    from .display import colormap

    table = np.ascontiguousarray(colormap(name)[np.linspace(0, 255, 64).astype(int)])
    strip = np.ascontiguousarray(np.repeat(table[None, :, :], 12, axis=0))
    img = QtGui.QImage(strip.data, 64, 12, 64 * 3, QtGui.QImage.Format.Format_RGB888).copy()
    return QtGui.QIcon(QtGui.QPixmap.fromImage(img))


def colormap_menu(menu: QtWidgets.QMenu, active_view: Callable[[], _ViewLike | None],
                  names: Sequence[str] | None = None) -> dict[str, QtGui.QAction]:
    """Fill a Colormaps menu acting on the active view.

    One exclusive, checkable action per colormap (with a colour-strip icon), then a separator
    and a checkable *Invert* action. Triggering an action calls
    ``view.apply_display({"cmap": name})`` (or ``{"invert": checked}``) on
    ``active_view()``; the check marks follow that view's settings each time the menu opens.

    Parameters
    ----------
    menu : QMenu
        The menu to fill (actions are appended).
    active_view : callable
        Returns the view to act on, or None (the actions then do nothing).
    names : sequence of str, optional
        Colormap names; default :data:`micrographia.app.display.COLORMAPS`.

    Returns
    -------
    dict
        Colormap name (and ``"Invert"``) to its action.
    """
    if names is None:
        from .display import COLORMAPS

        names = COLORMAPS
    group = QtGui.QActionGroup(menu)
    group.setExclusive(True)
    actions: dict[str, QtGui.QAction] = {}

    def _apply(settings: dict[str, Any]) -> None:
        view = active_view()
        if view is not None:
            view.apply_display(settings)

    for name in names:
        act = QtGui.QAction(name, menu)
        act.setCheckable(True)
        try:
            act.setIcon(_icon(name))
        except Exception:  # an unknown map simply has no icon
            pass
        act.setData(name)
        act.triggered.connect(lambda _checked=False, n=name: _apply({"cmap": n}))
        group.addAction(act)
        menu.addAction(act)
        actions[name] = act
    menu.addSeparator()
    invert = QtGui.QAction("Invert", menu)
    invert.setCheckable(True)
    invert.triggered.connect(lambda checked: _apply({"invert": bool(checked)}))
    menu.addAction(invert)
    actions["Invert"] = invert

    def _sync() -> None:
        view = active_view()
        enabled = view is not None
        for act in actions.values():
            act.setEnabled(enabled)
        if view is None:
            return
        s = view.display_settings()
        cmap = str(s.get("cmap", "grey"))
        aliases = {"gray": "grey", "grey": "gray"}
        for name, act in actions.items():
            if name != "Invert":
                act.setChecked(name.lower() in (cmap.lower(), aliases.get(cmap.lower(), "")))
        invert.setChecked(bool(s.get("invert", False)))

    menu.aboutToShow.connect(_sync)
    return actions
