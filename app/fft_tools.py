"""FFT tools of the desktop app: complex display menu, Live FFT and Bragg-filter spot picking.

* :func:`complex_menu` fills *Image ▸ Complex* with one exclusive action per complex display
  mode (amplitude, log-amplitude, phase, real, imaginary) acting on the active view through
  ``view.apply_display({"complex": mode})`` (so the choice is recorded, undoable and saved
  with the window's display settings).
* :class:`LiveFFTWindow` (*Process ▸ FFT ▸ Live FFT*, ``Ctrl+F`` as in Digital Micrograph)
  shows the power spectrum ``log(1 + |FFT|²)`` (Hann window, mean subtracted: exactly what
  ``fft.power_spectrum`` computes) of the active image's rectangle ROI, or of the whole frame
  without one. It follows the ROI, the frame and the dataset (debounced; regions larger than
  512 × 512 are transformed on a worker thread), has calibrated 1/units axes and a read-out of
  the spatial frequency and the d-spacing under the cursor. *Open as image* runs
  ``image.crop`` and ``fft.power_spectrum`` through the main window, so both are recorded.
* :class:`SpotPicker` and :class:`BraggFilterPanel` let the user click spots on a power
  spectrum (the Live FFT window, or any image window showing a spectrum with 1/units axes,
  :class:`BraggFilterWindow`); the Friedel partner and the filter radius are drawn, a click
  on a marker removes it, clicks can snap to the local maximum, and *Apply mask filter* runs
  ``fft.mask_filter`` on the source image with ``spots=[(ky, kx), ...]`` in 1/units through
  :meth:`MainWindow.run_operation` (recorded, replayable).
"""

from __future__ import annotations

import concurrent.futures
import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from micrographia.dataset import Axis, Dataset
from micrographia.errors import ParameterError

from . import display
from .views import COMPLEX_LABELS, COMPLEX_MODES, _fmt, _ImagePanel, _index_range, _new_plot

__all__ = ["complex_menu", "LiveFFTWindow", "SpotPicker", "BraggFilterPanel",
           "BraggFilterWindow", "live_power_spectrum", "find_source", "is_spectrum",
           "supports_live_fft", "k_readout", "LIVE_SYNC_PIXELS", "LIVE_DEBOUNCE_MS"]

#: Regions with at most this many pixels are transformed on the GUI thread (a 512² float32
#: power spectrum takes a few milliseconds); larger ones on a worker thread.
LIVE_SYNC_PIXELS = 512 * 512

#: Delay between the last ROI/frame change and the recomputation of the Live FFT.
LIVE_DEBOUNCE_MS = 60

_SPOT_PEN = pg.mkPen((255, 220, 0), width=2)
_PARTNER_PEN = pg.mkPen((0, 220, 255), width=2, style=QtCore.Qt.PenStyle.DashLine)

# spectra opened from the Live FFT ("Open as image") -> the cropped dataset they came from
_SOURCES: weakref.WeakKeyDictionary[Dataset, Dataset] = weakref.WeakKeyDictionary()


# -- Image ▸ Complex ----------------------------------------------------------------------------
def complex_menu(menu: QtWidgets.QMenu, active_view: Callable[[], Any]
                 ) -> dict[str, QtGui.QAction]:
    """Fill a *Complex* menu with the complex display modes of the active view.

    One exclusive, checkable action per mode of :data:`~micrographia.app.views.COMPLEX_MODES`;
    triggering one calls ``view.apply_display({"complex": mode})`` on ``active_view()`` (the
    window records it as an ``mg.display`` line, undoably). Each time the menu opens, the
    actions are enabled only when the active view shows complex data, and the mode shown is
    checked.

    Parameters
    ----------
    menu : QMenu
        The menu to fill (actions are appended).
    active_view : callable
        Returns the view to act on, or None.

    Returns
    -------
    dict
        Mode name to its action.
    """
    group = QtGui.QActionGroup(menu)
    group.setExclusive(True)
    actions: dict[str, QtGui.QAction] = {}
    titles = {"amplitude": "&Amplitude", "log_amplitude": "&Log Amplitude",
              "phase": "&Phase", "real": "&Real", "imaginary": "&Imaginary"}
    tips = {m: f"Show the {COMPLEX_LABELS[m]} of complex data" for m in COMPLEX_MODES}
    tips["phase"] += " with the cyclic phase colormap over -π..π"

    def _apply(mode: str) -> None:
        view = active_view()
        if view is not None and getattr(view, "complex_mode", lambda: None)() is not None:
            view.apply_display({"complex": mode})

    for mode in COMPLEX_MODES:
        act = QtGui.QAction(titles[mode], menu)
        act.setObjectName(f"complex:{mode}")
        act.setCheckable(True)
        act.setData(mode)
        act.setToolTip(tips[mode])
        act.setStatusTip(tips[mode])
        act.triggered.connect(lambda _checked=False, m=mode: _apply(m))
        group.addAction(act)
        menu.addAction(act)
        actions[mode] = act

    def _sync() -> None:
        view = active_view()
        mode = getattr(view, "complex_mode", lambda: None)() if view is not None else None
        for name, act in actions.items():
            act.setEnabled(mode is not None)
            act.setChecked(name == mode)

    menu.aboutToShow.connect(_sync)
    _sync()
    return actions


