"""Edit ▸ Preferences: compute device, lazy-loading threshold, default colormap."""

from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets

from micrographia import settings as _settings

__all__ = ["PreferencesDialog", "colormap_names"]


def colormap_names() -> list[str]:
    """Return the colormap names the app offers.

    Returns
    -------
    list of str
        ``display.COLORMAPS`` when the display module is there, else the core renderer's maps.
    """
    try:
        from .display import COLORMAPS

        return list(COLORMAPS)
    except ImportError:
        from micrographia.io.render import COLORMAPS as CORE

        return list(CORE)


def _describe_probe(report: dict[str, Any]) -> str:
    if report.get("available"):
        mem = report.get("memory_total")
        mem_txt = f", {mem / 2**30:.1f} GiB" if mem else ""
        return (f"GPU available: {report.get('device') or '?'}{mem_txt} "
                f"(cupy {report.get('cupy')}); now computing on: {report.get('selected')}")
    reason = report.get("reason") or "unknown reason"
    return f"No usable GPU: {reason}. Now computing on: {report.get('selected', 'cpu')}"


class PreferencesDialog(QtWidgets.QDialog):
    """Edits :class:`micrographia.settings.Settings` and saves them on OK.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    probe : dict, optional
        A ``backend.probe_report()`` result (probed when omitted).
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None,
                 probe: dict[str, Any] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        if probe is None:
            from micrographia import backend

            try:
                probe = backend.probe_report()
            except Exception as exc:  # the probe never raises, but be safe in a dialog
                probe = {"available": False, "reason": str(exc), "selected": "cpu"}
        current = _settings.get()
        form = QtWidgets.QFormLayout()
        self.device = QtWidgets.QComboBox(self)
        self.device.addItems(list(_settings.DEVICES))
        self.device.setCurrentText(current.device)
        self.device.setToolTip("auto uses the GPU when the probe finds one")
        form.addRow("Compute device:", self.device)
        self.probe_label = QtWidgets.QLabel(_describe_probe(probe), self)
        self.probe_label.setWordWrap(True)
        form.addRow("", self.probe_label)
        self.lazy = QtWidgets.QSpinBox(self)
        self.lazy.setRange(0, 1 << 20)
        self.lazy.setSuffix(" MiB")
        self.lazy.setValue(int(current.lazy_threshold) >> 20)
        self.lazy.setToolTip("Files larger than this open lazily (dask), read on demand")
        form.addRow("Open lazily above:", self.lazy)
        self.cmap = QtWidgets.QComboBox(self)
        names = colormap_names()
        self.cmap.addItems(names)
        if current.default_colormap not in names:
            self.cmap.addItem(current.default_colormap)
        self.cmap.setCurrentText(current.default_colormap)
        form.addRow("Default colormap:", self.cmap)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel, parent=self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)

    def values(self) -> _settings.Settings:
        """Return the settings as edited.

        Returns
        -------
        Settings
            New settings (not saved yet).
        """
        return _settings.Settings(device=self.device.currentText(),  # type: ignore[arg-type]
                                  lazy_threshold=int(self.lazy.value()) << 20,
                                  default_colormap=self.cmap.currentText())

    def accept(self) -> None:
        """Save the settings and close."""
        _settings.save(self.values())
        try:
            from micrographia import backend

            backend.selected_device()
        except Exception:
            pass
        super().accept()
