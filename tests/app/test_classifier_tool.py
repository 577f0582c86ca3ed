"""The pixel classifier tool (app/classifier_tool.py): painting by API and by mouse drags,
training preview (not recorded), the recorded result equal to ``mg.run``, stacks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("sklearn")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

import micrographia as mg  # noqa: E402
from micrographia import replay  # noqa: E402
from micrographia.recorder import active_recorders  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_ops_classify import _ring, _textures  # noqa: E402

OP = "segment.pixel_classifier"
N = 96
STROKES = [  # (points, label, radius): like tests/test_ops_classify.py, on a 96-px image
    ([[10, 5], [20, 60]], 1, 2.0),
    ([[35, 50], [40, 90]], 1, 2.0),
    ([[60, 5], [62, 40]], 2, 2.0),
    ([[90, 5], [85, 40]], 2, 2.0),
    ([[68, 55], [76, 66]], 3, 2.0),
    ([[44, 5], [44, 90]], 1, 1.0),
    ([[52, 5], [52, 40]], 2, 1.0),
    (_ring(72, 60, 13.5), 3, 1.0),
]


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


@pytest.fixture
def textures():
    img, truth = _textures(seed=1, n=N)
    return mg.from_array(img, scale=0.5, units="nm", title="textures"), truth


def _open_tool(shell, dataset):
    win = shell.add_dataset(dataset)
    win.resize(640, 640)
    shell.set_active_window(win)
    tool = shell.open_operation_tool(OP)
    assert tool is not None and tool.isVisible()
    from PySide6.QtTest import QTest

    QTest.qWait(100)  # let the window's layout and the view's range settle before mouse work
    return win, tool


def _view_pos(view, y: float, x: float) -> QtCore.QPointF:
    """Viewport position of pixel coordinate (y, x) of the view's image."""
    ya, xa = view.dataset.sig_axes
    scene = view.view_box.mapViewToScene(
        QtCore.QPointF(xa.offset + x * xa.scale, ya.offset + y * ya.scale))
    return QtCore.QPointF(view.graphics.mapFromScene(scene))


def _send(widget, kind, pos, button, buttons):
    ev = QtGui.QMouseEvent(kind, pos, widget.mapToGlobal(pos.toPoint()).toPointF(), button,
                           buttons, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, ev)


