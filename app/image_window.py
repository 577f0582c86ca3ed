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


def _cell_text(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    if isinstance(v, np.generic):
        return str(v.item())
    return str(v)


class _TableModel(QtCore.QAbstractTableModel):
    """A read-only Qt model over a :class:`Table`'s numpy columns, sorted without copying.

    ``order[v]`` is the table row shown at visual row ``v``; numbers sort numerically (NaN
    last either way), text sorts as text, ties keep their previous order (stable sort).
    """

    def __init__(self, table: Table, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.table = table
        self.names = list(table.columns)
        self.cols = [np.asarray(table[c]) for c in self.names]
        self.headers = [f"{c} ({table.units[c]})" if table.units.get(c) else c
                        for c in self.names]
        self.order = np.arange(len(table), dtype=np.int64)
        self.inverse = self.order.copy()

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: N802, B008, D102
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: N802, B008, D102
        return 0 if parent.isValid() else len(self.cols)

    def value(self, visual_row: int, col: int) -> Any:
        """Return the Python value shown in a cell."""
        return self.cols[col][self.order[visual_row]].item()

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole
             ) -> Any:  # noqa: D102
        if not index.isValid():
            return None
        col = self.cols[index.column()]
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return _cell_text(col[self.order[index.row()]])
        if role == QtCore.Qt.ItemDataRole.TextAlignmentRole and col.dtype.kind in "iufb":
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if role == QtCore.Qt.ItemDataRole.UserRole:
            return self.value(index.row(), index.column())
        return None

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,  # noqa: N802, D102
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        if role != QtCore.Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == QtCore.Qt.Orientation.Horizontal:
            return self.headers[section] if 0 <= section < len(self.headers) else None
        # rows keep their number in the table when sorted (as in Fiji)
        return str(int(self.order[section]) + 1) if 0 <= section < len(self.order) else None

    def sort(self, column: int, order: QtCore.Qt.SortOrder = QtCore.Qt.SortOrder.AscendingOrder
             ) -> None:  # noqa: D102
        if not 0 <= column < len(self.cols):
            return
        descending = order == QtCore.Qt.SortOrder.DescendingOrder
        current = self.cols[column][self.order]
        if current.dtype.kind in "iub":
            key: np.ndarray = current.astype(np.int64)
        elif current.dtype.kind == "f":
            key = current.astype(np.float64)  # NaN stays NaN when negated: last either way
        else:
            key = np.unique(current.astype(str), return_inverse=True)[1].astype(np.int64)
        perm = np.argsort(-key if descending else key, kind="stable")
        self.layoutAboutToBeChanged.emit()
        new_of_old = np.empty_like(perm)
        new_of_old[perm] = np.arange(len(perm))
        self.order = self.order[perm]
        self.inverse = np.empty_like(self.order)
        self.inverse[self.order] = np.arange(len(self.order))
        olds = self.persistentIndexList()
        news = [self.index(int(new_of_old[i.row()]), i.column()) for i in olds]
        self.changePersistentIndexList(olds, news)
        self.layoutChanged.emit()


class _TableView(QtWidgets.QTableView):
    """The table's view, readable like a QTableWidget (``rowCount``, ``item`` … give texts)."""

    def rowCount(self) -> int:  # noqa: N802, D102
        return self.model().rowCount()

    def columnCount(self) -> int:  # noqa: N802, D102
        return self.model().columnCount()

    def item(self, row: int, column: int) -> QtWidgets.QTableWidgetItem:  # noqa: D102
        return QtWidgets.QTableWidgetItem(str(self.model().index(row, column).data()))

    def horizontalHeaderItem(self, column: int) -> QtWidgets.QTableWidgetItem:  # noqa: N802, D102
        return QtWidgets.QTableWidgetItem(str(self.model().headerData(
            column, QtCore.Qt.Orientation.Horizontal)))

    def verticalHeaderItem(self, row: int) -> QtWidgets.QTableWidgetItem:  # noqa: N802, D102
        return QtWidgets.QTableWidgetItem(str(self.model().headerData(
            row, QtCore.Qt.Orientation.Vertical)))


class TableWindow(QtWidgets.QMainWindow):
    """A window showing a :class:`~micrographia.Table` (Fiji's Results table).

    Columns sort numerically when their header is clicked; the status line gives the row
    count and the mean ± sample standard deviation of the current column (over the selected
    rows when several are selected). The *Table* menu and the buttons open a histogram of any
    column, a scatter plot of two columns, the scree plot of a PCA scree table, copy the table
    and save it as CSV (recorded with ``mg.save``). When the table holds positions and its
    source image window is known (:meth:`set_source`), *Show on image* draws them as markers
    over it; selecting rows highlights their markers and clicking a marker selects its row.

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
        self.markers: Any = None  # a results.MarkerOverlay once a source image is set
        self._plots: list[QtWidgets.QWidget] = []
        self._stat_column = 0
        cols = list(table.columns)
        self.model = _TableModel(table, self)
        self.widget = _TableView(self)
        self.widget.setModel(self.model)
        self.widget.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.widget.setSelectionBehavior(
            QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.widget.verticalHeader().setDefaultSectionSize(
            self.widget.fontMetrics().height() + 6)
        # unsorted until the user clicks a header (enabling sorting sorts by the indicator)
        self.widget.horizontalHeader().setSortIndicator(-1, QtCore.Qt.SortOrder.AscendingOrder)
        self.widget.setSortingEnabled(True)
        self.widget.horizontalHeader().setSortIndicatorShown(True)
        self.widget.selectionModel().selectionChanged.connect(self._selection_changed)
        self.widget.selectionModel().currentChanged.connect(self._current_changed)
        self.widget.clicked.connect(lambda index: self._header_clicked(index.column()))
        self.widget.horizontalHeader().sectionClicked.connect(self._header_clicked)

        box = QtWidgets.QWidget(self)
        lay = QtWidgets.QVBoxLayout(box)
        lay.addWidget(self.widget)
        buttons = QtWidgets.QHBoxLayout()
        self.markers_check = QtWidgets.QCheckBox("Show on image", box)
        self.markers_check.setToolTip("Draw the table's positions over the image they were "
                                      "measured on")
        self.markers_check.setEnabled(False)
        self.markers_check.toggled.connect(self.set_markers_visible)
        buttons.addWidget(self.markers_check)
        buttons.addStretch(1)
        self.histogram_button = QtWidgets.QPushButton("Histogram…", box)
        self.histogram_button.clicked.connect(lambda _c=False: self.show_histogram())
        self.scatter_button = QtWidgets.QPushButton("Scatter…", box)
        self.scatter_button.clicked.connect(lambda _c=False: self.show_scatter())
        self.copy_button = QtWidgets.QPushButton("Copy", box)
        self.copy_button.clicked.connect(self.copy)
        self.save_button = QtWidgets.QPushButton("Save CSV…", box)
        self.save_button.clicked.connect(self._save_clicked)
        has_numbers = any(table[c].dtype.kind in "iufb" for c in cols) and len(table) > 0
        self.histogram_button.setEnabled(has_numbers)
        self.scatter_button.setEnabled(has_numbers)
        for b in (self.histogram_button, self.scatter_button, self.copy_button,
                  self.save_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.setCentralWidget(box)
        self.status_label = QtWidgets.QLabel("", self)
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.status_label, 1)
        self._make_menu(has_numbers)
        self._update_status()
        hdr = self.widget.horizontalHeader()
        hdr.setResizeContentsPrecision(200)  # look at 200 rows, not all of a big table
        self.widget.resizeColumnsToContents()
        width = sum(hdr.sectionSize(j) for j in range(len(cols)))
        self.resize(min(max(width + self.widget.verticalHeader().width() + 40, 480), 1000), 380)

    def _make_menu(self, has_numbers: bool) -> None:
        from . import results

        self.table_menu = QtWidgets.QMenu("&Table", self)
        self.histogram_action = self.table_menu.addAction("&Histogram…")
        self.histogram_action.triggered.connect(lambda _c=False: self.show_histogram())
        self.scatter_action = self.table_menu.addAction("&Scatter Plot…")
        self.scatter_action.triggered.connect(lambda _c=False: self.show_scatter())
        self.histogram_action.setEnabled(has_numbers)
        self.scatter_action.setEnabled(has_numbers)
        self.scree_action = self.table_menu.addAction("Scree &Plot")
        self.scree_action.triggered.connect(lambda _c=False: self.show_scree())
        self.scree_action.setVisible(results.is_scree(self.table))
        self.table_menu.addSeparator()
        self.markers_action = self.table_menu.addAction("Show on &Image")
        self.markers_action.setCheckable(True)
        self.markers_action.setEnabled(False)
        self.markers_action.toggled.connect(self.set_markers_visible)
        self.table_menu.addSeparator()
        self.table_menu.addAction("&Copy", self.copy)
        self.table_menu.addAction("Save &CSV…", self._save_clicked)
        self.menuBar().addMenu(self.table_menu)

    def _place_menu(self) -> None:
        """Keep the Table menu just before the Window menu the main window adds."""
        mb = self.menuBar()
        acts = mb.actions()
        mine = self.table_menu.menuAction()
        window = next((a for a in acts if a.text() == "&Window"), None)
        if window is None or acts.index(mine) == acts.index(window) - 1:
            return
        mb.removeAction(mine)
        mb.insertAction(window, mine)

    def showEvent(self, ev: QtGui.QShowEvent) -> None:  # noqa: N802, D102
        self._place_menu()
        super().showEvent(ev)

    @property
    def dataset(self) -> Table:
        """The table (named like ImageWindow's attribute so menus can treat both alike)."""
        return self.table

    # -- rows, sorting, selection ----------------------------------------------------------
    def table_row(self, visual_row: int) -> int:
        """Return the table row shown at a visual row (they differ once sorted).

        Parameters
        ----------
        visual_row : int
            Row index in the widget.

        Returns
        -------
        int
            Row index in :attr:`table`.
        """
        return int(self.model.order[visual_row])

    def visual_row(self, table_row: int) -> int:
        """Return the widget row showing a table row.

        Parameters
        ----------
        table_row : int
            Row index in :attr:`table`.

        Returns
        -------
        int
            Row index in the widget.

        Raises
        ------
        IndexError
            For a row the table does not have.
        """
        if not 0 <= int(table_row) < len(self.table):
            raise IndexError(f"no row {table_row} in a table of {len(self.table)} rows")
        return int(self.model.inverse[int(table_row)])

    def displayed_order(self) -> list[int]:
        """Return the table rows in the order shown.

        Returns
        -------
        list of int
            Table row indices, top to bottom.
        """
        return [int(i) for i in self.model.order]

    def sort_by(self, column: str, descending: bool = False) -> None:
        """Sort the rows by a column (numbers numerically, NaN last; ties keep their order).

        Parameters
        ----------
        column : str
            Column name.
        descending : bool
            Largest first.

        Raises
        ------
        MicrographiaError
            For an unknown column.
        """
        if column not in self.table:
            raise MicrographiaError(f"no column {column!r}; columns are "
                                    f"{', '.join(self.table.columns)}")
        j = list(self.table.columns).index(column)
        order = (QtCore.Qt.SortOrder.DescendingOrder if descending
                 else QtCore.Qt.SortOrder.AscendingOrder)
        self.widget.sortByColumn(j, order)  # what a click on the header does
        self._stat_column = j
        self._update_status()

    def selected_rows(self) -> list[int]:
        """Return the selected table rows (table indices, ascending).

        Returns
        -------
        list of int
            The rows.
        """
        visual = [i.row() for i in self.widget.selectionModel().selectedRows()]
        return sorted(int(r) for r in self.model.order[np.asarray(visual, dtype=np.int64)])

    def select_rows(self, rows: list[int] | tuple[int, ...]) -> None:
        """Select table rows (and scroll to the first).

        Parameters
        ----------
        rows : sequence of int
            Table row indices.
        """
        visual = sorted({self.visual_row(int(t)) for t in rows})
        sel = QtCore.QItemSelection()
        last = self.model.columnCount() - 1
        start = prev = None
        for r in visual + [None]:  # contiguous runs become one range each
            if r is not None and prev is not None and r == prev + 1:
                prev = r
                continue
            if start is not None:
                sel.select(self.model.index(start, 0), self.model.index(prev, last))
            start = prev = r
        flags = (QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QtCore.QItemSelectionModel.SelectionFlag.Rows)
        self.widget.selectionModel().select(sel, flags)
        if rows:
            self.widget.scrollTo(self.model.index(self.visual_row(int(rows[0])), 0))

    def _selection_changed(self, *_args: object) -> None:
        if self.markers is not None:
            self.markers.set_selected(self.selected_rows())
        self._update_status()

    def _current_changed(self, current: QtCore.QModelIndex, previous: QtCore.QModelIndex
                         ) -> None:
        # Qt makes the first cell current when the table first gets the focus: only moves
        # from a current cell (keyboard navigation) choose the column summarised
        if current.isValid() and previous.isValid():
            self._stat_column = current.column()
            self._update_status()

    def _header_clicked(self, col: int) -> None:
        self._stat_column = col
        self._update_status()

    def current_column(self) -> str | None:
        """Return the column the status line summarises (last clicked cell or header).

        Returns
        -------
        str or None
            Column name, None for a table without columns.
        """
        cols = list(self.table.columns)
        if not cols:
            return None
        return cols[min(max(self._stat_column, 0), len(cols) - 1)]

    def summary_text(self) -> str:
        """Return the status line: row count and mean ± std of the current column.

        Returns
        -------
        str
            E.g. ``"12 rows · area (nm²): mean 4.1 ± 0.3 (n = 12)"``; over the selected rows
            when more than one is selected.
        """
        from . import results

        n = len(self.table)
        sel = self.selected_rows()
        text = f"{n} row{'s' if n != 1 else ''}"
        if sel:
            text += f", {len(sel)} selected"
        col = self.current_column()
        if col is None or self.table[col].dtype.kind not in "iufb" or n == 0:
            return text
        values = np.asarray(self.table[col], dtype=np.float64)
        if len(sel) > 1:
            values = values[sel]
        s = results.column_statistics(values)
        units = self.table.units.get(col, "")
        std = f" ± {s['std']:.4g}" if np.isfinite(s["std"]) else ""
        where = "selected" if len(sel) > 1 else "all"
        return (f"{text} · {col}: mean {s['mean']:.6g}{std}{' ' + units if units else ''} "
                f"(n = {s['count']}, {where})")

    def _update_status(self) -> None:
        self.status_label.setText(self.summary_text())

    # -- plots -----------------------------------------------------------------------------
    def _keep_plot(self, plot: QtWidgets.QWidget) -> QtWidgets.QWidget:
        self._plots = [p for p in self._plots if p.isVisible()]
        self._plots.append(plot)
        plot.show()
        plot.raise_()
        return plot

    def plots(self) -> list[QtWidgets.QWidget]:
        """Return the plot windows opened from this table that are still shown.

        Returns
        -------
        list of QWidget
            Histogram, scatter and scree plot windows.
        """
        return [p for p in self._plots if p.isVisible()]

    def show_histogram(self, column: str | None = None,
                       bins: int | None = None) -> QtWidgets.QWidget | None:
        """Table ▸ Histogram…: a histogram window of one column (column and bins editable).

        Parameters
        ----------
        column : str, optional
            Column (default: the current column when numeric, else the first numeric one).
        bins : int, optional
            Number of bins (default: numpy's "auto" rule, 5 to 256).

        Returns
        -------
        ColumnHistogramWindow or None
            The window, None when the table has no numeric column.
        """
        from . import results

        numeric = results.numeric_columns(self.table)
        if not numeric or len(self.table) == 0:
            return None
        if column is None:
            cur = self.current_column()
            column = cur if cur in numeric else numeric[0]
        try:
            plot = results.ColumnHistogramWindow(self.table, column, bins, parent=self)
        except MicrographiaError as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return None
        return self._keep_plot(plot)

    def show_scatter(self, x: str | None = None,
                     y: str | None = None) -> QtWidgets.QWidget | None:
        """Table ▸ Scatter Plot…: one column against another.

        Parameters
        ----------
        x, y : str, optional
            Columns (default: the position columns when there are some, else the first two
            numeric columns).

        Returns
        -------
        ScatterWindow or None
            The window, None when the table has no numeric column.
        """
        from . import results

        numeric = results.numeric_columns(self.table)
        if not numeric or len(self.table) == 0:
            return None
        pos = results.marker_columns(self.table)
        if x is None and y is None and pos is not None:
            x, y = pos[0], pos[1]
        try:
            plot = results.ScatterWindow(self.table, x, y, parent=self)
        except MicrographiaError as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return None
        return self._keep_plot(plot)

    def show_scree(self) -> QtWidgets.QWidget | None:
        """Table ▸ Scree Plot: the scree plot of a PCA scree table (``denoise.pca``).

        Returns
        -------
        ScreePlotWindow or None
            The window, None when the table is not a scree table.
        """
        from . import results

        if not results.is_scree(self.table):
            return None
        return self._keep_plot(results.ScreePlotWindow(self.table, parent=self))

    # -- markers over the source image -----------------------------------------------------
    def set_source(self, window: Any, show: bool = True) -> bool:
        """Draw the table's positions over an image window (the one it was measured on).

        Parameters
        ----------
        window : ImageWindow
            An open image or stack window.
        show : bool
            Show the markers at once (*Show on image* checked).

        Returns
        -------
        bool
            False when the table has no positions or the window shows no image.
        """
        from . import results

        self._remove_markers()
        try:
            overlay = results.MarkerOverlay(self.table, window, parent=self)
        except MicrographiaError as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return False
        self.markers = overlay
        overlay.markerClicked.connect(self._marker_clicked)
        overlay.detached.connect(self._markers_detached)
        overlay.set_selected(self.selected_rows())
        for w in (self.markers_check, self.markers_action):
            w.setEnabled(True)
        tip = f"Markers over “{window.windowTitle()}”"
        self.markers_check.setToolTip(tip)
        self.set_markers_visible(show)
        return True

    def set_markers_visible(self, visible: bool) -> None:
        """Show on image: show or hide the markers over the source image.

        Parameters
        ----------
        visible : bool
            Show them.
        """
        visible = bool(visible) and self.markers is not None
        for w in (self.markers_check, self.markers_action):
            if w.isChecked() != visible:
                w.blockSignals(True)
                w.setChecked(visible)
                w.blockSignals(False)
        if self.markers is not None:
            self.markers.set_visible(visible)

    def _marker_clicked(self, row: int) -> None:
        self.select_rows([row])
        self.raise_()

    def _markers_detached(self) -> None:
        self.markers = None
        self.set_markers_visible(False)
        for w in (self.markers_check, self.markers_action):
            w.setEnabled(False)
        self.markers_check.setToolTip("The source image was closed")

    def _remove_markers(self) -> None:
        if self.markers is not None:
            self.markers.remove()
            self.markers.deleteLater()
            self.markers = None

    # -- copy / save -----------------------------------------------------------------------
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
        self._remove_markers()
        for p in self._plots:
            p.close()
        self._plots.clear()
        super().closeEvent(ev)
        self.closed.emit(self)
