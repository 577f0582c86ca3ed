"""The application shell: the main window, its menus, and ``micrographia.app.main``.

Fiji style: a small main window holds the menus, a status bar with the progress of background
tasks, and accepts dropped files; every dataset opens in its own top-level
:class:`~micrographia.app.image_window.ImageWindow`, which carries the same menus. Menus act on the
*active* image window (the last one activated).

Every action the user takes goes through the scripting API (``mg.open/run/save/display``) while
the session's recorder is active, so the session log is a faithful, replayable record.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

import micrographia as mg
from micrographia import settings as _settings
from micrographia.dataset import Dataset, Table
from micrographia.errors import MicrographiaError

from .image_window import ImageWindow, TableWindow
from .runner import BackgroundRunner, TaskWatcher, preview
from .session import Session, find_stale_sessions

__all__ = ["MainWindow", "main", "MAX_RECENT", "load_recent", "save_recent"]

MAX_RECENT = 10
AnyWindow = ImageWindow | TableWindow

#: Operations whose menu entry opens a dedicated tool window instead of the generated dialog
#: (their options cannot be typed in a form, e.g. painted strokes): op id ->
#: ``"module:function"``, called as ``function(main_window, image_window)``; the tool runs the
#: operation through :meth:`MainWindow.run_operation` so it is recorded as usual.
OPERATION_TOOLS: dict[str, str] = {
    "segment.pixel_classifier": "micrographia.app.classifier_tool:open_classifier_tool",
}


# -- recent files ---------------------------------------------------------------------------
def _recent_file() -> Path:
    return _settings.config_dir() / "recent.json"


def load_recent() -> list[str]:
    """Read the recent-files list.

    Returns
    -------
    list of str
        Most recent first; empty when the file is missing or broken.
    """
    try:
        raw = json.loads(_recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(raw, list):
        return []
    return [str(x) for x in raw if isinstance(x, str)][:MAX_RECENT]


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + "-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_recent(paths: Sequence[str]) -> None:
    """Write the recent-files list atomically.

    Parameters
    ----------
    paths : sequence of str
        Most recent first (only the first :data:`MAX_RECENT` are kept).
    """
    _atomic_write_text(_recent_file(), json.dumps(list(paths)[:MAX_RECENT], indent=1))


def _is_region_param(p: Any) -> bool:
    return p.type is dict or p.name == "region"


def _produced_names(program: Any) -> list[str]:
    from micrographia.replay import OpenStep, RunStep

    names: list[str] = []
    for step in program.steps:
        if isinstance(step, OpenStep):
            names.append(step.target)
        elif isinstance(step, RunStep):
            names.extend(step.targets)
    return names


def _flatten(value: Any) -> list[Dataset | Table]:
    if isinstance(value, (list, tuple)):
        out: list[Dataset | Table] = []
        for v in value:
            out.extend(_flatten(v))
        return out
    if isinstance(value, (Dataset, Table)):
        return [value]
    return []


def _replay_task(program: Any, inputs: Mapping[str, str] | None, out: Any) -> Any:
    """Run a parsed log in a worker thread, reporting progress and stopping when cancelled."""
    from micrographia import replay
    from micrographia.tasks import check_cancelled, report_progress

    def progress(done: int, total: int, step: Any) -> None:
        report_progress(done / max(total, 1), f"line {step.lineno} done")
        check_cancelled()

    return replay.run_program(program, inputs=inputs, out=out, progress=progress)


# -- the main window ------------------------------------------------------------------------
class MainWindow(QtWidgets.QMainWindow):
    """The Micrographia main window.

    Parameters
    ----------
    record : bool
        Start a recorded session (a log file in the session folder, made active).
    session_dir : path-like, optional
        Session folder (default :func:`micrographia.settings.data_dir`).
    recover : bool, optional
        What to answer when a crashed session is found: None asks the user, True replays it,
        False dismisses it.
    interactive : bool
        Show errors in message boxes; when False (``--screenshot``) print them to stderr.
    parent : QWidget, optional
        Qt parent.

    Signals
    -------
    windowsChanged()
        An image window was opened or closed.
    activeWindowChanged(object)
        The active image window changed (the window, or None).
    resultsOpened(object)
        A background task finished and its results are shown (list of windows).
    """

    windowsChanged = QtCore.Signal()
    activeWindowChanged = QtCore.Signal(object)
    resultsOpened = QtCore.Signal(object)

    def __init__(self, *, record: bool = True, session_dir: str | os.PathLike[str] | None = None,
                 recover: bool | None = None, interactive: bool = True,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.interactive = interactive
        self.setWindowTitle("Micrographia")
        self.setAcceptDrops(True)
        self._windows: list[AnyWindow] = []
        self._active: AnyWindow | None = None
        self._recent = load_recent()
        self._op_watchers: list[TaskWatcher] = []
        self._log_window: QtWidgets.QWidget | None = None
        self._dialogs: list[QtWidgets.QWidget] = []
        self.errors: list[tuple[str, str, str]] = []
        self.runner = BackgroundRunner(parent=self)
        self._param_memory = self._make_param_memory()
        stale = find_stale_sessions(session_dir) if record else []
        self.session: Session | None = Session(session_dir) if record else None
        self._make_actions()
        self._make_central()
        self.populate_menubar(self.menuBar())
        self.update_actions()
        self.resize(720, 200)
        if stale:
            self._offer_recovery(stale, recover)

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def _make_param_memory() -> Any:
        try:
            from .dialogs import ParamMemory
        except ImportError:
            return None
        try:
            return ParamMemory()
        except TypeError:
            return None

    def _make_central(self) -> None:
        box = QtWidgets.QWidget(self)
        lay = QtWidgets.QVBoxLayout(box)
        self.hint = QtWidgets.QLabel(
            "Drop electron-microscopy files here, or use File ▸ Open…\n"
            "Everything you do is recorded in the session log (Window ▸ Log).", box)
        self.hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.hint)
        self.setCentralWidget(box)
        sb = self.statusBar()
        self.task_label = QtWidgets.QLabel("", self)
        self.progress_bar = QtWidgets.QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(220)
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_tasks)
        sb.addPermanentWidget(self.task_label)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.cancel_button)
        self.progress_bar.hide()
        self.cancel_button.hide()
        self.task_label.hide()

    def _action(self, name: str, text: str, slot: Callable[..., Any], *,
                shortcut: QtGui.QKeySequence | str | None = None, tip: str = "",
                checkable: bool = False) -> QtGui.QAction:
        act = QtGui.QAction(text, self)
        act.setObjectName(name)
        if shortcut is not None:
            act.setShortcut(QtGui.QKeySequence(shortcut))
            act.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.setCheckable(checkable)
        if checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _checked=False: slot())
        self.actions_by_name[name] = act
        return act

    def _make_actions(self) -> None:
        self.actions_by_name: dict[str, QtGui.QAction] = {}
        K = QtGui.QKeySequence.StandardKey  # noqa: N806
        a = self._action
        a("open", "&Open…", self.open_dialog, shortcut=K.Open)
        a("save_as", "Save &As…", self.save_as_dialog, shortcut=K.SaveAs,
          tip="Save the active dataset (recorded)")
        a("export_view", "&Export View…", self.export_view_dialog,
          tip="Save what is on screen (with the scale bar) as PNG or TIFF")
        a("save_log", "Save &Log…", self.save_log_dialog, tip="Save the session log")
        a("replay_log", "&Replay Log…", self.replay_log_dialog,
          tip="Replay a recorded log in safe mode")
        a("close", "&Close", self.close_active, shortcut=K.Close)
        a("quit", "&Quit", self.close, shortcut=K.Quit)
        a("undo", "&Undo", self.undo, shortcut=K.Undo)
        a("redo", "&Redo", self.redo, shortcut=K.Redo)
        a("preferences", "&Preferences…", self.show_preferences)
        a("show_info", "Show &Info…", self.show_info, shortcut="Ctrl+I")
        a("scale_bar", "&Scale Bar", self.set_scale_bar, checkable=True)
        a("brightness_contrast", "&Brightness/Contrast…", self.show_brightness_contrast,
          shortcut="Ctrl+Shift+C",
          tip="Display range, auto-contrast, gamma and mapping of the active image")
        a("histogram", "&Histogram", self.show_histogram, shortcut="Ctrl+H",
          tip="Histogram and statistics of the frame shown (or of its rectangle ROI)")
        a("plot_profile", "Plot &Profile", self.show_profile, shortcut="Ctrl+K",
          tip="Values along the line selection, averaged over its width (draws a horizontal "
              "line through the centre when there is none)")
        a("live_fft", "&Live FFT", self.show_live_fft, shortcut="Ctrl+F",
          tip="Power spectrum of the rectangle ROI (or the frame), following it live; "
              "pick Bragg spots on it")
        a("bragg_filter", "&Bragg Filter Spots…", self.show_bragg_filter,
          tip="Click spots on the active power spectrum and run fft.mask_filter on its image")
        a("point_pairs", "&Point Pairs…", self.show_point_pairs,
          tip="Click matching points on two images and register them "
              "(alignment.register_pair, method='points')")
        self.actions_by_name["scale_bar"].setChecked(True)
        a("replace_mode", "Replace Current Image", lambda on: None, checkable=True,
          tip="Operations replace the active window's dataset (undoable) instead of opening "
              "a new window")
        a("log", "&Log", self.show_log, shortcut="Ctrl+L")
        a("about", "&About Micrographia", self.show_about)
        a("plugins", "&Plugins", self.show_plugins)
        self.op_actions: dict[str, QtGui.QAction] = {}
        self._ops = list(mg.operations())  # the menus show what was registered at start
        for op in self._ops:
            act = QtGui.QAction(op.title, self)
            act.setObjectName(f"op:{op.id}")
            act.setData(op.id)
            tip = op.summary or op.title
            act.setToolTip(f"{tip}\n({op.id})")
            act.setStatusTip(tip)
            act.triggered.connect(lambda _c=False, i=op.id: self.run_operation_dialog(i))
            self.op_actions[op.id] = act

    def populate_menubar(self, menubar: QtWidgets.QMenuBar) -> None:
        """Fill a menu bar with the application menus (the shared actions).

        The main window and every image window call this, so the same actions are everywhere.

        Parameters
        ----------
        menubar : QMenuBar
            The menu bar to fill.
        """
        A = self.actions_by_name  # noqa: N806
        menus: dict[tuple[str, ...], QtWidgets.QMenu] = {}

        def top(name: str) -> QtWidgets.QMenu:
            key = (name,)
            if key not in menus:
                menus[key] = menubar.addMenu(name)
            return menus[key]

        f = top("&File")
        f.addAction(A["open"])
        recent = f.addMenu("Open &Recent")
        recent.aboutToShow.connect(lambda m=recent: self._fill_recent(m))
        self._fill_recent(recent)
        f.addSeparator()
        for n in ("save_as", "export_view"):
            f.addAction(A[n])
        f.addSeparator()
        for n in ("save_log", "replay_log"):
            f.addAction(A[n])
        f.addSeparator()
        f.addAction(A["close"])
        f.addAction(A["quit"])
        e = top("&Edit")
        e.addAction(A["undo"])
        e.addAction(A["redo"])
        e.addSeparator()
        e.addAction(A["preferences"])
        image = top("&Image")
        image.addAction(A["show_info"])
        image.addAction(A["scale_bar"])
        image.addSeparator()
        menus[("Image",)] = image
        adjust = image.addMenu("&Adjust")
        adjust.addAction(A["brightness_contrast"])
        menus[("Image", "Adjust")] = adjust
        cmaps = image.addMenu("&Colormaps")
        menus[("Image", "Colormaps")] = cmaps
        from .display_tools import colormap_menu

        self.colormap_actions = colormap_menu(cmaps, self.active_view)
        from .fft_tools import complex_menu

        self.complex_actions = complex_menu(image.addMenu("Comple&x"), self.active_view)
        image.addSeparator()
        process = top("&Process")
        process.addAction(A["replace_mode"])
        process.addSeparator()
        menus[("Process",)] = process
        menus[("Align",)] = top("A&lign")  # registration, drift correction, stitching
        analyze = top("&Analyze")
        analyze.addAction(A["histogram"])
        analyze.addAction(A["plot_profile"])
        analyze.addSeparator()
        menus[("Analyze",)] = analyze
        ops = sorted(self._ops, key=lambda o: ((o.menu or "Plugins").lower(),
                                                      o.title.lower()))
        extra_tops: list[str] = []
        for op in ops:
            parts = tuple(p for p in (op.menu or "Plugins").split("/") if p)
            if parts[0] not in ("Image", "Process", "Align", "Analyze") \
                    and parts[0] not in extra_tops:
                extra_tops.append(parts[0])
        for name in sorted(extra_tops):
            menus[(name,)] = menubar.addMenu(name)
        for op in ops:
            parts = tuple(p for p in (op.menu or "Plugins").split("/") if p)
            for i in range(2, len(parts) + 1):
                if parts[:i] not in menus:
                    menus[parts[:i]] = menus[parts[:i - 1]].addMenu(parts[i - 1])
            menus[parts].addAction(self.op_actions[op.id])
        if ("Process", "FFT") not in menus:
            menus[("Process", "FFT")] = menus[("Process",)].addMenu("FFT")
        menus[("Process", "FFT")].addSeparator()
        menus[("Process", "FFT")].addAction(A["live_fft"])
        menus[("Process", "FFT")].addAction(A["bragg_filter"])
        menus[("Align",)].addSeparator()
        menus[("Align",)].addAction(A["point_pairs"])
        w = top("&Window")
        w.aboutToShow.connect(lambda m=w: self._fill_window_menu(m))
        self._fill_window_menu(w)
        h = top("&Help")
        h.addAction(A["about"])
        h.addAction(A["plugins"])

    def _fill_recent(self, menu: QtWidgets.QMenu) -> None:
        menu.clear()
        for p in self._recent:
            act = menu.addAction(p)
            act.triggered.connect(lambda _c=False, path=p: self.open(path))
        if not self._recent:
            menu.addAction("(none)").setEnabled(False)

    def _fill_window_menu(self, menu: QtWidgets.QMenu) -> None:
        menu.clear()
        menu.addAction(self.actions_by_name["log"])
        menu.addSeparator()
        for i, win in enumerate(self._windows):
            act = menu.addAction(f"{i + 1} {win.windowTitle()}")
            act.setCheckable(True)
            act.setChecked(win is self._active)
            act.triggered.connect(lambda _c=False, x=win: self.activate(x))

    # -- windows ---------------------------------------------------------------------------
    def windows(self) -> list[AnyWindow]:
        """Return the open image (and table) windows, in opening order.

        Returns
        -------
        list of ImageWindow or TableWindow
            The windows.
        """
        return list(self._windows)

    def active_window(self) -> AnyWindow | None:
        """Return the window the menus act on (the last one activated).

        Returns
        -------
        ImageWindow, TableWindow or None
            The active window, None when none is open.
        """
        return self._active

    def active_view(self) -> Any:
        """Return the view of the active image window (what the display tools act on).

        Returns
        -------
        DatasetView or None
            None when no image window is active.
        """
        win = self._active
        return win.view if isinstance(win, ImageWindow) else None

    def set_active_window(self, window: AnyWindow | None) -> None:
        """Make ``window`` the one the menus act on.

        Parameters
        ----------
        window : ImageWindow, TableWindow or None
            An open window.
        """
        if window is not None and window not in self._windows:
            return
        if window is self._active:
            return
        self._active = window
        self.update_actions()
        self.activeWindowChanged.emit(window)

    def activate(self, window: AnyWindow) -> None:
        """Raise and activate a window (Window menu).

        Parameters
        ----------
        window : ImageWindow or TableWindow
            An open window.
        """
        window.show()
        window.raise_()
        window.activateWindow()
        self.set_active_window(window)

    def add_dataset(self, obj: Dataset | Table, *, source: AnyWindow | None = None
                    ) -> AnyWindow:
        """Show a dataset (or table) in a new window.

        Display settings already set with ``mg.display`` are applied (not recorded again); a
        new dataset without a colormap gets the default colormap setting (recorded). A table
        of positions is drawn as markers over the image it was measured on (found from its
        provenance, else ``source``); a PCA scree table also opens its scree plot.

        Parameters
        ----------
        obj : Dataset or Table
            What to show.
        source : ImageWindow, optional
            The window the operation that made ``obj`` was started from.

        Returns
        -------
        ImageWindow or TableWindow
            The new window.
        """
        win: AnyWindow
        if isinstance(obj, Table):
            win = TableWindow(obj)
        else:
            win = ImageWindow(obj)
            known = mg.display_settings(obj)
            if known:
                win.apply_initial_display(known, record=False)
            default = _settings.get().default_colormap
            if "cmap" not in known and default not in ("grey", "gray"):
                win.apply_initial_display({"cmap": default}, record=True)
            win.historyChanged.connect(self.update_actions)
            win.filesDropped.connect(lambda paths: [self.open(p) for p in paths])
            win.view.set_scale_bar(self.actions_by_name["scale_bar"].isChecked())
        win.activated.connect(self.set_active_window)
        win.closed.connect(self._window_closed)
        self.populate_menubar(win.menuBar())
        n = len(self._windows)
        geo = self.frameGeometry()
        win.move(geo.left() + 30 * (n % 10), geo.bottom() + 10 + 30 * (n % 10))
        self._windows.append(win)
        win.show()
        self.set_active_window(win)
        if isinstance(win, TableWindow):
            from .results import attach_results

            attach_results(win, self._windows, source)
        self.windowsChanged.emit()
        return win

    def _window_closed(self, window: AnyWindow) -> None:
        if window in self._windows:
            self._windows.remove(window)
        if self._active is window:
            self._active = None
            self.set_active_window(self._windows[-1] if self._windows else None)
            if not self._windows:
                self.update_actions()
                self.activeWindowChanged.emit(None)
        self.windowsChanged.emit()

    def close_active(self) -> None:
        """Close the active window (File ▸ Close)."""
        if self._active is not None:
            self._active.close()

    # -- opening ---------------------------------------------------------------------------
    def open(self, path: str | os.PathLike[str]) -> list[AnyWindow]:  # noqa: A003
        """Open a file with ``mg.open`` (recorded); one window per signal.

        Errors are shown in a message box with the details; nothing is raised.

        Parameters
        ----------
        path : path-like
            The file.

        Returns
        -------
        list of ImageWindow
            The new windows (empty when the file could not be read).
        """
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            result = mg.open(path)
        except MicrographiaError as exc:
            self.show_error("Cannot open file", str(exc), traceback.format_exc())
            return []
        except Exception as exc:  # a reader bug: say so, keep running
            self.show_error("Cannot open file", f"{os.fspath(path)}: {exc}",
                            traceback.format_exc())
            return []
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        datasets = result if isinstance(result, list) else [result]
        wins = [self.add_dataset(d) for d in datasets]
        self._add_recent(os.path.abspath(os.fspath(path)))
        return wins

    def _add_recent(self, path: str) -> None:
        self._recent = [path] + [p for p in self._recent if p != path]
        del self._recent[MAX_RECENT:]
        try:
            save_recent(self._recent)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save the recent-files list: {exc}", 5000)

    def recent_files(self) -> list[str]:
        """Return the recent files, most recent first.

        Returns
        -------
        list of str
            Paths.
        """
        return list(self._recent)

    def open_dialog(self) -> None:
        """File ▸ Open…: choose files and open them."""
        exts = sorted({e for f in mg.formats() if f.read for e in f.extensions})
        filt = "Supported files (" + " ".join(f"*.{e}" for e in exts) + ");;All files (*)"
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open", "", filt)
        for p in paths:
            self.open(p)

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802, D102
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802, D102
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if not paths:
            ev.ignore()
            return
        ev.acceptProposedAction()
        for p in paths:
            self.open(p)

    # -- saving ----------------------------------------------------------------------------
    def save_active(self, path: str | os.PathLike[str]) -> Path:
        """Save the active dataset with ``mg.save`` (recorded).

        Parameters
        ----------
        path : path-like
            Target; the format follows the extension.

        Returns
        -------
        Path
            The written file.
        """
        win = self._require_active()
        if isinstance(win, ImageWindow):
            win.flush_display()  # PNG export uses the recorded display settings
        return mg.save(win.dataset, path)

    def save_as_dialog(self) -> None:
        """File ▸ Save As…: choose a writable format and a file name."""
        win = self._active
        if win is None:
            return
        fmts = [f for f in mg.formats() if f.write]
        if isinstance(win, TableWindow):
            fmts = [f for f in fmts if "csv" in f.extensions]
        else:
            fmts = [f for f in fmts if "csv" not in f.extensions]
        filters = [f"{f.name} (" + " ".join(f"*.{e}" for e in f.extensions) + ")" for f in fmts]
        base = (win.dataset.title or "untitled").replace("/", "_")
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save As", base + "." + (fmts[0].extensions[0] if fmts else "hspy"),
            ";;".join(filters))
        if not path:
            return
        if not Path(path).suffix and chosen in filters:
            path += "." + fmts[filters.index(chosen)].extensions[0]
        try:
            self.save_active(path)
        except Exception as exc:
            self.show_error("Save failed", str(exc), traceback.format_exc())
        else:
            self.statusBar().showMessage(f"Saved {path}", 5000)

    def export_view(self, path: str | os.PathLike[str], window: ImageWindow | None = None
                    ) -> Path:
        """Write what the view shows (with its scale bar) as PNG or TIFF, atomically.

        Parameters
        ----------
        path : path-like
            Target ``.png``, ``.tif`` or ``.tiff``.
        window : ImageWindow, optional
            Default: the active window.

        Returns
        -------
        Path
            The written file.
        """
        win = window or self._require_active()
        if not isinstance(win, ImageWindow):
            raise MicrographiaError("Export View needs an image window")
        target = Path(os.fspath(path))
        fmt = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}.get(target.suffix.lower())
        if fmt is None:
            raise MicrographiaError(f"{target.name}: Export View writes .png, .tif or .tiff")
        image = win.view.grab_image()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix="." + target.name + "-",
                                   suffix=target.suffix)
        os.close(fd)
        try:
            if not image.save(tmp, fmt):
                raise MicrographiaError(f"{target}: could not write the image")
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return target

    def export_view_dialog(self) -> None:
        """File ▸ Export View…: choose a PNG/TIFF file name."""
        win = self._active
        if not isinstance(win, ImageWindow):
            return
        base = (win.dataset.title or "view").replace("/", "_")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export View", base + ".png", "PNG image (*.png);;TIFF image (*.tif *.tiff)")
        if not path:
            return
        if not Path(path).suffix:
            path += ".png"
        try:
            self.export_view(path, win)
        except Exception as exc:
            self.show_error("Export failed", str(exc), traceback.format_exc())

    def save_log(self, path: str | os.PathLike[str]) -> Path:
        """Write the session log so far to a file (atomically).

        Parameters
        ----------
        path : path-like
            Target file.

        Returns
        -------
        Path
            The written file.
        """
        for w in self._windows:
            if isinstance(w, ImageWindow):
                w.flush_display()
        text = self.session.text if self.session else "import micrographia as mg\n"
        target = Path(os.fspath(path))
        _atomic_write_text(target, text)
        return target

    def save_log_dialog(self) -> None:
        """File ▸ Save Log…."""
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save Log", "session.py",
                                                        "Python log (*.py)")
        if path:
            try:
                self.save_log(path)
            except OSError as exc:
                self.show_error("Save failed", str(exc), traceback.format_exc())

    # -- replay ----------------------------------------------------------------------------
    def replay_log(self, path: str | os.PathLike[str], *,
                   file: str | os.PathLike[str] | None = None,
                   out: str | os.PathLike[str] | None = None) -> TaskWatcher | None:
        """Replay a log in safe mode in the background; results open in windows.

        Parameters
        ----------
        path : path-like
            The log.
        file : path-like, optional
            Replace the log's first opened file by this one.
        out : path-like, optional
            Folder for the files the log saves (default: a new folder in the session folder).

        Returns
        -------
        TaskWatcher or None
            The replay task, None when the log was refused (an error is shown).
        """
        from micrographia import replay

        try:
            text = Path(path).read_text(encoding="utf-8")
            program = replay.parse(text, path=os.fspath(path))
        except (OSError, UnicodeDecodeError, MicrographiaError) as exc:
            self.show_error("Cannot replay the log", str(exc), traceback.format_exc())
            return None
        inputs = None
        if file is not None and program.opens:
            inputs = {program.opens[0].target: os.fspath(file)}
        return self.replay_program(program, inputs=inputs, out=out)

    def replay_program(self, program: Any, *, inputs: Mapping[str, str] | None = None,
                       out: str | os.PathLike[str] | None = None) -> TaskWatcher:
        """Run a parsed log in the background and show what it produced.

        Parameters
        ----------
        program : micrographia.replay.Program
            From ``replay.parse``.
        inputs : mapping, optional
            ``NAME -> PATH`` replacements for opened files.
        out : path-like, optional
            Folder for saved files.

        Returns
        -------
        TaskWatcher
            The replay task.
        """
        if out is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = self.session.folder if self.session else _settings.data_dir()
            out = Path(base) / f"replay-{stamp}"
        names = _produced_names(program)
        watcher = self.runner.submit(_replay_task, program, inputs, out, name="replay")

        def show(result: Any) -> None:
            wins: list[AnyWindow] = []
            seen: set[int] = set()
            for n in names:
                for obj in _flatten(result.variables.get(n)):
                    if id(obj) not in seen:
                        seen.add(id(obj))
                        wins.append(self.add_dataset(obj))
            self.resultsOpened.emit(wins)

        self._watch(watcher, "Replaying log", show)
        return watcher

    def replay_log_dialog(self) -> None:
        """File ▸ Replay Log…: choose a log, then its own files or another file."""
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Replay Log", "",
                                                        "Python log (*.py);;All files (*)")
        if not path:
            return
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Replay Log")
        box.setText("Replay the log on the files it opened, or on another file?")
        own = box.addButton("Its own files", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        other = box.addButton("Choose a file…", QtWidgets.QMessageBox.ButtonRole.ActionRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is own:
            self.replay_log(path)
        elif clicked is other:
            file, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Replay on file")
            if file:
                self.replay_log(path, file=file)

    def _offer_recovery(self, stale: list[Any], recover: bool | None) -> None:
        from micrographia import replay

        for s in stale:
            if not s.has_actions:
                s.dismiss()
                continue
            answer = recover
            if answer is None:
                res = QtWidgets.QMessageBox.question(
                    self, "Recover session",
                    f"The session {s.log.name} did not end cleanly.\n"
                    "Recover it by replaying its log?")
                answer = res == QtWidgets.QMessageBox.StandardButton.Yes
            s.dismiss()
            if not answer:
                continue
            try:
                program = replay.parse(s.log.read_text(encoding="utf-8"), path=str(s.log))
            except (OSError, UnicodeDecodeError, MicrographiaError) as exc:
                self.show_error("Cannot recover the session", str(exc), traceback.format_exc())
                continue
            self.replay_program(program)

    # -- operations ------------------------------------------------------------------------
    def _require_active(self) -> AnyWindow:
        if self._active is None:
            raise MicrographiaError("no window is open")
        return self._active

    def op_enabled(self, op: Any, window: AnyWindow | None = None) -> bool:
        """Whether an operation can run on a window's dataset.

        Parameters
        ----------
        op : Operation
            The operation.
        window : ImageWindow or TableWindow, optional
            Default: the active window.

        Returns
        -------
        bool
            True when the first input accepts the dataset and enough windows are open for the
            other required inputs.
        """
        win = window if window is not None else self._active
        if win is None or not op.inputs:
            return False
        if not op.accepts(win.dataset):  # input type, dataset kind and dtype
            return False
        required = [i for i in op.inputs[1:] if not i.optional]
        for spec in required:
            if not any(isinstance(w.dataset, spec.kind) for w in self._windows):
                return False
        return True

    def update_actions(self) -> None:
        """Enable the actions that make sense for the active window."""
        win = self._active
        is_image = isinstance(win, ImageWindow)
        A = self.actions_by_name  # noqa: N806
        A["save_as"].setEnabled(win is not None)
        A["export_view"].setEnabled(is_image)
        A["close"].setEnabled(win is not None)
        A["show_info"].setEnabled(is_image)
        A["scale_bar"].setEnabled(is_image)
        for n in ("brightness_contrast", "histogram"):
            A[n].setEnabled(is_image)
        A["plot_profile"].setEnabled(
            is_image and bool(getattr(win.view, "supports_line", lambda: False)()))  # type: ignore[union-attr]
        from .fft_tools import is_spectrum, supports_live_fft

        A["live_fft"].setEnabled(is_image and supports_live_fft(win.view))  # type: ignore[union-attr]
        A["bragg_filter"].setEnabled(is_image and is_spectrum(win.dataset))  # type: ignore[union-attr]
        A["undo"].setEnabled(is_image and bool(win._undo))  # type: ignore[union-attr]
        A["redo"].setEnabled(is_image and win.can_redo())  # type: ignore[union-attr]
        for op_id, act in self.op_actions.items():
            try:
                act.setEnabled(self.op_enabled(mg.operation(op_id), win))
            except MicrographiaError:
                act.setEnabled(False)

    def run_operation_dialog(self, op_id: str) -> TaskWatcher | None:
        """Ask for an operation's options in its dialog, then run it in the background.

        Parameters
        ----------
        op_id : str
            Operation id.

        Returns
        -------
        TaskWatcher or None
            The task, None when the dialog was cancelled (or the operation has its own tool
            window, see :data:`OPERATION_TOOLS`, which was opened instead).
        """
        win = self._active
        if win is None:
            return None
        if op_id in OPERATION_TOOLS:
            self.open_operation_tool(op_id)
            return None
        op = mg.operation(op_id)
        if isinstance(win, ImageWindow):
            win.flush_display()
        dataset = win.dataset
        from .dialogs import OperationDialog

        others = [(w.windowTitle(), w.dataset) for w in self._windows if w is not win]
        dlg = OperationDialog(op, dataset, others=others, parent=win, memory=self._param_memory)
        if isinstance(win, ImageWindow) and any(_is_region_param(p) for p in op.params):
            roi = win.view.roi_region()
            if roi:
                dlg.set_region(roi)
        restore = self._wire_preview(dlg, op, win) if op.cheap else None
        try:
            accepted = dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted
        finally:
            if restore is not None:
                restore()
        if not accepted:
            return None
        return self.run_operation(op_id, dlg.inputs(), dlg.values(), target=win)

    def open_operation_tool(self, op_id: str) -> QtWidgets.QWidget | None:
        """Open the dedicated tool window of an operation for the active image window.

        Parameters
        ----------
        op_id : str
            An operation listed in :data:`OPERATION_TOOLS`.

        Returns
        -------
        QWidget or None
            The tool, None without an active image window.
        """
        import importlib

        win = self._active
        if not isinstance(win, ImageWindow):
            return None
        win.flush_display()
        module, _, name = OPERATION_TOOLS[op_id].partition(":")
        opener = getattr(importlib.import_module(module), name)
        return opener(self, win)

    def _wire_preview(self, dlg: Any, op: Any, win: AnyWindow) -> Callable[[], None] | None:
        if not isinstance(win, ImageWindow):
            return None
        original = win.dataset
        state: dict[str, Any] = {"watcher": None, "shown": False, "open": True}

        def show(result: Any) -> None:
            if not state["open"]:
                return
            if isinstance(result, Dataset) and result.kind == original.kind:
                win.view.set_dataset(result)
                state["shown"] = True

        def request(values: Mapping[str, Any]) -> None:
            old = state["watcher"]
            if old is not None and not old.is_done():
                old.cancel()
            if not dlg.preview_enabled():
                if state["shown"]:
                    win.view.set_dataset(original)
                    state["shown"] = False
                return
            w = self.runner.submit(preview, op.id, dlg.inputs(), dict(values),
                                   name=f"preview {op.id}")
            w.finished.connect(show)
            w.failed.connect(lambda msg, _d: win.statusBar().showMessage(
                f"Preview failed: {msg}", 5000))
            state["watcher"] = w

        dlg.previewRequested.connect(request)

        def clear() -> None:
            w = state["watcher"]
            if w is not None and not w.is_done():
                w.cancel()
            if state["shown"]:
                win.view.set_dataset(original)
                state["shown"] = False

        if hasattr(dlg, "previewCleared"):
            dlg.previewCleared.connect(clear)

        def restore() -> None:
            state["open"] = False
            w = state["watcher"]
            if w is not None and not w.is_done():
                w.cancel()
            if state["shown"]:
                win.view.set_dataset(original)

        return restore

    def run_operation(self, op_id: str, inputs: Sequence[Any], params: Mapping[str, Any], *,
                      target: AnyWindow | None = None) -> TaskWatcher:
        """Run an operation in the background (recorded on success) and show the result.

        The result opens in a new window, or replaces the target window's dataset (undoably)
        when Process ▸ Replace Current Image is checked.

        Parameters
        ----------
        op_id : str
            Operation id.
        inputs : sequence
            Datasets or tables.
        params : mapping
            Options.
        target : ImageWindow, optional
            The window the operation was started from.

        Returns
        -------
        TaskWatcher
            The task.
        """
        watcher = self.runner.run(op_id, tuple(inputs), dict(params))
        replace = self.actions_by_name["replace_mode"].isChecked()

        def show(result: Any) -> None:
            items = list(result) if isinstance(result, tuple) else [result]
            wins: list[AnyWindow] = []
            for obj in items:
                if (replace and isinstance(target, ImageWindow) and target in self._windows
                        and isinstance(obj, Dataset) and len(items) == 1):
                    target.replace_dataset(obj)
                    wins.append(target)
                    self.update_actions()
                else:
                    wins.append(self.add_dataset(obj, source=target))
            self.resultsOpened.emit(wins)

        self._watch(watcher, mg.operation(op_id).title.rstrip("…"), show)
        return watcher

    def _watch(self, watcher: TaskWatcher, label: str, on_result: Callable[[Any], None]
               ) -> None:
        self._op_watchers.append(watcher)
        watcher.progress.connect(lambda f, m: self._show_progress(label, f, m))
        watcher.finished.connect(on_result)
        watcher.failed.connect(
            lambda msg, details: self.show_error(f"{label} failed", msg, details))
        watcher.cancelled.connect(
            lambda: self.statusBar().showMessage(f"{label}: cancelled", 5000))
        watcher.done.connect(lambda w=watcher: self._task_done(w))
        self._show_progress(label, 0.0, "")

    def _show_progress(self, label: str, fraction: float, message: str) -> None:
        self.task_label.setText(f"{label}{': ' + message if message else ''}")
        self.progress_bar.setValue(int(round(1000 * fraction)))
        self.task_label.show()
        self.progress_bar.show()
        self.cancel_button.show()

    def _task_done(self, watcher: TaskWatcher) -> None:
        if watcher in self._op_watchers:
            self._op_watchers.remove(watcher)
        if not self._op_watchers:
            self.task_label.hide()
            self.progress_bar.hide()
            self.cancel_button.hide()

    def running_tasks(self) -> list[TaskWatcher]:
        """Return the operation and replay tasks still running (previews excluded).

        Returns
        -------
        list of TaskWatcher
            The watchers.
        """
        return list(self._op_watchers)

    def cancel_tasks(self) -> None:
        """Cancel the running operations (the Cancel button)."""
        for w in list(self._op_watchers):
            w.cancel()

    # -- edit ------------------------------------------------------------------------------
    def undo(self) -> None:
        """Edit ▸ Undo on the active image window."""
        if isinstance(self._active, ImageWindow):
            self._active.undo()
        self.update_actions()

    def redo(self) -> None:
        """Edit ▸ Redo on the active image window."""
        if isinstance(self._active, ImageWindow):
            self._active.redo()
        self.update_actions()

    def show_preferences(self) -> QtWidgets.QDialog:
        """Edit ▸ Preferences (modal).

        Returns
        -------
        QDialog
            The dialog, after it closed.
        """
        from .preferences import PreferencesDialog

        dlg = PreferencesDialog(self)
        dlg.exec()
        return dlg

    # -- image -----------------------------------------------------------------------------
    def show_info(self) -> QtWidgets.QDialog | None:
        """Image ▸ Show Info: axes and metadata of the active dataset.

        Returns
        -------
        QDialog or None
            The (non-modal) dialog.
        """
        from .about import InfoDialog

        win = self._active
        if not isinstance(win, ImageWindow):
            return None
        dlg = InfoDialog(win.dataset, win)
        self._keep(dlg)
        return dlg

    def set_scale_bar(self, visible: bool) -> None:
        """Image ▸ Scale Bar: show or hide the scale bar in every image window.

        Parameters
        ----------
        visible : bool
            Show it.
        """
        for w in self._windows:
            if isinstance(w, ImageWindow):
                w.view.set_scale_bar(bool(visible))

    def _tool(self, name: str, make: Callable[[Any, ImageWindow], QtWidgets.QWidget]
              ) -> QtWidgets.QWidget | None:
        """Show the image window's tool ``name`` (one per window), making it when needed."""
        win = self._active
        if not isinstance(win, ImageWindow):
            return None
        win.flush_display()
        tool = win.tool(name)
        if tool is None:
            tool = make(win.view, win)
            win.set_tool(name, tool)
        tool.show()
        tool.raise_()
        tool.activateWindow()
        return tool

    def show_brightness_contrast(self) -> QtWidgets.QWidget | None:
        """Image ▸ Adjust ▸ Brightness/Contrast… for the active image window.

        The dialog (one per image window, non-modal) changes the display through
        ``view.apply_display``; the changes are recorded as ``mg.display`` lines and undoable.

        Returns
        -------
        BrightnessContrastDialog or None
            The dialog (None without an active image window).
        """
        from .display_tools import BrightnessContrastDialog

        return self._tool("brightness_contrast", BrightnessContrastDialog)

    def show_histogram(self) -> QtWidgets.QWidget | None:
        """Analyze ▸ Histogram for the active image window (one window per image window).

        Returns
        -------
        HistogramWindow or None
            The window, following the view's frame, display and ROI.
        """
        from .display_tools import HistogramWindow

        return self._tool("histogram", HistogramWindow)

    def show_profile(self) -> QtWidgets.QWidget | None:
        """Analyze ▸ Plot Profile for the active image window (one window per image window).

        When the view has no line selection, a horizontal line through the centre is drawn
        (move its ends to measure another profile; the plot follows live).

        Returns
        -------
        ProfileWindow or None
            The window, None when the active view has no line tool.
        """
        from .profile import ProfileWindow

        view = self.active_view()
        if view is None or not getattr(view, "supports_line", lambda: False)():
            return None
        return self._tool("profile", ProfileWindow)

    def show_live_fft(self) -> QtWidgets.QWidget | None:
        """Process ▸ FFT ▸ Live FFT for the active image window (one per image window).

        Returns
        -------
        LiveFFTWindow or None
            The window, following the view's ROI and frame; None when the active window
            does not show images.
        """
        from .fft_tools import LiveFFTWindow, supports_live_fft

        if not supports_live_fft(self.active_view()):
            return None
        return self._tool("live_fft", lambda view, win: LiveFFTWindow(view, win, main=self))

    def show_point_pairs(self) -> QtWidgets.QWidget:
        """Align ▸ Point Pairs…: click matching points on two images and register them.

        Returns
        -------
        PointPairTool
            The tool (one per main window), bound to two open image windows.
        """
        from .align_tools import open_point_pair_tool

        return open_point_pair_tool(self)

    def show_bragg_filter(self) -> QtWidgets.QWidget | None:
        """Process ▸ FFT ▸ Bragg Filter Spots… on the active power-spectrum window.

        Returns
        -------
        BraggFilterWindow or None
            The tool (clicks on the spectrum pick spots); None when the active window does
            not show a spectrum with 1/units axes.
        """
        from .fft_tools import BraggFilterWindow, is_spectrum

        win = self._active
        if not isinstance(win, ImageWindow) or not is_spectrum(win.dataset):
            return None
        return self._tool("bragg_filter",
                          lambda view, w: BraggFilterWindow(view, w, main=self))

    # -- window / help ---------------------------------------------------------------------
    def _keep(self, dlg: QtWidgets.QWidget) -> None:
        self._dialogs = [d for d in self._dialogs if d.isVisible()]
        self._dialogs.append(dlg)
        dlg.show()
        dlg.raise_()

    def show_log(self) -> QtWidgets.QWidget:
        """Window ▸ Log: the session log, following it as it grows.

        Returns
        -------
        LogWindow
            The log window.
        """
        from micrographia.recorder import Recorder

        from .log_window import LogWindow

        if self._log_window is None:
            rec = self.session.recorder if self.session else Recorder()
            self._log_window = LogWindow(rec, self)
        self._log_window.show()
        self._log_window.raise_()
        return self._log_window

    def show_about(self) -> QtWidgets.QDialog:
        """Help ▸ About.

        Returns
        -------
        QDialog
            The (non-modal) dialog.
        """
        from .about import AboutDialog

        dlg = AboutDialog(str(self.session.path) if self.session else None, self)
        self._keep(dlg)
        return dlg

    def show_plugins(self) -> QtWidgets.QDialog:
        """Help ▸ Plugins: loaded plugins and failures with their errors.

        Returns
        -------
        QDialog
            The (non-modal) dialog.
        """
        from .about import PluginsDialog

        dlg = PluginsDialog(self)
        self._keep(dlg)
        return dlg

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """Show an error in a message box (details folded away); never raises.

        Parameters
        ----------
        title : str
            Box title.
        message : str
            One-line message.
        details : str
            Traceback or longer text.
        """
        self.errors.append((title, message, details))
        if not self.interactive:
            print(f"error: {title}: {message}", file=sys.stderr)
            return
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, title, message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.exec()

    # -- screenshot / shutdown -------------------------------------------------------------
    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Process events until no task runs (or the timeout passes).

        Parameters
        ----------
        timeout : float
            Seconds.

        Returns
        -------
        bool
            True when idle.
        """
        timer = QtCore.QElapsedTimer()
        timer.start()
        app = QtWidgets.QApplication.instance()
        while self.runner.running() and timer.elapsed() < timeout * 1000:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            QtCore.QThread.msleep(10)
        for _ in range(5):
            app.processEvents()
        return not self.runner.running()

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Compose the main window and the image windows into one PNG, atomically.

        The main window is on top; the image windows follow in rows, each under a strip with
        its title.

        Parameters
        ----------
        path : path-like
            Target ``.png``.

        Returns
        -------
        Path
            The written file.
        """
        self.wait_idle()
        for w in self._windows:
            if isinstance(w, ImageWindow):
                w.flush_display()
        shots = [(self.windowTitle(), self.grab().toImage())]
        shots += [(w.windowTitle(), w.grab().toImage()) for w in self._windows if w.isVisible()]
        pad, strip, max_row = 10, 22, 2400
        rows: list[list[tuple[str, QtGui.QImage]]] = [[shots[0]]]
        row_w = 0
        for s in shots[1:]:
            if len(rows) == 1 or row_w + s[1].width() + pad > max_row:
                rows.append([])
                row_w = 0
            rows[-1].append(s)
            row_w += s[1].width() + pad
        width = max(sum(i.width() + pad for _, i in r) for r in rows) + pad
        height = sum(max(i.height() for _, i in r) + strip + pad for r in rows) + pad
        canvas = QtGui.QImage(width, height, QtGui.QImage.Format.Format_RGB32)
        canvas.fill(QtGui.QColor(60, 60, 64))
        p = QtGui.QPainter(canvas)
        p.setPen(QtGui.QColor(235, 235, 235))
        y = pad
        for r in rows:
            x = pad
            for title, img in r:
                p.fillRect(x, y, img.width(), strip, QtGui.QColor(40, 40, 44))
                p.drawText(QtCore.QRect(x + 6, y, img.width() - 12, strip),
                           int(QtCore.Qt.AlignmentFlag.AlignVCenter), title)
                p.drawImage(x, y + strip, img)
                x += img.width() + pad
            y += max(i.height() for _, i in r) + strip + pad
        p.end()
        target = Path(os.fspath(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix="." + target.name + "-",
                                   suffix=".png")
        os.close(fd)
        if not canvas.save(tmp, "PNG"):
            os.unlink(tmp)
            raise MicrographiaError(f"{target}: could not write the screenshot")
        os.replace(tmp, target)
        return target

    def shutdown(self) -> None:
        """Close every window, stop the tasks and end the session cleanly."""
        for w in list(self._windows):
            w.close()
        self.runner.shutdown()
        if self._log_window is not None:
            self._log_window.close()
        for d in self._dialogs:
            d.close()
        if self.session is not None:
            self.session.close()

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802, D102
        self.shutdown()
        super().closeEvent(ev)


# -- entry point ----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Start the desktop app.

    ``micrographia`` opens the main window; ``micrographia FILE…`` also opens the files;
    ``micrographia --screenshot OUT.png FILE…`` opens them, waits until everything is drawn,
    writes one PNG of all windows and exits.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    import argparse

    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="micrographia", description="Micrographia desktop app")
    parser.add_argument("files", nargs="*", metavar="FILE")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="write a PNG of all windows after opening FILEs, then exit")
    ns = parser.parse_args(args)
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(["micrographia"])
    app.setApplicationName("Micrographia")
    app.setOrganizationName("Micrographia")
    win = MainWindow(recover=False if ns.screenshot else None,
                     interactive=not ns.screenshot)
    win.show()
    for f in ns.files:
        win.open(f)
    if ns.screenshot:
        try:
            out = win.screenshot(ns.screenshot)
        except Exception as exc:
            print(f"error: screenshot failed: {exc}", file=sys.stderr)
            win.close()
            return 1
        print(f"wrote {out}")
        win.close()
        return 1 if win.errors else 0
    return int(app.exec())