# -- helpers ------------------------------------------------------------------------------------
def _length_units(k_units: str) -> str:
    """``"1/nm"`` -> ``"nm"``; uncalibrated axes -> ``"px"``."""
    u = k_units or ""
    if u.startswith("1/"):
        return u[2:] or "px"
    return u if u not in ("", "<undefined>") else "px"


def k_readout(ky: float, kx: float, units: str) -> str:
    """Describe a spatial frequency: components, modulus and d-spacing.

    Parameters
    ----------
    ky, kx : float
        Spatial frequency in ``units`` (e.g. 1/nm).
    units : str
        The k units, e.g. ``"1/nm"``.

    Returns
    -------
    str
        E.g. ``"kx 0.5 1/nm, ky 0 1/nm  |k| 0.5 1/nm  d 2 nm"`` (``d = 1/|k|``; ``d ∞`` at
        the origin).
    """
    k = math.hypot(ky, kx)
    d = f"{_fmt(1.0 / k)} {_length_units(units)}" if k > 0 else "∞"
    return (f"kx {_fmt(kx)} {units}, ky {_fmt(ky)} {units}  |k| {_fmt(k)} {units}  d {d}")


def is_spectrum(dataset: Any) -> bool:
    """Tell whether a dataset is a Fourier-space image (two signal axes in 1/units).

    Parameters
    ----------
    dataset : Dataset
        Any dataset.

    Returns
    -------
    bool
        True when both signal axes have units ``1/...`` or are named ``ky``, ``kx``.
    """
    if not isinstance(dataset, Dataset) or dataset.signal_dims != 2:
        return False
    ay, ax = dataset.sig_axes
    if (ay.name, ax.name) == ("ky", "kx"):
        return True
    return ay.units.startswith("1/") and ax.units.startswith("1/")


def supports_live_fft(view: Any) -> bool:
    """Tell whether a view shows images whose frame the Live FFT can transform.

    Parameters
    ----------
    view : DatasetView or None
        A view.

    Returns
    -------
    bool
        True for views of images and stacks of images (two signal axes, a main image).
    """
    from .views import ImageView2D

    if not isinstance(view, ImageView2D):
        return False
    ds = view.dataset
    return ds.signal_dims == 2 and ds.dtype.names is None and ds.dtype.kind in "biufc"


def find_source(dataset: Dataset, candidates: Iterable[Dataset]) -> Dataset | None:
    """Find the image a spectrum was computed from.

    A spectrum opened with the Live FFT's *Open as image* knows its (cropped) source; any
    other spectrum made by ``fft.power_spectrum`` or ``fft.fft`` names its input in its
    provenance, which is looked up among ``candidates`` (the datasets of the open windows).

    Parameters
    ----------
    dataset : Dataset
        The spectrum.
    candidates : iterable of Dataset
        Datasets that may be the source.

    Returns
    -------
    Dataset or None
        The source, None when it is not known or not open.
    """
    src = _SOURCES.get(dataset)
    if src is not None:
        return src
    from micrographia.provenance import RunNode

    node = getattr(dataset.provenance, "node", None)
    if not isinstance(node, RunNode) or node.op not in ("fft.power_spectrum", "fft.fft"):
        return None
    if not node.inputs or node.inputs[0] is None:
        return None
    for c in candidates:
        if isinstance(c, Dataset) and c.provenance == node.inputs[0]:
            return c
    return None


