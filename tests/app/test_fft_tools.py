"""FFT tools of the app: complex display modes, Live FFT, Bragg-filter spot picking."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

import micrographia as mg
from micrographia.app import display
from micrographia.app.display_tools import HistogramWindow
from micrographia.app.fft_tools import (
    LIVE_SYNC_PIXELS,
    BraggFilterWindow,
    LiveFFTWindow,
    complex_menu,
    find_source,
    k_readout,
    live_power_spectrum,
)
from micrographia.app.profile import ProfileWindow, line_profile
from micrographia.app.views import make_view
from micrographia.errors import ParameterError
from micrographia.io.render import render
from micrographia.plugins.fft import power_spectrum
from micrographia.recorder import active_recorders

N, DX = 128, 0.05  # pixels, nm per pixel: 1/units bin = 1 / (N * DX) = 0.15625 1/nm
K1 = (0.0, 16 / (N * DX))  # (ky, kx) of the two lattice waves, on exact bins
K2 = (12 / (N * DX), 8 / (N * DX))


def _lattice(noise: float = 1.5, n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:n, 0:n] * DX
    lat = (np.cos(2 * np.pi * (K1[0] * y + K1[1] * x))
           + np.cos(2 * np.pi * (K2[0] * y + K2[1] * x)))
    rng = np.random.default_rng(seed)
    return (lat + rng.normal(0.0, noise, lat.shape)).astype(np.float32), lat


def _complex(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(12, 16)) + 1j * rng.normal(size=(12, 16))).astype(np.complex64)


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


def _wait_result(shell, start, timeout=20.0):
    """Start a task with ``start()`` and return the windows it opened."""
    got = []
    shell.resultsOpened.connect(got.extend)
    try:
        start()
        end = time.monotonic() + timeout
        app = QtWidgets.QApplication.instance()
        while not got and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
    finally:
        shell.resultsOpened.disconnect(got.extend)
    assert got, f"no result window appeared; errors: {shell.errors}"
    return got


# -- complex display ----------------------------------------------------------------------------
def test_complex_modes_show_and_read_out_the_same_quantity(qtbot):
    z = _complex()
    view = make_view(mg.from_array(z, scale=0.5, units="nm"))
    qtbot.addWidget(view)
    assert view.complex_mode() == "amplitude"  # a plain complex image: |z|
    np.testing.assert_allclose(view.image_item.image, np.abs(z), rtol=1e-6)
    truth = {"amplitude": np.abs(z), "log_amplitude": np.log1p(np.abs(z)),
             "phase": np.angle(z), "real": z.real, "imaginary": z.imag}
    for mode, want in truth.items():
        view.set_complex_mode(mode)
        assert view.complex_mode() == mode
        assert view.display_settings()["complex"] == mode
        np.testing.assert_allclose(view.image_item.image, want, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(view.current_frame(), want, rtol=1e-6, atol=1e-6)
        assert view.raw_frame() is not None and np.iscomplexobj(view.raw_frame())
    # phase: cyclic colormap over the fixed range -pi..pi, read-out in radians
    view.set_complex_mode("phase")
    s = view.display_settings()
    assert s["cmap"] == "phase"
    assert s["clim"] == pytest.approx((-math.pi, math.pi))
    iy, ix = 5, 9
    text = view.cursor_text(0.5 * ix, 0.5 * iy)
    shown = float(text.split("(phase ")[1].split(" rad")[0])
    assert shown == pytest.approx(float(np.angle(z[iy, ix])), abs=5e-4)
    assert "phase" in view.info_label.text()
    # leaving phase restores the colormap and auto-contrasts the new quantity
    view.set_complex_mode("real")
    s = view.display_settings()
    assert s["cmap"] == "grey"
    assert s["clim"] == pytest.approx(display.levels(z.real, {"auto_saturation": 0.35}))
    with pytest.raises(ParameterError, match="complex must be one of"):
        view.apply_display({"complex": "modulus"})
    assert view.complex_mode() == "real"


def test_toolbar_combo_sets_the_complex_mode(qtbot):
    z = _complex()
    view = make_view(mg.from_array(z))
    qtbot.addWidget(view)
    changes = []
    view.displayChanged.connect(changes.append)
    combo = view.complex_combo
    assert combo.currentData() == "amplitude"
    combo.activated.emit(combo.findData("phase"))
    assert view.complex_mode() == "phase" and changes[-1]["complex"] == "phase"
    np.testing.assert_allclose(view.image_item.image, np.angle(z), atol=1e-6)
    view.set_complex_mode("real")  # the combo follows other ways of setting the mode
    assert combo.currentData() == "real"


def test_real_data_has_no_complex_mode(qtbot):
    view = make_view(mg.from_array(np.arange(12.0).reshape(3, 4)))
    qtbot.addWidget(view)
    assert view.complex_mode() is None and "complex" not in view.display_settings()
    assert getattr(view, "complex_combo", None) is None
    view.apply_display({"complex": "phase"})  # ignored for real data
    assert view.complex_mode() is None
    np.testing.assert_array_equal(view.current_frame(), np.arange(12.0).reshape(3, 4))


def test_centred_fft_defaults_to_log_amplitude(qtbot):
    img, _ = _lattice()
    f = mg.run("fft.fft", mg.from_array(img, scale=DX, units="nm"))
    view = make_view(f)
    qtbot.addWidget(view)
    assert view.complex_mode() == "log_amplitude"
    np.testing.assert_allclose(view.image_item.image, np.log1p(np.abs(f.numpy())), rtol=1e-5)
    assert "log(1 + |z|)" in view.info_label.text()
    # exported PNGs follow the same default and modes
    rgb = render(f, {"clim": (0.0, 10.0)})
    t = np.clip(np.log1p(np.abs(f.numpy())) / 10.0, 0, 1)
    np.testing.assert_array_equal(rgb[..., 0], np.rint(255 * t).astype(np.uint8))
    rgb = render(f, {"complex": "phase", "clim": (-math.pi, math.pi), "cmap": "phase"})
    idx = np.rint(255 * (np.angle(f.numpy()) + math.pi) / (2 * math.pi)).astype(int)
    np.testing.assert_array_equal(rgb, display.colormap("phase")[idx])


def test_tools_measure_the_displayed_quantity(qtbot):
    z = _complex()
    view = make_view(mg.from_array(z))
    qtbot.addWidget(view)
    view.ensure_line_roi()
    hist = HistogramWindow(view)
    prof = ProfileWindow(view)
    qtbot.addWidget(hist)
    qtbot.addWidget(prof)
    view.set_complex_mode("phase")
    stats = hist.statistics()
    assert stats["mean"] == pytest.approx(float(np.angle(z).astype(np.float32).mean()), abs=1e-6)
    assert stats["max"] == pytest.approx(float(np.angle(z).max()), abs=1e-6)
    line = view.line_roi_pixels()
    want = line_profile(np.angle(z), line["start"], line["end"], line["width"])
    np.testing.assert_allclose(prof.profile()[1], want, atol=1e-6)
    assert prof.plot.getPlotItem().getAxis("left").labelText == "phase (rad)"
    view.set_complex_mode("imaginary")
    assert hist.statistics()["min"] == pytest.approx(float(z.imag.min()), abs=1e-6)
    np.testing.assert_allclose(
        prof.profile()[1], line_profile(z.imag, line["start"], line["end"], line["width"]),
        atol=1e-6)


def test_complex_menu_recorded_undoable_and_saved(shell, qtbot, tmp_path):
    f = mg.run("fft.fft", mg.from_array(_complex(), scale=0.5, units="nm"))
    win = shell.add_dataset(f)
    acts = shell.complex_actions
    menu = acts["phase"].parent()
    menu.aboutToShow.emit()
    assert all(a.isEnabled() for a in acts.values()) and acts["log_amplitude"].isChecked()
    acts["phase"].trigger()
    win.flush_display()
    assert mg.display_settings(f)["complex"] == "phase"
    assert mg.display_settings(f)["cmap"] == "phase"
    assert 'complex="phase"' in shell.session.path.read_text()
    assert win.undo()
    assert win.view.complex_mode() == "log_amplitude"
    assert win.view.display_settings()["cmap"] == "grey"
    assert win.redo() and win.view.complex_mode() == "phase"
    win.flush_display()
    out = mg.save(f, tmp_path / "fft.hspy")
    from rsciio.hspy import file_reader

    md = file_reader(str(out))[0]["metadata"]
    assert md["Micrographia"]["display"]["complex"] == "phase"
    # a real image: the menu is disabled
    shell.add_dataset(mg.from_array(np.zeros((4, 4))))
    menu.aboutToShow.emit()
    assert not any(a.isEnabled() for a in acts.values())


def test_complex_menu_acts_on_given_view(qtbot):
    view = make_view(mg.from_array(_complex()))
    qtbot.addWidget(view)
    menu = QtWidgets.QMenu()
    acts = complex_menu(menu, lambda: view)
    acts["imaginary"].trigger()
    assert view.complex_mode() == "imaginary"
    menu.aboutToShow.emit()
    assert acts["imaginary"].isChecked() and not acts["amplitude"].isChecked()


# -- Live FFT -----------------------------------------------------------------------------------
def test_k_readout_gives_d_spacing():
    assert k_readout(0.0, 2.5, "1/nm") == "kx 2.5 1/nm, ky 0 1/nm  |k| 2.5 1/nm  d 0.4 nm"
    text = k_readout(3.0, 4.0, "1/px")
    assert "|k| 5 1/px" in text and "d 0.2 px" in text
    assert k_readout(0.0, 0.0, "1/nm").endswith("d ∞")


def test_live_fft_follows_roi_and_matches_power_spectrum(shell, qtbot):
    img, _ = _lattice()
    src = mg.from_array(img, scale=DX, units="nm", title="lattice")
    win = shell.add_dataset(src)
    live = shell.show_live_fft()
    assert isinstance(live, LiveFFTWindow) and win.tool("live_fft") is live
    spec = live.spectrum()
    want = power_spectrum(src)
    np.testing.assert_allclose(spec.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    assert [(a.name, a.units) for a in spec.sig_axes] == [("ky", "1/nm"), ("kx", "1/nm")]
    assert spec.sig_axes[1].scale == pytest.approx(1 / (N * DX))
    # the read-out at the lattice spot: |k| = 2.5 1/nm, d = 0.4 nm
    text = live.cursor_text(K1[1], K1[0])
    assert "|k| 2.5 1/nm" in text and "d 0.4 nm" in text
    value = float(text.rsplit("value ", 1)[1])
    assert value == pytest.approx(float(want.numpy()[N // 2, N // 2 + 16]), rel=1e-3)
    # an ROI: the spectrum of the cropped region, updated (debounced) when it moves
    region = {"y": (0.8, 4.0), "x": (1.6, 4.8)}  # 64 x 64 pixels
    win.view.set_roi_region(region)
    qtbot.waitUntil(lambda: live.region() is not None and not live.is_busy(), timeout=3000)
    crop = mg.run("image.crop", src, region=region)
    np.testing.assert_allclose(live.spectrum().numpy(), power_spectrum(crop).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert live.spectrum().sig_axes[1].scale == pytest.approx(1 / (64 * DX))
    assert "ROI 64×64" in live.source_label.text()
    moved = {"y": (0.0, 1.6), "x": (0.0, 3.2)}  # 32 x 64
    win.view.set_roi_region(moved)
    qtbot.waitUntil(lambda: live.spectrum().shape == (32, 64), timeout=3000)
    np.testing.assert_allclose(
        live.spectrum().numpy(),
        power_spectrum(mg.run("image.crop", src, region=moved)).numpy(), rtol=1e-5, atol=1e-5)


def test_live_fft_follows_frames_and_large_regions_use_a_worker(shell, qtbot):
    rng = np.random.default_rng(1)
    n = int(math.isqrt(LIVE_SYNC_PIXELS)) + 64  # above the synchronous limit
    stack = rng.normal(size=(2, n, n)).astype(np.float32)
    ds = mg.from_array(stack, scale=0.1, units="nm")
    win = shell.add_dataset(ds)
    live = shell.show_live_fft()
    assert live.wait()
    np.testing.assert_allclose(live.spectrum().numpy(),
                               power_spectrum(mg.from_array(stack[0], scale=0.1,
                                                            units="nm")).numpy(),
                               rtol=1e-4, atol=1e-4)
    win.view.set_index((1,))
    assert live.is_busy()
    assert live.wait()
    np.testing.assert_allclose(live.spectrum().numpy(),
                               power_spectrum(mg.from_array(stack[1], scale=0.1,
                                                            units="nm")).numpy(),
                               rtol=1e-4, atol=1e-4)
    assert "frame [1]" in live.source_label.text()


def test_live_fft_open_as_image_is_recorded(shell, qtbot):
    img, _ = _lattice()
    src = mg.from_array(img, scale=DX, units="nm", title="lattice")
    win = shell.add_dataset(src)
    live = shell.show_live_fft()
    region = {"y": (0.8, 4.0), "x": (1.6, 4.8)}
    win.view.set_roi_region(region)
    assert live.wait()
    shown = live.spectrum().numpy()
    (res,) = _wait_result(shell, live.open_as_image)
    np.testing.assert_allclose(res.dataset.numpy(), shown, rtol=1e-6)
    text = shell.session.path.read_text()
    assert 'd2 = mg.run("image.crop", d1, region={' in text
    assert 'd3 = mg.run("fft.power_spectrum", d2' in text
    # the opened spectrum knows its source (the crop) for the Bragg filter
    source = find_source(res.dataset, [])
    assert source is not None and source.shape == (64, 64)


def test_live_fft_rejects_non_images(qtbot):
    view = make_view(mg.from_array(np.zeros((4, 5, 30)), signal_dims=1))
    qtbot.addWidget(view)
    with pytest.raises(ParameterError, match="image"):
        LiveFFTWindow(view)
    with pytest.raises(ParameterError, match="2-D"):
        live_power_spectrum(np.zeros(5), *mg.from_array(np.zeros((2, 2))).axes)


# -- Bragg filter -------------------------------------------------------------------------------
def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_bragg_filter_on_power_spectrum_window(shell, qtbot):
    img, lat = _lattice()
    assert _corr(img, lat) < 0.6  # the noise is strong
    src = mg.from_array(img, scale=DX, units="nm", title="lattice")
    shell.add_dataset(src)
    (spec_win,) = _wait_result(
        shell, lambda: shell.run_operation("fft.power_spectrum", [src], {}))
    assert shell.actions_by_name["bragg_filter"].isEnabled()
    tool = shell.show_bragg_filter()
    assert isinstance(tool, BraggFilterWindow) and tool.source() is src
    picker = tool.picker
    assert picker.radius() == pytest.approx(3 / (N * DX))
    # clicks near the spots snap to the maxima (exact lattice bins)
    bin_k = 1 / (N * DX)
    assert picker.toggle_spot(K1[0] + bin_k, K1[1] - bin_k) == pytest.approx(K1)
    assert picker.toggle_spot(K2[0] - bin_k, K2[1]) == pytest.approx(K2)
    # a click on a Friedel partner removes its spot; clicking again adds it back
    assert picker.toggle_spot(-K2[0], -K2[1]) is None and picker.spots() == [K1]
    assert picker.toggle_spot(K2[0], K2[1]) == pytest.approx(K2)
    xs, ys = picker.partner_items.getData()
    np.testing.assert_allclose(sorted(zip(ys, xs)), sorted([(-K1[0], -K1[1]),
                                                            (-K2[0], -K2[1])]))
    assert tool.bragg.apply_button.isEnabled()
    (res,) = _wait_result(shell, tool.bragg.apply)
    out = res.dataset.numpy()
    assert _corr(out, lat) > 0.9
    text = shell.session.path.read_text()
    line = [s for s in text.splitlines() if 'mg.run("fft.mask_filter"' in s]
    assert len(line) == 1
    assert (f"spots=(({K1[0]!r}, {K1[1]!r}), ({K2[0]!r}, {K2[1]!r}))" in line[0])
    assert "radius=0.46875" in line[0] and 'mode="keep"' in line[0]
    # the recorded call gives the same result
    again = mg.run("fft.mask_filter", src, spots=(K1, K2), radius=3 * bin_k, mode="keep")
    np.testing.assert_allclose(out, again.numpy(), atol=1e-6)
    tool.close()
    assert picker.spot_items.scene() is None


def test_bragg_spots_by_mouse_clicks_in_live_fft(shell, qtbot):
    img, lat = _lattice()
    src = mg.from_array(img, scale=DX, units="nm", title="lattice")
    shell.add_dataset(src)
    live = shell.show_live_fft()
    live.resize(600, 700)
    live.show()
    qtbot.waitExposed(live)
    QtWidgets.QApplication.processEvents()
    vb = live.plot.getViewBox()

    def click(ky, kx):
        scene_pos = vb.mapViewToScene(QtCore.QPointF(kx, ky))
        pos = live.graphics.mapFromScene(scene_pos)
        qtbot.mouseClick(live.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         pos=pos)
        QtWidgets.QApplication.processEvents()

    click(*K1)
    click(-K2[0], -K2[1])  # the partner side: snapped to the exact bin
    np.testing.assert_allclose(sorted(live.picker.spots()), sorted([K1, (-K2[0], -K2[1])]),
                               atol=1e-9)
    click(K1[0] + 0.05, K1[1] - 0.05)  # on the marker: removed
    np.testing.assert_allclose(live.picker.spots(), [(-K2[0], -K2[1])], atol=1e-9)
    click(*K1)
    live.bragg.set_mode("keep")
    (res,) = _wait_result(shell, live.bragg.apply)
    assert _corr(res.dataset.numpy(), lat) > 0.9
    assert 'mg.run("fft.mask_filter", d1, spots=(' in shell.session.path.read_text()
