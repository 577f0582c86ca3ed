"""Alignment in the app (app/align_tools.py): the drift plot of ``alignment.register_stack``'s
shifts table and the point-pair tool (pairs by API and by mouse clicks, recorded register)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

import micrographia as mg  # noqa: E402
from micrographia.errors import ParameterError  # noqa: E402
from micrographia.recorder import active_recorders  # noqa: E402

THETA = 4.0  # degrees, counter-clockwise as displayed (register_pair's convention)
SHIFT = np.array([5.3, -3.7])  # (x, y) px
N = 128
JUMP_FRAME = 7


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


def _wait_windows(shell, qtbot, start):
    got = []
    shell.resultsOpened.connect(got.extend)
    try:
        watcher = start()
        assert watcher is not None
        qtbot.waitUntil(lambda: watcher.is_done() and bool(got), timeout=30000)
    finally:
        shell.resultsOpened.disconnect(got.extend)
    assert watcher.outcome == "finished", shell.errors
    return got


# -- drift plot ------------------------------------------------------------------------------
def _drift_stack():
    rng = np.random.default_rng(7)
    base = ndi.gaussian_filter(rng.standard_normal((64, 64)), 2.0)
    n = 14
    dx = 0.35 * np.arange(n)
    dy = -0.2 * np.arange(n) + 0.01 * np.arange(n) ** 2
    dx[JUMP_FRAME] += 5.0
    dy[JUMP_FRAME] -= 4.0
    frames = [ndi.shift(base, (y, x), order=3, mode="grid-wrap") for x, y in zip(dx, dy)]
    return mg.from_array(np.stack(frames), signal_dims=2, scale=0.25, units="nm",
                         title="drift"), dx, dy


def test_drift_outliers_rule():
    from micrographia.app.align_tools import drift_outliers

    n = 40
    t = np.arange(n, dtype=float)
    dx, dy = 0.1 * t, 0.02 * t ** 1.5
    dx[12] += 1.0  # 1 px jump: > 4 × max(MAD spread, 0.1 px)
    q = np.full(n, 0.8)
    q[30] = 0.2  # < 0.5 × median
    r = drift_outliers(dx, dy, q)
    assert np.flatnonzero(r["jump"]).tolist() == [12]
    assert np.flatnonzero(r["low_quality"]).tolist() == [30]
    assert np.flatnonzero(r["outlier"]).tolist() == [12, 30]
    assert float(r["quality_threshold"]) == pytest.approx(0.4)
    np.testing.assert_allclose(r["smooth_dx"][16:25], dx[16:25], atol=1e-12)  # linear drift
    dx[12] -= 0.7  # 0.3 px: below k × min_spread = 0.4 px, not flagged
    assert not drift_outliers(dx, dy)["outlier"].any()
    with pytest.raises(ParameterError, match="same length"):
        drift_outliers(dx, dy[:-1])
    with pytest.raises(ParameterError, match="window"):
        drift_outliers(dx, dy, window=1)
    with pytest.raises(ParameterError, match="one value per frame"):
        drift_outliers(dx, dy, q[:-1])


def test_drift_plot_opens_with_the_shifts_table(shell, qtbot, tmp_path):
    from micrographia.app.align_tools import DriftPlotWindow, is_shifts_table

    d, dx, dy = _drift_stack()
    win = shell.add_dataset(d)
    got = _wait_windows(shell, qtbot, lambda: shell.run_operation(
        "alignment.register_stack", [d], {}, target=win))
    (tw,) = [w for w in got if hasattr(w, "table")]
    table = tw.table
    assert is_shifts_table(table)
    # the registration found the planted drift (content shift = +dx, +dy)
    np.testing.assert_allclose(np.asarray(table["dx"]), dx, atol=0.1)
    np.testing.assert_allclose(np.asarray(table["dy"]), dy, atol=0.1)
    (plot,) = [p for p in tw.plots() if isinstance(p, DriftPlotWindow)]
    curves = plot.curve_data()
    frames = np.asarray(table["frame"], dtype=float)
    for name in ("dx", "dy", "quality"):
        np.testing.assert_array_equal(curves[name][0], frames)
        np.testing.assert_array_equal(curves[name][1], np.asarray(table[name], dtype=float))
    assert plot.outlier_frames() == [JUMP_FRAME]
    mx, my = plot.outlier_markers()
    np.testing.assert_array_equal(mx, [JUMP_FRAME, JUMP_FRAME])
    np.testing.assert_allclose(my, [table["dx"][JUMP_FRAME], table["dy"][JUMP_FRAME]])
    assert f"1 outlier frame(s): {JUMP_FRAME} (jump" in plot.status_label.text()
    plot.set_calibrated(True)
    curves = plot.curve_data()
    np.testing.assert_allclose(curves["dx"][1], np.asarray(table["dx_cal"]))
    np.testing.assert_allclose(curves["dx"][1], 0.25 * np.asarray(table["dx"]), rtol=1e-6)
    assert plot.plot.getPlotItem().getAxis("left").labelText == "shift (nm)"
    if os.environ.get("MICROGRAPHIA_SCREENSHOTS"):
        plot.grab().save(str(tmp_path / "drift.png"))
    # a table that is not a shifts table gets no drift plot
    assert not is_shifts_table(mg.Table({"frame": [0, 1], "dx": [0.0, 1.0]}))


# -- point pairs -----------------------------------------------------------------------------
def _pair_images():
    """A smooth random image and its copy rotated by THETA and shifted by SHIFT."""
    rng = np.random.default_rng(3)
    ref = ndi.gaussian_filter(rng.standard_normal((N, N)), 3.0)
    th = math.radians(THETA)
    c, s = math.cos(th), math.sin(th)
    a = np.eye(3)  # reference (x, y) -> moving (x, y): linear part R(-theta) (y down)
    a[:2, :2] = [[c, s], [-s, c]]
    a[:2, 2] = SHIFT
    ai = np.linalg.inv(a)
    swap = np.array([[0, 1], [1, 0]])  # (x, y) <-> (row, col)
    mov = ndi.affine_transform(ref, swap @ ai[:2, :2] @ swap, offset=swap @ ai[:2, 2], order=3)
    r = mg.from_array(ref, scale=0.5, units="nm", title="reference")
    m = mg.from_array(mov, scale=0.5, units="nm", title="moving")
    return r, m, a


REF_POINTS = [(30.0, 20.0), (25.0, 100.0), (100.0, 60.0), (90.0, 30.0)]  # (y, x)


def _truth_pairs(a):
    out = []
    for y, x in REF_POINTS:
        xm, ym = (a @ [x, y, 1.0])[:2]
        out.append((y, x, float(ym), float(xm)))
    return out


def _open_tool(shell):
    r, m, a = _pair_images()
    rw = shell.add_dataset(r)
    mw = shell.add_dataset(m)
    shell.set_active_window(rw)
    shell.actions_by_name["point_pairs"].trigger()
    from micrographia.app.align_tools import PointPairTool, open_point_pair_tool

    tool = open_point_pair_tool(shell)  # the one the menu opened
    assert isinstance(tool, PointPairTool) and tool.isVisible()
    assert tool.reference_window is rw and tool.moving_window is mw
    return tool, rw, mw, a


def _check_registration(shell, qtbot, tool, a):
    got = _wait_windows(shell, qtbot, tool.register)
    (tw,) = [w for w in got if hasattr(w, "table")]
    (iw,) = [w for w in got if not hasattr(w, "table")]
    t = tw.table
    ctr = np.array([(N - 1) / 2, (N - 1) / 2, 1.0])
    true_dx, true_dy = (a @ ctr)[:2] - ctr[:2]
    assert abs(t["rotation"][0] - THETA) < 0.05
    assert abs(t["dx"][0] - true_dx) < 0.05 and abs(t["dy"][0] - true_dy) < 0.05
    assert t["ncc"][0] > 0.98
    assert "Registered (recorded in the session log): rotation" in tool.status_label.text()
    assert iw.dataset.shape == (N, N)
    lines = [x for x in shell.session.text.splitlines() if "alignment.register_pair" in x]
    assert len(lines) == 1
    assert 'mg.run("alignment.register_pair", d1, d2, method="points"' in lines[0]
    assert "points=((" in lines[0] and 'model="euclidean"' in lines[0]
    return t


def test_point_pairs_by_api(shell, qtbot):
    tool, rw, mw, a = _open_tool(shell)
    tool.set_model("euclidean")
    assert not tool.register_button.isEnabled()
    truth = _truth_pairs(a)
    tool.add_pair(*truth[0])
    assert not tool.register_button.isEnabled()  # euclidean needs 2
    assert tool.register() is None and "at least 2" in tool.status_label.text()
    tool.add_pair(0, 0, 1, 1)
    tool.remove_last()
    for p in truth[1:]:
        tool.add_pair(*p)
    assert tool.pairs() == truth
    assert tool.register_button.isEnabled()
    # numbered markers on both images, at the pixel positions
    assert len(tool.ref_markers.labels) == len(tool.mov_markers.labels) == len(truth)
    assert [t.toPlainText() for t in tool.mov_markers.labels] == ["1", "2", "3", "4"]
    x, y = tool.mov_markers.items.getData()
    np.testing.assert_allclose(x, [0.5 * p[3] for p in truth])
    np.testing.assert_allclose(y, [0.5 * p[2] for p in truth])
    with pytest.raises(ParameterError):
        tool.set_model("projective")
    with pytest.raises(ParameterError):
        tool.add_pair(1, 2, float("nan"), 3)
    _check_registration(shell, qtbot, tool, a)


def _click(qtbot, view, y, x):
    """Zoom the view around pixel (y, x), then click there with the left button."""
    ya, xa = view.dataset.axes[-2], view.dataset.axes[-1]
    vx, vy = xa.offset + x * xa.scale, ya.offset + y * ya.scale
    view.view_box.setRange(xRange=(vx - 2.0, vx + 2.0), yRange=(vy - 2.0, vy + 2.0),
                           padding=0)
    QtWidgets.QApplication.processEvents()
    scene = view.view_box.mapViewToScene(QtCore.QPointF(vx, vy))
    pos = view.graphics.mapFromScene(scene)
    qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    QtWidgets.QApplication.processEvents()


def test_point_pairs_by_mouse_clicks(shell, qtbot, tmp_path):
    tool, rw, mw, a = _open_tool(shell)
    for w in (rw, mw):
        w.resize(600, 600)
    QtWidgets.QApplication.processEvents()
    tool.set_model("euclidean")
    truth = _truth_pairs(a)
    _click(qtbot, mw.view, 50, 50)  # the moving image first: nothing is added
    assert tool.pairs() == [] and "reference first" in tool.status_label.text()
    for yr, xr, ym, xm in truth:
        _click(qtbot, rw.view, yr, xr)
        assert tool.pending() is not None
        _click(qtbot, mw.view, ym, xm)
        assert tool.pending() is None
    got = np.array(tool.pairs())
    assert got.shape == (len(truth), 4)
    np.testing.assert_allclose(got, truth, atol=0.03)  # a screen pixel is ~0.015 image px
    if os.environ.get("MICROGRAPHIA_SCREENSHOTS"):
        rw.view.view_box.autoRange()
        mw.view.view_box.autoRange()
        QtWidgets.QApplication.processEvents()
        tool.grab().save(str(tmp_path / "tool.png"))
        mw.grab().save(str(tmp_path / "moving.png"))
    _check_registration(shell, qtbot, tool, a)