def live_power_spectrum(frame: np.ndarray, y_axis: Axis, x_axis: Axis) -> Dataset:
    """Power spectrum of one frame as ``fft.power_spectrum`` computes it (log, Hann, no mean).

    The function of the ``fft.power_spectrum`` operation is called directly (not recorded).

    Parameters
    ----------
    frame : numpy.ndarray
        2-D real or complex values.
    y_axis, x_axis : Axis
        Calibration of the frame's rows and columns.

    Returns
    -------
    Dataset
        ``log(1 + |F|²)`` with centred ``ky, kx`` axes in 1/units.

    Raises
    ------
    ParameterError
        For a frame that is not 2-D or is empty.
    """
    from micrographia.plugins.fft import power_spectrum

    a = np.asarray(frame)
    if a.ndim != 2 or 0 in a.shape:
        raise ParameterError(f"the Live FFT needs a non-empty 2-D frame, got shape {a.shape}")
    if a.dtype.kind in "bui":
        a = a.astype(np.float32)
    axes = (y_axis.replace(size=a.shape[0]), x_axis.replace(size=a.shape[1]))
    return power_spectrum(Dataset(np.array(a, copy=True), axes))


def _snap(spectrum: np.ndarray, ky_axis: Axis, kx_axis: Axis, ky: float, kx: float,
          bins: int) -> tuple[float, float]:
    """Move (ky, kx) to the largest value within ``bins`` bins (calibrated in and out)."""
    ny, nx = spectrum.shape
    iy = int(round(ky_axis.index(ky)))
    ix = int(round(kx_axis.index(kx)))
    iy, ix = min(max(iy, 0), ny - 1), min(max(ix, 0), nx - 1)
    y0, y1 = max(0, iy - bins), min(ny, iy + bins + 1)
    x0, x1 = max(0, ix - bins), min(nx, ix + bins + 1)
    win = np.asarray(spectrum[y0:y1, x0:x1], dtype=np.float64)
    if not np.isfinite(win).any():
        return ky, kx
    j = int(np.nanargmax(win))
    jy, jx = divmod(j, win.shape[1])
    return (ky_axis.offset + (y0 + jy) * ky_axis.scale,
            kx_axis.offset + (x0 + jx) * kx_axis.scale)


