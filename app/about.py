"""Help ▸ About, Help ▸ Plugins and Image ▸ Show Info dialogs."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from PySide6 import QtCore, QtWidgets

import micrographia as mg
from micrographia.dataset import Dataset

__all__ = ["about_text", "plugins_text", "AboutDialog", "PluginsDialog", "InfoDialog"]


def about_text(session_log: str | None = None) -> str:
    """Return the versions of Micrographia and its main libraries, and the session log path.

    Parameters
    ----------
    session_log : str, optional
        Path of the session log.

    Returns
    -------
    str
        Plain text, one item a line.
    """
    import numpy as np
    import pyqtgraph
    import PySide6

    lines = [
        f"Micrographia {mg.__version__}",
        "Electron-microscopy image and spectrum-image analysis, recorded and replayable.",
        "",
        f"numpy {np.__version__}",
        f"Qt {QtCore.qVersion()} (PySide6 {PySide6.__version__})",
        f"pyqtgraph {pyqtgraph.__version__}",
    ]
    for name in ("scipy", "rsciio", "dask"):
        try:
            mod = __import__(name)
            lines.append(f"{name} {getattr(mod, '__version__', '?')}")
        except ImportError:
            pass
    lines.append("")
    lines.append(f"Session log: {session_log or '(not recording)'}")
    return "\n".join(lines)


def plugins_text(report: list[Any] | None = None) -> str:
    """Describe the loaded and failed plugins.

    Parameters
    ----------
    report : list of PluginInfo, optional
        Default ``mg.plugin_report()``.

    Returns
    -------
    str
        Plain text.
    """
    report = mg.plugin_report() if report is None else report
    loaded = [p for p in report if p.loaded]
    failed = [p for p in report if not p.loaded]
    lines = [f"Loaded plugins ({len(loaded)}):"]
    for p in loaded:
        src = p.distribution or "registered in code"
        lines.append(f"  {p.name} — {src} {p.version} — operations: "
                     f"{', '.join(p.operations) or 'none'}")
    lines.append("")
    lines.append(f"Failed plugins ({len(failed)}):")
    for p in failed:
        lines.append(f"  {p.name} ({p.module}): {p.error}")
        if p.details:
            lines.extend("      " + ln for ln in p.details.rstrip().splitlines())
    if not failed:
        lines.append("  none")
    return "\n".join(lines)


class _TextDialog(QtWidgets.QDialog):
    def __init__(self, title: str, text: str, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text_edit = QtWidgets.QPlainTextEdit(self)
        self.text_edit.setReadOnly(True)
        self.text_edit.setPlainText(text)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close,
                                             parent=self)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.text_edit)
        lay.addWidget(buttons)
        self.resize(640, 360)

    def text(self) -> str:
        return self.text_edit.toPlainText()


class AboutDialog(_TextDialog):
    """Help ▸ About: versions and the session log path.

    Parameters
    ----------
    session_log : str, optional
        Path of the session log.
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, session_log: str | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__("About Micrographia", about_text(session_log), parent)


class PluginsDialog(_TextDialog):
    """Help ▸ Plugins: loaded plugins with their operations, failed ones with their errors.

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__("Plugins", plugins_text(), parent)


def _fill_tree(parent: QtWidgets.QTreeWidgetItem | QtWidgets.QTreeWidget, tree: Any) -> None:
    items = tree.items() if isinstance(tree, Mapping) else enumerate(tree)
    for k, v in items:
        if isinstance(v, Mapping) or (isinstance(v, (list, tuple)) and v
                                      and isinstance(v[0], Mapping)):
            node = QtWidgets.QTreeWidgetItem([str(k), ""])
            _fill_tree(node, v)
        else:
            text = str(v)
            node = QtWidgets.QTreeWidgetItem([str(k), text if len(text) < 300 else
                                              text[:300] + "…"])
        if isinstance(parent, QtWidgets.QTreeWidget):
            parent.addTopLevelItem(node)
        else:
            parent.addChild(node)


class InfoDialog(QtWidgets.QDialog):
    """Image ▸ Show Info: the axes table and the metadata tree of a dataset.

    Parameters
    ----------
    dataset : Dataset
        The dataset.
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Info — {dataset.title or 'untitled'}")
        summary = QtWidgets.QLabel(
            html.escape(f"{dataset.title}: {dataset.kind}, shape {tuple(dataset.shape)}, "
                        f"dtype {dataset.data.dtype}"), self)
        cols = ["name", "size", "scale", "offset", "units", "navigate"]
        self.axes_table = QtWidgets.QTableWidget(len(dataset.axes), len(cols), self)
        self.axes_table.setHorizontalHeaderLabels(cols)
        for i, ax in enumerate(dataset.axes):
            vals = [ax.name, ax.size, f"{ax.scale:.6g}", f"{ax.offset:.6g}", ax.units,
                    "yes" if ax.navigate else "no"]
            for j, v in enumerate(vals):
                self.axes_table.setItem(i, j, QtWidgets.QTableWidgetItem(str(v)))
        self.tree = QtWidgets.QTreeWidget(self)
        self.tree.setHeaderLabels(["key", "value"])
        _fill_tree(self.tree, dataset.metadata)
        self.tree.expandToDepth(0)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close,
                                             parent=self)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(summary)
        lay.addWidget(self.axes_table)
        lay.addWidget(self.tree, 1)
        lay.addWidget(buttons)
        self.resize(640, 520)
