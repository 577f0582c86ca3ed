"""Top-level windows that show one dataset (Fiji style) or one table.

An :class:`ImageWindow` holds the :class:`~micrographia.app.views.DatasetView` that
``views.make_view`` picks for the dataset's kind, a status bar with the cursor read-out, and an
undo/redo history of (dataset, display settings). Display changes made in the view are recorded
as ``mg.display(...)`` lines in the session log (debounced, so dragging a slider writes one line).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

import micrographia as mg
from micrographia.dataset import Dataset, Table
from micrographia.errors import MicrographiaError

__all__ = ["ImageWindow", "TableWindow", "clean_display", "DISPLAY_DEBOUNCE_MS"]

DISPLAY_DEBOUNCE_MS = 250
MAX_UNDO = 20


def clean_display(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the display settings ``mg.display`` accepts, as plain Python values.

    Parameters
    ----------
    settings : mapping
        Settings from a view (may hold None, numpy scalars, unknown keys).

    Returns
    -------
    dict
        Valid keys with recordable values.
    """
    from micrographia.api import DISPLAY_KEYS

    out: dict[str, Any] = {}
    for k, v in settings.items():
        if k not in DISPLAY_KEYS or v is None:
            continue
        try:
            if k == "clim":
                lo, hi = (float(x) for x in v)
                if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                    continue
                out[k] = (lo, hi)
            elif k == "frame":
                out[k] = tuple(int(x) for x in v)
            elif DISPLAY_KEYS[k] is float:
                f = float(v)
                if np.isfinite(f):
                    out[k] = f
            elif DISPLAY_KEYS[k] is bool:
                out[k] = bool(v)
            else:
                out[k] = str(v)
        except (TypeError, ValueError):
            continue
    return out