# -- spot picking -------------------------------------------------------------------------------
class SpotPicker(QtCore.QObject):
    """Picks Bragg spots on a spectrum shown in a PlotItem with calibrated 1/units axes.

    A left click adds a spot (snapped to the local maximum within :attr:`snap_bins` bins when
    :attr:`snap` is on); a click within the radius of a spot or of its Friedel partner
    ``(-ky, -kx)`` removes it. Spots are drawn as circles of the filter radius with a cross
    (partners dashed).

    Parameters
    ----------
    plot : pg.PlotItem
        The plot showing the spectrum.
    spectrum : callable
        Returns ``(values, ky_axis, kx_axis)`` of the spectrum shown (for snapping and the
        default radius).
    parent : QObject, optional
        Qt parent.

    Signals
    -------
    spotsChanged()
        A spot was added or removed, or the radius changed.
    """

    spotsChanged = QtCore.Signal()

    def __init__(self, plot: pg.PlotItem,
                 spectrum: Callable[[], tuple[np.ndarray, Axis, Axis]],
                 parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.plot = plot
        self._spectrum = spectrum
        self._spots: list[tuple[float, float]] = []
        self._radius = 0.0
        self.snap = True
        self.snap_bins = 3
        self.enabled = True
        self.spot_items = pg.ScatterPlotItem(pxMode=False, pen=_SPOT_PEN, brush=None,
                                             symbol="o")
        self.partner_items = pg.ScatterPlotItem(pxMode=False, pen=_PARTNER_PEN, brush=None,
                                                symbol="o")
        self.cross_items = pg.ScatterPlotItem(pxMode=True, size=10, symbol="+",
                                              pen=_SPOT_PEN, brush=pg.mkBrush(255, 220, 0))
        for item in (self.spot_items, self.partner_items, self.cross_items):
            item.setZValue(15)
            plot.addItem(item)
        plot.scene().sigMouseClicked.connect(self._on_click)

    # ---- public API
    def spots(self) -> list[tuple[float, float]]:
        """Return the picked spots (one per Friedel pair).

        Returns
        -------
        list of (ky, kx)
            Calibrated spatial frequencies in the spectrum's 1/units.
        """
        return list(self._spots)

    def radius(self) -> float:
        """Return the filter radius in 1/units (3 frequency bins until set).

        Returns
        -------
        float
            The radius.
        """
        if self._radius > 0:
            return self._radius
        _, ay, ax = self._spectrum()
        return 3.0 * max(abs(ay.scale), abs(ax.scale))

    def set_radius(self, radius: float) -> None:
        """Set the filter radius (also the size of the circles drawn).

        Parameters
        ----------
        radius : float
            Radius in 1/units, > 0.

        Raises
        ------
        ParameterError
            When the radius is not positive.
        """
        r = float(radius)
        if not (math.isfinite(r) and r > 0):
            raise ParameterError(f"the spot radius must be > 0, got {radius}")
        if r != self._radius:
            self._radius = r
            self._draw()
            self.spotsChanged.emit()

    def toggle_spot(self, ky: float, kx: float) -> tuple[float, float] | None:
        """Act as a click at (ky, kx): remove the spot there, or add one (snapped).

        Parameters
        ----------
        ky, kx : float
            Calibrated position in the spectrum's 1/units.

        Returns
        -------
        tuple or None
            The spot added, None when a spot was removed.
        """
        hit = self._hit(ky, kx)
        if hit is not None:
            del self._spots[hit]
            self._draw()
            self.spotsChanged.emit()
            return None
        return self.add_spot(ky, kx)

    def add_spot(self, ky: float, kx: float) -> tuple[float, float]:
        """Add a spot at (ky, kx), snapped to the local maximum when :attr:`snap` is on.

        Parameters
        ----------
        ky, kx : float
            Calibrated position in 1/units.

        Returns
        -------
        tuple
            The spot stored ``(ky, kx)``.
        """
        if self.snap:
            values, ay, ax = self._spectrum()
            ky, kx = _snap(values, ay, ax, ky, kx, self.snap_bins)
        spot = (float(ky), float(kx))
        self._spots.append(spot)
        self._draw()
        self.spotsChanged.emit()
        return spot

    def clear(self) -> None:
        """Remove every spot."""
        if self._spots:
            self._spots.clear()
            self._draw()
            self.spotsChanged.emit()

    def detach(self) -> None:
        """Stop listening to clicks and remove the markers from the plot."""
        try:
            self.plot.scene().sigMouseClicked.disconnect(self._on_click)
        except (RuntimeError, TypeError, AttributeError):
            pass
        for item in (self.spot_items, self.partner_items, self.cross_items):
            if item.scene() is not None:
                self.plot.removeItem(item)

    # ---- internals
    def _hit(self, ky: float, kx: float) -> int | None:
        r = self.radius()
        for i, (sy, sx) in enumerate(self._spots):
            if math.hypot(ky - sy, kx - sx) <= r or math.hypot(ky + sy, kx + sx) <= r:
                return i
        return None

    def _draw(self) -> None:
        d = 2.0 * self.radius()
        pts = np.array(self._spots, dtype=np.float64).reshape(-1, 2)
        self.spot_items.setData(x=pts[:, 1], y=pts[:, 0], size=d)
        self.partner_items.setData(x=-pts[:, 1], y=-pts[:, 0], size=d)
        both = np.concatenate([pts, -pts]) if len(pts) else pts
        self.cross_items.setData(x=both[:, 1], y=both[:, 0])

    def _on_click(self, event: Any) -> None:
        if not self.enabled or event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        vb = self.plot.getViewBox()
        pos = event.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        values, ay, ax = self._spectrum()
        iy, ix = ay.index(p.y()), ax.index(p.x())
        if not (-0.5 <= iy < ay.size - 0.5 and -0.5 <= ix < ax.size - 0.5):
            return
        event.accept()
        self.toggle_spot(p.y(), p.x())


class BraggFilterPanel(QtWidgets.QGroupBox):
    """Controls of the Bragg (mask) filter: radius, mode, snapping, Clear and Apply.

    Parameters
    ----------
    picker : SpotPicker
        The spot picker the panel controls.
    apply : callable
        Called by *Apply mask filter* with ``(spots, radius, mode)``.
    parent : QWidget, optional
        Parent widget.
    """

    def __init__(self, picker: SpotPicker,
                 apply: Callable[[list[tuple[float, float]], float, str], Any],
                 parent: QtWidgets.QWidget | None = None):
        super().__init__("Bragg filter: click spots on the spectrum", parent)
        self.picker = picker
        self._apply = apply
        lay = QtWidgets.QHBoxLayout(self)
        lay.addWidget(QtWidgets.QLabel("radius"))
        self.radius_spin = QtWidgets.QDoubleSpinBox(self)
        self.radius_spin.setDecimals(4)
        self.radius_spin.setRange(1e-6, 1e6)
        self.radius_spin.setKeyboardTracking(False)
        self.radius_spin.setToolTip("Radius of each kept/removed disc, in the spectrum's 1/units")
        self.radius_spin.valueChanged.connect(self._radius_changed)
        lay.addWidget(self.radius_spin)
        self.mode_combo = QtWidgets.QComboBox(self)
        self.mode_combo.addItems(["keep", "remove"])
        self.mode_combo.setToolTip("keep: only the spots (and the centre) pass; "
                                   "remove: the spots are taken out")
        lay.addWidget(self.mode_combo)
        self.snap_check = QtWidgets.QCheckBox("snap to max", self)
        self.snap_check.setChecked(picker.snap)
        self.snap_check.setToolTip("Move each click to the brightest bin within "
                                   f"{picker.snap_bins} bins")
        self.snap_check.toggled.connect(lambda on: setattr(picker, "snap", bool(on)))
        lay.addWidget(self.snap_check)
        self.count_label = QtWidgets.QLabel(self)
        lay.addWidget(self.count_label, 1)
        self.clear_button = QtWidgets.QPushButton("Clear", self)
        self.clear_button.clicked.connect(picker.clear)
        lay.addWidget(self.clear_button)
        self.apply_button = QtWidgets.QPushButton("Apply mask filter", self)
        self.apply_button.setToolTip("Run fft.mask_filter on the source image with these spots "
                                     "(recorded)")
        self.apply_button.clicked.connect(self.apply)
        lay.addWidget(self.apply_button)
        picker.spotsChanged.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        """Show the picker's radius and spot count; enable Apply when there are spots."""
        r = self.picker.radius()
        if abs(self.radius_spin.value() - r) > 1e-12:
            self.radius_spin.blockSignals(True)
            self.radius_spin.setSingleStep(r / 3)
            self.radius_spin.setValue(r)
            self.radius_spin.blockSignals(False)
        n = len(self.picker.spots())
        self.count_label.setText(f"{n} spot{'s' if n != 1 else ''} (+ Friedel partners)")
        self.apply_button.setEnabled(n > 0)
        self.clear_button.setEnabled(n > 0)

    def mode(self) -> str:
        """Return the filter mode chosen.

        Returns
        -------
        str
            ``"keep"`` or ``"remove"``.
        """
        return self.mode_combo.currentText()

    def set_mode(self, mode: str) -> None:
        """Choose the filter mode.

        Parameters
        ----------
        mode : {"keep", "remove"}
            The mode.

        Raises
        ------
        ParameterError
            For another value.
        """
        if mode not in ("keep", "remove"):
            raise ParameterError(f"mode must be 'keep' or 'remove', got {mode!r}")
        self.mode_combo.setCurrentText(mode)

    def apply(self) -> Any:
        """Run the filter with the picked spots (what *Apply mask filter* does).

        Returns
        -------
        Any
            What the ``apply`` callable returned (a TaskWatcher), None without spots.
        """
        spots = self.picker.spots()
        if not spots:
            return None
        return self._apply(spots, self.picker.radius(), self.mode())

    def _radius_changed(self, value: float) -> None:
        if value > 0:
            self.picker.set_radius(float(value))


def _run_mask_filter(main: Any, source: Dataset, spots: Sequence[tuple[float, float]],
                     radius: float, mode: str, target: Any) -> Any:
    """Run ``fft.mask_filter`` on ``source`` through the main window (recorded)."""
    params = {"spots": tuple((float(ky), float(kx)) for ky, kx in spots),
              "radius": float(radius), "mode": mode}
    return main.run_operation("fft.mask_filter", [source], params, target=target)


# -- Live FFT -----------------------------------------------------------------------------------
class LiveFFTWindow(QtWidgets.QWidget):
    """Power spectrum of the active image's ROI (or frame), following it live.

    Parameters
    ----------
    view : DatasetView
        An image or stack view (:func:`supports_live_fft`).
    window : ImageWindow, optional
        The view's image window (the Bragg filter runs on its dataset).
    main : MainWindow, optional
        The application shell that runs and records *Open as image* and *Apply mask filter*
        (without it those buttons are disabled).
    parent : QWidget, optional
        Parent widget (the window stays a separate top-level window).

    Signals
    -------
    refreshed()
        A new spectrum is shown.
    """

    refreshed = QtCore.Signal()

    def __init__(self, view: Any, window: Any = None, main: Any = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        if not supports_live_fft(view):
            raise ParameterError("the Live FFT needs an image or a stack of images")
        self.view = view
        self.image_window = window
        self.main = main
        self._spectrum: Dataset | None = None
        self._values = np.zeros((1, 1), np.float32)
        self._region: dict[str, tuple[float, float]] | None = None
        self._pixels = (0, 0)
        self._generation = 0
        self._future: concurrent.futures.Future[Any] | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False
        self.setWindowTitle("Live FFT" + (f" — {view.dataset.title}" if view.dataset.title
                                          else ""))
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("k")
        self.plot = _new_plot(self.graphics, 0, 0)
        ya, xa = view.dataset.sig_axes
        ky, kx = _k_axes(ya, xa)
        self.panel = _ImagePanel(self.plot, ky, kx)
        self.panel.set_scale_bar(False)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        lay.addWidget(self.graphics, 1)
        self.picker = SpotPicker(self.plot, self._spectrum_now, self)
        self.bragg = BraggFilterPanel(self.picker, self._apply_filter, self)
        lay.addWidget(self.bragg)
        row = QtWidgets.QHBoxLayout()
        self.source_label = QtWidgets.QLabel(self)
        row.addWidget(self.source_label, 1)
        self.open_button = QtWidgets.QPushButton("Open as image", self)
        self.open_button.setToolTip("Open this spectrum as a dataset: image.crop (when there is "
                                    "an ROI) then fft.power_spectrum, both recorded")
        self.open_button.clicked.connect(self.open_as_image)
        self.open_button.setEnabled(main is not None)
        row.addWidget(self.open_button)
        lay.addLayout(row)
        self.status_label = QtWidgets.QLabel(" ", self)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.status_label)
        if main is None:
            self.bragg.apply_button.setToolTip("Needs the application window")
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(LIVE_DEBOUNCE_MS)
        self._timer.timeout.connect(self.recompute)
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(15)
        self._poll.timeout.connect(self._collect)
        for name in ("roiChanged", "frameChanged"):
            getattr(view, name).connect(self.schedule)
        self.resize(520, 600)
        self.recompute()
        self.panel.auto_range()

    # ---- public API
    def spectrum(self) -> Dataset | None:
        """Return the spectrum shown (``log(1 + |F|²)`` with ``ky, kx`` axes), if any.

        Returns
        -------
        Dataset or None
            None before the first spectrum is ready.
        """
        return self._spectrum

    def region(self) -> dict[str, tuple[float, float]] | None:
        """Return the ROI the spectrum shown was computed from (None: the whole frame).

        Returns
        -------
        dict or None
            ``{axis name: (start, stop)}`` as :meth:`DatasetView.roi_region` gives it.
        """
        return self._region

    def is_busy(self) -> bool:
        """Tell whether a spectrum is being computed or waiting for the debounce delay.

        Returns
        -------
        bool
            True while a recomputation is pending.
        """
        return self._timer.isActive() or self._future is not None

    def schedule(self, *_: Any) -> None:
        """Recompute after :data:`LIVE_DEBOUNCE_MS` (restarted by every further change)."""
        if not self._closed:
            self._timer.start()

    def refresh(self, *_: Any) -> None:
        """Recompute now (the image window calls this when its dataset changes)."""
        self.recompute()

    def recompute(self) -> None:
        """Transform the ROI (or the frame) now; large regions go to a worker thread."""
        self._timer.stop()
        if self._closed:
            return
        try:
            frame = np.asarray(self.view.raw_frame())
        except RuntimeError:  # the view was deleted
            return
        ds = self.view.dataset
        ya, xa = ds.sig_axes
        region = self.view.roi_region()
        rows, cols = (0, ya.size), (0, xa.size)
        if region:
            if ya.name in region:
                rows = _index_range(ya, *region[ya.name])
            if xa.name in region:
                cols = _index_range(xa, *region[xa.name])
        sub = frame[rows[0]:rows[1], cols[0]:cols[1]]
        self._generation += 1
        gen = self._generation
        sy = ya.replace(offset=ya.offset + rows[0] * ya.scale)
        sx = xa.replace(offset=xa.offset + cols[0] * xa.scale)
        if sub.size == 0:
            self.source_label.setText("The ROI holds no pixel")
            return
        if sub.size <= LIVE_SYNC_PIXELS:
            self._show(gen, region, live_power_spectrum(sub, sy, sx))
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="live-fft")
        sub = np.array(sub, copy=True)  # the view may load another frame meanwhile
        self._future = self._pool.submit(live_power_spectrum, sub, sy, sx)
        self._future_meta = (gen, region)
        self.source_label.setText(self.source_label.text() + "  (computing…)")
        self._poll.start()

    def wait(self, timeout: float = 10.0) -> bool:
        """Process events until no recomputation is pending (for scripts and tests).

        Parameters
        ----------
        timeout : float
            Seconds to wait at most.

        Returns
        -------
        bool
            True when the spectrum is up to date.
        """
        import time

        app = QtWidgets.QApplication.instance()
        end = time.monotonic() + timeout
        while self.is_busy() and time.monotonic() < end:
            if self._timer.isActive() and self._future is None:
                self.recompute()
            if app is not None:
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
            if self._future is not None:
                self._future_wait()
        return not self.is_busy()

    def open_as_image(self) -> Any:
        """Open the spectrum as a dataset through the recorded path.

        With an ROI: ``image.crop`` of the image window's dataset to the ROI, then
        ``fft.power_spectrum`` of the crop (the result window is linked to the crop, so the
        Bragg filter of that window filters the crop); without one: ``fft.power_spectrum``
        of the dataset. Both runs are recorded, so the log replays them.

        Returns
        -------
        TaskWatcher or None
            The first task started (None without a main window).
        """
        if self.main is None:
            return None
        ds = self.view.dataset
        region = self.view.roi_region()
        target = self.image_window
        if not region:
            return self.main.run_operation("fft.power_spectrum", [ds], {}, target=target)
        crop_task = self.main.runner.run("image.crop", (ds,), {"region": dict(region)})

        def cropped(crop: Any) -> None:
            w = self.main.run_operation("fft.power_spectrum", [crop], {}, target=None)
            w.finished.connect(lambda spec: _link(spec, crop))

        self.main._watch(crop_task, "Crop", cropped)
        return crop_task

    # ---- internals
    def _future_wait(self) -> None:
        fut = self._future
        if fut is not None:
            concurrent.futures.wait([fut], timeout=0.02)
            if fut.done():
                self._collect()

    def _collect(self) -> None:
        fut = self._future
        if fut is None:
            self._poll.stop()
            return
        if not fut.done():
            return
        self._poll.stop()
        self._future = None
        gen, region = self._future_meta
        try:
            spec = fut.result()
        except Exception as exc:  # shown, never raised into the event loop
            self.source_label.setText(f"Live FFT failed: {exc}")
            return
        if gen == self._generation:
            self._show(gen, region, spec)
        else:  # stale: a newer request came while computing
            self.schedule()

    def _show(self, gen: int, region: Any, spec: Dataset) -> None:
        values = np.asarray(spec.data)
        ky, kx = spec.sig_axes
        old = (self.panel.y_axis, self.panel.x_axis)
        self.panel.set_axes(ky, kx)
        self._spectrum = spec
        self._values = values
        self._region = region
        lv = display.levels(values, {"auto_saturation": 0.35})
        self.panel.show(values, lv, display.lut({"cmap": "grey"}))
        if (ky, kx) != old:
            self.panel.auto_range()
        self.picker._draw()
        self.bragg.sync()
        ny, nx = values.shape
        where = "ROI" if region else "whole frame"
        idx = self.view.current_index()
        frame = f", frame {list(idx)}" if idx else ""
        self.source_label.setText(f"{where} {nx}×{ny} px{frame}; log(1+|FFT|²), Hann window")
        self.refreshed.emit()

    def _spectrum_now(self) -> tuple[np.ndarray, Axis, Axis]:
        return self._values, self.panel.y_axis, self.panel.x_axis

    def _apply_filter(self, spots: list[tuple[float, float]], radius: float, mode: str) -> Any:
        if self.main is None:
            return None
        return _run_mask_filter(self.main, self.view.dataset, spots, radius, mode,
                                self.image_window)

    def cursor_text(self, kx: float, ky: float) -> str:
        """Return the read-out for a calibrated position on the spectrum.

        Parameters
        ----------
        kx, ky : float
            Calibrated position (1/units).

        Returns
        -------
        str
            Spatial frequency, its modulus, the d-spacing ``1/|k|`` and the value of the bin
            under the position; empty outside the spectrum.
        """
        idx = self.panel.index_at(kx, ky)
        if idx is None:
            return ""
        iy, ix = idx
        ay, ax = self.panel.y_axis, self.panel.x_axis
        cy, cx = ay.offset + iy * ay.scale, ax.offset + ix * ax.scale
        return f"{k_readout(cy, cx, ax.units)}  [{ix}, {iy}]  value {_fmt(self._values[iy, ix])}"

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        if self.panel.contains_scene(pos):
            x, y = self.panel.to_view(pos)
            text = self.cursor_text(x, y)
            if text:
                self.status_label.setText(text)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Stop following the view and the worker thread.

        Parameters
        ----------
        event : QCloseEvent
            The event.
        """
        self._closed = True
        self._timer.stop()
        self._poll.stop()
        for name in ("roiChanged", "frameChanged"):
            try:
                getattr(self.view, name).disconnect(self.schedule)
            except (RuntimeError, TypeError):
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        super().closeEvent(event)


def _link(spectrum: Any, source: Any) -> None:
    if isinstance(spectrum, Dataset) and isinstance(source, Dataset):
        _SOURCES[spectrum] = source


def _k_axes(ya: Axis, xa: Axis) -> tuple[Axis, Axis]:
    from micrographia.plugins.fft import _k_axis

    return _k_axis(ya, "ky"), _k_axis(xa, "kx")


# -- Bragg filter on a spectrum window ------------------------------------------------------------
class BraggFilterWindow(QtWidgets.QWidget):
    """Spot picking on an image window that shows a power spectrum (1/units axes).

    While the tool is open, left clicks on the spectrum add or remove spots (drawn on the
    spectrum); *Apply mask filter* runs ``fft.mask_filter`` on the image the spectrum was
    computed from (:func:`find_source`), through the main window (recorded).

    Parameters
    ----------
    view : DatasetView
        The view of the spectrum (:func:`is_spectrum` of its dataset).
    window : ImageWindow, optional
        Its image window.
    main : MainWindow, optional
        The shell (runs the filter; its windows are searched for the source).
    parent : QWidget, optional
        Parent widget.
    """

    def __init__(self, view: Any, window: Any = None, main: Any = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(QtCore.Qt.WindowType.Window, True)
        if not is_spectrum(view.dataset) or view.image_item is None:
            raise ParameterError("the Bragg filter needs a window showing a power spectrum "
                                 "(axes in 1/units, e.g. the result of fft.power_spectrum)")
        self.view = view
        self.image_window = window
        self.main = main
        self.setWindowTitle("Bragg Filter" + (f" — {view.dataset.title}" if view.dataset.title
                                              else ""))
        panel = view._main
        self.picker = SpotPicker(panel.plot, self._spectrum_now, self)
        lay = QtWidgets.QVBoxLayout(self)
        self.bragg = BraggFilterPanel(self.picker, self._apply_filter, self)
        lay.addWidget(self.bragg)
        self.source_label = QtWidgets.QLabel(self)
        self.source_label.setWordWrap(True)
        lay.addWidget(self.source_label)
        self.refresh()
        self.resize(640, 120)

    def source(self) -> Dataset | None:
        """Return the image the filter will run on.

        Returns
        -------
        Dataset or None
            The source (:func:`find_source` among the main window's datasets).
        """
        others = [w.dataset for w in self.main.windows()] if self.main is not None else []
        return find_source(self.view.dataset, others)

    def refresh(self, *_: Any) -> None:
        """Say which image the filter runs on (and redraw the markers)."""
        src = self.source()
        if src is None:
            self.source_label.setText("Source image not found: open the image this spectrum "
                                      "was computed from (the filter runs on it).")
        else:
            self.source_label.setText(f"Applies fft.mask_filter to “{src.title or 'untitled'}” "
                                      f"({'×'.join(str(n) for n in src.shape)}).")
        self.picker._draw()
        self.bragg.sync()

    def _spectrum_now(self) -> tuple[np.ndarray, Axis, Axis]:
        ky, kx = self.view.dataset.sig_axes
        return np.asarray(self.view.current_frame()), ky, kx

    def _apply_filter(self, spots: list[tuple[float, float]], radius: float, mode: str) -> Any:
        src = self.source()
        if src is None or self.main is None:
            self.refresh()
            QtWidgets.QApplication.beep()
            return None
        return _run_mask_filter(self.main, src, spots, radius, mode, None)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Remove the markers and stop picking.

        Parameters
        ----------
        event : QCloseEvent
            The event.
        """
        self.picker.detach()
        super().closeEvent(event)
