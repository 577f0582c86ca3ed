"""The application shell: opening, menus, background runs, undo, recent files, recovery."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PySide6 import QtGui, QtWidgets

import micrographia as mg
from micrographia import replay
from micrographia.plugin_manager import get_host
from micrographia.recorder import active_recorders
from micrographia.tasks import check_cancelled, report_progress

REAL_VIEWS = True  # the shell is tested with the real views


@pytest.fixture
def no_modal(monkeypatch):
    """Make message boxes return at once (recording what they said)."""
    shown = []

    def fake_exec(self):
        shown.append((self.windowTitle(), self.text()))
        return QtWidgets.QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", fake_exec)
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        staticmethod(lambda *a, **k: QtWidgets.QMessageBox.StandardButton.No))
    return shown


@pytest.fixture
def make_shell(qtbot, monkeypatch, no_modal):
    from micrographia.app import MainWindow

    made = []

    def make(**kwargs):
        kwargs.setdefault("recover", False)
        w = MainWindow(**kwargs)
        made.append(w)
        w.show()
        return w

    yield make
    for w in made:
        w.close()
    assert not any(w.session and w.session.recorder in active_recorders() for w in made)


@pytest.fixture
def shell(make_shell):
    return make_shell()


def _menu_actions(menubar):
    """Every action reachable in a menu bar, as (path, action)."""
    out = []

    def walk(menu, path):
        for act in menu.actions():
            if act.menu() is not None:
                walk(act.menu(), path + (act.text().replace("&", ""),))
            elif not act.isSeparator():
                out.append((path + (act.text().replace("&", ""),), act))

    for act in menubar.actions():
        if act.menu() is not None:
            walk(act.menu(), (act.text().replace("&", ""),))
    return out


def _action(menubar, *path):
    for p, act in _menu_actions(menubar):
        if p == path:
            return act
    raise AssertionError(f"no menu action {path}")


def _wait_done(qtbot, watcher, timeout=20000):
    qtbot.waitUntil(watcher.is_done, timeout=timeout)


def test_open_multi_signal_file_opens_one_window_per_signal(shell, shared_data):
    path = shared_data / "dm3" / "multi_signal.dm3"
    wins = shell.open(path)
    assert [w.windowTitle() for w in wins] == ["HAADF", "Plot"]
    assert [w.kind for w in wins] == ["image", "spectrum"]
    if REAL_VIEWS:
        assert [type(w.view).__name__ for w in wins] == ["ImageView2D", "SpectrumView"]
    assert wins[0].dataset.shape == (512, 512)
    assert wins[0].statusBar().findChild(QtWidgets.QLabel).text() == \
        "image 512×512 uint16, 0.01775 nm/px"
    assert shell.windows() == wins and shell.active_window() is wins[1]
    assert f"f1 = mg.open({str(path)!r}".replace("'", '"') in shell.session.text


def test_open_stack_and_bad_file(shell, shared_data, tmp_path):
    (win,) = shell.open(shared_data / "dm3" / "test_stackbuilder_imagestack.dm3")
    assert win.windowTitle() == "stackbuilder_test4_16x2"
    assert win.kind == "stack" and win.dataset.shape == (3, 2, 16)
    if REAL_VIEWS:
        assert type(win.view).__name__ == "StackView"
    if REAL_VIEWS:  # moving through the stack records the frame, not as an undo step
        win.view.set_index((2,))
        win.flush_display()
        assert shell.session.text.splitlines()[-1] == "mg.display(d1, frame=(2,))"
        assert win.undo_depth() == (0, 0)
    bad = tmp_path / "broken.dm3"
    bad.write_bytes(b"not a DM file at all")
    assert shell.open(bad) == []
    assert shell.open(tmp_path / "missing.dm3") == []
    assert len(shell.errors) == 2 and "missing.dm3" in shell.errors[1][1]
    assert shell.windows() == [win]  # the app carries on


def test_gaussian_from_menu_runs_in_background_and_replays(shell, shared_data, monkeypatch):
    from micrographia.app import dialogs

    monkeypatch.setattr(dialogs.OperationDialog, "exec",
                        lambda self: QtWidgets.QDialog.DialogCode.Accepted)
    orig_values = dialogs.OperationDialog.values
    monkeypatch.setattr(dialogs.OperationDialog, "values",
                        lambda self: {**orig_values(self), "sigma": 2.0})
    (src,) = shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    act = _action(shell.menuBar(), "Process", "Filters", "Gaussian blur…")
    assert act.isEnabled() and "Gaussian" in act.toolTip()
    with shell_wait(shell) as got:
        act.trigger()
    (res,) = got
    assert res is not src and res in shell.windows()
    assert res.dataset.shape == (68, 68)
    log = shell.session.path
    text = log.read_text()
    assert 'mg.open(' in text and 'mg.run("filters.gaussian", d1, sigma=2.0' in text
    shown = res.dataset.numpy()
    shell.close()  # ends the session: replay must not be recorded into it
    program = replay.parse(log.read_text(), path=str(log))
    target = [s for s in program.steps if isinstance(s, replay.RunStep)][-1].targets[0]
    out = replay.run_program(program)
    np.testing.assert_array_equal(out.variables[target].numpy(), shown)


class shell_wait:  # noqa: N801 - a tiny context manager
    """Wait for the next resultsOpened signal of a shell; yields the list of windows."""

    def __init__(self, shell, timeout=20000):
        self.shell, self.timeout, self.windows = shell, timeout, []

    def __enter__(self):
        self.shell.resultsOpened.connect(self._got)
        return self.windows

    def _got(self, wins):
        self.windows.extend(wins)

    def __exit__(self, *exc):
        if exc[0] is None:
            deadline = time.monotonic() + self.timeout / 1000
            app = QtWidgets.QApplication.instance()
            while not self.windows and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
        self.shell.resultsOpened.disconnect(self._got)
        assert exc[0] is not None or self.windows, "no result window appeared"


def _mask_and_labels():
    """A mask, a label image and a small stack, for operations that need one of those."""
    yy, xx = np.mgrid[0:40, 0:50]
    mask = (np.hypot(yy - 15, xx - 15) < 8) | (np.hypot(yy - 25, xx - 35) < 6)
    labels = (np.hypot(yy - 15, xx - 15) < 8).astype(np.int32) + 2 * (
        np.hypot(yy - 25, xx - 35) < 6).astype(np.int32)
    stack = mg.from_array(np.random.default_rng(0).random((6, 32, 32), dtype=np.float32),
                          scale=0.1, units="nm", title="stack")
    return (mg.from_array(mask, scale=0.25, units="nm", title="mask"),
            mg.from_array(labels, scale=0.25, units="nm", title="labels"), stack)


def test_every_operation_has_an_enabled_menu_action(shell, shared_data):
    ids = {op.id for op in mg.operations()}
    found = {a.data(): a for _, a in _menu_actions(shell.menuBar()) if a.data() in ids}
    assert set(found) == ids
    assert not any(a.isEnabled() for a in found.values())  # nothing open yet
    (win,) = shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    wins = [win] + [shell.add_dataset(d) for d in _mask_and_labels()]
    enabled: set[str] = set()
    for w in wins:
        shell.set_active_window(w)
        now = {i for i, a in found.items() if a.isEnabled()}
        # enabled exactly where the operation accepts the window's dataset
        assert now == {i for i in ids if mg.operation(i).accepts(w.dataset)
                       and shell.op_enabled(mg.operation(i), w)}
        enabled |= now
    assert enabled == ids, f"never enabled: {sorted(ids - enabled)}"
    # the image window carries the same menus
    in_win = {a.data() for _, a in _menu_actions(win.menuBar()) if a.data() in ids}
    assert in_win == ids
    paths = {a.data(): p for p, a in _menu_actions(shell.menuBar()) if a.data() in ids}
    assert paths["filters.gaussian"] == ("Process", "Filters", "Gaussian blur…")
    assert paths["image.crop"][:2] == ("Image", "Transform")


@pytest.fixture
def test_ops():
    reg = get_host().registry
    added = []

    def slow(dataset: mg.Dataset) -> mg.Dataset:
        """Slow operation for the cancel test."""
        for i in range(4000):
            report_progress(i / 4000, "working")
            check_cancelled()
            time.sleep(0.005)
        return dataset

    def boom(dataset: mg.Dataset) -> mg.Dataset:
        """Operation that fails."""
        raise ValueError("the detector exploded")

    for f, i in ((slow, "apptest.slow"), (boom, "apptest.boom")):
        reg.add(f, id=i, menu="Process/Test")
        added.append(i)
    yield
    for i in added:
        reg.remove(i)


def test_cancel_leaves_no_result(shell, test_ops):
    d = mg.from_array(np.ones((16, 16)), title="ones")
    src = shell.add_dataset(d)
    w = shell.run_operation("apptest.slow", [d], {}, target=src)
    assert shell.cancel_button.isVisibleTo(shell) and shell.progress_bar.isVisibleTo(shell)
    qtbot_wait = QtWidgets.QApplication.instance()
    deadline = time.monotonic() + 10
    while shell.progress_bar.value() == 0 and time.monotonic() < deadline:
        qtbot_wait.processEvents()
        time.sleep(0.01)
    assert shell.progress_bar.value() > 0
    shell.cancel_button.click()
    deadline = time.monotonic() + 10
    while not w.is_done() and time.monotonic() < deadline:
        qtbot_wait.processEvents()
        time.sleep(0.01)
    assert w.outcome == "cancelled"
    assert shell.windows() == [src]
    assert "apptest.slow" not in shell.session.text
    assert not shell.cancel_button.isVisibleTo(shell)


def test_failing_operation_shows_error_and_app_continues(qtbot, shell, test_ops, no_modal):
    d = mg.from_array(np.arange(64.0).reshape(8, 8), title="ramp")
    src = shell.add_dataset(d)
    w = shell.run_operation("apptest.boom", [d], {}, target=src)
    _wait_done(qtbot, w)
    assert w.outcome == "failed"
    title, msg, details = shell.errors[-1]
    assert "the detector exploded" in msg and "ValueError" in details
    assert no_modal and no_modal[-1][1] == msg
    assert shell.windows() == [src]
    w2 = shell.run_operation("filters.gaussian", [d], {"sigma": 1.0}, target=src)
    _wait_done(qtbot, w2)
    assert w2.outcome == "finished" and len(shell.windows()) == 2


def test_undo_redo_of_replace_and_display(qtbot, shell):
    d = mg.from_array(np.arange(256.0).reshape(16, 16), title="ramp")
    win = shell.add_dataset(d)
    shell.actions_by_name["replace_mode"].setChecked(True)
    w = shell.run_operation("filters.gaussian", [d], {"sigma": 1.0}, target=win)
    _wait_done(qtbot, w)
    assert shell.windows() == [win]
    smoothed = win.dataset
    assert smoothed is not d and smoothed.provenance.node.op == "filters.gaussian"
    assert shell.actions_by_name["undo"].isEnabled()
    shell.actions_by_name["undo"].trigger()
    assert win.dataset is d
    assert shell.actions_by_name["redo"].isEnabled()
    shell.actions_by_name["redo"].trigger()
    assert win.dataset is smoothed
    # a display change is recorded, and its undo is recorded as a new line
    win.view.apply_display({"cmap": "viridis"})
    win.flush_display()
    assert win.view.display_settings()["cmap"] == "viridis"
    assert 'cmap="viridis"' in shell.session.text.splitlines()[-1]
    assert mg.display_settings(smoothed)["cmap"] == "viridis"
    shell.undo()
    assert win.view.display_settings()["cmap"] in ("grey", "gray")
    last = shell.session.text.splitlines()[-1]
    assert last.startswith("mg.display(") and "cmap=" in last and "viridis" not in last
    shell.undo()
    assert win.dataset is d
    assert win.undo_depth() == (0, 2)


def test_open_recent_persists(make_shell, shared_data):
    from micrographia.app.main_window import load_recent

    a = make_shell()
    path = shared_data / "dm3" / "test_STEM_image.dm3"
    a.open(path)
    assert load_recent()[0] == str(path)
    a.close()
    b = make_shell()
    assert b.recent_files()[0] == str(path)
    recent_menu = [act.menu() for act in b.menuBar().actions()[0].menu().actions()
                   if act.menu() is not None][0]
    recent_menu.aboutToShow.emit()
    entry = [x for x in recent_menu.actions() if x.text() == str(path)][0]
    entry.trigger()
    assert [w.windowTitle() for w in b.windows()] == [mg.open(path).title]


def test_crash_recovery_replays_the_previous_session(qtbot, make_shell, shared_data, tmp_path):
    from micrographia import settings

    folder = settings.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = shared_data / "dm3" / "test_STEM_image.dm3"
    log = folder / "session-20260101-120000.py"
    log.write_text("import micrographia as mg\n"
                   f"d1 = mg.open({json.dumps(str(path))})\n"
                   'd2 = mg.run("filters.gaussian", d1, sigma=1.0)\n'
                   'mg.display(d2, cmap="magma")\n')
    marker = log.with_suffix(".running")
    marker.write_text(json.dumps({"pid": 0, "log": str(log)}))
    shell = make_shell(recover=True)
    assert not marker.exists()
    qtbot.waitUntil(lambda: len(shell.windows()) == 2, timeout=20000)
    a, b = shell.windows()
    assert b.dataset.provenance.node.op == "filters.gaussian"
    assert b.view.display_settings()["cmap"] == "magma"
    expected = mg.run("filters.gaussian", mg.open(path), sigma=1.0)
    np.testing.assert_array_equal(b.dataset.numpy(), expected.numpy())
    # the next start finds nothing to recover (the marker is gone, ours is alive)
    again = make_shell(recover=True)
    assert again.windows() == []


def test_help_and_log_windows(qtbot, shell, shared_data):
    text = shell.show_plugins().text()
    for name in ("builtin_filters", "builtin_image", "builtin_fft"):
        assert name in text
    assert "filters.gaussian" in text and "Failed plugins (0)" in text
    about = shell.show_about().text()
    assert mg.__version__ in about and str(shell.session.path) in about
    assert f"numpy {np.__version__}" in about
    log = shell.show_log()
    shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    qtbot.waitUntil(lambda: "mg.open(" in log.text(), timeout=5000)
    assert log.editor.isReadOnly()
    info = shell.show_info()
    assert info.axes_table.rowCount() == 2
    assert info.axes_table.item(0, 4).text() == shell.active_window().dataset.axes[0].units


def test_save_as_export_view_and_save_log(shell, shared_data, tmp_path, monkeypatch):
    (win,) = shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    target = tmp_path / "out.hspy"
    answer = (str(target), "HyperSpy HDF5 (*.hspy *.hdf5)")
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: answer))
    shell.actions_by_name["save_as"].trigger()
    assert target.is_file()
    np.testing.assert_array_equal(mg.open(target).numpy(), win.dataset.numpy())
    assert f'mg.save(d1, "{target}")' in shell.session.text
    png = shell.export_view(tmp_path / "view.png")
    img = QtGui.QImage(str(png))
    expected = win.view.grab_image()
    assert (img.width(), img.height()) == (expected.width(), expected.height())
    assert shell.save_log(tmp_path / "log.py").read_text() == shell.session.text
    with pytest.raises(mg.MicrographiaError):
        shell.export_view(tmp_path / "view.bmp")


def test_drop_files_opens_them(shell, shared_data):
    from PySide6 import QtCore

    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(shared_data / "dm3" / "test_STEM_image.dm3"))])
    ev = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                          QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    shell.dropEvent(ev)
    assert len(shell.windows()) == 1 and shell.windows()[0].dataset.shape == (68, 68)
    shell.windows()[0].dropEvent(ev)  # dropping on an image window opens it too
    assert len(shell.windows()) == 2


def test_scale_bar_toggle_acts_on_every_image_window(shell, shared_data):
    (win,) = shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    act = _action(win.menuBar(), "Image", "Scale Bar")
    assert act.isChecked() and act.isEnabled()
    act.trigger()
    assert not act.isChecked()
    if REAL_VIEWS:
        assert not win.view.scale_bar.isVisible()
    else:
        assert win.view.scale_bar is False
    act.trigger()
    if REAL_VIEWS:
        assert win.view.scale_bar.isVisible()


def test_preferences_saved(shell, monkeypatch):
    from micrographia import settings
    from micrographia.app.preferences import PreferencesDialog

    dlg = PreferencesDialog(shell, probe={"available": False, "reason": "no cupy",
                                          "selected": "cpu"})
    assert "no cupy" in dlg.probe_label.text()
    dlg.device.setCurrentText("cpu")
    dlg.lazy.setValue(64)
    dlg.cmap.setCurrentText("viridis")
    dlg.accept()
    s = settings.get()
    assert (s.device, s.lazy_threshold, s.default_colormap) == ("cpu", 64 << 20, "viridis")
    win = shell.add_dataset(mg.from_array(np.eye(8), title="eye"))
    assert win.view.display_settings()["cmap"] == "viridis"
    assert shell.session.text.splitlines()[-1].endswith('cmap="viridis")')


def test_preview_shows_unrecorded_result_and_restores_on_cancel(shell, monkeypatch):
    from micrographia.app import dialogs

    d = mg.from_array(np.random.default_rng(0).random((32, 32)), title="noise")
    win = shell.add_dataset(d)
    seen = {}

    def fake_exec(self):
        app = QtWidgets.QApplication.instance()
        self.set_values({"sigma": 3.0})
        self.preview_check.setChecked(True)
        deadline = time.monotonic() + 15
        while win.view.dataset is d and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        seen["previewed"] = win.view.dataset
        self.reject()
        return QtWidgets.QDialog.DialogCode.Rejected

    monkeypatch.setattr(dialogs.OperationDialog, "exec", fake_exec)
    n_lines = len(shell.session.recorder.lines)
    assert shell.run_operation_dialog("filters.gaussian") is None
    shown = seen["previewed"]
    assert shown is not d
    expected = mg.run("filters.gaussian", d, sigma=3.0)  # recorded here, by the test
    np.testing.assert_array_equal(shown.numpy(), expected.numpy())
    assert win.view.dataset is d  # restored on cancel
    assert shell.windows() == [win]
    new = shell.session.recorder.lines[n_lines:]
    assert len([ln for ln in new if "filters.gaussian" in ln]) == 1  # only the test's mg.run


def test_table_results_window_menu_and_replay_dialog(qtbot, shell, shared_data, tmp_path,
                                                     monkeypatch):
    from micrographia.app.image_window import TableWindow

    t = mg.Table({"x": np.array([1.0, 2.5]), "n": np.array([3, 4])}, units={"x": "nm"},
                 title="measure")
    tw = shell.add_dataset(t)
    assert isinstance(tw, TableWindow) and tw.widget.rowCount() == 2
    assert tw.widget.horizontalHeaderItem(0).text() == "x (nm)"
    assert tw.text() == "x\tn\n1.0\t3\n2.5\t4\n"
    tw.copy()
    assert QtWidgets.QApplication.clipboard().text() == tw.text()
    tw.save_csv(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").is_file()
    assert not shell.actions_by_name["export_view"].isEnabled()
    # Window menu lists the open windows; choosing one activates it
    (img,) = shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    wmenu = [a.menu() for a in shell.menuBar().actions() if a.text() == "&Window"][0]
    wmenu.aboutToShow.emit()
    entries = [a for a in wmenu.actions() if a.isCheckable()]
    assert [a.text() for a in entries] == ["1 measure", f"2 {img.windowTitle()}"]
    entries[0].trigger()
    assert shell.active_window() is tw
    # File > Replay Log... on another file
    log = tmp_path / "log.py"
    log.write_text('import micrographia as mg\nd1 = mg.open("nowhere.dm3")\n'
                   'd2 = mg.run("image.bin", d1, factor=2)\n')
    other = shared_data / "dm3" / "test_STEM_image.dm3"
    answers = iter([(str(log), ""), (str(other), "")])
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: next(answers)))
    monkeypatch.setattr(QtWidgets.QMessageBox, "clickedButton",
                        lambda self: next(b for b in self.buttons()
                                          if b.text().startswith("Choose")))
    with shell_wait(shell) as got:
        shell.actions_by_name["replay_log"].trigger()
    assert shell.errors == []
    assert [w.dataset.shape for w in got] == [(68, 68), (34, 34)]


def test_every_operation_runs_from_its_menu_with_dialog_defaults(qtbot, shell, shared_data,
                                                                 monkeypatch):
    from micrographia.app import dialogs

    monkeypatch.setattr(dialogs.OperationDialog, "exec",
                        lambda self: QtWidgets.QDialog.DialogCode.Accepted)
    (src,) = shell.open(shared_data / "dm3" / "test_STEM_image.dm3")
    # image.crop takes its region from the rectangle ROI drawn on the view
    y, x = src.dataset.axes
    src.view.set_roi_region({"y": (y.offset + 2 * y.scale, y.offset + 12 * y.scale),
                             "x": (x.offset + 2 * x.scale, x.offset + 22 * x.scale)})
    sources = [src] + [shell.add_dataset(d) for d in _mask_and_labels()]
    n_before = len(shell.windows())
    ids = sorted(op.id for op in mg.operations())
    actions = {a.data(): a for _, a in _menu_actions(src.menuBar()) if a.data() in ids}
    # operations with their own tool window (e.g. painted training strokes) open it instead of
    # the dialog and start nothing; their tools' tests run them (tests/app/test_*_tool.py)
    from micrographia.app.main_window import OPERATION_TOOLS

    for op_id in (i for i in ids if i in OPERATION_TOOLS):
        op = mg.operation(op_id)
        target = next(w for w in sources if op.accepts(w.dataset) and shell.op_enabled(op, w))
        shell.set_active_window(target)
        before = target.tools()
        watchers = []
        shell.runner.started.connect(watchers.append)
        actions[op_id].trigger()
        shell.runner.started.disconnect(watchers.append)
        assert not watchers, op_id
        opened = [t for n, t in target.tools().items() if before.get(n) is not t]
        assert len(opened) == 1 and opened[0].isVisible(), op_id
        opened[0].close()
    ids = [i for i in ids if i not in OPERATION_TOOLS]
    outcomes = {}
    used = {}
    for op_id in ids:
        op = mg.operation(op_id)
        target = next(w for w in sources if op.accepts(w.dataset) and shell.op_enabled(op, w))
        used[op_id] = target
        shell.set_active_window(target)
        watchers = []
        shell.runner.started.connect(watchers.append)
        actions[op_id].trigger()
        shell.runner.started.disconnect(watchers.append)
        assert len(watchers) == 1, op_id
        _wait_done(qtbot, watchers[0])
        outcomes[op_id] = (watchers[0].outcome, watchers[0].error)
    # an operation on two datasets run on a single image without its second one says so
    # clearly (e.g. register_pair: "choose the image to register ... as the second input")
    needs_second = {i for i, (how, err) in outcomes.items()
                    if how == "failed" and len(mg.operation(i).inputs) > 1 and "second" in err}
    assert needs_second == {"alignment.register_pair"}
    assert outcomes == ({i: ("finished", "") for i in ids if i not in needs_second}
                        | {i: outcomes[i] for i in needs_second})
    assert len(shell.windows()) >= n_before + len(ids) - len(needs_second)
    crop = [w for w in shell.windows()
            if getattr(w.dataset.provenance.node, "op", "") == "image.crop"]
    assert crop[0].dataset.shape == (10, 20)
    for op_id in (i for i in ids if used[i] is src):
        # what ran is recorded; what was refused is not
        assert (f'mg.run("{op_id}", d1' in shell.session.text) == (op_id not in needs_second)