class ImageWindow(QtWidgets.QMainWindow):
    """A window showing one dataset, with undo/redo and recorded display changes.

    Parameters
    ----------
    dataset : Dataset
        What to show.
    parent : QWidget, optional
        Qt parent (normally None: image windows are top-level).

    Signals
    -------
    activated(object)
        This window became the active window.
    closed(object)
        This window was closed.
    historyChanged()
        The undo/redo stacks changed.
    filesDropped(list)
        Local files were dropped on the window (paths as str); the main window opens them.
    """

    activated = QtCore.Signal(object)
    closed = QtCore.Signal(object)
    historyChanged = QtCore.Signal()
    filesDropped = QtCore.Signal(list)

    def __init__(self, dataset: Dataset, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        from . import views

        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setAcceptDrops(True)
        self.view = views.make_view(dataset, parent=self)
        self.setCentralWidget(self.view)
        self._cursor_label = QtWidgets.QLabel("")
        self._cursor_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self._cursor_label, 1)
        self.view.cursorMoved.connect(self._cursor_label.setText)
        self._undo: list[tuple[Dataset, dict[str, Any]]] = []
        self._redo: list[tuple[Dataset, dict[str, Any]]] = []
        self._pending: dict[str, Any] = {}
        self._pending_undoable = False
        self._suppress_history = False
        self._committed = dict(self.view.display_settings())
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DISPLAY_DEBOUNCE_MS)
        self._timer.timeout.connect(self.flush_display)
        self.view.displayChanged.connect(self._on_display_changed)
        self.view.frameChanged.connect(self._on_frame_changed)
        self._tools: dict[str, QtWidgets.QWidget] = {}
        self._update_title()
        self.resize(self._initial_size())

    # -- basics ----------------------------------------------------------------------------
    @property
    def dataset(self) -> Dataset:
        """The dataset shown now."""
        return self.view.dataset

    @property
    def kind(self) -> str:
        """The dataset's kind ("image", "stack", ...)."""
        return self.view.dataset.kind

    def _update_title(self) -> None:
        ds = self.view.dataset
        title = ds.title or "untitled"
        self.setWindowTitle(title)
        self._cursor_label.setText(self.summary())

    def summary(self) -> str:
        """Return a one-line description of the dataset (shown until the cursor moves).

        Returns
        -------
        str
            Kind, shape, dtype and the signal axes' scale, e.g.
            ``"image 68×68 uint32, 0.2485 nm/px"``.
        """
        ds = self.view.dataset
        shape = "×".join(str(n) for n in ds.shape)
        scales = ", ".join(f"{a.scale:.4g} {a.units}/px" if a.units else f"{a.scale:.4g}/px"
                           for a in ds.sig_axes[-1:])
        return f"{ds.kind} {shape} {ds.data.dtype}" + (f", {scales}" if scales else "")

    def _initial_size(self) -> QtCore.QSize:
        hint = self.view.sizeHint()
        w = min(max(hint.width(), 560), 900)
        h = min(max(hint.height(), 500), 800)
        return QtCore.QSize(w, h + 40)

    def event(self, ev: QtCore.QEvent) -> bool:  # noqa: D102
        if ev.type() == QtCore.QEvent.Type.WindowActivate:
            self.activated.emit(self)
        return super().event(ev)

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802, D102
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802, D102
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.filesDropped.emit(paths)
        else:
            ev.ignore()

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802, D102
        self.flush_display()
        self.close_tools()
        super().closeEvent(ev)
        self.closed.emit(self)

    # -- tool windows (histogram, brightness/contrast, profile) ----------------------------
    def tool(self, name: str) -> QtWidgets.QWidget | None:
        """Return this window's open tool window ``name`` that follows the current view.

        Parameters
        ----------
        name : str
            Tool name (``"histogram"``, ``"brightness_contrast"``, ``"profile"``).

        Returns
        -------
        QWidget or None
            The tool window, None when it was closed or follows a view no longer shown.
        """
        tool = self._tools.get(name)
        if tool is None:
            return None
        if not tool.isVisible() or getattr(tool, "view", self.view) is not self.view:
            self._tools.pop(name, None)
            tool.close()
            tool.deleteLater()
            return None
        return tool

    def set_tool(self, name: str, widget: QtWidgets.QWidget) -> None:
        """Register a tool window; it closes with this window (one per name).

        Parameters
        ----------
        name : str
            Tool name.
        widget : QWidget
            The tool window.
        """
        old = self._tools.get(name)
        if old is not None and old is not widget:
            old.close()
            old.deleteLater()
        self._tools[name] = widget

    def tools(self) -> dict[str, QtWidgets.QWidget]:
        """Return the tool windows registered on this window.

        Returns
        -------
        dict
            Name to tool window (some may have been closed by the user).
        """
        return dict(self._tools)

    def close_tools(self) -> None:
        """Close every tool window of this window."""
        for tool in self._tools.values():
            tool.close()
        self._tools.clear()

    def apply_initial_display(self, settings: Mapping[str, Any], *, record: bool) -> None:
        """Apply display settings to a new window, without an undo entry.

        Parameters
        ----------
        settings : mapping
            Display settings (e.g. those set with ``mg.display`` during a replay).
        record : bool
            Record them as an ``mg.display`` line (False for settings already recorded).
        """
        prev, self._suppress_history = self._suppress_history, True
        try:
            self.view.apply_display(dict(settings))
            if record:
                self.flush_display()
            else:
                self._pending = {}
                self._pending_undoable = False
                self._timer.stop()
        finally:
            self._suppress_history = prev
        self._committed = dict(self.view.display_settings())

    # -- display recording -----------------------------------------------------------------
    def _on_display_changed(self, changed: Mapping[str, Any]) -> None:
        self._pending.update(dict(changed))
        if set(changed) - {"frame"}:
            self._pending_undoable = True
        self._timer.start()

    def _on_frame_changed(self) -> None:
        # The frame shown is a display setting (PNG export renders it) for stacks of images;
        # it is recorded, but moving through a stack is not an undoable step.
        ds = self.view.dataset
        if len(ds.sig_axes) != 2 or not ds.nav_axes:
            return
        index = tuple(int(i) for i in self.view.current_index())
        if index:
            self._pending["frame"] = index
            self._timer.start()

    def flush_display(self) -> None:
        """Record the display changes made since the last flush as one ``mg.display`` line.

        The settings before the change go onto the undo stack (unless an undo/redo caused it).
        """
        self._timer.stop()
        if not self._pending:
            return
        changed = clean_display(self._pending)
        undoable, self._pending, self._pending_undoable = self._pending_undoable, {}, False
        if not changed:
            return
        if undoable and not self._suppress_history:
            self._push_undo((self.view.dataset, self._committed))
        try:
            mg.display(self.view.dataset, **changed)
        except MicrographiaError as exc:
            self.statusBar().showMessage(f"display setting not recorded: {exc}", 5000)
        self._committed = dict(self.view.display_settings())

    # -- history ---------------------------------------------------------------------------
    def _push_undo(self, state: tuple[Dataset, dict[str, Any]]) -> None:
        self._undo.append(state)
        del self._undo[:-MAX_UNDO]
        self._redo.clear()
        self.historyChanged.emit()

    def can_undo(self) -> bool:
        """Whether there is something to undo.

        Returns
        -------
        bool
            True when the undo stack is not empty.
        """
        self.flush_display()
        return bool(self._undo)

    def can_redo(self) -> bool:
        """Whether there is something to redo.

        Returns
        -------
        bool
            True when the redo stack is not empty.
        """
        return bool(self._redo)

    def replace_dataset(self, dataset: Dataset) -> None:
        """Show another dataset in this window (undoable); display settings are kept.

        Parameters
        ----------
        dataset : Dataset
            The new dataset (normally of the same kind).
        """
        self.flush_display()
        self._push_undo((self.view.dataset, dict(self.view.display_settings())))
        self._show(dataset)

    def _show(self, dataset: Dataset) -> None:
        if dataset.kind == self.view.dataset.kind:
            self.view.set_dataset(dataset)
            for tool in self._tools.values():  # new values, same frame: recompute
                refresh = getattr(tool, "refresh", None)
                if callable(refresh) and tool.isVisible():
                    refresh()
        else:  # another kind needs another view
            from . import views

            settings = dict(self.view.display_settings())
            old = self.view
            self.view = views.make_view(dataset, parent=self)
            self.view.cursorMoved.connect(self._cursor_label.setText)
            self.view.displayChanged.connect(self._on_display_changed)
            self.view.frameChanged.connect(self._on_frame_changed)
            self.setCentralWidget(self.view)
            self.close_tools()  # they follow the old view
            old.deleteLater()
            keep = {k: v for k, v in settings.items() if k != "frame"}
            prev, self._suppress_history = self._suppress_history, True
            try:
                self.view.apply_display(keep)
            finally:
                self._suppress_history = prev
        self._update_title()

    def _restore(self, state: tuple[Dataset, dict[str, Any]]) -> None:
        ds, settings = state
        self._suppress_history = True
        try:
            if ds is not self.view.dataset:
                self._show(ds)
            self.view.apply_display(dict(settings))
            self.flush_display()  # an undone display change is recorded as a new line
        finally:
            self._suppress_history = False
        self._committed = dict(self.view.display_settings())

    def undo(self) -> bool:
        """Go back one step (dataset replacement or display change).

        Returns
        -------
        bool
            False when there was nothing to undo.
        """
        self.flush_display()
        if not self._undo:
            return False
        state = self._undo.pop()
        self._redo.append((self.view.dataset, dict(self.view.display_settings())))
        self._restore(state)
        self.historyChanged.emit()
        return True

    def redo(self) -> bool:
        """Redo the last undone step.

        Returns
        -------
        bool
            False when there was nothing to redo.
        """
        self.flush_display()
        if not self._redo:
            return False
        state = self._redo.pop()
        self._undo.append((self.view.dataset, dict(self.view.display_settings())))
        self._restore(state)
        self.historyChanged.emit()
        return True

    def undo_depth(self) -> tuple[int, int]:
        """Return the sizes of the undo and redo stacks.

        Returns
        -------
        tuple of int
            (undo, redo).
        """
        return len(self._undo), len(self._redo)


