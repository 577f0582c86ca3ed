"""Result tables in the app: sorting, statistics, histogram/scatter/scree plots, markers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6 import QtCore, QtWidgets  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

import micrographia as mg  # noqa: E402
from micrographia.app import results  # noqa: E402
from micrographia.app.image_window import TableWindow  # noqa: E402
from micrographia.dataset import Axis  # noqa: E402
from micrographia.errors import ParameterError  # noqa: E402
from micrographia.recorder import active_recorders  # noqa: E402

SY, SX = 0.5, 0.25  # nm per pixel
OY, OX = 10.0, -3.0  # nm
NY, NX = 64, 80


# -- fixtures and data -------------------------------------------------------------------
@pytest.fixture
def shell(qtbot, monkeypatch):
    from micrographia.app import MainWindow

    monkeypatch.setattr(QtWidgets.QMessageBox, "exec",
                        lambda self: QtWidgets.QMessageBox.StandardButton.Ok)
    w = MainWindow(recover=False, interactive=False)
    w.show()
    yield w
    w.close()
    assert not (w.session and w.session.recorder in active_recorders())


def _spots(centres: np.ndarray, sigma: float = 1.6, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:NY, 0:NX].astype(np.float64)
    img = np.random.default_rng(seed).normal(0.0, 0.01, (NY, NX))
    for k, (y, x) in enumerate(centres):
        img += (1.0 + 0.1 * k) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return img


CENTRES = np.array([[12.3, 15.7], [20.0, 60.2], [40.6, 33.1], [50.2, 70.4], [30.9, 9.8]])


def _image(data: np.ndarray, sx: float = SX, title: str = "spots") -> mg.Dataset:
    axes = [Axis(f"t{i}", n, 1.0, 0.0, "", True) for i, n in enumerate(data.shape[:-2])]
    axes += [Axis("y", NY, SY, OY, "nm", False), Axis("x", NX, sx, OX, "nm", False)]
    # from_array gives the dataset a provenance, as in the app
    return mg.from_array(data, signal_dims=2, title=title).replace(axes=tuple(axes))


def _run(qtbot, shell, op_id, inputs, params, target):
    with qtbot.waitSignal(shell.resultsOpened, timeout=60000) as blocker:
        shell.run_operation(op_id, inputs, params, target=target)
    assert not shell.errors, shell.errors
    return blocker.args[0]


def _table_window(wins) -> TableWindow:
    (tw,) = [w for w in wins if isinstance(w, TableWindow)]
    return tw


# -- sorting and the status line ---------------------------------------------------------
def test_columns_sort_numerically_and_rows_map_back(qtbot):
    t = mg.Table({"v": np.array([10.0, 9.0, 100.0, np.nan, 2.5]),
                  "n": np.array([3, 20, 100, 1, 7]), "s": np.array(list("bdace"))},
                 units={"v": "nm"}, title="t")
    tw = TableWindow(t)
    qtbot.addWidget(tw)
    assert tw.displayed_order() == [0, 1, 2, 3, 4]
    tw.sort_by("v")  # text order would be 10, 100, 2.5, 9
    assert tw.displayed_order() == [4, 1, 0, 2, 3]  # NaN last
    assert [tw.widget.item(r, 0).text() for r in range(5)] == ["2.5", "9", "10", "100", "nan"]
    tw.sort_by("n", descending=True)
    assert tw.displayed_order() == [2, 1, 4, 0, 3]
    tw.sort_by("s")
    assert tw.displayed_order() == [2, 0, 3, 1, 4]
    # clicking a header sorts too (Qt's sortByColumn is what the click calls)
    tw.widget.sortByColumn(1, QtCore.Qt.SortOrder.AscendingOrder)
    assert tw.displayed_order() == [3, 0, 4, 1, 2]
    # the row numbers shown follow the rows; copy/save keep the table's order
    assert [tw.widget.verticalHeaderItem(r).text() for r in range(5)] == ["4", "1", "5", "2", "3"]
    assert tw.text().splitlines()[1] == "10.0\t3\tb"
    with pytest.raises(Exception, match="no column 'zz'"):
        tw.sort_by("zz")


def test_status_line_gives_count_mean_and_std_of_the_selection(qtbot):
    rng = np.random.default_rng(4)
    area = rng.uniform(1, 9, 12)
    t = mg.Table({"label": np.arange(1, 13), "area": area}, units={"area": "nm²"})
    tw = TableWindow(t)
    qtbot.addWidget(tw)
    tw.widget.horizontalHeader().sectionClicked.emit(1)
    assert tw.current_column() == "area"
    all_text = tw.summary_text()
    assert all_text.startswith("12 rows · area: mean ")
    assert f"{area.mean():.6g} ± {area.std(ddof=1):.4g} nm²" in all_text
    tw.sort_by("area", descending=True)
    tw.select_rows([2, 5, 7])
    assert tw.selected_rows() == [2, 5, 7]
    sel = area[[2, 5, 7]]
    text = tw.status_label.text()
    assert text.startswith("12 rows, 3 selected · area:")
    assert f"{sel.mean():.6g} ± {sel.std(ddof=1):.4g} nm² (n = 3, selected)" in text
    s = results.column_statistics(np.r_[area, np.nan])
    assert s["count"] == 12 and s["median"] == pytest.approx(np.median(area))


# -- histogram and scatter -------------------------------------------------------------------
def test_histogram_counts_equal_numpy_histogram(qtbot):
    rng = np.random.default_rng(7)
    d = rng.gamma(3.0, 2.0, 300)
    d[[5, 50]] = np.nan
    t = mg.Table({"equivalent_diameter": d, "eccentricity": rng.random(300),
                  "name": np.array(["a"] * 300)}, units={"equivalent_diameter": "nm"})
    tw = TableWindow(t)
    qtbot.addWidget(tw)
    h = tw.show_histogram("equivalent_diameter", 17)
    finite = d[np.isfinite(d)]
    counts, edges = np.histogram(finite, bins=17)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_allclose(h.edges, edges)
    x, y = h.curve.getData()
    np.testing.assert_allclose(x, edges)
    np.testing.assert_array_equal(y, counts)
    assert h.plot.getPlotItem().getAxis("bottom").labelText == "equivalent_diameter (nm)"
    assert h.mean_line.value() == pytest.approx(finite.mean())
    assert h.median_line.value() == pytest.approx(np.median(finite))
    assert "n = 298 (2 not finite)" in h.stats_label.text()
    # the user changes the bin count and the column
    h.bins_spin.setValue(5)
    np.testing.assert_array_equal(h.counts, np.histogram(finite, bins=5)[0])
    h.column_combo.setCurrentIndex(h.columns.index("eccentricity"))
    e = np.asarray(t["eccentricity"])
    np.testing.assert_array_equal(h.counts, np.histogram(e, bins=h.bins)[0])
    assert h.plot.getPlotItem().getAxis("bottom").labelText == "eccentricity"
    assert "name" not in h.columns  # text columns cannot be histogrammed
    with pytest.raises(ParameterError, match="bins must be"):
        h.set_column("eccentricity", 0)
    with pytest.raises(ParameterError, match="not numeric"):
        h.set_column("name")
    assert h in tw.plots()
    tw.close()
    assert not h.isVisible()


def test_scatter_plots_one_column_against_another(qtbot):
    rng = np.random.default_rng(1)
    a, b = rng.random(40), rng.random(40)
    b[3] = np.inf
    tw = TableWindow(mg.Table({"area": a, "perimeter": b}, units={"area": "nm²"}))
    qtbot.addWidget(tw)
    s = tw.show_scatter("area", "perimeter")
    keep = np.isfinite(b)
    x, y = s.points.getData()
    np.testing.assert_array_equal(x, a[keep])
    np.testing.assert_array_equal(y, b[keep])
    assert s.plot.getPlotItem().getAxis("bottom").labelText == "area (nm²)"
    s.set_columns("perimeter", "area")
    np.testing.assert_array_equal(s.points.getData()[0], b[keep])
    assert "39 points" in s.info_label.text()


# -- markers over the image ------------------------------------------------------------------
@pytest.mark.parametrize("sx", [SX, -SX])  # a negative scale is drawn mirrored
def test_peak_markers_sit_on_the_pixels_of_the_view(qtbot, shell, sx):
    d = _image(_spots(CENTRES), sx=sx)
    win = shell.add_dataset(d)
    wins = _run(qtbot, shell, "peaks.find", [d], {"min_distance": 4, "threshold_rel": 0.3},
                target=win)
    tw = _table_window(wins)
    t = tw.table
    assert len(t) == len(CENTRES)
    ov = tw.markers
    assert ov is not None and ov.window is win and tw.markers_check.isChecked()
    mx, my, rows = ov.marker_data()
    np.testing.assert_array_equal(rows, np.arange(len(t)))
    np.testing.assert_allclose(mx, OX + sx * np.asarray(t["x"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(my, OY + SY * np.asarray(t["y"]), rtol=0, atol=1e-9)
    # the same point as the centre of the pixel the ImageItem draws for (x, y)
    item = win.view.image_item
    for k in range(len(t)):
        p = item.mapToView(QtCore.QPointF(t["x"][k] + 0.5, t["y"][k] + 0.5))
        assert (p.x(), p.y()) == pytest.approx((mx[k], my[k]), abs=1e-9)
    # and on the spots that were drawn into the image (sub-pixel peak finding)
    order = [int(np.argmin(np.hypot(CENTRES[:, 0] - y, CENTRES[:, 1] - x)))
             for x, y in zip(t["x"], t["y"])]
    np.testing.assert_allclose(mx, OX + sx * CENTRES[order, 1], atol=0.15 * abs(sx))
    np.testing.assert_allclose(my, OY + SY * CENTRES[order, 0], atol=0.15 * SY)
    # Show on image toggles them
    tw.markers_check.setChecked(False)
    assert not ov.item.isVisible() and not tw.markers_action.isChecked()
    tw.markers_action.trigger()
    assert ov.item.isVisible() and tw.markers_check.isChecked()


def test_stack_markers_follow_the_frame(qtbot, shell):
    frames = [CENTRES[:3], CENTRES[2:], CENTRES[[0, 4]]]
    stack = np.stack([_spots(c, seed=i) for i, c in enumerate(frames)])
    d = _image(stack, title="spot stack")
    win = shell.add_dataset(d)
    tw = _table_window(_run(qtbot, shell, "peaks.find", [d],
                            {"min_distance": 4, "threshold_rel": 0.3}, target=win))
    t = tw.table
    np.testing.assert_array_equal(np.bincount(t["frame"]), [3, 3, 2])
    ov = tw.markers
    for f in (0, 2, 1):
        win.view.set_index((f,))
        sel = np.flatnonzero(np.asarray(t["frame"]) == f)
        mx, my, rows = ov.marker_data()
        np.testing.assert_array_equal(rows, sel)
        np.testing.assert_allclose(mx, OX + SX * np.asarray(t["x"])[sel], atol=1e-9)
        np.testing.assert_allclose(my, OY + SY * np.asarray(t["y"])[sel], atol=1e-9)
    # a selected row of another frame is not highlighted on this one
    tw.select_rows([0])
    assert ov.highlight_data()[0].size == 0
    win.view.set_index((0,))
    hx, hy = ov.highlight_data()
    assert (hx[0], hy[0]) == pytest.approx((OX + SX * t["x"][0], OY + SY * t["y"][0]))


def test_selecting_rows_highlights_markers_and_clicking_a_marker_selects_its_row(qtbot,
                                                                                 shell):
    d = _image(_spots(CENTRES))
    win = shell.add_dataset(d)
    win.resize(700, 600)
    tw = _table_window(_run(qtbot, shell, "peaks.find", [d],
                            {"min_distance": 4, "threshold_rel": 0.3}, target=win))
    t, ov = tw.table, tw.markers
    px = OX + SX * np.asarray(t["x"])
    py = OY + SY * np.asarray(t["y"])
    tw.sort_by("intensity", descending=True)
    assert tw.displayed_order() == list(np.argsort(-np.asarray(t["intensity"]),
                                                   kind="stable"))
    tw.widget.selectRow(0)  # the user clicks the top row: the brightest spot
    top = tw.table_row(0)
    assert top == int(np.argmax(t["intensity"]))
    np.testing.assert_array_equal(ov.selected_rows(), [top])
    hx, hy = ov.highlight_data()
    np.testing.assert_allclose(np.c_[hx, hy], [[px[top], py[top]]])
    tw.select_rows([1, 3])
    hx, hy = ov.highlight_data()
    np.testing.assert_allclose(np.c_[hx, hy], np.c_[px[[1, 3]], py[[1, 3]]])
    # a mouse click on the marker of row 4 selects row 4 in the table
    QtWidgets.QApplication.processEvents()
    vb = win.view.view_box
    scene = vb.mapViewToScene(QtCore.QPointF(px[4], py[4]))
    gv = win.view.graphics
    pos = gv.mapFromScene(scene)
    QTest.mouseClick(gv.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, pos)
    assert tw.selected_rows() == [4]
    np.testing.assert_array_equal(ov.selected_rows(), [4])
    # closing the image takes the markers away; the table stays
    win.close()
    assert tw.markers is None and not tw.markers_check.isEnabled()
    assert not tw.markers_check.isChecked()
    assert tw in shell.windows()


def test_source_window_from_provenance_and_no_markers_without_positions(qtbot, shell):
    d = _image(_spots(CENTRES))
    other = shell.add_dataset(_image(_spots(CENTRES[:2]), title="other"))
    win = shell.add_dataset(d)
    t = mg.run("peaks.find", d, min_distance=4, threshold_rel=0.3)
    assert results.find_source_window(t, shell.windows()) is win
    assert results.find_source_window(t, [other], fallback=other) is other
    tw = shell.add_dataset(t)  # e.g. a replayed log: no target, provenance finds the image
    assert tw.markers is not None and tw.markers.window is win
    plain = shell.add_dataset(mg.Table({"a": [1.0, 2.0]}))
    assert plain.markers is None and not plain.markers_check.isEnabled()
    assert not plain.set_source(win)
    with pytest.raises(ParameterError):
        results.MarkerOverlay(mg.Table({"a": [1.0]}), win)
    # positions without a frame column are not drawn over a stack (e.g. mosaic tile origins)
    stack = shell.add_dataset(_image(np.stack([_spots(CENTRES)] * 2), title="stack"))
    tiles = mg.Table({"tile": [0, 1], "x": [0.0, 40.0], "y": [0.0, 0.0]})
    assert results.find_source_window(tiles, shell.windows(), fallback=stack) is None
    with pytest.raises(ParameterError, match="frame"):
        results.MarkerOverlay(tiles, stack)


# -- measure.regions with an intensity image ---------------------------------------------------
def test_regions_dialog_offers_the_intensity_image_and_matches_regionprops(qtbot, shell,
                                                                          monkeypatch):
    from skimage.measure import label, regionprops

    from micrographia.app import dialogs

    rng = np.random.default_rng(11)
    blobs = _spots(CENTRES, sigma=3.0) > 0.4
    lab = label(blobs).astype(np.int32)
    inten = rng.normal(100.0, 15.0, (NY, NX))
    labels_ds = _image(lab, title="labels")
    inten_ds = _image(inten, title="intensity")
    win_i = shell.add_dataset(inten_ds)
    shell.add_dataset(_image(lab.astype(np.float32), title="distractor"))
    win_l = shell.add_dataset(labels_ds)
    offered = {}

    def fake_exec(self):
        (combo,) = self.input_combos
        offered["titles"] = [combo.itemText(i) for i in range(combo.count())]
        combo.setCurrentIndex(offered["titles"].index(win_i.windowTitle()))
        return QtWidgets.QDialog.DialogCode.Accepted

    monkeypatch.setattr(dialogs.OperationDialog, "exec", fake_exec)
    with qtbot.waitSignal(shell.resultsOpened, timeout=60000) as blocker:
        assert shell.run_operation_dialog("measure.regions") is not None
    assert offered["titles"] == ["(none)", "intensity", "distractor"]
    tw = _table_window(blocker.args[0])
    t = tw.table
    props = regionprops(lab, intensity_image=inten)
    assert len(t) == len(props) == len(CENTRES)
    np.testing.assert_array_equal(t["label"], [p.label for p in props])
    np.testing.assert_allclose(t["mean_intensity"], [p.intensity_mean for p in props],
                               rtol=1e-12)
    # centroids are calibrated: markers go exactly there, over the labels window
    assert tw.markers.window is win_l
    mx, my, _ = tw.markers.marker_data()
    np.testing.assert_allclose(mx, [OX + SX * p.centroid[1] for p in props], atol=1e-9)
    np.testing.assert_allclose(my, [OY + SY * p.centroid[0] for p in props], atol=1e-9)
    h = tw.show_histogram("area")
    np.testing.assert_array_equal(h.counts, np.histogram(
        [p.area * SX * SY for p in props], bins=h.bins)[0])
    assert h.plot.getPlotItem().getAxis("bottom").labelText == "area (nm²)"
    assert 'mg.run("measure.regions"' in shell.session.path.read_text()


# -- PCA scree plot ------------------------------------------------------------------------
def test_pca_opens_a_scree_plot_that_shows_the_table(qtbot, shell):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:24, 0:24]
    basis = np.stack([np.sin(xx / 3.0), np.cos(yy / 4.0), np.exp(-((xx - 12) ** 2) / 20.0)])
    coef = rng.normal(0, 1, (60, 3)) * [5.0, 3.0, 2.0]
    stack = np.einsum("nk,kyx->nyx", coef, basis) + rng.normal(0, 0.05, (60, 24, 24))
    d = mg.from_array(stack.astype(np.float64), signal_dims=2, title="stack")
    win = shell.add_dataset(d)
    wins = _run(qtbot, shell, "denoise.pca", [d], {}, target=win)
    tw = _table_window(wins)
    assert tw in shell.windows()  # the table stays reachable
    t = tw.table
    k = t.metadata["n_components"]
    assert k == 3
    (sp,) = [p for p in tw.plots() if isinstance(p, results.ScreePlotWindow)]
    np.testing.assert_array_equal(sp.curve.xData, t["component"])
    np.testing.assert_array_equal(sp.curve.yData, t["explained_variance_ratio"])
    np.testing.assert_array_equal(sp.kept_curve.yData, t["explained_variance_ratio"][:k])
    assert sp.cut_line.value() == pytest.approx(k + 0.5)
    assert sp.plot.getPlotItem().getAxis("left").logMode
    assert f"{k} components kept" in sp.note_label.text()
    assert tw.scree_action.isVisible()
    tw.close()
    assert not sp.isVisible()
    with pytest.raises(ParameterError):
        results.ScreePlotWindow(mg.Table({"a": [1.0]}))


def test_save_csv_is_recorded(qtbot, shell, tmp_path):
    tw = shell.add_dataset(mg.run("peaks.find", _image(_spots(CENTRES)), min_distance=4))
    tw.save_csv(tmp_path / "peaks.csv")
    lines = [ln for ln in (tmp_path / "peaks.csv").read_text().splitlines()
             if not ln.startswith("#")]
    assert lines[0].startswith("x,y,") and len(lines) == len(tw.table) + 1
    assert "mg.save(" in shell.session.path.read_text()


def test_column_histogram_rejects_bad_bins():
    with pytest.raises(ParameterError):
        results.column_histogram([1.0, 2.0], 0)
    with pytest.raises(ParameterError):
        results.column_histogram([1.0, 2.0], 2.5)
    c, e = results.column_histogram([1.0, np.nan, 2.0, 4.0], 3)
    np.testing.assert_array_equal(c, [1, 1, 1])  # [1, 2), [2, 3), [3, 4]
    np.testing.assert_allclose(e, [1.0, 2.0, 3.0, 4.0])