def _drag(view, points, steps: int = 6):
    """A left-button mouse drag through the given (y, x) pixel positions.

    Moves are spaced in time like a real mouse's: pyqtgraph drops move events that come
    faster than its ``mouseRateLimit`` (100 per second by default).
    """
    from PySide6.QtTest import QTest

    vp = view.graphics.viewport()
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    T = QtCore.QEvent.Type  # noqa: N806
    start = _view_pos(view, *points[0])
    _send(vp, T.MouseMove, start, none, none)
    _send(vp, T.MouseButtonPress, start, left, left)
    last = start
    for a, b in zip(points[:-1], points[1:]):
        for t in np.linspace(0, 1, steps + 1)[1:]:
            last = _view_pos(view, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
            QTest.qWait(12)
            _send(vp, T.MouseMove, last, none, left)
    _send(vp, T.MouseButtonRelease, last, left, none)
    QtWidgets.QApplication.processEvents()


def _paint_all(tool):
    for pts, label, radius in STROKES:
        tool.add_stroke(pts, label=label, radius=radius)


def test_menu_entry_opens_the_tool_not_the_dialog(qtbot, shell, textures, monkeypatch):
    from micrographia.app import dialogs
    from micrographia.app.main_window import OPERATION_TOOLS

    assert OP in OPERATION_TOOLS
    monkeypatch.setattr(dialogs.OperationDialog, "exec",
                        lambda self: pytest.fail("the generic dialog must not open"))
    win = shell.add_dataset(textures[0])
    shell.set_active_window(win)
    started = []
    shell.runner.started.connect(started.append)
    assert shell.actions_by_name is not None
    shell.op_actions[OP].trigger()
    tool = win.tool("pixel_classifier")
    assert tool is not None and tool.isVisible() and not started
    assert tool.windowTitle() == "Pixel classifier — textures"
    assert tool.class_names()[:3] == ["particle", "support", "vacuum"]
    # nothing painted yet: training is not offered
    assert not tool.preview_button.isEnabled() and not tool.create_button.isEnabled()
    shell.op_actions[OP].trigger()  # the same tool is raised again
    assert win.tool("pixel_classifier") is tool
    tool.close()
    assert tool.stroke_item.scene() is None and tool.preview_item.scene() is None


def test_api_strokes_preview_and_recorded_result(qtbot, shell, textures):
    d, truth = textures
    win, tool = _open_tool(shell, d)
    _paint_all(tool)
    strokes = tool.strokes()
    assert len(strokes) == len(STROKES)
    assert strokes[0] == {"label": 1, "radius": 2.0, "points": [[10.0, 5.0], [20.0, 60.0]],
                          "frame": 0}
    painted = tool.stroke_overlay()
    assert painted[15, 32] == 1 and painted[72, 60] == 3 and painted[0, 95] == 0
    assert tool.preview_button.isEnabled() and tool.create_button.isEnabled()
    tool.trees_spin.setValue(30)
    with qtbot.waitSignal(tool.previewShown, timeout=30000):
        tool.train_preview()
    # the preview: labels over the image, not recorded
    assert OP not in shell.session.text
    assert "preview shown" in tool.status_label.text()
    # Create result: recorded, opens the label image
    windows = []
    shell.resultsOpened.connect(windows.extend)
    w = tool.create_result()
    qtbot.waitUntil(lambda: w.is_done() and bool(windows), timeout=30000)
    assert w.outcome == "finished"
    text = shell.session.text
    (line,) = [x for x in text.splitlines() if OP in x]
    # the same computed directly (this call is recorded too, after the line above)
    params = {"strokes": strokes, "sigmas": (1.0, 2.0, 4.0, 8.0), "n_estimators": 30}
    expected = mg.run(OP, d, **params)
    prev = tool.preview_dataset()
    np.testing.assert_array_equal(prev.numpy(), expected.numpy())
    acc = (prev.numpy() == truth).mean()
    assert acc > 0.93, acc
    overlay = tool.preview_overlay()
    assert overlay.shape == (N, N, 4) and tool.preview_item.isVisible()
    assert 0 < tool.preview_item.opacity() < 1
    from micrographia.app.classifier_tool import CLASS_COLOURS

    lab = expected.numpy()
    for c in (1, 2, 3):
        np.testing.assert_array_equal(overlay[lab == c][:, :3],
                                      np.broadcast_to(CLASS_COLOURS[c - 1], ((lab == c).sum(), 3)))
    assert tool.status_label.text() == "Result created (recorded in the session log)"
    (res,) = windows
    np.testing.assert_array_equal(res.dataset.numpy(), expected.numpy())
    assert res.dataset.axes == d.axes and res.dataset.dtype == np.int32
    assert line.startswith(f'd2 = mg.run("{OP}", d1, strokes=({{"label": 1, "radius": 2.0, '
                           '"points": ((10.0, 5.0), (20.0, 60.0)), "frame": 0}')
    assert 'n_estimators=30' in line and 'output="labels"' in line
    # the recorded line replays to the same labels (d1 is the dataset made in memory here)
    program = replay.parse(f"import micrographia as mg\nd1 = mg.open({str(_saved(d))!r})\n"
                           f"{line}\n", path="log.py")
    out = replay.run_program(program)
    np.testing.assert_array_equal(out.variables["d2"].numpy(), expected.numpy())


_SAVED: dict[int, Path] = {}


def _saved(d) -> Path:
    import tempfile

    if id(d) not in _SAVED:
        _SAVED[id(d)] = mg.save(d, Path(tempfile.mkdtemp()) / "textures.hspy")
    return _SAVED[id(d)]


def test_mouse_drags_paint_strokes(qtbot, shell, textures):
    d, _ = textures
    win, tool = _open_tool(shell, d)
    view = win.view
    tool.set_label(2)
    tool.set_radius(3.0)
    _drag(view, [(20.0, 10.0), (20.0, 50.0), (40.0, 50.0)])
    (s,) = tool.strokes()
    assert s["label"] == 2 and s["radius"] == 3.0 and s["frame"] == 0
    pts = np.array(s["points"])
    assert len(pts) >= 3
    np.testing.assert_allclose(pts[0], [20, 10], atol=0.6)
    np.testing.assert_allclose(pts[-1], [40, 50], atol=0.6)
    # every point lies on the dragged path (two straight segments)
    on_first = (np.abs(pts[:, 0] - 20) < 0.6) & (pts[:, 1] > 9) & (pts[:, 1] < 51)
    on_second = (np.abs(pts[:, 1] - 50) < 0.6) & (pts[:, 0] > 19) & (pts[:, 0] < 41)
    assert np.all(on_first | on_second)
    painted = tool.stroke_overlay()
    assert painted[20, 30] == 2 and painted[30, 50] == 2 and painted[30, 30] == 0
    rgba = tool.stroke_item.image
    assert rgba[20, 30, 3] > 0 and rgba[30, 30, 3] == 0  # translucent colour only on strokes
    # keys 1..9 pick the class; a second drag paints class 1
    tool.set_label(1)
    _drag(view, [(70.0, 10.0), (70.0, 40.0)])
    assert [t["label"] for t in tool.strokes()] == [2, 1]
    # the eraser stroke has label 0 and unpaints
    tool.eraser_check.setChecked(True)
    _drag(view, [(20.0, 25.0), (20.0, 35.0)])
    assert tool.strokes()[-1]["label"] == 0
    assert tool.stroke_overlay()[20, 30] == 0 and tool.stroke_overlay()[20, 15] == 2
    tool.undo_stroke()
    assert len(tool.strokes()) == 2 and tool.stroke_overlay()[20, 30] == 2
    # with painting off a drag pans the view and paints nothing
    tool.paint_check.setChecked(False)
    before = view.view_box.viewRange()
    _drag(view, [(50.0, 50.0), (50.0, 70.0)])
    assert len(tool.strokes()) == 2
    assert view.view_box.viewRange() != before
    tool.clear_strokes()
    assert tool.strokes() == [] and not tool.stroke_overlay().any()


def test_strokes_from_drags_train_like_mg_run(qtbot, shell, textures):
    d, truth = textures
    win, tool = _open_tool(shell, d)
    for pts, label, radius in STROKES[:5]:
        tool.set_label(label)
        tool.set_radius(radius)
        _drag(win.view, pts)
    strokes = tool.strokes()
    assert [s["label"] for s in strokes] == [1, 1, 2, 2, 3]
    tool.trees_spin.setValue(20)
    with qtbot.waitSignal(tool.previewShown, timeout=30000):
        tool.train_preview()
    direct = mg.run(OP, d, strokes=strokes, n_estimators=20)
    np.testing.assert_array_equal(tool.preview_dataset().numpy(), direct.numpy())
    assert (direct.numpy() == truth).mean() > 0.85


def test_stack_strokes_follow_the_frame(qtbot, shell):
    frames = [_textures(seed=s, n=64)[0] for s in (1, 2, 3)]
    stack = mg.from_array(np.stack(frames), scale=0.5, units="nm", title="stack")
    win, tool = _open_tool(shell, stack)
    view = win.view
    view.set_index([2])
    tool.add_stroke([[8, 5], [20, 50]], label=1, radius=2)
    tool.add_stroke([[45, 5], [60, 20]], label=2, radius=2)
    assert [s["frame"] for s in tool.strokes()] == [2, 2]
    assert tool.stroke_overlay()[14, 27] == 1
    view.set_index([0])
    assert not tool.stroke_overlay().any()  # strokes of frame 2 are not drawn on frame 0
    tool.trees_spin.setValue(10)
    tool.output_combo.setCurrentIndex(1)  # probabilities for Create, labels for the preview
    with qtbot.waitSignal(tool.previewShown, timeout=30000):
        tool.train_preview()
    prev = tool.preview_dataset().numpy()
    assert prev.shape == (3, 64, 64)
    first = tool.preview_overlay().copy()
    view.set_index([1])
    assert not np.array_equal(tool.preview_overlay(), first)  # the overlay follows the frame
    windows = []
    shell.resultsOpened.connect(windows.extend)
    w = tool.create_result()
    qtbot.waitUntil(lambda: w.is_done() and bool(windows), timeout=30000)
    probs = windows[0].dataset
    assert probs.shape == (3, 2, 64, 64) and probs.nav_axes[1].name == "class"
    np.testing.assert_array_equal(np.argmax(probs.numpy(), axis=1) + 1, prev)
    assert 'output="probabilities"' in shell.session.text
    win.close()  # the tool closes with its image window
    assert not tool.isVisible()


def test_bad_options_are_reported_in_the_tool(qtbot, shell, textures):
    win, tool = _open_tool(shell, textures[0])
    _paint_all(tool)
    tool.sigmas_edit.setText("1, two")
    assert tool.train_preview() is None
    assert "numbers" in tool.status_label.text()
    tool.sigmas_edit.setText("0.01")
    with qtbot.waitSignal(tool.previewFailed, timeout=30000) as blocker:
        tool.train_preview()
    assert "between 0.3 and 256" in blocker.args[0]
    assert "Preview failed" in tool.status_label.text()