class TableWindow(QtWidgets.QMainWindow):
    """A window showing a :class:`~micrographia.Table`, with Copy and Save CSV.

    Parameters
    ----------
    table : Table
        The table.
    parent : QWidget, optional
        Qt parent.

    Signals
    -------
    activated(object)
        This window became the active window.
    closed(object)
        This window was closed.
    """

    activated = QtCore.Signal(object)
    closed = QtCore.Signal(object)

    def __init__(self, table: Table, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.table = table
        self.setWindowTitle(table.title or "Table")
        cols = list(table.columns)
        self.widget = QtWidgets.QTableWidget(len(table), len(cols), self)
        headers = [f"{c} ({table.units[c]})" if table.units.get(c) else c for c in cols]
        self.widget.setHorizontalHeaderLabels(headers)
        for i, row in enumerate(table.rows()):
            for j, v in enumerate(row):
                text = f"{v:.6g}" if isinstance(v, float) else str(v)
                item = QtWidgets.QTableWidgetItem(text)
                item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
                self.widget.setItem(i, j, item)
        box = QtWidgets.QWidget(self)
        lay = QtWidgets.QVBoxLayout(box)
        lay.addWidget(self.widget)
        buttons = QtWidgets.QHBoxLayout()
        self.copy_button = QtWidgets.QPushButton("Copy", box)
        self.copy_button.clicked.connect(self.copy)
        self.save_button = QtWidgets.QPushButton("Save CSV…", box)
        self.save_button.clicked.connect(self._save_clicked)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.save_button)
        lay.addLayout(buttons)
        self.setCentralWidget(box)
        self.resize(520, 360)

    @property
    def dataset(self) -> Table:
        """The table (named like ImageWindow's attribute so menus can treat both alike)."""
        return self.table

    def text(self) -> str:
        """Return the table as tab-separated text with a header line.

        Returns
        -------
        str
            The text.
        """
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t", lineterminator="\n")
        w.writerow(list(self.table.columns))
        for row in self.table.rows():
            w.writerow(row)
        return buf.getvalue()

    def copy(self) -> None:
        """Copy the table to the clipboard as tab-separated text."""
        QtWidgets.QApplication.clipboard().setText(self.text())

    def save_csv(self, path: str | os.PathLike[str]) -> None:
        """Save the table as CSV with ``mg.save`` (recorded).

        Parameters
        ----------
        path : path-like
            Target ``.csv`` file.
        """
        mg.save(self.table, path)

    def _save_clicked(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save table", (self.table.title or "table") + ".csv", "CSV table (*.csv)")
        if not path:
            return
        try:
            self.save_csv(path)
        except MicrographiaError as exc:
            QtWidgets.QMessageBox.critical(self, "Save failed", str(exc))

    def event(self, ev: QtCore.QEvent) -> bool:  # noqa: D102
        if ev.type() == QtCore.QEvent.Type.WindowActivate:
            self.activated.emit(self)
        return super().event(ev)

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802, D102
        super().closeEvent(ev)
        self.closed.emit(self)
