"""Display tools and Plot Profile in the menus of every window; recording and undo."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6 import QtGui, QtWidgets  # noqa: E402

import micrographia as mg  # noqa: E402
from micrographia import io as mio  # noqa: E402
from micrographia.dataset import Axis  # noqa: E402
from micrographia.io.render import auto_clim  # noqa: E402
from micrographia.recorder import active_recorders  # noqa: E402

MENU_PATHS = {
    "brightness_contrast": (("Image", "Adjust", "Brightness/Contrast…"), "Ctrl+Shift+C"),
    "histogram": (("Analyze", "Histogram"), "Ctrl+H"),
    "plot_profile": (("Analyze", "Plot Profile"), "Ctrl+K"),
}


@pytest.fixture
def shell(qtbot, monkeypatch):
    from micrographia.app import MainWindow

    monkeypatch.setattr(QtWidgets.QMessageBox, "exec",
                        lambda self: QtWidgets.QMessageBox.StandardButton.Ok)
    w = MainWindow(recover=False)
    w.show()
    yield w
    w.close()
    assert not (w.session and w.session.recorder in active_recorders())


def _menu_actions(menubar):
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


def _submenu(menubar, *path):
    menu = None
    actions = menubar.actions()
    for name in path:
        menu = next(a.menu() for a in actions
                    if a.menu() is not None and a.text().replace("&", "") == name)
        actions = menu.actions()
    return menu


def _write(tmp_path, data, name="img.hspy", nav=0):
    ny, nx = data.shape[-2:]
    axes = [Axis("frame", n, 1.0, 0.0, "", True) for n in data.shape[:-2]]
    axes += [Axis("y", ny, 0.5, 0.0, "nm", False), Axis("x", nx, 0.25, 0.0, "nm", False)]
    path = tmp_path / name
    mio.write(mg.Dataset(data, axes=axes, title=name.split(".")[0]), path)  # not recorded
    return path


@pytest.fixture
def image_path(tmp_path):
    rng = np.random.default_rng(7)
    return _write(tmp_path, rng.gamma(2.0, 40.0, size=(48, 64)).astype(np.float32))


@pytest.fixture
def stack_path(tmp_path):
    rng = np.random.default_rng(8)
    data = rng.gamma(2.0, 40.0, size=(4, 32, 40)).astype(np.float32)
    data *= np.arange(1, 5, dtype=np.float32)[:, None, None]
    return _write(tmp_path, data, "stack.hspy")


def test_menu_actions_with_shortcuts_in_every_window(shell, image_path):
    for name, (path, key) in MENU_PATHS.items():
        act = _action(shell.menuBar(), *path)
        assert act is shell.actions_by_name[name]
        assert act.shortcut() == QtGui.QKeySequence(key)
        assert not act.isEnabled()  # nothing open
    (win,) = shell.open(image_path)
    for _name, (path, _key) in MENU_PATHS.items():
        for bar in (shell.menuBar(), win.menuBar()):
            assert _action(bar, *path).isEnabled()
    # the Colormaps menu of the image window: grey, viridis, ..., Invert; checks follow
    cm = _submenu(win.menuBar(), "Image", "Colormaps")
    cm.aboutToShow.emit()
    names = [a.text() for a in cm.actions() if not a.isSeparator()]
    assert names[-1] == "Invert" and "viridis" in names and len(names) >= 9
    assert all(a.isEnabled() for a in cm.actions() if not a.isSeparator())
    assert _action(win.menuBar(), "Image", "Colormaps", "grey").isChecked()
    win.close()
    assert not shell.actions_by_name["histogram"].isEnabled()


def test_viridis_from_menu_is_recorded_and_undoable(shell, image_path):
    (win,) = shell.open(image_path)
    view = win.view
    _submenu(win.menuBar(), "Image", "Colormaps").aboutToShow.emit()
    _action(win.menuBar(), "Image", "Colormaps", "viridis").trigger()
    assert view.display_settings()["cmap"] == "viridis"
    win.flush_display()
    assert shell.session.text.splitlines()[-1] == 'mg.display(d1, cmap="viridis")'
    assert mg.display_settings(win.dataset)["cmap"] == "viridis"
    # Invert from the menu too
    _action(win.menuBar(), "Image", "Colormaps", "Invert").trigger()
    assert view.display_settings()["invert"] is True
    win.flush_display()
    assert shell.session.text.splitlines()[-1] == "mg.display(d1, invert=True)"
    shell.undo()
    assert view.display_settings()["invert"] is False
    shell.undo()
    assert view.display_settings()["cmap"] in ("grey", "gray")
    # the menu acts on the active window only
    (win2,) = shell.open(image_path)
    _action(win.menuBar(), "Image", "Colormaps", "magma").trigger()  # win2 is active
    assert win2.view.display_settings()["cmap"] == "magma"
    assert view.display_settings()["cmap"] in ("grey", "gray")


def test_brightness_contrast_auto_recorded_and_one_per_window(shell, image_path):
    (win,) = shell.open(image_path)
    _action(win.menuBar(), "Image", "Adjust", "Brightness/Contrast…").trigger()
    dlg = win.tool("brightness_contrast")
    assert dlg is not None and dlg.isVisible() and dlg.view is win.view
    # again: the same dialog
    assert shell.show_brightness_contrast() is dlg
    frame = win.view.current_frame()
    lo, hi = dlg.auto(1.0)
    assert (lo, hi) == auto_clim(frame, 1.0)
    p_lo, p_hi = np.percentile(frame.astype(np.float64), [0.5, 99.5])
    assert lo == pytest.approx(p_lo, rel=1e-3) and hi == pytest.approx(p_hi, rel=1e-3)
    assert win.view.display_settings()["clim"] == (lo, hi)
    win.flush_display()
    last = shell.session.text.splitlines()[-1]
    assert last == f"mg.display(d1, auto_saturation=1.0, clim=({lo!r}, {hi!r}))"
    assert mg.display_settings(win.dataset)["clim"] == pytest.approx((lo, hi))
    # undo gives the previous range back
    shell.undo()
    assert win.view.display_settings()["clim"] != (lo, hi)
    # the tool window closes with its image window
    win.close()
    assert not dlg.isVisible()


def test_histogram_follows_stack_slider_and_closes_with_window(qtbot, shell, stack_path):
    (win,) = shell.open(stack_path)
    _action(win.menuBar(), "Analyze", "Histogram").trigger()
    hist = win.tool("histogram")
    assert hist is not None and hist.isVisible()
    assert shell.show_histogram() is hist

    def check(frame):
        v = np.asarray(frame, dtype=np.float64)
        s = hist.statistics()
        assert s["count"] == v.size
        assert s["min"] == pytest.approx(v.min()) and s["max"] == pytest.approx(v.max())
        assert s["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert s["std"] == pytest.approx(v.std(), rel=1e-12)
        assert s["median"] == pytest.approx(np.median(v))

    data = win.dataset.numpy()
    check(data[0])
    win.view.sliders[0].setValue(3)
    qtbot.waitUntil(lambda: hist.statistics()["max"] == pytest.approx(float(data[3].max())))
    check(data[3])
    # each image window has its own histogram
    (win2,) = shell.open(stack_path)
    hist2 = shell.show_histogram()
    assert hist2 is not hist and hist2.view is win2.view
    win.close()
    assert not hist.isVisible() and hist2.isVisible()


def test_plot_profile_from_menu_draws_default_line_and_follows(qtbot, shell, stack_path,
                                                               tmp_path):
    (win,) = shell.open(stack_path)
    view = win.view
    assert view.line_roi() is None
    _action(win.menuBar(), "Analyze", "Plot Profile").trigger()
    pw = win.tool("profile")
    assert pw is not None and pw.isVisible()
    line = view.line_roi()
    assert line is not None and line["start"][0] == line["end"][0]
    data = win.dataset.numpy()
    px = view.line_roi_pixels()
    from micrographia.app.profile import line_profile

    np.testing.assert_allclose(pw.profile()[1], line_profile(data[0], px["start"], px["end"]))
    # a line across row 10, 3 px wide: the mean of rows 9..11
    view.set_line_roi((5.0, 0.5), (5.0, 9.0), width=3)  # y = 10 px, x = 2 .. 36 px
    np.testing.assert_allclose(pw.profile()[1], data[0, 9:12, 2:37].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pw.profile()[0], 0.25 * np.arange(35), atol=1e-9)
    view.sliders[0].setValue(2)
    np.testing.assert_allclose(pw.profile()[1], data[2, 9:12, 2:37].mean(axis=0), rtol=1e-6)
    # undo/redo or an operation replacing the dataset: the profile is recomputed
    win.replace_dataset(win.dataset.replace(data=data * 2.0))
    np.testing.assert_allclose(pw.profile()[1], 2 * data[2, 9:12, 2:37].mean(axis=0),
                               rtol=1e-6)
    shell.undo()
    np.testing.assert_allclose(pw.profile()[1], data[2, 9:12, 2:37].mean(axis=0), rtol=1e-6)
    out = pw.save_csv(tmp_path / "p.csv")
    table = mio.read_table(out)
    np.testing.assert_allclose(table["value"], pw.profile()[1], rtol=1e-12)
    win.close()
    assert not pw.isVisible()


def test_crop_dialog_needs_a_region_and_takes_the_roi(qtbot, shell, image_path):
    from micrographia.app.dialogs import OperationDialog, ParamMemory

    (win,) = shell.open(image_path)
    op = mg.operation("image.crop")
    dlg = OperationDialog(op, win.dataset, memory=ParamMemory())
    qtbot.addWidget(dlg)
    assert not dlg.ok_button().isEnabled()
    assert "no region" in dlg.errors()["region"]
    assert dlg._errors["region"].isVisibleTo(dlg)
    win.view.set_roi_region({"y": (2.0, 10.0), "x": (1.0, 5.0)})
    dlg.set_region(win.view.roi_region())
    assert dlg.ok_button().isEnabled() and not dlg.errors()
    out = mg.run("image.crop", *dlg.inputs(), **dlg.values())
    assert out.shape == (16, 16)
    # the shell prefills the dialog from the view's ROI
    seen = {}

    def fake_exec(self):
        seen["ok"] = self.ok_button().isEnabled()
        seen["region"] = self.values()["region"]
        return QtWidgets.QDialog.DialogCode.Rejected

    import micrographia.app.dialogs as dialogs

    orig = dialogs.OperationDialog.exec
    dialogs.OperationDialog.exec = fake_exec
    try:
        assert shell.run_operation_dialog("image.crop") is None
    finally:
        dialogs.OperationDialog.exec = orig
    assert seen == {"ok": True, "region": {"y": (2.0, 10.0), "x": (1.0, 5.0)}}
