"""Dataset views: the widgets inside an image window.

They show an image, a stack, a spectrum image, a 4D-STEM scan or a spectrum.

Every view derives from :class:`DatasetView` and is made by :func:`make_view`, which picks the
class from :attr:`Dataset.kind`.  Views show data and hold display state (colormap, display
range, gamma, mapping, invert); they never record anything: the main window listens to
:attr:`DatasetView.displayChanged` and records through :func:`micrographia.display`.

Conventions
-----------
* Images are drawn in calibrated coordinates with pyqtgraph's ``ImageItem`` (row-major, set
  per item).  The coordinate ``offset + i * scale`` of sample ``i`` is the *centre* of pixel
  ``i`` (HyperSpy's convention), so the image covers ``offset - scale/2`` to
  ``offset + (n - 1/2) * scale`` on each axis.
* Row 0 is always drawn at the top and column 0 at the left, as acquired: an axis with a
  negative scale (some TIA files) is drawn with its coordinates increasing the other way.
* Rectangular regions (:meth:`DatasetView.roi_region`) are returned in the form
  ``image.crop`` takes: ``{axis name: (start, stop)}`` in calibrated units, keeping the samples
  with ``start <= coordinate < stop``.
* Line selections (:meth:`DatasetView.line_roi`, Fiji's straight line with a width) give their
  end points as calibrated ``(y, x)`` pixel-centre coordinates and the width in pixels; the
  profile along them is :func:`micrographia.app.profile.line_profile`.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from micrographia.dataset import Axis, Dataset
from micrographia.errors import ParameterError
from micrographia.io.palette import label_indices
from micrographia.io.render import (
    COMPLEX_MODES,
    complex_part,
    default_complex_mode,
    is_label_image,
)

from . import display
from .scalebar import ScaleBar

__all__ = ["DatasetView", "ImageView2D", "StackView", "SpectrumImageView", "FourDView",
           "SpectrumView", "FallbackView", "make_view", "ScaleBar", "COMPLEX_MODES",
           "COMPLEX_LABELS"]

#: How each complex display mode is named in menus, notes and the status bar.
COMPLEX_LABELS: dict[str, str] = {"amplitude": "amplitude |z|", "log_amplitude": "log(1 + |z|)",
                                  "phase": "phase arg(z) (rad)", "real": "real part",
                                  "imaginary": "imaginary part"}

_ROI_PEN = pg.mkPen((255, 200, 0), width=2)
_LINE_PEN = pg.mkPen((255, 255, 0), width=2)
_BAND_PEN = pg.mkPen((255, 255, 0, 150), width=1, style=QtCore.Qt.PenStyle.DashLine)
_DETECTOR_PEN = pg.mkPen((0, 220, 255), width=2)
_SPECTRUM_PEN = pg.mkPen((255, 210, 60), width=1.5)
_ROI_SPECTRUM_PEN = pg.mkPen((80, 220, 255), width=1.5)


# -- array helpers ----------------------------------------------------------------------------
def _to_numpy(a: Any) -> np.ndarray:
    """Return ``a`` as numpy, computing dask arrays and copying cupy arrays to the host."""
    mod = type(a).__module__.split(".")[0]
    if mod == "dask":
        a = a.compute()
    if type(a).__module__.split(".")[0] == "cupy":
        a = a.get()
    return np.asarray(a)


def _is_rgb(a: np.ndarray) -> bool:
    return a.dtype.names is not None and len(a.dtype.names) >= 3


def _rgb(a: np.ndarray) -> np.ndarray:
    """Turn a structured RGB(A) array into an (H, W, 3) uint8 array."""
    names = a.dtype.names or ()
    chans = [np.asarray(a[n]) for n in names[:3]]
    out = np.stack(chans, axis=-1)
    if out.dtype != np.uint8:
        top = float(out.max()) if out.size else 1.0
        out = np.clip(out.astype(np.float64) * (255.0 / (top or 1.0)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


def _for_display(a: np.ndarray) -> np.ndarray:
    """Return an array pyqtgraph renders exactly with levels and a long LUT (no needless copy)."""
    if _is_rgb(a):
        return _rgb(a)
    if np.iscomplexobj(a):
        return np.abs(a).astype(np.float32)
    if a.dtype.kind == "b":
        return a.view(np.uint8)
    if a.dtype in (np.uint8, np.uint16, np.float32):
        return a
    return a.astype(np.float32)


def _fmt(v: float) -> str:
    """Format a number compactly (4 significant digits, integers kept whole)."""
    v = float(v)
    if math.isfinite(v) and v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}"


_COMPLEX_SHORT = {"amplitude": "|v|", "log_amplitude": "log(1+|v|)", "phase": "phase",
                  "real": "re", "imaginary": "im"}


def _value_text(raw: np.ndarray, iy: int, ix: int, mode: str | None = None) -> str:
    v = raw[iy, ix]
    if raw.dtype.names is not None:
        return "(" + ", ".join(str(v[n]) for n in raw.dtype.names[:3]) + ")"
    if np.iscomplexobj(raw):
        mode = mode or "amplitude"
        shown = float(complex_part(np.asarray(v), mode))
        unit = " rad" if mode == "phase" else ""
        return f"{_fmt(v.real)}{'+' if v.imag >= 0 else '-'}{_fmt(abs(v.imag))}j " \
               f"({_COMPLEX_SHORT[mode]} {_fmt(shown)}{unit})"
    if raw.dtype.kind == "b":
        return str(bool(v))
    return _fmt(v)


def _axis_label(ax: Axis) -> str:
    units = ax.units if ax.units not in ("", "<undefined>") else ""
    return f"{ax.name} ({units})" if units else ax.name


def _index_range(ax: Axis, start: float, stop: float) -> tuple[int, int]:
    """Half-open index range of the samples with ``start <= coordinate < stop``."""
    eps = 1e-6
    if ax.scale > 0:
        i0 = math.ceil(ax.index(start) - eps)
        i1 = math.ceil(ax.index(stop) - eps)
    else:
        i0 = math.floor(ax.index(stop) + eps) + 1
        i1 = math.floor(ax.index(start) + eps) + 1
    return max(0, min(ax.size, i0)), max(0, min(ax.size, i1))


def _region_of(ax: Axis, i0: int, i1: int) -> tuple[float, float]:
    """Calibrated ``(start, stop)`` that keeps exactly samples ``i0 .. i1 - 1``."""
    if ax.scale > 0:
        return ax.offset + i0 * ax.scale, ax.offset + i1 * ax.scale
    return ax.offset + (i1 - 1) * ax.scale, ax.offset + (i0 - 1) * ax.scale


# -- fast grey rendering ------------------------------------------------------------------------
#: Entry ``k`` of the linear grey table of 65536 entries (``round(255 (k + 0.5) / 65536)``,
#: first and last exactly 0 and 255) is ``floor(k * 255/65536 + 32895/65536)``: both
#: constants are exact in float32 and so is the sum for ``0 <= k < 65664`` (its numerator
#: ``255 k + 32895`` stays below 2**24), so float32 arithmetic gives it exactly.
_GREY_N = 65536
_GREY_C1 = np.float32(255 / 65536)
_GREY_C2 = np.float32(32895 / 65536)
_GREY_TABLE: np.ndarray | None = None
_RENDER_CHUNK = 1 << 19  # values per step of the chunked conversion
_RENDER_SPLIT = 1 << 22  # images at least this large are converted in two halves at once
_RENDER_POOL: Any = None


def _linear_grey_table() -> np.ndarray:
    """Return the linear grey table as the float32 formula of :func:`_grey_float` gives it."""
    global _GREY_TABLE
    if _GREY_TABLE is None:
        k = np.arange(_GREY_N, dtype=np.float32)
        _GREY_TABLE = (k * _GREY_C1 + _GREY_C2).astype(np.uint8)
    return _GREY_TABLE


def _grey_channel(lut: Any) -> np.ndarray | None:
    """Return the one channel of a grey (N, 3) uint8 lookup table, None for any other."""
    if not isinstance(lut, np.ndarray) or lut.dtype != np.uint8 or lut.ndim != 2 \
            or lut.shape[1] != 3 or lut.shape[0] < 2:
        return None
    g = lut[:, 0]
    if not (np.array_equal(g, lut[:, 1]) and np.array_equal(g, lut[:, 2])):
        return None
    return np.ascontiguousarray(g)


def _grey_span(src: np.ndarray, dst: np.ndarray, start: int, stop: int, offset: Any,
               scale: Any, n: int, table: np.ndarray | None) -> None:
    """Convert ``src[start:stop]`` into ``dst`` (see :func:`_grey_float`), chunk by chunk."""
    chunk = _RENDER_CHUNK
    buf = np.empty(min(chunk, stop - start), type(offset))
    idx = np.empty(buf.size, np.uint32) if table is not None else None
    for i in range(start, stop, chunk):
        j = min(i + chunk, stop)
        b = buf[:j - i]
        np.subtract(src[i:j], offset, out=b, casting="unsafe")
        np.multiply(b, scale, out=b)
        np.clip(b, 0, n - 1, out=b)
        if table is None:  # linear grey: the exact float32 formula
            np.trunc(b, out=b)
            np.multiply(b, _GREY_C1, out=b)
            np.add(b, _GREY_C2, out=b)
            np.copyto(dst[i:j], b, casting="unsafe")
        else:
            k = idx[:j - i]
            np.copyto(k, b, casting="unsafe")
            np.take(table, k, out=dst[i:j])


def _grey_float(image: np.ndarray, levels: Any, table: np.ndarray) -> np.ndarray:
    """Grey values pyqtgraph shows for a float image through ``levels`` and a grey table.

    Repeats pyqtgraph's arithmetic (``functions_qimage._rescale_and_lookup_float`` and
    ``functions.rescaleData``: ``(v - low) * N / (high - low)`` in float32 for float32 data,
    clipped to ``[0, N - 1]``, truncated to an index) and looks the index up in ``table``,
    chunk by chunk straight into one uint8 array (large images: two halves at once). For
    the linear grey table of 65536 entries the look-up is the exact formula of
    :data:`_GREY_C1`.
    """
    global _RENDER_POOL
    n = table.shape[0]
    lo, hi = np.asarray(levels).tolist()
    rng = hi - lo
    rng = 1 if rng == 0 else rng
    work = np.float32 if np.can_cast(image, np.float32) else np.float64
    offset, scale = work(float(lo)), work(float(n / rng))
    linear = work is np.float32 and n == _GREY_N and np.array_equal(table, _linear_grey_table())
    src = np.ascontiguousarray(image).ravel()
    out = np.empty(image.shape, np.uint8)
    dst = out.ravel()
    args = (offset, scale, n, None if linear else table)
    size = src.size
    if size >= _RENDER_SPLIT and (os.cpu_count() or 1) > 1:
        if _RENDER_POOL is None:
            _RENDER_POOL = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="render")
        half = size // 2
        other = _RENDER_POOL.submit(_grey_span, src, dst, half, size, *args)
        _grey_span(src, dst, 0, half, *args)
        other.result()
    else:
        _grey_span(src, dst, 0, size, *args)
    return out


class _FastImageItem(pg.ImageItem):
    """An ImageItem that renders single-channel images through a grey table faster.

    For a 2-D image without NaN drawn through ``levels`` and a grey lookup table (the
    ``grey`` colormap with any mapping, gamma or invert), pyqtgraph turns the table into
    RGBA and makes a 32-bit image; this item computes the same grey values straight into an
    8-bit greyscale QImage (a quarter of the memory traffic), pixel for pixel what pyqtgraph
    would show. Anything else is rendered by pyqtgraph. The item's ``image``, ``levels``
    and ``lut`` are pyqtgraph's as usual.
    """

    def render(self) -> None:  # noqa: D102 (pyqtgraph API)
        qimage = self._render_grey()
        if qimage is None:
            super().render()
            return
        self._processingBuffer = None
        self._displayBuffer = None
        self.qimage = qimage
        self._renderRequired = False
        self._unrenderable = False

    def _render_grey(self) -> QtGui.QImage | None:
        image, lut, levels = self.image, self.lut, self.levels
        if (image is None or image.ndim != 2 or image.size == 0 or self.autoDownsample
                or self.axisOrder != "row-major" or levels is None
                or np.ndim(levels) != 1 or image.dtype.kind not in "fu"
                or type(image) is not np.ndarray):
            return None
        if image.dtype.kind == "u" and image.dtype != np.uint16:
            return None  # uint8: pyqtgraph's own indexed path is already cheap
        table = _grey_channel(lut)
        if table is None:
            return None
        if image.dtype.kind == "f":
            if self._imageHasNans is None:  # as pyqtgraph caches it
                self._imageHasNans = bool(np.isnan(image.min()))
                self._imageNanLocations = None
            if self._imageHasNans:
                return None  # transparent NaN pixels: pyqtgraph's path
            grey = _grey_float(image, levels, table)
        else:
            # uint16: pyqtgraph combines the levels into a 65536-entry table, then looks up
            n = table.shape[0]
            if n <= 256:
                return None  # pyqtgraph rescales the image itself then (another rounding)
            lo, hi = np.asarray(levels).tolist()
            rng = hi - lo
            rng = 1 if rng == 0 else rng
            lutdtype = np.min_scalar_type(n - 1)
            ind = pg.functions.rescaleData(np.arange(1 << 16), n / rng, lo, dtype=lutdtype,
                                           clip=(0, n - 1))
            grey = table[ind][np.ascontiguousarray(image)]
        return pg.functions.ndarray_to_qimage(grey, QtGui.QImage.Format.Format_Grayscale8)


# -- one image in calibrated coordinates --------------------------------------------------------
class _ImagePanel:
    """A PlotItem with a calibrated ImageItem, an optional rectangular ROI and a scale bar."""

    def __init__(self, plot: pg.PlotItem, y_axis: Axis, x_axis: Axis):
        self.plot = plot
        self.vb: pg.ViewBox = plot.getViewBox()
        self.image = _FastImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        plot.showGrid(False, False)
        self.roi: pg.RectROI | None = None
        self.line: pg.LineSegmentROI | None = None
        self.band = pg.PlotCurveItem(pen=_BAND_PEN)  # the edges of a line wider than 1 px
        self.band.setZValue(9)
        self.band.setVisible(False)
        plot.addItem(self.band)
        self.line_width = 1
        self.scale_bar: ScaleBar | None = None
        self.bar_wanted = False
        self.raw: np.ndarray = np.zeros((1, 1))
        self.complex_mode: str | None = None  # what is shown of complex raw values
        self.set_axes(y_axis, x_axis)

    # geometry
    def set_axes(self, y_axis: Axis, x_axis: Axis) -> None:
        self.y_axis, self.x_axis = y_axis, x_axis
        same_units = y_axis.units == x_axis.units
        self.vb.setAspectLocked(same_units and y_axis.size > 1 and x_axis.size > 1)
        self.vb.invertY(y_axis.scale > 0)
        self.vb.invertX(x_axis.scale < 0)
        self.plot.setLabel("bottom", _axis_label(x_axis))
        self.plot.setLabel("left", _axis_label(y_axis))
        tr = QtGui.QTransform()
        tr.translate(x_axis.offset - x_axis.scale / 2, y_axis.offset - y_axis.scale / 2)
        tr.scale(x_axis.scale, y_axis.scale)
        self.image.setTransform(tr)
        if self.scale_bar is not None:
            self.scale_bar.set_units(x_axis.units)
            self.set_scale_bar(self.bar_wanted)

    def extent(self) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max) covered by the image in calibrated units."""
        xs = sorted((self.x_axis.offset - self.x_axis.scale / 2,
                     self.x_axis.offset + (self.x_axis.size - 0.5) * self.x_axis.scale))
        ys = sorted((self.y_axis.offset - self.y_axis.scale / 2,
                     self.y_axis.offset + (self.y_axis.size - 0.5) * self.y_axis.scale))
        return xs[0], xs[1], ys[0], ys[1]

    def auto_range(self) -> None:
        x0, x1, y0, y1 = self.extent()
        self.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def index_at(self, xc: float, yc: float) -> tuple[int, int] | None:
        """Pixel (row, column) under a calibrated position, or None outside the image."""
        iy = int(math.floor(self.y_axis.index(yc) + 0.5))
        ix = int(math.floor(self.x_axis.index(xc) + 0.5))
        if 0 <= iy < self.y_axis.size and 0 <= ix < self.x_axis.size:
            return iy, ix
        return None

    def contains_scene(self, pos: QtCore.QPointF) -> bool:
        return self.vb.sceneBoundingRect().contains(pos)

    def to_view(self, pos: QtCore.QPointF) -> tuple[float, float]:
        p = self.vb.mapSceneToView(pos)
        return p.x(), p.y()

    # image
    def show(self, raw: np.ndarray, levels: tuple[float, float], lut: np.ndarray | None,
             shown: np.ndarray | None = None, mode: str | None = None) -> None:
        self.raw = raw
        self.complex_mode = mode
        shown = _for_display(raw if shown is None else shown)
        if shown.ndim == 3:  # RGB
            self.image.setLookupTable(None, update=False)
            self.image.setImage(shown, autoLevels=False, levels=(0, 255))
        else:
            self.image.setLookupTable(lut, update=False)
            self.image.setImage(shown, autoLevels=False, levels=levels)

    # scale bar
    def set_scale_bar(self, visible: bool) -> None:
        self.bar_wanted = visible
        # no bar on uncalibrated images (pixels), as in Fiji
        visible = visible and self.x_axis.calibrated and self.x_axis.units not in ("", "px")
        if visible and self.scale_bar is None:
            self.scale_bar = ScaleBar(self.vb, self.x_axis.units)
        if self.scale_bar is not None:
            self.scale_bar.setVisible(visible)

    # rectangular ROI
    def set_roi_visible(self, visible: bool, on_change: Any = None) -> None:
        if visible and self.roi is None:
            x0, x1, y0, y1 = self.extent()
            w, h = x1 - x0, y1 - y0
            self.roi = pg.RectROI((x0 + w / 4, y0 + h / 4), (w / 2, h / 2), pen=_ROI_PEN)
            self.roi.setZValue(10)
            self.plot.addItem(self.roi)
            if on_change is not None:
                self.roi.sigRegionChanged.connect(on_change)
        elif not visible and self.roi is not None:
            self.plot.removeItem(self.roi)
            self.roi = None

    def roi_indices(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """((row0, row1), (col0, col1)) half-open: the pixels whose centre lies in the ROI."""
        if self.roi is None:
            return None
        pos, size = self.roi.pos(), self.roi.size()
        out = []
        for ax, a, b in ((self.y_axis, pos.y(), pos.y() + size.y()),
                         (self.x_axis, pos.x(), pos.x() + size.x())):
            f0, f1 = sorted((ax.index(a), ax.index(b)))
            i0 = max(0, min(ax.size, math.ceil(f0 - 1e-9)))
            i1 = max(0, min(ax.size, math.floor(f1 + 1e-9) + 1))
            out.append((i0, max(i0, i1)))
        return out[0], out[1]

    def set_roi_indices(self, rows: tuple[int, int], cols: tuple[int, int]) -> None:
        """Place the ROI on the pixel edges around rows ``[r0, r1)`` and columns ``[c0, c1)``."""
        if self.roi is None:
            self.set_roi_visible(True)
        assert self.roi is not None
        ya, xa = self.y_axis, self.x_axis
        ys = sorted((ya.offset + (rows[0] - 0.5) * ya.scale,
                     ya.offset + (rows[1] - 0.5) * ya.scale))
        xs = sorted((xa.offset + (cols[0] - 0.5) * xa.scale,
                     xa.offset + (cols[1] - 0.5) * xa.scale))
        # edges on pixel edges: exactly the wanted pixel centres lie inside
        self.roi.setPos((xs[0], ys[0]), update=False)
        self.roi.setSize((xs[1] - xs[0], ys[1] - ys[0]))


    # straight line selection with a width
    def set_line_visible(self, visible: bool, on_change: Any = None) -> None:
        if visible and self.line is None:
            x0, x1, y0, y1 = self.extent()
            yc = self.y_axis.offset + self.y_axis.scale * ((self.y_axis.size - 1) // 2)
            self.line = pg.LineSegmentROI([(x0 + (x1 - x0) / 4, yc), (x0 + 3 * (x1 - x0) / 4, yc)],
                                          pen=_LINE_PEN)
            self.line.setZValue(11)
            self.plot.addItem(self.line)
            self.line.sigRegionChanged.connect(self.update_band)
            if on_change is not None:
                self.line.sigRegionChanged.connect(on_change)
            self.update_band()
        elif not visible and self.line is not None:
            self.plot.removeItem(self.line)
            self.line = None
            self.update_band()

    def line_points(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Calibrated ((y0, x0), (y1, x1)) of the line's end points, or None."""
        if self.line is None:
            return None
        pts = [self.line.mapToParent(h.pos()) for h in self.line.endpoints]
        return (pts[0].y(), pts[0].x()), (pts[1].y(), pts[1].x())

    def set_line_points(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Move the line's end points to calibrated (y, x) positions (one change signal)."""
        if self.line is None:
            self.set_line_visible(True)
        assert self.line is not None
        h0, h1 = self.line.getHandles()
        self.line.blockSignals(True)
        try:
            self.line.setPos((0.0, 0.0), update=False)
            self.line.movePoint(h0, QtCore.QPointF(float(start[1]), float(start[0])),
                                finish=False)
            self.line.movePoint(h1, QtCore.QPointF(float(end[1]), float(end[0])), finish=False)
        finally:
            self.line.blockSignals(False)
        self.line.sigRegionChanged.emit(self.line)
        self.line.sigRegionChangeFinished.emit(self.line)

    def update_band(self, *args: object) -> None:
        """Draw the two edges of the band averaged by a line wider than one pixel."""
        pts = self.line_points()
        if pts is None or self.line_width <= 1:
            self.band.setVisible(False)
            return
        (ya, xa), (yb, xb) = pts
        sy, sx = self.y_axis.scale, self.x_axis.scale
        dy, dx = (yb - ya) / sy, (xb - xa) / sx  # in pixels
        n = math.hypot(dy, dx)
        if n == 0:
            self.band.setVisible(False)
            return
        half = self.line_width / 2
        oy, ox = dx / n * half * sy, -dy / n * half * sx  # perpendicular, calibrated
        xs = np.array([xa + ox, xb + ox, np.nan, xa - ox, xb - ox])
        ys = np.array([ya + oy, yb + oy, np.nan, ya - oy, yb - oy])
        self.band.setData(xs, ys, connect="finite")
        self.band.setVisible(True)


def _new_plot(glw: pg.GraphicsLayoutWidget, row: int, col: int, title: str = "") -> pg.PlotItem:
    plot = glw.addPlot(row=row, col=col, title=title or None)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    for side in ("left", "bottom"):
        plot.getAxis(side).enableAutoSIPrefix(False)
    return plot


# -- the base class -----------------------------------------------------------------------------
class DatasetView(QtWidgets.QWidget):
    """Base of every dataset view.

    Parameters
    ----------
    dataset : Dataset
        The dataset shown.
    parent : QWidget, optional
        Parent widget.

    Notes
    -----
    Signals: ``displayChanged(dict)`` carries the display settings that changed (never
    recorded here), ``frameChanged()`` says the navigation index changed, ``cursorMoved(str)``
    carries status-bar text for the position under the mouse, ``roiChanged()`` says the
    rectangle ROI was drawn, moved, resized or removed (see :meth:`roi_region`),
    ``lineChanged()`` says the line selection was drawn, moved, removed or its width changed
    (see :meth:`line_roi`).

    Display settings: ``cmap``, ``clim`` (the display range now used), ``gamma``, ``mapping``,
    ``invert``, ``auto_saturation`` and, for views with navigation axes, ``frame``.  The display
    range is chosen by auto-contrast when a dataset is first shown and then kept (across frames
    too) until the user sets one, asks for auto-contrast again (``apply_display({"clim":
    None})``) or turns :meth:`set_auto_contrast` on, which re-contrasts every frame.
    """

    displayChanged = QtCore.Signal(dict)
    frameChanged = QtCore.Signal()
    cursorMoved = QtCore.Signal(str)
    roiChanged = QtCore.Signal()
    lineChanged = QtCore.Signal()

    #: Dataset kinds the class shows.
    kinds: tuple[str, ...] = ()

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._dataset = dataset
        self._settings: dict[str, Any] = {k: v for k, v in display.DEFAULTS.items()
                                          if k != "clim"}
        if is_label_image(dataset):
            self._settings["cmap"] = "labels"
        self._clim: tuple[float, float] | None = None   # set by the user
        self._levels: tuple[float, float] = (0.0, 1.0)  # now used
        self._recontrast = True
        self._auto_each_frame = False
        self._scale_bar_visible = True
        self._main: _ImagePanel | None = None
        self._complex_mode: str | None = default_complex_mode(dataset)
        self._cmap_before_phase = "grey"
        self._shown: np.ndarray | None = None  # the displayed quantity of complex frames
        self._shown_src: np.ndarray | None = None  # the raw frame _shown was computed from
        self._noted_mode: str | None = self._complex_mode  # mode the info label describes
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.toolbar = QtWidgets.QToolBar(self)
        self.toolbar.setIconSize(QtCore.QSize(16, 16))
        self.toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toolbar.hide()
        self._layout.addWidget(self.toolbar)
        self.info_label = QtWidgets.QLabel(self)
        self.info_label.setWordWrap(True)
        self.info_label.setStyleSheet("QLabel { color: #a05a00; padding: 2px 4px; }")
        self.info_label.hide()
        self._layout.addWidget(self.info_label)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground("k")
        self._layout.addWidget(self.graphics, 1)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # -- public API ------------------------------------------------------------------------
    @property
    def dataset(self) -> Dataset:
        """The dataset shown."""
        return self._dataset

    @property
    def image_item(self) -> pg.ImageItem | None:
        """The pyqtgraph ImageItem of the main image (None for plots)."""
        return self._main.image if self._main is not None else None

    @property
    def view_box(self) -> pg.ViewBox | None:
        """The ViewBox of the main image (None for plots)."""
        return self._main.vb if self._main is not None else None

    @property
    def scale_bar(self) -> ScaleBar | None:
        """The scale bar of the main image (None when never shown or for plots)."""
        return self._main.scale_bar if self._main is not None else None

    def set_dataset(self, dataset: Dataset) -> None:
        """Show another dataset of the same kind, keeping the display settings.

        Parameters
        ----------
        dataset : Dataset
            The new dataset (e.g. after undo or an in-place operation).

        Raises
        ------
        ParameterError
            When the dataset is of a kind this view cannot show.
        """
        if self.kinds and dataset.kind not in self.kinds:
            raise ParameterError(f"a {type(self).__name__} cannot show a {dataset.kind} "
                                 f"dataset; open it in a new window")
        was_labels = is_label_image(self._dataset)
        self._dataset = dataset
        if is_label_image(dataset):
            self._settings["cmap"] = "labels"
        elif was_labels and self._settings.get("cmap") == "labels":
            self._settings["cmap"] = "grey"
        default = default_complex_mode(dataset)
        if default is None or self._complex_mode is None:
            self._complex_mode = default  # real data, or complex data after real data
        if self._clim is None:
            self._recontrast = True
        self._dataset_changed()
        self._refresh()

    def display_settings(self) -> dict[str, Any]:
        """Return the current display settings.

        Returns
        -------
        dict
            ``cmap``, ``clim`` (the display range in use), ``gamma``, ``mapping``, ``invert``,
            ``auto_saturation``, where there are navigation axes ``frame`` and, for complex
            data, ``complex`` (see :meth:`complex_mode`).
        """
        out = dict(self._settings)
        out["clim"] = tuple(self._levels)
        if self.current_index():
            out["frame"] = self.current_index()
        if self._complex_mode is not None:
            out["complex"] = self._complex_mode
        return out

    def complex_mode(self) -> str | None:
        """Return what is shown of complex data.

        Returns
        -------
        str or None
            One of :data:`COMPLEX_MODES` (``"amplitude"``, ``"log_amplitude"``, ``"phase"``,
            ``"real"``, ``"imaginary"``); None when the data are not complex.
        """
        return self._complex_mode

    def set_complex_mode(self, mode: str) -> None:
        """Choose what is shown of complex data (same as ``apply_display({"complex": mode})``).

        Switching to ``"phase"`` also selects the cyclic ``phase`` colormap and the fixed
        range -π..π; leaving it restores the previous colormap and auto-contrasts. Other
        switches auto-contrast the new quantity. Ignored for real data.

        Parameters
        ----------
        mode : str
            One of :data:`COMPLEX_MODES`.

        Raises
        ------
        ParameterError
            For an unknown mode.
        """
        self.apply_display({"complex": mode})

    def apply_display(self, settings: Mapping[str, Any]) -> None:
        """Apply display settings (without recording them) and redraw.

        Parameters
        ----------
        settings : mapping
            Any of the keys of :meth:`display_settings`.  ``clim=None`` asks for auto-contrast
            now (with ``auto_saturation``); the range chosen is what ``displayChanged`` carries.

        Raises
        ------
        ParameterError
            On an unknown key or an invalid value (nothing is changed then).
        """
        settings = dict(settings)
        mode = settings.pop("complex", None)
        if mode is not None and mode not in COMPLEX_MODES:
            raise ParameterError(f"complex must be one of {', '.join(COMPLEX_MODES)}, "
                                 f"got {mode!r}")
        new = display.normalize_settings(settings)
        changed: dict[str, Any] = {}
        frame = new.pop("frame", None)
        auto_now = "clim" in new and new["clim"] is None
        if (mode is not None and self._complex_mode is not None
                and mode != self._complex_mode):
            old_mode, self._complex_mode = self._complex_mode, mode
            changed["complex"] = mode
            if "cmap" not in new:
                if mode == "phase":
                    self._cmap_before_phase = self._settings.get("cmap", "grey")
                    new["cmap"] = "phase"
                elif old_mode == "phase" and self._settings.get("cmap") == "phase":
                    new["cmap"] = self._cmap_before_phase
            if "clim" not in new:
                if mode == "phase":
                    new["clim"] = (-math.pi, math.pi)
                else:
                    new["clim"] = None
                    auto_now = True
        for key, value in new.items():
            if key == "clim":
                if value is None:
                    continue
                if self._clim != value or tuple(self._levels) != value:
                    self._clim = value
                    changed["clim"] = value
            elif self._settings.get(key) != value:
                self._settings[key] = value
                changed[key] = value
        if auto_now:
            self._clim = None
            self._recontrast = True
        elif "auto_saturation" in changed and self._clim is None:
            self._recontrast = True
        if (frame is not None and self.current_index()
                and tuple(frame) != tuple(self.current_index())):
            self.set_index(frame)
            changed["frame"] = tuple(self.current_index())
        old_levels = tuple(self._levels)
        self._refresh_display()
        if auto_now and tuple(self._levels) != old_levels:
            changed["clim"] = tuple(self._levels)
        if changed:
            self.displayChanged.emit(changed)

    def set_auto_contrast(self, on: bool) -> None:
        """Re-contrast every frame (True) or keep the display range across frames (False).

        Parameters
        ----------
        on : bool
            Whether to choose the range anew for every frame shown.
        """
        self._auto_each_frame = bool(on)
        if on:
            self._clim = None
            self._recontrast = True
            self._refresh_display()

    def auto_contrast(self) -> bool:
        """Return whether every frame is re-contrasted.

        Returns
        -------
        bool
            The state set by :meth:`set_auto_contrast`.
        """
        return self._auto_each_frame

    def current_frame(self) -> np.ndarray:
        """Return the 2-D array now shown in the main image.

        Returns
        -------
        numpy.ndarray
            The frame (for a spectrum image: the navigator image; for 4D-STEM: the diffraction
            pattern; for a spectrum: the 1-D spectrum).  For complex data it is the real
            quantity displayed (:meth:`complex_mode`), so that histograms, contrast and
            profiles measure what is seen; :meth:`raw_frame` gives the complex values.
        """
        raw = self._main_raw()
        if self._complex_mode is None or not np.iscomplexobj(raw):
            return raw
        if self._shown is None or self._shown_src is not raw:
            self._shown = complex_part(raw, self._complex_mode)
            self._shown_src = raw
        return self._shown

    def raw_frame(self) -> np.ndarray:
        """Return the values of the frame shown, complex values unchanged.

        Returns
        -------
        numpy.ndarray
            As :meth:`current_frame`, without the complex display mode applied.
        """
        return self._main_raw()

    def current_index(self) -> tuple[int, ...]:
        """Return the navigation index now shown.

        Returns
        -------
        tuple of int
            One index per navigation axis (empty without navigation axes).
        """
        return ()

    def set_index(self, index: Sequence[int]) -> None:
        """Show another navigation index.

        Parameters
        ----------
        index : sequence of int
            One index per navigation axis (clipped to the axes).
        """

    def roi_region(self) -> dict[str, tuple[float, float]] | None:
        """Return the rectangle ROI of the main image, if the user drew one.

        Returns
        -------
        dict or None
            ``{axis name: (start, stop)}`` in calibrated units, keeping the samples with
            ``start <= coordinate < stop`` (usable as ``image.crop``'s ``region``).
        """
        if self._main is None:
            return None
        idx = self._main.roi_indices()
        if idx is None:
            return None
        (r0, r1), (c0, c1) = idx
        ya, xa = self._main.y_axis, self._main.x_axis
        return {ya.name: _region_of(ya, r0, r1), xa.name: _region_of(xa, c0, c1)}

    def set_roi_region(self, region: Mapping[str, tuple[float, float]] | None) -> None:
        """Draw (or remove, with None) the rectangle ROI of the main image.

        Parameters
        ----------
        region : mapping or None
            ``{axis name: (start, stop)}`` in calibrated units as :meth:`roi_region` returns;
            axes not named are taken whole.
        """
        if self._main is None:
            return
        if region is None:
            self._main.set_roi_visible(False)
            self._sync_roi_action()
            self._on_roi_moved()
            return
        ya, xa = self._main.y_axis, self._main.x_axis
        rows = _index_range(ya, *region[ya.name]) if ya.name in region else (0, ya.size)
        cols = _index_range(xa, *region[xa.name]) if xa.name in region else (0, xa.size)
        self._ensure_roi()
        self._main.set_roi_indices(rows, cols)
        self._sync_roi_action()
        self._on_roi_moved()

    def line_roi(self) -> dict[str, Any] | None:
        """Return the straight-line selection of the main image, if there is one.

        Returns
        -------
        dict or None
            ``{"start": (y, x), "end": (y, x), "width": w}``: the end points in calibrated
            units (pixel centres at ``offset + i * scale``) and the width in pixels (1: a
            single interpolated line).
        """
        if self._main is None:
            return None
        pts = self._main.line_points()
        if pts is None:
            return None
        return {"start": pts[0], "end": pts[1], "width": int(self._main.line_width)}

    def line_roi_pixels(self) -> dict[str, Any] | None:
        """Return the line selection in (fractional) pixel indices of the main image.

        Returns
        -------
        dict or None
            ``{"start": (row, col), "end": (row, col), "width": w}``.
        """
        line = self.line_roi()
        if line is None or self._main is None:
            return None
        ya, xa = self._main.y_axis, self._main.x_axis
        return {k: (ya.index(line[k][0]), xa.index(line[k][1])) for k in ("start", "end")} | {
            "width": line["width"]}

    def line_axes(self) -> tuple[Axis, Axis] | None:
        """Return the (y, x) axes of the main image the line lies on.

        Returns
        -------
        tuple of Axis or None
            None for views without a main image.
        """
        if self._main is None:
            return None
        return self._main.y_axis, self._main.x_axis

    def supports_line(self) -> bool:
        """Tell whether the view offers a line selection.

        Returns
        -------
        bool
            True when the toolbar has the "Line" action.
        """
        return getattr(self, "line_action", None) is not None and self._main is not None

    def set_line_roi(self, start: Sequence[float] | None, end: Sequence[float] | None = None,
                     width: int | None = None) -> None:
        """Draw (or, with ``start=None``, remove) the line selection.

        Parameters
        ----------
        start, end : sequence of float or None
            Calibrated ``(y, x)`` of the end points.
        width : int, optional
            Width in pixels (default: keep the current one).
        """
        if self._main is None:
            return
        if width is not None:
            self.set_line_width(width, emit=False)
        if start is None or end is None:
            self._main.set_line_visible(False)
        else:
            self._ensure_line()
            self._main.set_line_points((float(start[0]), float(start[1])),
                                       (float(end[0]), float(end[1])))
        self._sync_line_action()
        self.lineChanged.emit()

    def ensure_line_roi(self) -> dict[str, Any] | None:
        """Draw the default line selection (horizontal, through the centre) when there is none.

        Returns
        -------
        dict or None
            :meth:`line_roi` afterwards (None for views without a main image).
        """
        if self._main is not None and self._main.line is None:
            self._ensure_line()
            self._sync_line_action()
            self.lineChanged.emit()
        return self.line_roi()

    def line_width(self) -> int:
        """Return the width of the line selection in pixels.

        Returns
        -------
        int
            The width (1: one interpolated line).
        """
        return int(self._main.line_width) if self._main is not None else 1

    def set_line_width(self, width: int, emit: bool = True) -> None:
        """Set the width of the line selection (pixels, at least 1).

        Parameters
        ----------
        width : int
            Width in pixels.
        emit : bool
            Emit ``lineChanged`` (when a line is drawn).
        """
        if self._main is None:
            return
        width = max(1, int(width))
        spin = getattr(self, "line_width_spin", None)
        if spin is not None and spin.value() != width:
            spin.blockSignals(True)
            spin.setValue(width)
            spin.blockSignals(False)
        if width == self._main.line_width:
            return
        self._main.line_width = width
        self._main.update_band()
        if emit and self._main.line is not None:
            self.lineChanged.emit()

    def set_scale_bar(self, visible: bool) -> None:
        """Show or hide the calibrated scale bar.

        Parameters
        ----------
        visible : bool
            Whether the bar is shown.
        """
        self._scale_bar_visible = bool(visible)
        if self._main is not None:
            self._main.set_scale_bar(self._scale_bar_visible)

    def grab_image(self) -> QtGui.QImage:
        """Return what the view shows on screen.

        Returns
        -------
        QtGui.QImage
            A picture of the widget.
        """
        return self.grab().toImage()

    def cursor_text(self, x: float, y: float) -> str:
        """Return the status-bar text for a calibrated position on the main image.

        Parameters
        ----------
        x, y : float
            Calibrated coordinates.

        Returns
        -------
        str
            E.g. ``"x 1.234 nm, y 0.5678 nm  [12, 34]  value 1503"``: the calibrated
            coordinates of the pixel under the position (its centre), its indices in the same
            order (x, y) and its value; empty outside the image.
        """
        if self._main is None:
            return ""
        return self._panel_text(self._main, x, y)

    # -- subclass hooks --------------------------------------------------------------------
    def _main_raw(self) -> np.ndarray:
        return self._main.raw if self._main is not None else np.zeros((1, 1))

    def _dataset_changed(self) -> None:
        """Update axes and cached data after set_dataset."""

    def _refresh(self) -> None:
        """Recompute what depends on the data, then redraw."""
        self._refresh_display()

    def _roi_changed(self) -> None:
        """React to a moved or removed rectangle ROI (subclasses)."""

    def _on_roi_moved(self, *args: object) -> None:
        self._roi_changed()
        self.roiChanged.emit()

    def _sync_roi_action(self) -> None:
        act = getattr(self, "roi_action", None)
        if act is not None and self._main is not None:
            act.blockSignals(True)
            act.setChecked(self._main.roi is not None)
            act.blockSignals(False)

    def _on_line_moved(self, *args: object) -> None:
        self.lineChanged.emit()

    def _ensure_line(self) -> None:
        if self._main is not None and self._main.line is None:
            self._main.set_line_visible(True, self._on_line_moved)

    def _sync_line_action(self) -> None:
        act = getattr(self, "line_action", None)
        if act is not None and self._main is not None:
            act.blockSignals(True)
            act.setChecked(self._main.line is not None)
            act.blockSignals(False)

    def _add_line_action(self) -> QtGui.QAction:
        act = QtGui.QAction("Line", self)
        act.setCheckable(True)
        act.setToolTip("Show a straight line selection (drag its ends; Analyze ▸ Plot Profile "
                       "plots the values along it, averaged over the width)")

        def toggled(on: bool) -> None:
            if self._main is None:
                return
            if on:
                self._ensure_line()
            else:
                self._main.set_line_visible(False)
            self.lineChanged.emit()

        act.toggled.connect(toggled)
        self.toolbar.addAction(act)
        spin = QtWidgets.QSpinBox(self)
        spin.setRange(1, 999)
        spin.setValue(1)
        spin.setSuffix(" px")
        spin.setPrefix("width ")
        spin.setToolTip("Line width in pixels: the profile is the mean over this many parallel "
                        "lines, one pixel apart")
        spin.valueChanged.connect(lambda v: self.set_line_width(int(v)))
        self.toolbar.addWidget(spin)
        self.toolbar.show()
        self.line_action = act
        self.line_width_spin = spin
        return act

    def _ensure_roi(self) -> None:
        if self._main is not None and self._main.roi is None:
            self._main.set_roi_visible(True, self._on_roi_moved)

    def _refresh_display(self) -> None:
        if self._main is None:
            return
        raw = self._main_raw()
        mode = self._complex_mode if np.iscomplexobj(raw) else None
        self._shown = complex_part(raw, mode) if mode is not None else None
        self._shown_src = raw
        values = raw if self._shown is None else self._shown
        if (self._settings.get("cmap") == "labels" and not _is_rgb(raw)
                and values.ndim == 2):  # every label its own colour, whatever the range
            self._main.show(raw, (0.0, 255.0), None,
                            shown=display.colormap("labels")[label_indices(values)], mode=mode)
        else:
            if _is_rgb(raw):
                self._levels = (0.0, 255.0)
            elif self._clim is not None:
                self._levels = self._clim
            elif self._recontrast or self._auto_each_frame:
                self._levels = display.levels(values, {**self._settings, "clim": None})
                self._recontrast = False
            self._main.show(raw, self._levels, display.lut(self._settings), shown=self._shown,
                            mode=mode)
        if mode is not None and mode != self._noted_mode:
            self._noted_mode = mode
            self._update_notes()
        self._sync_complex_combo()

    def _sync_complex_combo(self) -> None:
        """Show the toolbar's complex-mode combo for complex data (made on first need)."""
        mode = self.complex_mode()
        combo = getattr(self, "complex_combo", None)
        if mode is None:
            if combo is not None:
                self._complex_combo_action.setVisible(False)
            return
        if combo is None:
            box = QtWidgets.QWidget(self)
            lay = QtWidgets.QHBoxLayout(box)
            lay.setContentsMargins(6, 0, 0, 0)
            lay.addWidget(QtWidgets.QLabel("Complex:", box))
            combo = QtWidgets.QComboBox(box)
            for m in COMPLEX_MODES:
                combo.addItem(COMPLEX_LABELS[m], m)
            combo.setToolTip("What is shown of the complex values (also Image ▸ Complex)")
            combo.activated.connect(
                lambda i: self.apply_display({"complex": combo.itemData(i)}))
            lay.addWidget(combo)
            self.complex_combo = combo
            self._complex_combo_action = self.toolbar.addWidget(box)
            self.toolbar.show()
        self._complex_combo_action.setVisible(True)
        i = COMPLEX_MODES.index(mode)
        if combo.currentIndex() != i:
            combo.blockSignals(True)
            combo.setCurrentIndex(i)
            combo.blockSignals(False)

    def _update_notes(self) -> None:
        """Say what is shown of the data (complex mode, RGB) above the image."""
        self._set_info(self._notes(self._dataset.data))

    def _panel_text(self, panel: _ImagePanel, x: float, y: float,
                    prefix: str = "") -> str:
        idx = panel.index_at(x, y)
        if idx is None:
            return ""
        iy, ix = idx
        xa, ya = panel.x_axis, panel.y_axis
        # the calibrated coordinates of the pixel under the cursor (its centre)
        x, y = xa.offset + ix * xa.scale, ya.offset + iy * ya.scale
        xu = f" {xa.units}" if xa.units else ""
        yu = f" {ya.units}" if ya.units else ""
        return (f"{prefix}{xa.name} {_fmt(x)}{xu}, {ya.name} {_fmt(y)}{yu}  [{ix}, {iy}]  "
                f"value {_value_text(panel.raw, iy, ix, panel.complex_mode)}")

    def _panels(self) -> list[tuple[_ImagePanel, str]]:
        return [(self._main, "")] if self._main is not None else []

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        for panel, prefix in self._panels():
            if panel.contains_scene(pos):
                x, y = panel.to_view(pos)
                text = self._panel_text(panel, x, y, prefix)
                if text:
                    self.cursorMoved.emit(text)
                return

    def _on_mouse_clicked(self, event: Any) -> None:
        """Move the crosshair of a navigator on a click (subclasses)."""

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Move the navigation index with the arrow keys (crosshair of a navigator)."""
        keys = QtCore.Qt.Key
        steps = {keys.Key_Left: (0, -1), keys.Key_Right: (0, 1), keys.Key_Up: (-1, 0),
                 keys.Key_Down: (1, 0)}
        idx = list(self.current_index())
        step = steps.get(QtCore.Qt.Key(event.key()))
        if step is not None and idx:
            if len(idx) == 1:
                idx[0] += step[0] + step[1]
            else:
                idx[-2] += step[0]
                idx[-1] += step[1]
            self.set_index(idx)
            event.accept()
            return
        super().keyPressEvent(event)

    def _set_info(self, text: str) -> None:
        self.info_label.setText(text)
        self.info_label.setVisible(bool(text))

    def _add_roi_action(self) -> QtGui.QAction:
        act = QtGui.QAction("Rectangle ROI", self)
        act.setCheckable(True)
        act.setToolTip("Show a rectangular region of interest (drag to move, corner to resize)")

        def toggled(on: bool) -> None:
            if self._main is None:
                return
            if on:
                self._ensure_roi()
            else:
                self._main.set_roi_visible(False)
            self._on_roi_moved()

        act.toggled.connect(toggled)
        self.toolbar.addAction(act)
        self.toolbar.show()
        self.roi_action = act
        return act

    def _notes(self, data: Any) -> str:
        if data.dtype.names is None and data.dtype.kind == "c":
            mode = self._complex_mode or "amplitude"
            what = "the magnitude |z|" if mode == "amplitude" else COMPLEX_LABELS[mode]
            return f"Complex data: {what} is shown (Image ▸ Complex to change)."
        if data.dtype.names is not None and len(data.dtype.names) >= 3:
            return "RGB data shown in colour (display settings do not apply)."
        return ""


# -- images and stacks --------------------------------------------------------------------------
class ImageView2D(DatasetView):
    """A single image in calibrated coordinates, with scale bar, zoom/pan and a rectangle ROI.

    Parameters
    ----------
    dataset : Dataset
        An image (kind ``"image"``).
    parent : QWidget, optional
        Parent widget.
    """

    kinds = ("image",)

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(dataset, parent)
        ya, xa = self._image_axes()
        self._plot = _new_plot(self.graphics, 0, 0)
        self._main = _ImagePanel(self._plot, ya, xa)
        self._main.set_scale_bar(True)
        self._add_roi_action()
        self._add_line_action()
        self._build_extra()
        self._frame = self._load_frame()
        self._set_info(self._notes(self._dataset.data))
        self._refresh_display()
        self._main.auto_range()

    def _image_axes(self) -> tuple[Axis, Axis]:
        return self._dataset.axes[-2], self._dataset.axes[-1]

    def _build_extra(self) -> None:
        """Add navigation controls (stacks)."""

    def _load_frame(self) -> np.ndarray:
        return _to_numpy(self._dataset.data)

    def _main_raw(self) -> np.ndarray:
        return self._frame

    def _dataset_changed(self) -> None:
        assert self._main is not None
        old = (self._main.y_axis, self._main.x_axis)
        self._main.set_axes(*self._image_axes())
        self._frame = self._load_frame()
        self._set_info(self._notes(self._dataset.data))
        if (self._main.y_axis, self._main.x_axis) != old:
            self._main.auto_range()


class StackView(ImageView2D):
    """A stack or series of images with a slider and a spin box per navigation axis.

    Left/Right arrow keys step the first navigation axis.

    Parameters
    ----------
    dataset : Dataset
        A stack (kind ``"stack"`` or ``"image_series"``).
    parent : QWidget, optional
        Parent widget.
    """

    kinds = ("stack", "image_series")

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        self._index: list[int] = [0] * len(dataset.nav_axes)
        self.sliders: list[QtWidgets.QSlider] = []
        self.spin_boxes: list[QtWidgets.QSpinBox] = []
        self.labels: list[QtWidgets.QLabel] = []
        super().__init__(dataset, parent)

    def _build_extra(self) -> None:
        box = QtWidgets.QWidget(self)
        self._nav_box = box
        grid = QtWidgets.QGridLayout(box)
        grid.setContentsMargins(6, 2, 6, 2)
        for k, ax in enumerate(self._dataset.nav_axes):
            label = QtWidgets.QLabel(box)
            slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, box)
            spin = QtWidgets.QSpinBox(box)
            slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            for w in (slider, spin):
                w.setRange(0, ax.size - 1)
                w.valueChanged.connect(lambda v, k=k: self._set_axis_index(k, v))
            spin.setToolTip(f"{ax.name} index")
            grid.addWidget(label, k, 0)
            grid.addWidget(slider, k, 1)
            grid.addWidget(spin, k, 2)
            grid.setColumnStretch(1, 1)
            self.labels.append(label)
            self.sliders.append(slider)
            self.spin_boxes.append(spin)
        self._layout.addWidget(box)
        self._update_labels()

    def _update_labels(self) -> None:
        for k, ax in enumerate(self._dataset.nav_axes):
            i = self._index[k]
            coord = ax.offset + i * ax.scale
            units = f" {ax.units}" if ax.units and ax.units != "px" else ""
            coord_text = f"{ax.name} = {_fmt(coord)}{units}  " if units else f"{ax.name}  "
            self.labels[k].setText(f"{coord_text}({i + 1}/{ax.size})")
            for w in (self.sliders[k], self.spin_boxes[k]):
                if w.value() != i:
                    w.blockSignals(True)
                    w.setValue(i)
                    w.blockSignals(False)

    def _set_axis_index(self, k: int, value: int) -> None:
        index = list(self._index)
        index[k] = int(value)
        self.set_index(index)

    def _load_frame(self) -> np.ndarray:
        nav = self._dataset.nav_shape
        if len(self._index) != len(nav):
            self._index = [0] * len(nav)
        self._index = [max(0, min(n - 1, i)) for i, n in zip(self._index, nav)]
        return _to_numpy(self._dataset.data[tuple(self._index)])

    def current_index(self) -> tuple[int, ...]:
        """Return the frame index now shown (one entry per navigation axis).

        Returns
        -------
        tuple of int
            The index.
        """
        return tuple(self._index)

    def set_index(self, index: Sequence[int]) -> None:
        """Show another frame.

        Parameters
        ----------
        index : sequence of int
            One index per navigation axis (clipped).
        """
        nav = self._dataset.nav_shape
        new = [max(0, min(n - 1, int(i))) for i, n in zip(index, nav)]
        if new == self._index:
            return
        self._index = new
        self._frame = self._load_frame()
        self._update_labels()
        self._refresh_display()
        self.frameChanged.emit()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Step through frames with the Left/Right arrow keys."""
        key = event.key()
        if key in (QtCore.Qt.Key.Key_Right, QtCore.Qt.Key.Key_Left) and self._index:
            step = 1 if key == QtCore.Qt.Key.Key_Right else -1
            index = list(self._index)
            index[0] += step
            self.set_index(index)
            event.accept()
            return
        super().keyPressEvent(event)

    def _dataset_changed(self) -> None:
        if len(self._dataset.nav_axes) != len(self.sliders):  # another number of axes
            self._layout.removeWidget(self._nav_box)
            self._nav_box.deleteLater()
            self.sliders, self.spin_boxes, self.labels = [], [], []
            self._index = [0] * len(self._dataset.nav_axes)
            self._build_extra()
        for k, ax in enumerate(self._dataset.nav_axes):
            for w in (self.sliders[k], self.spin_boxes[k]):
                w.blockSignals(True)
                w.setRange(0, ax.size - 1)
                w.blockSignals(False)
        super()._dataset_changed()
        self._update_labels()


class FallbackView(ImageView2D):
    """Shows the first 2-D slice of a dataset no other view handles, and says so.

    Parameters
    ----------
    dataset : Dataset
        Any dataset (e.g. kind ``"nd"`` or ``"scalar_map"``).
    parent : QWidget, optional
        Parent widget.
    """

    kinds = ()

    def _image_axes(self) -> tuple[Axis, Axis]:
        axes = self._dataset.axes
        if len(axes) >= 2:
            return axes[-2], axes[-1]
        return Axis("row", 1), axes[-1]

    def _load_frame(self) -> np.ndarray:
        data = self._dataset.data
        if data.ndim >= 2:
            return _to_numpy(data[(0,) * (data.ndim - 2)])
        return _to_numpy(data)[None, :]

    def _dataset_changed(self) -> None:
        super()._dataset_changed()
        self._say()

    def _refresh(self) -> None:
        self._say()
        super()._refresh()

    def _update_notes(self) -> None:
        self._say()

    def _say(self) -> None:
        d = self._dataset
        names = ", ".join(f"{a.name}{'*' if a.navigate else ''}" for a in d.axes)
        what = "the first 2-D slice" if d.ndim > 2 else "the data as an image"
        self._set_info(f"No dedicated view for a {d.kind} dataset of shape {d.shape} "
                       f"({names}; * = navigation): showing {what}. {self._notes(d.data)}")

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(dataset, parent)
        self._say()


# -- spectra --------------------------------------------------------------------------------------
class SpectrumView(DatasetView):
    """A calibrated 1-D plot of a spectrum (or any 1-D signal).

    Parameters
    ----------
    dataset : Dataset
        A spectrum (kind ``"spectrum"``).
    parent : QWidget, optional
        Parent widget.
    """

    kinds = ("spectrum",)

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(dataset, parent)
        self.plot = _new_plot(self.graphics, 0, 0)
        self.plot.showGrid(True, True, alpha=0.2)
        self.curve = self.plot.plot(pen=_SPECTRUM_PEN)
        self._dataset_changed()
        self._refresh()

    def _dataset_changed(self) -> None:
        ax = self._dataset.axes[-1]
        self._x = ax.coords
        self._y = _to_numpy(self._dataset.data)
        if np.iscomplexobj(self._y):
            self._y = np.abs(self._y)
            self._set_info("Complex data: the magnitude |z| is shown.")
        self.plot.setLabel("bottom", _axis_label(ax))
        units = self._dataset.intensity.units
        self.plot.setLabel("left", f"intensity ({units})" if units else "intensity")

    def _refresh(self) -> None:
        self.curve.setData(self._x, self._y.astype(np.float64, copy=False))
        self.plot.enableAutoRange()

    def _refresh_display(self) -> None:
        """Display settings do not change a plot."""

    def display_settings(self) -> dict[str, Any]:
        """Return the current display settings (kept for export; a plot ignores them).

        Returns
        -------
        dict
            ``cmap``, ``clim``, ``gamma``, ``mapping``, ``invert``, ``auto_saturation``.
        """
        out = dict(self._settings)
        lo, hi = float(np.nanmin(self._y)), float(np.nanmax(self._y))
        out["clim"] = self._clim or (lo, hi if hi > lo else lo + 1.0)
        return out

    def complex_mode(self) -> str | None:
        """Return None: a plot of complex values always shows their magnitude.

        Returns
        -------
        None
            Complex display modes apply to images only.
        """
        return None

    def current_frame(self) -> np.ndarray:
        """Return the 1-D spectrum shown.

        Returns
        -------
        numpy.ndarray
            The values (magnitude for complex data).
        """
        return self._y

    def cursor_text(self, x: float, y: float) -> str:
        """Return the status-bar text for a calibrated position on the plot.

        Parameters
        ----------
        x, y : float
            Calibrated position (``y`` is not used).

        Returns
        -------
        str
            E.g. ``"E 1.234 keV  [123]  value 45"``; empty outside the axis.
        """
        ax = self._dataset.axes[-1]
        i = int(math.floor(ax.index(x) + 0.5))
        if not 0 <= i < ax.size:
            return ""
        units = f" {ax.units}" if ax.units else ""
        return f"{ax.name} {_fmt(ax.offset + i * ax.scale)}{units}  [{i}]  value {_fmt(self._y[i])}"

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        if self.plot.vb.sceneBoundingRect().contains(pos):
            p = self.plot.vb.mapSceneToView(pos)
            text = self.cursor_text(p.x(), p.y())
            if text:
                self.cursorMoved.emit(text)


class SpectrumImageView(DatasetView):
    """A spectrum image: navigator image (sum over the signal axis) and spectrum plot.

    * a crosshair on the navigator (drag it or click a pixel) picks the spectrum shown;
    * the "Rectangle ROI" button adds a region on the navigator whose summed spectrum is shown;
    * the "Energy window" button adds a span on the spectrum: the navigator then shows the map
      summed over that channel range (an energy-filtered map).

    The display settings apply to the navigator image.

    Parameters
    ----------
    dataset : Dataset
        A spectrum image (kind ``"spectrum_image"``, or ``"signal1d_stack"`` for a line scan).
    parent : QWidget, optional
        Parent widget.
    """

    kinds = ("spectrum_image", "signal1d_stack")

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(dataset, parent)
        self._pixel = (0, 0)
        self._window: tuple[int, int] | None = None
        self._nav_plot = _new_plot(self.graphics, 0, 0,
                                   f"navigator (sum over {dataset.axes[-1].name})")
        self._spec_plot = _new_plot(self.graphics, 0, 1, "spectrum")
        self._spec_plot.showGrid(True, True, alpha=0.2)
        self.graphics.ci.layout.setColumnStretchFactor(0, 1)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        ya, xa = self._nav_axes()
        self._main = _ImagePanel(self._nav_plot, ya, xa)
        self._main.set_scale_bar(True)
        self.spectrum_curve = self._spec_plot.plot(pen=_SPECTRUM_PEN, name="pixel")
        self.roi_curve = self._spec_plot.plot(pen=_ROI_SPECTRUM_PEN, name="region sum")
        self.crosshair = pg.TargetItem(pos=(0, 0), size=14, symbol="crosshair",
                                       pen=pg.mkPen((255, 60, 60), width=2), movable=True)
        self.crosshair.setZValue(20)
        self._nav_plot.addItem(self.crosshair)
        self.crosshair.sigPositionChanged.connect(self._crosshair_moved)
        self.span = pg.LinearRegionItem(brush=pg.mkBrush(80, 160, 255, 50))
        self.span.setZValue(5)
        self.span.sigRegionChanged.connect(self._span_moved)
        self._add_roi_action()
        self._add_line_action()
        self.window_action = QtGui.QAction("Energy window", self)
        self.window_action.setCheckable(True)
        self.window_action.setToolTip("Show the map summed over a channel range of the spectrum")
        self.window_action.toggled.connect(self._toggle_window)
        self.toolbar.addAction(self.window_action)
        self._dataset_changed()
        self._refresh_display()
        self._main.auto_range()
        self._spec_plot.enableAutoRange()

    # geometry of the navigation axes (a line scan gets a dummy x axis of one pixel)
    def _nav_axes(self) -> tuple[Axis, Axis]:
        nav = self._dataset.nav_axes
        if len(nav) == 1:
            return nav[0], Axis("_", 1, 1.0, 0.0, nav[0].units)
        return nav[0], nav[1]

    def _nav_data(self) -> Any:
        """Return the data as (ny, nx, channels)."""
        d = self._dataset.data
        return d[:, None, :] if d.ndim == 2 else d

    def _dataset_changed(self) -> None:
        assert self._main is not None
        self._main.set_axes(*self._nav_axes())
        ax = self._dataset.axes[-1]
        self._spec_plot.setLabel("bottom", _axis_label(ax))
        units = self._dataset.intensity.units
        self._spec_plot.setLabel("left", f"intensity ({units})" if units else "intensity")
        data = self._nav_data()
        self._total_map = _to_numpy(data.sum(axis=-1))
        ny, nx = self._total_map.shape
        self._pixel = (min(self._pixel[0], ny - 1), min(self._pixel[1], nx - 1))
        if self._window is not None:
            self._window = (min(self._window[0], ax.size - 1), min(self._window[1], ax.size))
        self._set_info(self._notes(self._dataset.data))
        self._nav_map = self._compute_nav_map()
        self._update_pixel_spectrum()
        self._update_roi_spectrum()
        self._place_crosshair()

    def _compute_nav_map(self) -> np.ndarray:
        if self._window is None:
            return self._total_map
        c0, c1 = self._window
        return _to_numpy(self._nav_data()[..., c0:c1].sum(axis=-1))

    def _main_raw(self) -> np.ndarray:
        return self._nav_map

    def _refresh(self) -> None:
        self._refresh_display()

    # -- crosshair -------------------------------------------------------------------------
    def _place_crosshair(self) -> None:
        ya, xa = self._nav_axes()
        iy, ix = self._pixel
        self.crosshair.blockSignals(True)
        self.crosshair.setPos(xa.offset + ix * xa.scale, ya.offset + iy * ya.scale)
        self.crosshair.blockSignals(False)

    def _crosshair_moved(self, *args: object) -> None:
        assert self._main is not None
        p = self.crosshair.pos()
        ya, xa = self._main.y_axis, self._main.x_axis
        iy = max(0, min(ya.size - 1, int(math.floor(ya.index(p.y()) + 0.5))))
        ix = max(0, min(xa.size - 1, int(math.floor(xa.index(p.x()) + 0.5))))
        if (iy, ix) != self._pixel:
            self._pixel = (iy, ix)
            self._update_pixel_spectrum()
            self.frameChanged.emit()

    def _on_mouse_clicked(self, event: Any) -> None:
        assert self._main is not None
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        if self._main.contains_scene(pos):
            x, y = self._main.to_view(pos)
            idx = self._main.index_at(x, y)
            if idx is not None:
                self.set_index(idx)

    def set_index(self, index: Sequence[int]) -> None:
        """Move the crosshair to a navigator pixel.

        Parameters
        ----------
        index : sequence of int
            (row, column) of the pixel (a line scan: (position,)).
        """
        ny, nx = self._total_map.shape
        idx = tuple(int(i) for i in index)
        iy, ix = (idx[0], idx[1] if len(idx) > 1 else 0)
        new = (max(0, min(ny - 1, iy)), max(0, min(nx - 1, ix)))
        if new != self._pixel:
            self._pixel = new
            self._update_pixel_spectrum()
            self._place_crosshair()
            self.frameChanged.emit()

    def current_index(self) -> tuple[int, ...]:
        """Return the navigator pixel under the crosshair.

        Returns
        -------
        tuple of int
            (row, column), or (position,) for a line scan.
        """
        return self._pixel if len(self._dataset.nav_axes) == 2 else (self._pixel[0],)

    def _update_pixel_spectrum(self) -> None:
        iy, ix = self._pixel
        self._pixel_spectrum = _to_numpy(self._nav_data()[iy, ix])
        self.spectrum_curve.setData(self._dataset.axes[-1].coords,
                                    self._pixel_spectrum.astype(np.float64))
        if self._main is None or self._main.roi is None:
            self._spec_plot.setTitle(self._pixel_title())

    def _pixel_title(self) -> str:
        iy, ix = self._pixel
        nav = self._dataset.nav_axes
        parts = []
        for ax, i in zip(nav, (iy, ix)):
            units = f" {ax.units}" if ax.units and ax.units != "px" else ""
            parts.append(f"{ax.name} {_fmt(ax.offset + i * ax.scale)}{units}")
        where = ", ".join(reversed(parts))
        index = f"[{ix}, {iy}]" if len(nav) == 2 else f"[{iy}]"
        return f"spectrum at {where} {index}"

    def pixel_spectrum(self) -> np.ndarray:
        """Return the spectrum of the pixel under the crosshair.

        Returns
        -------
        numpy.ndarray
            1-D, one value per channel.
        """
        return self._pixel_spectrum

    # -- region of interest ----------------------------------------------------------------
    def _roi_changed(self, *args: object) -> None:
        self._update_roi_spectrum()

    def _update_roi_spectrum(self) -> None:
        idx = self._main.roi_indices() if self._main is not None else None
        if idx is None:
            self._roi_spectrum = None
            self.roi_curve.setData([], [])
            self.spectrum_curve.setVisible(True)
        else:
            (r0, r1), (c0, c1) = idx
            self._roi_spectrum = _to_numpy(self._nav_data()[r0:r1, c0:c1].sum(axis=(0, 1)))
            self.roi_curve.setData(self._dataset.axes[-1].coords,
                                   self._roi_spectrum.astype(np.float64))
            self.spectrum_curve.setVisible(False)
            self._spec_plot.setTitle(
                f"sum of region [{c0}:{c1}, {r0}:{r1}] ({(r1 - r0) * (c1 - c0)} px)")
        if self._main is not None and self._main.roi is None:
            self._spec_plot.setTitle(self._pixel_title())

    def roi_spectrum(self) -> np.ndarray | None:
        """Return the summed spectrum of the rectangle ROI, or None without one.

        Returns
        -------
        numpy.ndarray or None
            1-D sum over the ROI's pixels.
        """
        return self._roi_spectrum

    def spectrum(self) -> np.ndarray:
        """Return the spectrum drawn: the ROI sum when there is an ROI, else the pixel's.

        Returns
        -------
        numpy.ndarray
            1-D.
        """
        return self._roi_spectrum if self._roi_spectrum is not None else self._pixel_spectrum

    # -- energy window ---------------------------------------------------------------------
    def _toggle_window(self, on: bool) -> None:
        ax = self._dataset.axes[-1]
        if on:
            if self._window is None:
                n = ax.size
                self.set_energy_window(ax.offset + (n // 3) * ax.scale,
                                       ax.offset + (n // 3 + max(1, n // 10)) * ax.scale)
        else:
            self.set_energy_window(None)

    def set_energy_window(self, start: float | None, stop: float | None = None) -> None:
        """Show the map summed over a channel range (or, with None, over all channels).

        Parameters
        ----------
        start, stop : float or None
            Calibrated bounds; the channels whose coordinate ``c`` satisfies
            ``start <= c < stop`` are summed.
        """
        ax = self._dataset.axes[-1]
        if start is None or stop is None:
            self._window = None
            if self.span.scene() is not None:
                self._spec_plot.removeItem(self.span)
            self.window_action.blockSignals(True)
            self.window_action.setChecked(False)
            self.window_action.blockSignals(False)
        else:
            lo, hi = sorted((float(start), float(stop)))
            c0, c1 = _index_range(ax, lo, hi)
            self._window = (c0, max(c1, c0 + 1))
            if self.span.scene() is None:
                self._spec_plot.addItem(self.span)
            self.span.blockSignals(True)
            self.span.setRegion((lo, hi))
            self.span.blockSignals(False)
            self.window_action.blockSignals(True)
            self.window_action.setChecked(True)
            self.window_action.blockSignals(False)
        self._nav_map = self._compute_nav_map()
        if self._clim is None:
            self._recontrast = True
        self._nav_plot.setTitle(self._nav_title())
        self._refresh_display()

    def _nav_title(self) -> str:
        ax = self._dataset.axes[-1]
        if self._window is None:
            return f"navigator (sum over {ax.name})"
        c0, c1 = self._window
        units = f" {ax.units}" if ax.units else ""
        lo, hi = sorted((ax.offset + c0 * ax.scale, ax.offset + (c1 - 1) * ax.scale))
        return f"map of {ax.name} {_fmt(lo)}–{_fmt(hi)}{units} (channels {c0}–{c1 - 1})"

    def energy_window(self) -> tuple[int, int] | None:
        """Return the channel range of the energy window.

        Returns
        -------
        tuple of int or None
            Half-open ``(first, stop)`` channel indices, or None when the navigator shows the
            sum over all channels.
        """
        return self._window

    def _span_moved(self, *args: object) -> None:
        lo, hi = self.span.getRegion()
        ax = self._dataset.axes[-1]
        c0, c1 = _index_range(ax, lo, hi)
        window = (c0, max(c1, c0 + 1))
        if window != self._window:
            self._window = window
            self._nav_map = self._compute_nav_map()
            if self._clim is None:
                self._recontrast = True
            self._nav_plot.setTitle(self._nav_title())
            self._refresh_display()

    def _panels(self) -> list[tuple[_ImagePanel, str]]:
        assert self._main is not None
        return [(self._main, "")]

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        if self._spec_plot.vb.sceneBoundingRect().contains(pos):
            p = self._spec_plot.vb.mapSceneToView(pos)
            ax = self._dataset.axes[-1]
            i = int(math.floor(ax.index(p.x()) + 0.5))
            if 0 <= i < ax.size:
                units = f" {ax.units}" if ax.units else ""
                y = self.spectrum()[i]
                self.cursorMoved.emit(f"{ax.name} {_fmt(ax.offset + i * ax.scale)}{units}  "
                                      f"[{i}]  value {_fmt(y)}")
            return
        super()._on_mouse_moved(pos)


class FourDView(DatasetView):
    """A 4D-STEM scan: navigator (virtual image), diffraction pattern and virtual detector.

    The pattern is the one at the probe position under the navigator's crosshair; the
    virtual detector (circle or annulus) is drawn on it.

    Moving or resizing the detector recomputes the navigator image (the virtual image: the
    sum over the detector's pixels for every probe position).  The display settings apply to
    the diffraction pattern; the navigator is auto-contrasted.

    Parameters
    ----------
    dataset : Dataset
        A 4D dataset (kind ``"4d"``).
    parent : QWidget, optional
        Parent widget.
    """

    kinds = ("4d",)

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(dataset, parent)
        self._scan = (0, 0)
        self._nav_plot = _new_plot(self.graphics, 0, 0, "virtual image")
        self._pat_plot = _new_plot(self.graphics, 0, 1, "diffraction pattern")
        nav, sig = dataset.nav_axes, dataset.sig_axes
        self.navigator = _ImagePanel(self._nav_plot, nav[0], nav[1])
        self._main = _ImagePanel(self._pat_plot, sig[0], sig[1])
        self._main.set_scale_bar(True)
        self.navigator.set_scale_bar(True)
        self.crosshair = pg.TargetItem(pos=(0, 0), size=14, symbol="crosshair",
                                       pen=pg.mkPen((255, 60, 60), width=2), movable=True)
        self.crosshair.setZValue(20)
        self._nav_plot.addItem(self.crosshair)
        self.crosshair.sigPositionChanged.connect(self._crosshair_moved)
        self._detector_kind = "circle"
        self.outer = pg.CircleROI((0, 0), (1, 1), pen=_DETECTOR_PEN, movable=True)
        self.inner = pg.CircleROI((0, 0), (1, 1), pen=pg.mkPen((0, 220, 255), width=1,
                                                               style=QtCore.Qt.PenStyle.DashLine),
                                  movable=False)
        for roi in (self.outer, self.inner):
            roi.setZValue(10)
        self._pat_plot.addItem(self.outer)
        self.outer.sigRegionChanged.connect(self._outer_moved)
        self.inner.sigRegionChanged.connect(self._schedule_virtual)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._recompute_virtual)
        self.detector_combo = QtWidgets.QComboBox(self)
        self.detector_combo.addItems(["circle", "annulus"])
        self.detector_combo.setToolTip("Virtual detector shape (drag it on the pattern)")
        self.detector_combo.currentTextChanged.connect(lambda k: self.set_detector(kind=k))
        self.toolbar.addWidget(QtWidgets.QLabel(" Virtual detector: ", self))
        self.toolbar.addWidget(self.detector_combo)
        self.toolbar.show()
        self._building = True
        self._dataset_changed()
        self._building = False
        self._recompute_virtual()
        self._refresh_display()
        self.navigator.auto_range()
        self._main.auto_range()

    def _dataset_changed(self) -> None:
        assert self._main is not None
        nav, sig = self._dataset.nav_axes, self._dataset.sig_axes
        self.navigator.set_axes(nav[0], nav[1])
        self._main.set_axes(sig[0], sig[1])
        ny, nx = self._dataset.nav_shape
        self._scan = (min(self._scan[0], ny - 1), min(self._scan[1], nx - 1))
        self._pattern = _to_numpy(self._dataset.data[self._scan])
        self._set_info(self._notes(self._dataset.data))
        if not hasattr(self, "_center"):
            self._center, self._radius = self._bright_field_disc()
            self._inner_radius = self._radius / 2
        self._place_detector()
        self._place_crosshair()
        if not getattr(self, "_building", False):
            self._recompute_virtual()

    def _main_raw(self) -> np.ndarray:
        return self._pattern

    def _bright_field_disc(self) -> tuple[tuple[float, float], float]:
        """Guess the direct beam: the disc of pixels brighter than median + half the range.

        The range runs from the median to the 99.9th percentile of the shown pattern; the
        detector is centred on the disc's centroid with the disc's equivalent radius.
        """
        ky, kx = self._dataset.sig_axes
        pat = np.abs(self._pattern.astype(np.float64))
        lo, hi = np.percentile(pat, [50.0, 99.9])
        disc = pat > lo + 0.5 * (hi - lo) if hi > lo else np.zeros(pat.shape, bool)
        if disc.sum() < 3:
            centre = (ky.offset + (ky.size - 1) / 2 * ky.scale,
                      kx.offset + (kx.size - 1) / 2 * kx.scale)
            return centre, abs(min(ky.size * ky.scale, kx.size * kx.scale, key=abs)) / 8
        rows, cols = np.nonzero(disc)
        cy, cx = rows.mean(), cols.mean()
        r_px = max(1.0, math.sqrt(disc.sum() / math.pi))
        return ((ky.offset + cy * ky.scale, kx.offset + cx * kx.scale),
                r_px * min(abs(ky.scale), abs(kx.scale)))

    # -- probe position --------------------------------------------------------------------
    def _place_crosshair(self) -> None:
        ya, xa = self.navigator.y_axis, self.navigator.x_axis
        iy, ix = self._scan
        self.crosshair.blockSignals(True)
        self.crosshair.setPos(xa.offset + ix * xa.scale, ya.offset + iy * ya.scale)
        self.crosshair.blockSignals(False)

    def _crosshair_moved(self, *args: object) -> None:
        p = self.crosshair.pos()
        ya, xa = self.navigator.y_axis, self.navigator.x_axis
        iy = max(0, min(ya.size - 1, int(math.floor(ya.index(p.y()) + 0.5))))
        ix = max(0, min(xa.size - 1, int(math.floor(xa.index(p.x()) + 0.5))))
        self._set_scan((iy, ix), move_crosshair=False)

    def _on_mouse_clicked(self, event: Any) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        if self.navigator.contains_scene(pos):
            x, y = self.navigator.to_view(pos)
            idx = self.navigator.index_at(x, y)
            if idx is not None:
                self.set_index(idx)

    def _set_scan(self, idx: tuple[int, int], move_crosshair: bool = True) -> None:
        if idx == self._scan:
            return
        self._scan = idx
        self._pattern = _to_numpy(self._dataset.data[idx])
        if move_crosshair:
            self._place_crosshair()
        self._refresh_display()
        self.frameChanged.emit()

    def set_index(self, index: Sequence[int]) -> None:
        """Show the pattern of another probe position.

        Parameters
        ----------
        index : sequence of int
            (scan row, scan column), clipped to the scan.
        """
        ny, nx = self._dataset.nav_shape
        iy, ix = (int(i) for i in index)
        self._set_scan((max(0, min(ny - 1, iy)), max(0, min(nx - 1, ix))))

    def current_index(self) -> tuple[int, ...]:
        """Return the probe position shown.

        Returns
        -------
        tuple of int
            (scan row, scan column).
        """
        return self._scan

    # -- virtual detector ------------------------------------------------------------------
    def set_detector(self, kind: str | None = None, center: tuple[float, float] | None = None,
                     radius: float | None = None, inner_radius: float | None = None) -> None:
        """Set the virtual detector and recompute the virtual image now.

        Parameters
        ----------
        kind : {"circle", "annulus"}, optional
            Detector shape (unchanged when None).
        center : tuple of float, optional
            (ky, kx) centre in calibrated units of the pattern axes.
        radius : float, optional
            Outer radius in calibrated units.
        inner_radius : float, optional
            Inner radius of the annulus in calibrated units (< radius).

        Raises
        ------
        ParameterError
            On an unknown kind or radii that do not make sense.
        """
        if kind is not None:
            if kind not in ("circle", "annulus"):
                raise ParameterError(f"detector kind must be 'circle' or 'annulus', got {kind!r}")
            self._detector_kind = kind
        if center is not None:
            self._center = (float(center[0]), float(center[1]))
        if radius is not None:
            if not radius > 0:
                raise ParameterError(f"detector radius must be > 0, got {radius}")
            self._radius = float(radius)
        if inner_radius is not None:
            self._inner_radius = float(inner_radius)
        if self._detector_kind == "annulus" and not 0 <= self._inner_radius < self._radius:
            self._inner_radius = self._radius / 2
        if self.detector_combo.currentText() != self._detector_kind:
            self.detector_combo.blockSignals(True)
            self.detector_combo.setCurrentText(self._detector_kind)
            self.detector_combo.blockSignals(False)
        self._place_detector()
        self._recompute_virtual()

    def detector(self) -> dict[str, Any]:
        """Return the virtual detector.

        Returns
        -------
        dict
            ``kind``, ``center`` ((ky, kx) calibrated), ``radius`` and ``inner_radius``
            (0 for a circle).
        """
        return {"kind": self._detector_kind, "center": self._center, "radius": self._radius,
                "inner_radius": self._inner_radius if self._detector_kind == "annulus" else 0.0}

    def _place_detector(self) -> None:
        cy, cx = self._center
        for roi, r, show in ((self.outer, self._radius, True),
                             (self.inner, self._inner_radius, self._detector_kind == "annulus")):
            roi.blockSignals(True)
            roi.setPos((cx - r, cy - r), update=False)
            roi.setSize((2 * r, 2 * r))
            roi.blockSignals(False)
            if roi is self.inner:
                if show and roi.scene() is None:
                    self._pat_plot.addItem(roi)
                elif not show and roi.scene() is not None:
                    self._pat_plot.removeItem(roi)

    def _outer_moved(self, *args: object) -> None:
        pos, size = self.outer.pos(), self.outer.size()
        r = abs(size.x()) / 2
        self._center = (pos.y() + size.y() / 2, pos.x() + size.x() / 2)
        self._radius = r
        if self._inner_radius >= r:
            self._inner_radius = r / 2
        cy, cx = self._center
        ri = self._inner_radius
        self.inner.blockSignals(True)
        self.inner.setPos((cx - ri, cy - ri), update=False)
        self.inner.setSize((2 * ri, 2 * ri))
        self.inner.blockSignals(False)
        self._schedule_virtual()

    def _schedule_virtual(self, *args: object) -> None:
        if args and args[0] is self.inner:
            r = abs(self.inner.size().x()) / 2
            self._inner_radius = min(r, self._radius * 0.99)
        self._timer.start()

    def detector_mask(self) -> np.ndarray:
        """Return the detector as a boolean mask over the pattern's pixels.

        A pixel belongs to the detector when its centre lies within the radius (and, for an
        annulus, not closer to the centre than the inner radius).

        Returns
        -------
        numpy.ndarray
            Boolean, the pattern's shape.
        """
        ky, kx = self._dataset.sig_axes
        cy, cx = self._center
        dy = ky.coords[:, None] - cy
        dx = kx.coords[None, :] - cx
        dist = np.hypot(dy, dx)
        mask = dist <= self._radius
        if self._detector_kind == "annulus":
            mask &= dist >= self._inner_radius
        return mask

    def _recompute_virtual(self) -> None:
        self._timer.stop()
        mask = self.detector_mask()
        data = self._dataset.data
        if isinstance(data, np.ndarray):
            virtual = data[:, :, mask].sum(axis=-1, dtype=np.float64)
        else:
            virtual = _to_numpy((data * mask).sum(axis=(-2, -1)))
        self._virtual = np.asarray(virtual, dtype=np.float64)
        lv = display.levels(self._virtual, {"auto_saturation": 0.35})
        self.navigator.show(self._virtual, lv, display.lut({"cmap": "grey"}))
        self._nav_plot.setTitle(f"virtual image ({self._detector_kind}, {int(mask.sum())} px)")

    def virtual_image(self) -> np.ndarray:
        """Return the navigator image: the sum over the detector for every probe position.

        Returns
        -------
        numpy.ndarray
            float64, the scan's shape.
        """
        return self._virtual

    def _panels(self) -> list[tuple[_ImagePanel, str]]:
        assert self._main is not None
        return [(self._main, ""), (self.navigator, "scan: ")]


# -- factory --------------------------------------------------------------------------------------
_VIEW_CLASSES: tuple[type[DatasetView], ...] = (ImageView2D, StackView, SpectrumImageView,
                                                 FourDView, SpectrumView)


def view_class_for(dataset: Dataset) -> type[DatasetView]:
    """Return the view class that shows a dataset.

    Parameters
    ----------
    dataset : Dataset
        The dataset.

    Returns
    -------
    type
        A :class:`DatasetView` subclass (:class:`FallbackView` for kinds without a view).
    """
    kind = dataset.kind
    for cls in _VIEW_CLASSES:
        if kind in cls.kinds:
            return cls
    return FallbackView


def make_view(dataset: Dataset, parent: QtWidgets.QWidget | None = None) -> DatasetView:
    """Create the view for a dataset, chosen by its kind.

    Parameters
    ----------
    dataset : Dataset
        The dataset to show.
    parent : QWidget, optional
        Parent widget.

    Returns
    -------
    DatasetView
        :class:`ImageView2D` (image), :class:`StackView` (stack, image_series),
        :class:`SpectrumImageView` (spectrum_image, signal1d_stack), :class:`FourDView` (4d),
        :class:`SpectrumView` (spectrum) or :class:`FallbackView` (anything else).
    """
    return view_class_for(dataset)(dataset, parent)
