"""A calibrated scale bar drawn over an image view (bottom-right, round length)."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

__all__ = ["ScaleBar", "nice_length", "format_length"]

# SI length prefixes the label may switch between (value of one unit in metres).
_LENGTH_UNITS: dict[str, float] = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "um": 1e-6,
                                   "mm": 1e-3, "m": 1.0}
_LADDER = (("pm", 1e-12), ("nm", 1e-9), ("µm", 1e-6), ("mm", 1e-3), ("m", 1.0))


def nice_length(target: float) -> float:
    """Return the round length (1, 2 or 5 × 10^n) closest to ``target`` from below.

    Parameters
    ----------
    target : float
        Wanted length (> 0).

    Returns
    -------
    float
        The largest 1/2/5 × 10^n that is not longer than ``target``.
    """
    if not target > 0 or not math.isfinite(target):
        return 0.0
    exp = math.floor(math.log10(target))
    base = 10.0 ** exp
    for m in (5.0, 2.0, 1.0):
        if m * base <= target * (1 + 1e-9):
            return m * base
    return base


def format_length(value: float, units: str) -> str:
    """Format a length for the bar's label, switching SI length prefixes when useful.

    Parameters
    ----------
    value : float
        Length in ``units``.
    units : str
        Units of ``value`` (``"nm"``, ``"µm"`` ... are rescaled so that the number stays
        between 1 and 999; other units are kept).

    Returns
    -------
    str
        E.g. ``"2 nm"``, ``"500 nm"``, ``"1 µm"``.
    """
    if units in _LENGTH_UNITS and value > 0:
        metres = value * _LENGTH_UNITS[units]
        for name, size in reversed(_LADDER):
            if metres >= size * (1 - 1e-9):
                value, units = metres / size, name
                break
        else:
            value, units = metres / 1e-12, "pm"
    text = f"{value:.3g}"
    return f"{text} {units}".strip() if units not in ("", "px") else f"{text} px"


class ScaleBar(pg.GraphicsObject):
    """A scale bar in calibrated units that stays at the bottom-right of a view box.

    The bar is about ``fraction`` of the visible width, rounded down to 1, 2 or 5 × 10^n
    calibrated units, and is redrawn whenever the view is zoomed, panned or resized.

    Parameters
    ----------
    viewbox : pyqtgraph.ViewBox
        The view box showing the image in calibrated coordinates.
    units : str
        Units of the x axis (used for the label).
    fraction : float
        Wanted bar length as a fraction of the visible width.
    """

    def __init__(self, viewbox: pg.ViewBox, units: str, fraction: float = 0.18):
        super().__init__()
        self._vb = viewbox
        self.units = units
        self.fraction = float(fraction)
        self.length = 0.0
        self.label = ""
        self._pixels = 0.0
        self.setParentItem(viewbox)
        self.setZValue(1000)
        viewbox.sigRangeChanged.connect(self.update_bar)
        viewbox.sigResized.connect(self.update_bar)
        self.update_bar()

    def set_units(self, units: str) -> None:
        """Change the units of the label.

        Parameters
        ----------
        units : str
            New units.
        """
        self.units = units
        self.update_bar()

    def update_bar(self, *args: object) -> None:
        """Recompute the bar's length and label from the visible range."""
        (x0, x1), _ = self._vb.viewRange()
        width_units = abs(x1 - x0)
        width_px = self._vb.width()
        self.prepareGeometryChange()
        if width_units <= 0 or width_px <= 0:
            self.length, self.label, self._pixels = 0.0, "", 0.0
        else:
            self.length = nice_length(self.fraction * width_units)
            self.label = format_length(self.length, self.units)
            self._pixels = self.length / width_units * width_px
        self.update()

    def _geometry(self) -> tuple[QtCore.QRectF, QtCore.QRectF, QtCore.QRectF]:
        w, h = self._vb.width(), self._vb.height()
        margin = 12.0
        bar_h = max(4.0, min(8.0, h / 80))
        text_h = 16.0
        text_w = max(self._pixels, 70.0)
        bar = QtCore.QRectF(w - margin - self._pixels, h - margin - bar_h, self._pixels, bar_h)
        text = QtCore.QRectF(bar.right() - text_w, bar.top() - text_h - 2, text_w, text_h)
        box = bar.united(text).adjusted(-5, -3, 5, 3)
        return bar, text, box

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt API)
        """Return the area the bar and its label cover, in view-box pixels."""
        return self._geometry()[2]

    def paint(self, p: QtGui.QPainter, *args: object) -> None:
        """Draw the bar and its label (white on a translucent dark box)."""
        if self._pixels <= 0:
            return
        bar, text, box = self._geometry()
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0, 140))
        p.drawRoundedRect(box, 3, 3)
        p.setBrush(QtGui.QColor(255, 255, 255))
        p.drawRect(bar)
        font = QtGui.QFont()
        font.setPixelSize(13)
        font.setBold(True)
        p.setFont(font)
        p.setPen(QtGui.QColor(255, 255, 255))
        p.drawText(text, int(QtCore.Qt.AlignmentFlag.AlignRight
                             | QtCore.Qt.AlignmentFlag.AlignBottom), self.label)
