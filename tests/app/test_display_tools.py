"""Tests of the display tools (app/display_tools.py): histogram, brightness/contrast, colormaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402

import micrographia as mg  # noqa: E402
from micrographia.app.display_tools import (  # noqa: E402
    BrightnessContrastDialog,
    HistogramWindow,
    colormap_menu,
    roi_values,
    statistics,
)
from micrographia.io.render import auto_clim  # noqa: E402


class FakeView(QtWidgets.QWidget):
    """A minimal object following the DatasetView contract (for tests only)."""

    displayChanged = QtCore.Signal(dict)
    frameChanged = QtCore.Signal()
    cursorMoved = QtCore.Signal(str)

    def __init__(self, dataset: mg.Dataset) -> None:
        super().__init__()
        self._dataset = dataset
        self._index = (0,) * len(dataset.nav_axes)
        self._roi: dict[str, tuple[float, float]] | None = None
        self._display: dict[str, Any] = {"cmap": "grey", "clim": None, "gamma": 1.0,
                                         "mapping": "linear", "invert": False,
                                         "auto_saturation": 0.35}
        self.applied: list[dict[str, Any]] = []

    @property
    def dataset(self) -> mg.Dataset:
        return self._dataset

    def current_frame(self) -> np.ndarray:
        return np.asarray(self._dataset.numpy()[self._index] if self._index
                          else self._dataset.numpy())

    def current_index(self) -> tuple[int, ...]:
        return self._index

    def set_index(self, index: tuple[int, ...]) -> None:
        self._index = tuple(index)
        self.frameChanged.emit()

    def roi_region(self) -> dict[str, tuple[float, float]] | None:
        return self._roi

    def set_roi(self, roi: dict[str, tuple[float, float]] | None) -> None:
        self._roi = roi

    def display_settings(self) -> dict[str, Any]:
        return dict(self._display)

    def apply_display(self, settings: dict[str, Any]) -> None:
        changed = {k: v for k, v in settings.items() if self._display.get(k) != v}
        self.applied.append(dict(settings))
        self._display.update(settings)
        if changed:
            self.displayChanged.emit(changed)


@pytest.fixture
def stack_view(qtbot):
    rng = np.random.default_rng(1)
    data = rng.gamma(2.0, 50.0, size=(3, 40, 50)).astype(np.float32)
    data[1] *= 3.0
    ds = mg.from_array(data, scale=0.25, units="nm", title="stack")
    view = FakeView(ds)
    qtbot.addWidget(view)
    return view


def _check_stats(stats: dict[str, float], values: np.ndarray) -> None:
    v = np.asarray(values, dtype=np.float64).ravel()
    assert stats["count"] == v.size
    assert stats["min"] == pytest.approx(v.min())
    assert stats["max"] == pytest.approx(v.max())
    assert stats["mean"] == pytest.approx(v.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(v.std(), rel=1e-12)
    assert stats["median"] == pytest.approx(np.median(v))
    assert stats["p1"] == pytest.approx(np.percentile(v, 1))
    assert stats["p99"] == pytest.approx(np.percentile(v, 99))


def test_histogram_statistics_and_counts_match_numpy(qtbot, stack_view):
    win = HistogramWindow(stack_view)
    qtbot.addWidget(win)
    frame = stack_view.current_frame()
    _check_stats(win.statistics(), frame)
    counts, edges = win.histogram()
    ref_counts, ref_edges = np.histogram(frame.astype(np.float64), bins=256)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(edges, ref_edges)
    assert win.stat_labels["count"].text() == str(frame.size)
    assert float(win.stat_labels["mean"].text()) == pytest.approx(frame.mean(), rel=1e-5)
    # bins control
    win.set_bins(17)
    counts, edges = win.histogram()
    ref_counts, _ = np.histogram(frame.astype(np.float64), bins=17)
    np.testing.assert_array_equal(counts, ref_counts)
    assert counts.sum() == frame.size
    # the curve shows the counts
    x, y = win.curve.getData()
    assert len(y) == 17


def test_histogram_follows_frame_changes_and_roi(qtbot, stack_view):
    win = HistogramWindow(stack_view)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.refreshed, timeout=2000):
        stack_view.set_index((1,))
    frame1 = stack_view.dataset.numpy()[1]
    _check_stats(win.statistics(), frame1)
    # ROI: x in [1.0, 5.0) nm -> columns 4..19, y in [0.5, 2.5) nm -> rows 2..9
    stack_view.set_roi({"x": (1.0, 5.0), "y": (0.5, 2.5)})
    win.refresh()
    sub = frame1[2:10, 4:20]
    _check_stats(win.statistics(), sub)
    assert win.statistics()["count"] == 8 * 16
    assert "ROI" in win.source_label.text()
    counts, _ = win.histogram()
    np.testing.assert_array_equal(counts, np.histogram(sub.astype(np.float64), bins=256)[0])
    # "ROI only" off: whole frame again
    win.roi_check.setChecked(False)
    _check_stats(win.statistics(), frame1)
    # the display range is drawn
    stack_view.apply_display({"clim": (10.0, 200.0)})
    assert (win.low_line.value(), win.high_line.value()) == (10.0, 200.0)


def test_histogram_follows_roi_while_shown(qtbot, stack_view):
    win = HistogramWindow(stack_view)
    qtbot.addWidget(win)
    with qtbot.waitExposed(win):
        win.show()
    stack_view.set_roi({"x": (0.0, 2.0), "y": (0.0, 1.0)})  # 8 columns x 4 rows
    qtbot.waitUntil(lambda: win.statistics()["count"] == 32, timeout=3000)
    _check_stats(win.statistics(), stack_view.current_frame()[0:4, 0:8])
    stack_view.set_roi(None)
    qtbot.waitUntil(lambda: win.statistics()["count"] == 40 * 50, timeout=3000)
    win.close()
    assert not win._roi_timer.isActive()


def test_histogram_log_counts(qtbot, stack_view):
    win = HistogramWindow(stack_view)
    qtbot.addWidget(win)
    win.set_bins(64)
    counts, _ = win.histogram()
    assert not win.log_counts()
    _, y = win.curve.getData()
    np.testing.assert_array_equal(y, counts)
    win.set_log_counts(True)
    assert win.log_counts()
    assert win.plot.getPlotItem().ctrl.logYCheck.isChecked()
    # counts themselves are unchanged; the plot shows log10 of them
    np.testing.assert_array_equal(win.histogram()[0], counts)
    _, y = win.curve.getData()
    nz = counts > 0
    np.testing.assert_allclose(y[nz], np.log10(counts[nz]))
    win.set_log_counts(False)
    assert not win.plot.getPlotItem().ctrl.logYCheck.isChecked()


def test_histogram_nan_and_complex(qtbot):
    data = np.arange(20, dtype=np.float64).reshape(4, 5)
    data[0, 0] = np.nan
    view = FakeView(mg.from_array(data))
    qtbot.addWidget(view)
    win = HistogramWindow(view)
    qtbot.addWidget(win)
    finite = data[np.isfinite(data)]
    _check_stats(win.statistics(), finite)
    assert "1 not finite" in win.source_label.text()
    z = (np.arange(12) * (1 + 1j)).reshape(3, 4)
    view2 = FakeView(mg.from_array(z))
    qtbot.addWidget(view2)
    win2 = HistogramWindow(view2)
    qtbot.addWidget(win2)
    _check_stats(win2.statistics(), np.abs(z))


def test_roi_values_on_spectrum_image_navigator():
    ds = mg.from_array(np.zeros((6, 8, 10)), signal_dims=1)
    nav = np.arange(48.0).reshape(6, 8)
    sel, text = roi_values(nav, ds, {"x": (2, 5)})
    np.testing.assert_array_equal(sel, nav[:, 2:5])
    assert text.startswith("ROI x [2, 5)")
    # an ROI on axes the frame does not have is ignored
    sel, text = roi_values(nav, ds, {"E": (2, 5)})
    assert sel.shape == nav.shape and "not on this image" in text
    assert statistics(np.array([]))["count"] == 0


def test_histogram_on_real_image(qtbot, shared_data):
    ds = mg.open(shared_data / "dm3" / "test_STEM_image.dm3")
    view = FakeView(ds)
    qtbot.addWidget(view)
    win = HistogramWindow(view)
    qtbot.addWidget(win)
    frame = ds.numpy()
    _check_stats(win.statistics(), frame)
    y, x = ds.axis("y"), ds.axis("x")
    view.set_roi({"x": (x.offset + 10 * x.scale, x.offset + 30 * x.scale),
                  "y": (y.offset, y.offset + 5 * y.scale)})
    win.refresh()
    _check_stats(win.statistics(), frame[0:5, 10:30])


def test_brightness_contrast_sliders_and_spins(qtbot, stack_view):
    dlg = BrightnessContrastDialog(stack_view)
    qtbot.addWidget(dlg)
    frame = stack_view.current_frame()
    lo, hi = float(frame.min()), float(frame.max())
    assert dlg.data_range() == (lo, hi)
    # initial controls show the view's (auto) range
    assert dlg.clim() == pytest.approx(auto_clim(frame.astype(np.float64), 0.35))
    dlg.max_slider.setValue(500)
    expected_hi = lo + (hi - lo) * 0.5
    assert stack_view.display_settings()["clim"][1] == pytest.approx(expected_hi)
    dlg.min_slider.setValue(100)
    assert stack_view.display_settings()["clim"] == pytest.approx(
        (lo + (hi - lo) * 0.1, expected_hi))
    dlg.min_spin.setValue(20.0)
    assert stack_view.display_settings()["clim"][0] == pytest.approx(20.0, abs=1e-2)
    # min above max pushes max
    dlg.min_slider.setValue(800)
    c = stack_view.display_settings()["clim"]
    assert c[0] < c[1] and c[0] == pytest.approx(lo + (hi - lo) * 0.8)
    assert dlg.min_spin.maximum() == pytest.approx(hi, abs=10.0 ** -dlg.min_spin.decimals())


def test_brightness_contrast_auto_reset_gamma_mapping(qtbot, stack_view):
    dlg = BrightnessContrastDialog(stack_view)
    qtbot.addWidget(dlg)
    frame = stack_view.current_frame().astype(np.float64)
    assert dlg.saturation_spin.value() == 0.35
    dlg.auto_button.click()
    p = np.percentile(frame, [0.175, 100 - 0.175])
    assert stack_view.display_settings()["clim"] == pytest.approx(tuple(p))
    assert dlg.auto(2.0) == pytest.approx(tuple(np.percentile(frame, [1.0, 99.0])))
    assert stack_view.display_settings()["auto_saturation"] == 2.0
    dlg.reset_button.click()
    assert stack_view.display_settings()["clim"] == (float(frame.min()), float(frame.max()))
    assert (dlg.min_slider.value(), dlg.max_slider.value()) == (0, 1000)
    assert (dlg.low_line.value(), dlg.high_line.value()) == pytest.approx(
        (frame.min(), frame.max()))
    # the small histogram shows log10(1 + counts) of the frame
    _, y = dlg.hist_curve.getData()
    np.testing.assert_allclose(y, np.log10(1.0 + np.histogram(frame, bins=256)[0]))
    dlg.set_gamma(0.5)
    assert stack_view.display_settings()["gamma"] == 0.5
    assert dlg.gamma_slider.value() == round(200 * np.log10(0.5))
    dlg.mapping_combo.setCurrentText("log")
    assert stack_view.display_settings()["mapping"] == "log"
    dlg.set_mapping("sqrt")
    assert stack_view.display_settings()["mapping"] == "sqrt"
    with pytest.raises(ValueError):
        dlg.set_mapping("cubic")
    # changes made elsewhere are shown without re-applying
    n = len(stack_view.applied)
    stack_view.apply_display({"clim": (30.0, 90.0), "gamma": 2.0, "mapping": "linear"})
    assert dlg.clim() == (30.0, 90.0)
    assert dlg.min_spin.value() == pytest.approx(30.0)
    assert dlg.gamma_spin.value() == 2.0 and dlg.mapping_combo.currentText() == "linear"
    assert len(stack_view.applied) == n + 1
    # a new frame updates the data range but keeps the display range
    stack_view.set_index((1,))
    f1 = stack_view.dataset.numpy()[1]
    assert dlg.data_range() == (float(f1.min()), float(f1.max()))
    assert dlg.clim() == (30.0, 90.0)
    dlg.reset()
    assert stack_view.display_settings()["clim"] == (float(f1.min()), float(f1.max()))
    assert stack_view.display_settings()["gamma"] == 1.0


def test_colormap_menu_sets_cmap_and_invert(qtbot, stack_view):
    from micrographia.app.display import COLORMAPS

    menu = QtWidgets.QMenu()
    active: list[Any] = [stack_view]
    actions = colormap_menu(menu, lambda: active[0])
    assert list(actions) == [*COLORMAPS, "Invert"]
    assert not actions["viridis"].icon().isNull()
    actions["viridis"].trigger()
    assert stack_view.display_settings()["cmap"] == "viridis"
    assert actions["viridis"].isChecked()
    actions["Invert"].trigger()
    assert stack_view.display_settings()["invert"] is True
    actions["Invert"].trigger()
    assert stack_view.display_settings()["invert"] is False
    # the check marks follow the active view when the menu opens
    stack_view.apply_display({"cmap": "magma", "invert": True})
    menu.aboutToShow.emit()
    assert actions["magma"].isChecked() and not actions["viridis"].isChecked()
    assert actions["Invert"].isChecked()
    # no active view: actions are disabled and do nothing
    active[0] = None
    menu.aboutToShow.emit()
    assert not actions["grey"].isEnabled()
    actions["grey"].trigger()
    assert stack_view.display_settings()["cmap"] == "magma"


# ---- with the real views (app/views.py)


def test_tools_on_real_image_view(qtbot, shared_data):
    from micrographia.app.views import make_view

    ds = mg.open(shared_data / "dm3" / "test_STEM_image.dm3")
    view = make_view(ds)
    qtbot.addWidget(view)
    frame = np.asarray(view.current_frame(), dtype=np.float64)
    np.testing.assert_array_equal(frame, ds.numpy())
    win = HistogramWindow(view)
    qtbot.addWidget(win)
    _check_stats(win.statistics(), frame)
    np.testing.assert_array_equal(win.histogram()[0], np.histogram(frame, bins=256)[0])
    # a rectangle ROI on the view restricts the histogram
    y, x = ds.axis("y"), ds.axis("x")
    view.set_roi_region({"y": (y.offset + 4 * y.scale, y.offset + 20 * y.scale),
                         "x": (x.offset + 8 * x.scale, x.offset + 40 * x.scale)})
    region = view.roi_region()
    assert region is not None
    win.refresh()
    sel = roi_values(frame, ds, region)[0]
    assert sel.shape == (16, 32)
    _check_stats(win.statistics(), sel)

    dlg = BrightnessContrastDialog(view)
    qtbot.addWidget(dlg)
    assert dlg.data_range() == (frame.min(), frame.max())
    dlg.auto_button.click()
    assert view.display_settings()["clim"] == pytest.approx(
        tuple(np.percentile(frame, [0.175, 99.825])))
    dlg.max_slider.setValue(500)
    lo, hi = dlg._range
    assert view.display_settings()["clim"][1] == pytest.approx(lo + (hi - lo) * 0.5)
    dlg.reset()
    assert view.display_settings()["clim"] == (frame.min(), frame.max())
    dlg.set_gamma(0.7)
    dlg.set_mapping("sqrt")
    s = view.display_settings()
    assert s["gamma"] == pytest.approx(0.7) and s["mapping"] == "sqrt"
    # the histogram draws the display range the view uses
    assert (win.low_line.value(), win.high_line.value()) == pytest.approx(
        (frame.min(), frame.max()))

    menu = QtWidgets.QMenu()
    actions = colormap_menu(menu, lambda: view)
    actions["inferno"].trigger()
    actions["Invert"].trigger()
    s = view.display_settings()
    assert s["cmap"] == "inferno" and s["invert"] is True


def test_histogram_follows_real_stack_and_si_views(qtbot, shared_data):
    from micrographia.app.views import make_view

    stack = mg.open(shared_data / "tia" / "03_Scanning Preview.emi")
    view = make_view(stack)
    qtbot.addWidget(view)
    win = HistogramWindow(view)
    qtbot.addWidget(win)
    _check_stats(win.statistics(), stack.numpy()[0])
    view.set_index((3,))
    assert view.current_index() == (3,)
    _check_stats(win.statistics(), stack.numpy()[3])

    si = mg.open(shared_data / "dm4" / "EELS_SI.dm4")
    sview = make_view(si)
    qtbot.addWidget(sview)
    swin = HistogramWindow(sview)
    qtbot.addWidget(swin)
    nav = np.asarray(sview.current_frame(), dtype=np.float64)
    assert nav.shape == (2, 2)
    _check_stats(swin.statistics(), nav)


def test_tools_on_real_spectrum_view(qtbot, shared_data):
    from micrographia.app.views import make_view

    spec = mg.open(shared_data / "dm3" / "EELS_STO.dm3")
    view = make_view(spec)
    qtbot.addWidget(view)
    values = np.asarray(view.current_frame(), dtype=np.float64)
    assert values.shape == (2048,)
    win = HistogramWindow(view)
    qtbot.addWidget(win)
    _check_stats(win.statistics(), values)
    dlg = BrightnessContrastDialog(view)
    qtbot.addWidget(dlg)
    assert dlg.data_range() == (values.min(), values.max())


# -- the histogram never blocks the window ----------------------------------------------------
def test_statistics_are_numpy_numbers_bit_for_bit():
    rng = np.random.default_rng(4)
    for values in (rng.gamma(2.0, 50.0, size=(300, 400)).astype(np.float32),
                   rng.normal(0.0, 1e-3, size=70001),
                   rng.integers(0, 4000, size=(256, 256)).astype(np.uint16),
                   np.array([3.5]), np.array([np.nan, 1.0, np.inf, 2.0, -np.inf, 7.0])):
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        got = statistics(values)
        p1, med, p99 = np.percentile(v, [1.0, 50.0, 99.0])
        want = {"count": v.size, "min": v.min(), "max": v.max(), "mean": v.mean(),
                "std": v.std(), "median": med, "p1": p1, "p99": p99}
        for key, w in want.items():
            assert got[key] == float(w), key  # exactly numpy's numbers, not approximately


def test_exact_percentiles_match_numpy_on_large_and_awkward_data():
    from micrographia.io import render

    rng = np.random.default_rng(9)
    lattice = np.cos(np.arange(512 * 512) % 512 * 0.3).astype(np.float32)
    cases = [rng.normal(0.0, 1.0, 300_000).astype(np.float32),  # sampled brackets
             np.sort(rng.random(200_000)),  # sorted input
             np.repeat(np.arange(7, dtype=np.uint16), 40_000),  # heavy ties
             lattice,  # a periodic image, column by column
             rng.random(50)]  # small: direct partition
    for v in cases:
        for q in ([0.175, 99.825], [1.0, 50.0, 99.0], [0.0, 100.0], [49.99, 50.01]):
            np.testing.assert_array_equal(render.percentiles(v, q), np.percentile(v, q))
    # a sample that misleads the brackets: the fallback keeps the numbers exact
    v = np.zeros(400_000)
    v[::render._SELECT_DIRECT] = 1.0
    np.testing.assert_array_equal(render.percentiles(v, [0.5, 99.99]),
                                  np.percentile(v, [0.5, 99.99]))


@pytest.fixture
def gate(monkeypatch):
    """Hold the histogram worker until released; record the frames it computed."""
    import threading

    from micrographia.app import display_tools

    release = threading.Event()
    computed: list[np.ndarray] = []
    original = display_tools._compute

    def held(frame, *args):
        release.wait(20)
        computed.append(frame)
        return original(frame, *args)

    monkeypatch.setattr(display_tools, "_compute", held)
    yield release, computed
    release.set()


def test_frame_stepping_does_not_wait_for_the_histogram(qtbot, gate):
    from micrographia.app.views import make_view

    release, computed = gate
    rng = np.random.default_rng(6)
    data = rng.gamma(2.0, 40.0, size=(5, 64, 80)).astype(np.float32) * np.arange(
        1, 6, dtype=np.float32)[:, None, None]
    view = make_view(mg.from_array(data, title="stack"))
    qtbot.addWidget(view)
    win = HistogramWindow(view)
    qtbot.addWidget(win)
    win.show()
    assert win.is_busy() and "computing" in win.source_label.text()
    for i in (1, 2, 3):
        view.sliders[0].setValue(i)
        # the frame changed at once, while the histogram is still being computed
        assert view.current_index() == (i,)
        assert np.array_equal(view.current_frame(), data[i])
        assert np.array_equal(view.image_item.image, data[i])
        assert win.is_busy() and "computing" in win.source_label.text()
        assert win.statistics(wait=False)["count"] == 0  # nothing computed yet
    release.set()
    want = statistics(data[3])
    qtbot.waitUntil(lambda: not win.is_busy() and win.statistics(wait=False) == want,
                    timeout=10000)
    assert "computing" not in win.source_label.text()
    counts, edges = win.histogram(wait=False)
    np.testing.assert_array_equal(counts, np.histogram(data[3].astype(np.float64), 256)[0])
    # coalesced: the first frame (running when stepping began), then only the last one
    assert len(computed) == 2
    assert computed[0] is not computed[1] and np.array_equal(computed[1], data[3])


def test_closing_the_window_or_view_mid_computation_is_safe(qtbot, gate):
    from micrographia.app import display_tools
    from micrographia.app.views import make_view

    release, computed = gate
    data = np.random.default_rng(8).random((4, 32, 40)).astype(np.float32)
    view = make_view(mg.from_array(data))
    qtbot.addWidget(view)
    win = HistogramWindow(view)
    win.show()
    view.set_index((2,))  # queued behind the running computation
    assert win.is_busy()
    win.close()
    win.deleteLater()
    QtCore.QCoreApplication.processEvents()
    view.set_index((3,))  # the closed window no longer follows
    # a second window whose view goes away mid-computation
    view2 = make_view(mg.from_array(data))
    win2 = HistogramWindow(view2)
    qtbot.addWidget(win2)
    view2.close()
    view2.deleteLater()
    QtCore.QCoreApplication.processEvents()
    release.set()
    display_tools._pool().submit(lambda: None).result(timeout=20)  # the worker is done
    for _ in range(5):
        QtCore.QCoreApplication.processEvents()
        qtbot.wait(20)
    assert len(computed) == 2  # frame 0 of each window; the queued request was dropped
    win2.refresh()  # the view was deleted: nothing happens, nothing raises
    assert win2.wait(5)
