"""A minimal DatasetView that follows the views contract, for the shell's tests.

Used only when app/views.py (owned by another part) is not importable yet, so the shell's tests
exercise the shell, not the views.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets


class FakeView(QtWidgets.QWidget):
    displayChanged = QtCore.Signal(dict)
    frameChanged = QtCore.Signal()
    cursorMoved = QtCore.Signal(str)

    def __init__(self, dataset: Any, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._dataset = dataset
        self._settings: dict[str, Any] = {"cmap": "grey", "clim": None, "gamma": 1.0,
                                          "mapping": "linear", "invert": False,
                                          "auto_saturation": 0.35}
        self._roi: dict | None = None
        self.scale_bar = True
        self.label = QtWidgets.QLabel(self)
        self.label.setMinimumSize(256, 256)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.label)
        self._render()

    @property
    def dataset(self) -> Any:
        return self._dataset

    def set_dataset(self, dataset: Any) -> None:
        self._dataset = dataset
        self._render()

    def display_settings(self) -> dict:
        return dict(self._settings)

    def apply_display(self, settings: dict) -> None:
        changed = {k: v for k, v in settings.items() if self._settings.get(k) != v}
        self._settings.update(changed)
        self._render()
        if changed:
            self.displayChanged.emit(changed)

    def current_frame(self) -> np.ndarray:
        a = np.asarray(self._dataset.numpy())
        while a.ndim > 2:
            a = a[0]
        return np.atleast_2d(a)

    def current_index(self) -> tuple[int, ...]:
        return ()

    def roi_region(self) -> dict | None:
        return self._roi

    def set_scale_bar(self, visible: bool) -> None:
        self.scale_bar = bool(visible)

    def grab_image(self) -> QtGui.QImage:
        return self.grab().toImage()

    def _render(self) -> None:
        f = self.current_frame().astype(float)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        g = np.zeros_like(f) if hi <= lo else (f - lo) / (hi - lo)
        g = np.ascontiguousarray((255 * g).astype(np.uint8))
        img = QtGui.QImage(g.data, g.shape[1], g.shape[0], g.shape[1],
                           QtGui.QImage.Format.Format_Grayscale8).copy()
        self.label.setPixmap(QtGui.QPixmap.fromImage(img).scaled(256, 256))


def fake_views_module() -> types.ModuleType:
    mod = types.ModuleType("micrographia.app.views")
    mod.DatasetView = FakeView
    mod.make_view = lambda dataset, parent=None: FakeView(dataset, parent)
    return mod
