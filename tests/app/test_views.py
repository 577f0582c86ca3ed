"""Tests of app/views.py: the dataset views on synthetic and real EM data (offscreen Qt)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

import micrographia as mg
from micrographia.app import display
from micrographia.app.scalebar import format_length, nice_length
from micrographia.app.views import (
    FallbackView,
    FourDView,
    ImageView2D,
    SpectrumImageView,
    SpectrumView,
    StackView,
    make_view,
)
from micrographia.dataset import Axis
from micrographia.errors import ParameterError


def _show(qtbot, view, size=(700, 600)):
    qtbot.addWidget(view)
    view.resize(*size)
    with qtbot.waitExposed(view):
        view.show()
    QtCore.QCoreApplication.processEvents()
    return view


def _item_rect(view):
    """The calibrated rectangle the main image item covers (x0, x1, y0, y1)."""
    r = view.image_item.mapRectToParent(view.image_item.boundingRect()).normalized()
    return r.left(), r.right(), r.top(), r.bottom()


def _hover(qtbot, view, x, y, vb=None):
    """Move the mouse (a scene event) to a calibrated position; return the status text."""
    vb = vb or view.view_box
    scene_pos = vb.mapViewToScene(QtCore.QPointF(x, y))
    with qtbot.waitSignal(view.cursorMoved, timeout=2000) as blocker:
        view.graphics.scene().sigMouseMoved.emit(scene_pos)
    return blocker.args[0]


# -- choosing the view --------------------------------------------------------------------------
@pytest.mark.parametrize("shape, signal_dims, cls", [
    ((16, 20), 2, ImageView2D),
    ((3, 16, 20), 2, StackView),
    ((2, 3, 8, 9), 2, FourDView),
    ((4, 5, 30), 1, SpectrumImageView),
    ((6, 30), 1, SpectrumImageView),
    ((30,), 1, SpectrumView),
    ((2, 3, 4, 8, 9), 2, StackView),
    ((3, 4, 5, 6), 3, FallbackView),
])
def test_make_view_picks_the_class_from_the_kind(qtbot, shape, signal_dims, cls):
    ds = mg.from_array(np.arange(np.prod(shape), dtype=np.float32).reshape(shape),
                       signal_dims=signal_dims)
    view = make_view(ds)
    qtbot.addWidget(view)
    assert type(view) is cls
    assert view.dataset is ds
    frame = view.current_frame()
    assert frame.ndim == (1 if cls is SpectrumView else 2)


def test_fallback_shows_the_first_slice_and_says_so(qtbot):
    data = np.random.default_rng(0).random((3, 4, 5, 6))
    view = make_view(mg.from_array(data, signal_dims=3))
    qtbot.addWidget(view)
    assert np.array_equal(view.current_frame(), data[0, 0])
    assert "first 2-D slice" in view.info_label.text()
    assert not view.info_label.isHidden()


# -- images -------------------------------------------------------------------------------------
def test_image_rect_cursor_text_and_value(qtbot):
    data = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30)
    axes = (Axis("y", 20, 0.5, 10.0, "nm"), Axis("x", 30, 0.25, -2.0, "nm"))
    view = _show(qtbot, make_view(mg.from_array(data, axes=axes)))
    x0, x1, y0, y1 = _item_rect(view)
    assert (x0, x1) == pytest.approx((-2.0 - 0.125, -2.0 + 29.5 * 0.25))
    assert (y0, y1) == pytest.approx((10.0 - 0.25, 10.0 + 19.5 * 0.5))
    assert view.view_box.yInverted()  # y down, row 0 on top
    text = _hover(qtbot, view, -2.0 + 7 * 0.25, 10.0 + 12 * 0.5)
    assert text == f"x -0.25 nm, y 16 nm  [7, 12]  value {data[12, 7]}"
    assert view.cursor_text(-2.0 + 7.4 * 0.25, 10.0 + 11.6 * 0.5) == text


def test_negative_scale_keeps_rows_on_top(qtbot):
    data = np.random.default_rng(3).random((8, 10)).astype(np.float32)
    axes = (Axis("y", 8, -0.5, 0.0, "nm"), Axis("x", 10, 0.5, 0.0, "nm"))
    view = _show(qtbot, make_view(mg.from_array(data, axes=axes)))
    x0, x1, y0, y1 = _item_rect(view)
    assert (y0, y1) == pytest.approx((-3.75, 0.25))
    assert (x0, x1) == pytest.approx((-0.25, 4.75))
    assert not view.view_box.yInverted()  # y grows upwards: row 0 (y = 0) is drawn on top
    assert view.cursor_text(1.0, -1.5).endswith(f"[2, 3]  value {data[3, 2]:.4g}")


def test_apply_display_emits_only_changed_keys(qtbot):
    data = np.linspace(0, 1000, 64 * 64).reshape(64, 64)
    view = _show(qtbot, make_view(mg.from_array(data)))
    assert view.display_settings()["clim"] == pytest.approx(
        tuple(np.percentile(data, [0.175, 99.825])))
    with qtbot.waitSignal(view.displayChanged) as blocker:
        view.apply_display({"cmap": "viridis", "gamma": 1.0, "invert": False})
    assert blocker.args[0] == {"cmap": "viridis"}
    assert np.array_equal(view.image_item.lut, display.lut({"cmap": "viridis"}))
    with qtbot.waitSignal(view.displayChanged) as blocker:
        view.apply_display({"clim": (100, 600), "gamma": 0.5})
    assert blocker.args[0] == {"clim": (100.0, 600.0), "gamma": 0.5}
    assert tuple(view.image_item.levels) == (100.0, 600.0)
    assert np.array_equal(view.image_item.lut, display.lut({"cmap": "viridis", "gamma": 0.5}))
    with qtbot.assertNotEmitted(view.displayChanged):
        view.apply_display({"cmap": "viridis", "clim": (100, 600)})
    with qtbot.waitSignal(view.displayChanged) as blocker:
        view.apply_display({"clim": None, "auto_saturation": 0.0})
    assert blocker.args[0] == {"auto_saturation": 0.0, "clim": (0.0, 1000.0)}
    settings = view.display_settings()
    assert settings == {"cmap": "viridis", "clim": (0.0, 1000.0), "gamma": 0.5,
                        "mapping": "linear", "invert": False, "auto_saturation": 0.0}
    mg.display(view.dataset, **settings)  # the shell records exactly these
    with pytest.raises(ParameterError):
        view.apply_display({"cmap": "nope"})
    assert view.display_settings()["cmap"] == "viridis"


def test_set_dataset_keeps_display_settings(qtbot):
    view = _show(qtbot, make_view(mg.from_array(np.zeros((16, 16)))))
    view.apply_display({"cmap": "magma", "clim": (0, 5), "invert": True})
    new = mg.from_array(np.full((16, 16), 2.0))
    view.set_dataset(new)
    assert view.dataset is new
    assert view.display_settings()["cmap"] == "magma"
    assert view.display_settings()["clim"] == (0.0, 5.0)
    assert np.array_equal(view.current_frame(), new.data)
    with pytest.raises(ParameterError):
        view.set_dataset(mg.from_array(np.zeros(10), signal_dims=1))


def test_grab_image_shows_the_colormap(qtbot):
    data = np.zeros((40, 40))
    data[:, 20:] = 1.0
    view = _show(qtbot, make_view(mg.from_array(data)), size=(400, 400))
    view.apply_display({"cmap": "viridis", "clim": (0, 1)})
    img = view.grab_image()
    assert img.width() > 100 and img.height() > 100
    arr = np.array([[img.pixelColor(x, y).getRgb()[:3] for x in range(0, img.width(), 3)]
                    for y in range(0, img.height(), 3)])
    top, bottom = display.colormap("viridis")[-1], display.colormap("viridis")[0]
    assert (np.abs(arr - top).sum(-1) <= 3).sum() > 50  # yellow half
    assert (np.abs(arr - bottom).sum(-1) <= 3).sum() > 50  # purple half


def test_complex_shows_magnitude_and_says_so(qtbot):
    data = np.array([[3 + 4j, 1j], [0, -2]], dtype=np.complex64)
    view = _show(qtbot, make_view(mg.from_array(data)), size=(300, 300))
    assert "magnitude" in view.info_label.text()
    assert np.allclose(view.image_item.image, [[5, 1], [0, 2]])
    assert "(|v| 5)" in view.cursor_text(0, 0)


def test_rgb_structured_data_shows_in_colour(qtbot):
    rgb = np.zeros((4, 5), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")])
    rgb["R"][:, :] = 200
    rgb["B"][2, 3] = 90
    view = _show(qtbot, make_view(mg.from_array(rgb)), size=(300, 300))
    assert view.image_item.image.shape == (4, 5, 3)
    assert tuple(view.image_item.image[2, 3]) == (200, 0, 90)
    assert "RGB" in view.info_label.text()


def test_scale_bar_length_and_label(qtbot):
    assert nice_length(1.8) == 1.0 and nice_length(4.5) == 2.0 and nice_length(0.07) == 0.05
    assert format_length(2.0, "nm") == "2 nm"
    assert format_length(2000.0, "nm") == "2 µm"
    assert format_length(0.5, "nm") == "500 pm"
    assert format_length(5.0, "1/nm") == "5 1/nm"
    view = _show(qtbot, make_view(mg.from_array(np.zeros((100, 100)), scale=0.1, units="nm")),
                 size=(500, 500))
    view.view_box.setRange(xRange=(0, 10), yRange=(0, 10), padding=0)
    QtCore.QCoreApplication.processEvents()
    bar = view.scale_bar
    (x0, x1), _ = view.view_box.viewRange()
    assert bar.length == nice_length(0.18 * (x1 - x0))
    assert bar.length == 1.0 and bar.label == "1 nm"
    assert bar.isVisible()
    view.set_scale_bar(False)
    assert not bar.isVisible()
    # uncalibrated images get no bar
    plain = _show(qtbot, make_view(mg.from_array(np.zeros((8, 8)))), size=(200, 200))
    assert plain.scale_bar is None or not plain.scale_bar.isVisible()


def test_roi_region_is_a_crop_region(qtbot):
    data = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    ds = mg.from_array(data, scale=0.5, units="nm")
    view = _show(qtbot, make_view(ds))
    assert view.roi_region() is None
    view.set_roi_region({"y": (2.0, 5.0), "x": (1.0, 4.5)})
    assert view.roi_action.isChecked()
    region = view.roi_region()
    assert region == {"y": (2.0, 5.0), "x": (1.0, 4.5)}
    crop = mg.run("image.crop", ds, region=region)
    assert np.array_equal(crop.numpy(), data[4:10, 2:9])
    view.roi_action.setChecked(False)
    assert view.roi_region() is None


# -- stacks ---------------------------------------------------------------------------------------
def test_stack_slider_spin_and_keys_change_the_frame(qtbot):
    data = np.random.default_rng(5).random((6, 12, 14)).astype(np.float32)
    axes = (Axis("t", 6, 0.5, 1.0, "s", navigate=True), Axis("y", 12, 1, 0, "nm"),
            Axis("x", 14, 1, 0, "nm"))
    view = _show(qtbot, make_view(mg.from_array(data, axes=axes)))
    levels = tuple(view.image_item.levels)
    with qtbot.waitSignal(view.frameChanged):
        view.sliders[0].setValue(3)
    assert view.current_index() == (3,)
    assert np.array_equal(view.current_frame(), data[3])
    assert view.spin_boxes[0].value() == 3
    assert view.labels[0].text() == "t = 2.5 s  (4/6)"
    assert tuple(view.image_item.levels) == levels  # levels kept across frames
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Right)
    assert view.current_index() == (4,) and view.sliders[0].value() == 4
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Left)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Left)
    assert np.array_equal(view.current_frame(), data[2])
    view.spin_boxes[0].setValue(5)
    assert np.array_equal(view.image_item.image, data[5])
    assert view.display_settings()["frame"] == (5,)
    with qtbot.waitSignal(view.displayChanged) as blocker:
        view.apply_display({"frame": (1,)})
    assert blocker.args[0] == {"frame": (1,)}
    assert view.sliders[0].value() == 1
    view.set_auto_contrast(True)
    view.set_index((4,))
    assert tuple(view.image_item.levels) == pytest.approx(display.levels(data[4], {}))


# -- spectrum images --------------------------------------------------------------------------
def _si():
    rng = np.random.default_rng(7)
    data = rng.poisson(5.0, size=(9, 11, 64)).astype(np.uint16)
    axes = (Axis("y", 9, 2.0, 0.0, "nm", True), Axis("x", 11, 2.0, 0.0, "nm", True),
            Axis("E", 64, 0.01, 0.2, "keV"))
    return data, mg.from_array(data, axes=axes)


def test_si_crosshair_shows_the_pixel_spectrum(qtbot):
    data, ds = _si()
    view = _show(qtbot, make_view(ds), size=(900, 450))
    assert np.array_equal(view.current_frame(), data.sum(axis=-1))
    with qtbot.waitSignal(view.frameChanged):
        view.set_index((4, 7))
    assert view.current_index() == (4, 7)
    assert np.array_equal(view.pixel_spectrum(), data[4, 7, :])
    x, y = view.spectrum_curve.getData()
    assert np.allclose(x, 0.2 + 0.01 * np.arange(64)) and np.array_equal(y, data[4, 7])
    # dragging the crosshair item to a calibrated position picks the nearest pixel
    view.crosshair.setPos(2.0 * 3 + 0.6, 2.0 * 6 - 0.7)
    assert view.current_index() == (6, 3)
    assert np.array_equal(view.spectrum(), data[6, 3])
    text = _hover(qtbot, view, 2.0 * 5, 2.0 * 2)
    assert text == f"x 10 nm, y 4 nm  [5, 2]  value {data[2, 5].sum()}"


def test_si_rectangle_roi_sums_the_region(qtbot):
    data, ds = _si()
    view = _show(qtbot, make_view(ds), size=(900, 450))
    assert view.roi_spectrum() is None
    view.set_roi_region({"y": (2.0, 10.0), "x": (4.0, 16.0)})
    want = data[1:5, 2:8].sum(axis=(0, 1))
    assert np.array_equal(view.roi_spectrum(), want)
    assert np.array_equal(view.spectrum(), want)
    assert np.array_equal(view.roi_curve.getData()[1], want)
    # moving the ROI by one pixel updates the sum
    roi = view._main.roi
    roi.setPos(roi.pos() + QtCore.QPointF(2.0, 0.0))
    assert np.array_equal(view.roi_spectrum(), data[1:5, 3:9].sum(axis=(0, 1)))


def test_si_energy_window_map(qtbot):
    data, ds = _si()
    view = _show(qtbot, make_view(ds), size=(900, 450))
    view.set_energy_window(0.3, 0.45)  # channels with 0.3 <= E < 0.45: 10 .. 24
    assert view.energy_window() == (10, 25)
    assert np.array_equal(view.current_frame(), data[..., 10:25].sum(axis=-1))
    assert view.window_action.isChecked()
    view.span.setRegion((0.5, 0.6))  # dragging the span
    assert view.energy_window() == (30, 40)
    assert np.array_equal(view.current_frame(), data[..., 30:40].sum(axis=-1))
    assert tuple(view.image_item.levels) == pytest.approx(
        display.levels(data[..., 30:40].sum(axis=-1), {}))
    view.set_energy_window(None)
    assert view.energy_window() is None
    assert np.array_equal(view.current_frame(), data.sum(axis=-1))


def test_line_scan_is_shown_as_a_spectrum_image(qtbot):
    data = np.random.default_rng(1).random((6, 40))
    view = _show(qtbot, make_view(mg.from_array(data, signal_dims=1)), size=(700, 400))
    view.set_index((4,))
    assert view.current_index() == (4,)
    assert np.array_equal(view.pixel_spectrum(), data[4])
    assert np.allclose(view.current_frame()[:, 0], data.sum(axis=-1))


def test_spectrum_view_plot_and_cursor(qtbot):
    y = np.random.default_rng(2).random(100)
    ds = mg.from_array(y, signal_dims=1, scale=0.5, units="eV")
    ds = ds.replace(axes=(ds.axes[0].replace(offset=100.0),))
    view = _show(qtbot, make_view(ds), size=(500, 300))
    xs, ys = view.curve.getData()
    assert np.allclose(xs, 100 + 0.5 * np.arange(100)) and np.allclose(ys, y)
    text = _hover(qtbot, view, 110.1, float(y[20]), vb=view.plot.vb)
    assert text == f"{ds.axes[0].name} 110 eV  [20]  value {y[20]:.4g}"


# -- 4D-STEM ----------------------------------------------------------------------------------
def _mask(ky_coords, kx_coords, center, r_out, r_in=0.0):
    d = np.hypot(ky_coords[:, None] - center[0], kx_coords[None, :] - center[1])
    return (d <= r_out) & (d >= r_in)


def test_4d_virtual_detector_and_pattern(qtbot):
    rng = np.random.default_rng(11)
    data = rng.integers(0, 50, size=(3, 4, 16, 18)).astype(np.uint8)
    axes = (Axis("scan_y", 3, 1.0, 0, "nm", True), Axis("scan_x", 4, 1.0, 0, "nm", True),
            Axis("ky", 16, 0.1, -0.8, "1/nm"), Axis("kx", 18, 0.1, -0.9, "1/nm"))
    ds = mg.from_array(data, axes=axes)
    view = _show(qtbot, make_view(ds), size=(900, 450))
    ky, kx = ds.axes[2].coords, ds.axes[3].coords
    view.set_detector("circle", center=(0.0, 0.1), radius=0.35)
    mask = _mask(ky, kx, (0.0, 0.1), 0.35)
    assert np.array_equal(view.detector_mask(), mask)
    assert np.array_equal(view.virtual_image(), (data * mask).sum(axis=(2, 3)))
    view.set_detector("annulus", radius=0.6, inner_radius=0.3)
    mask = _mask(ky, kx, (0.0, 0.1), 0.6, 0.3)
    assert np.array_equal(view.virtual_image(), (data * mask).sum(axis=(2, 3)))
    assert view.detector_combo.currentText() == "annulus"
    assert view.detector()["inner_radius"] == 0.3
    # dragging the outer circle moves the detector (recomputed on a short timer)
    view.outer.setPos(view.outer.pos() + QtCore.QPointF(0.2, 0.0))
    qtbot.waitUntil(lambda: view.detector()["center"] == pytest.approx((0.0, 0.3)))
    mask = _mask(ky, kx, (0.0, 0.3), 0.6, 0.3)
    qtbot.waitUntil(lambda: np.array_equal(view.virtual_image(),
                                           (data * mask).sum(axis=(2, 3))))
    # the pattern follows the probe position
    with qtbot.waitSignal(view.frameChanged):
        view.set_index((2, 1))
    assert np.array_equal(view.current_frame(), data[2, 1])
    text = _hover(qtbot, view, 0.1, -0.2)
    assert text == f"kx 0.1 1/nm, ky -0.2 1/nm  [10, 6]  value {data[2, 1, 6, 10]}"


# -- real files -----------------------------------------------------------------------------------
def test_real_haadf_image(qtbot, shared_data):
    ds = mg.open(shared_data / "dm3" / "multi_signal.dm3", signal=0)
    view = _show(qtbot, make_view(ds))
    assert type(view) is ImageView2D
    s = 0.0177516
    x0, x1, y0, y1 = _item_rect(view)
    assert (x0, x1) == pytest.approx((-s / 2, 511.5 * s), rel=1e-5)
    assert (y0, y1) == pytest.approx((-s / 2, 511.5 * s), rel=1e-5)
    data = ds.numpy()
    text = view.cursor_text(100 * s, 200 * s)
    assert text == f"x 1.775 nm, y 3.55 nm  [100, 200]  value {data[200, 100]}"
    assert view.scale_bar.isVisible() and view.scale_bar.label.endswith("nm")


def test_real_tia_stack(qtbot, shared_data):
    ds = mg.open(shared_data / "tia" / "03_Scanning Preview.emi")
    view = _show(qtbot, make_view(ds))
    assert type(view) is StackView and view.sliders[0].maximum() == 4
    view.sliders[0].setValue(3)
    assert np.array_equal(view.current_frame(), ds.numpy()[3])
    x0, x1, _, _ = _item_rect(view)
    assert x0 == pytest.approx(-24.5986 - 0.384352 / 2, abs=1e-3)


def test_real_bcf_spectrum_image(qtbot, shared_data):
    sets = mg.open(shared_data / "bcf" / "30x30_instructively_packed_16bit_compressed.bcf")
    ds = next(d for d in sets if d.kind == "spectrum_image")
    view = _show(qtbot, make_view(ds), size=(900, 450))
    assert type(view) is SpectrumImageView
    data = ds.numpy()
    view.set_index((12, 20))
    assert np.array_equal(view.pixel_spectrum(), data[12, 20])
    s = ds.axes[0].scale
    x0, x1, _, _ = _item_rect(view)
    assert (x0, x1) == pytest.approx((-s / 2, 29.5 * s))
    view.set_energy_window(ds.axes[-1].offset + 222 * ds.axes[-1].scale,
                           ds.axes[-1].offset + 224 * ds.axes[-1].scale)
    assert view.energy_window() == (222, 224)
    truth = np.load(shared_data / "bcf" / "30x30_16bit.npy")
    assert np.array_equal(view.current_frame(), truth.astype(np.int64).sum(axis=-1))


def test_real_mib_4d(qtbot, shared_data):
    ds = mg.open(shared_data / "mib" / "001_4x2_6bit.mib")
    view = _show(qtbot, make_view(ds), size=(900, 450))
    assert type(view) is FourDView
    data = ds.numpy()
    view.set_index((1, 3))
    assert np.array_equal(view.current_frame(), data[1, 3])
    mask = view.detector_mask()
    assert mask.sum() > 20  # the default detector sits on the direct beam
    assert np.array_equal(view.virtual_image(), (data * mask).sum(axis=(2, 3)))
    # the direct beam (near the left edge) is brighter than the mean
    assert data[1, 3][mask].mean() > 2 * data[1, 3].mean()


def test_lazy_data_is_computed_piece_by_piece(qtbot):
    da = pytest.importorskip("dask.array")
    data, _ = _si()
    lazy = mg.from_array(da.from_array(data, chunks=(3, 4, 64)), signal_dims=1)
    view = _show(qtbot, make_view(lazy), size=(800, 400))
    assert isinstance(view.current_frame(), np.ndarray)
    assert np.array_equal(view.current_frame(), data.sum(axis=-1))
    view.set_index((2, 3))
    assert np.array_equal(view.pixel_spectrum(), data[2, 3])
    view.set_roi_region({"y": (1, 4), "x": (0, 2)})
    assert np.array_equal(view.roi_spectrum(), data[1:4, 0:2].sum(axis=(0, 1)))
    four = np.random.default_rng(4).integers(0, 9, size=(2, 3, 8, 8)).astype(np.uint8)
    view4 = _show(qtbot, make_view(mg.from_array(da.from_array(four, chunks=(1, 3, 8, 8)))))
    view4.set_detector("circle", center=(3.0, 4.0), radius=2.5)
    mask = _mask(np.arange(8.0), np.arange(8.0), (3.0, 4.0), 2.5)
    assert np.array_equal(view4.virtual_image(), (four * mask).sum(axis=(2, 3)))
    stack = np.random.default_rng(6).random((4, 5, 6))
    view_s = _show(qtbot, make_view(mg.from_array(da.from_array(stack, chunks=(1, 5, 6)))))
    view_s.set_index((2,))
    assert np.array_equal(view_s.current_frame(), stack[2])


def test_arrow_keys_move_the_crosshair_and_roi_signal(qtbot):
    data, ds = _si()
    view = _show(qtbot, make_view(ds), size=(800, 400))
    view.set_index((4, 4))
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Down)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Down)
    assert view.current_index() == (6, 5)
    assert np.array_equal(view.pixel_spectrum(), data[6, 5])
    with qtbot.waitSignal(view.roiChanged):
        view.set_roi_region({"y": (0.0, 4.0), "x": (0.0, 4.0)})
    with qtbot.waitSignal(view.roiChanged):
        view._main.roi.setPos(QtCore.QPointF(1.0, 1.0))
    assert np.array_equal(view.roi_spectrum(), data[1:3, 1:3].sum(axis=(0, 1)))


def test_stack_set_dataset_with_other_navigation(qtbot):
    rng = np.random.default_rng(8)
    view = _show(qtbot, make_view(mg.from_array(rng.random((2, 2, 3, 5, 5)))))
    assert len(view.sliders) == 3
    view.set_index((1, 1, 2))
    view.set_dataset(mg.from_array(rng.random((3, 2, 5, 5, 5))))
    assert len(view.sliders) == 3 and view.current_index() == (1, 1, 2)
    new = rng.random((4, 5, 5))
    with pytest.raises(ParameterError):
        view.set_dataset(mg.from_array(rng.random((2, 3, 5, 5))))  # 4D: another view
    view.set_dataset(mg.from_array(rng.random((2, 2, 2, 2, 5, 5))))
    assert len(view.sliders) == 4 and view.current_index() == (0, 0, 0, 0)
    stack = make_view(mg.from_array(np.zeros((2, 5, 5))))
    qtbot.addWidget(stack)
    stack.set_dataset(mg.from_array(new))
    assert len(stack.sliders) == 1 and stack.sliders[0].maximum() == 3
    stack.sliders[0].setValue(2)
    assert np.array_equal(stack.current_frame(), new[2])


# -- fast grey rendering ----------------------------------------------------------------------
def _qimage_rgb(qimage):
    from PySide6 import QtGui

    q = qimage.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    buf = np.frombuffer(q.constBits(), np.uint8).reshape(q.height(), q.bytesPerLine())
    return buf[:, :q.width() * 4].reshape(q.height(), q.width(), 4)[..., :3].copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
@pytest.mark.parametrize("settings", [
    {"cmap": "grey"},
    {"cmap": "grey", "gamma": 0.6},
    {"cmap": "grey", "mapping": "log", "invert": True},
    {"cmap": "viridis"},
])
@pytest.mark.parametrize("split", [False, True])
def test_fast_image_item_shows_what_pyqtgraph_shows(qtbot, monkeypatch, dtype, settings, split):
    import pyqtgraph as pg

    from micrographia.app import views
    from micrographia.app.views import _FastImageItem, _linear_grey_table

    if split:  # small chunks and the two-halves path on small images
        monkeypatch.setattr(views, "_RENDER_CHUNK", 777)
        monkeypatch.setattr(views, "_RENDER_SPLIT", 1000)

    # the integer formula is the linear grey table, entry for entry
    assert np.array_equal(_linear_grey_table(), display.lut({"cmap": "grey"})[:, 0])
    rng = np.random.default_rng(11)
    for shape, levels in (((70, 90), (80.0, 130.0)), ((257, 300), (0.0, 200.0)),
                          ((33, 17), (5.0, 5.0)), ((40, 50), (150.0, 60.0))):
        if dtype == np.uint16:
            img = rng.integers(0, 260, shape).astype(np.uint16)
        else:
            img = rng.normal(100.0, 40.0, shape).astype(dtype)
            img[0, :6] = [levels[0], levels[1], np.nextafter(levels[1], 0), 1e30, -np.inf,
                          np.inf]
        lut = display.lut(settings)
        fast, ref = _FastImageItem(axisOrder="row-major"), pg.ImageItem(axisOrder="row-major")
        for item in (fast, ref):
            item.setLookupTable(lut, update=False)
            item.setImage(img, autoLevels=False, levels=levels)
            item.render()
        assert (fast._render_grey() is not None) == (settings["cmap"] == "grey")
        np.testing.assert_array_equal(_qimage_rgb(fast.qimage), _qimage_rgb(ref.qimage))
        assert fast.image is img or np.array_equal(fast.image, img)


def test_fast_image_item_leaves_nan_images_to_pyqtgraph(qtbot):
    from micrographia.app.views import _FastImageItem

    img = np.arange(30, dtype=np.float32).reshape(5, 6)
    img[2, 3] = np.nan
    item = _FastImageItem(axisOrder="row-major")
    item.setLookupTable(display.lut({"cmap": "grey"}), update=False)
    item.setImage(img, autoLevels=False, levels=(0.0, 29.0))
    item.render()
    assert item._render_grey() is None  # transparent NaN pixels: pyqtgraph's own path
    assert item.qimage is not None and item.qimage.pixelColor(3, 2).alpha() == 0


def test_view_renders_grey_frames_like_pyqtgraph(qtbot):
    import pyqtgraph as pg

    rng = np.random.default_rng(3)
    data = rng.normal(10.0, 2.0, (3, 300, 280)).astype(np.float32)
    view = _show(qtbot, make_view(mg.from_array(data)), size=(500, 500))
    for i in (1, 2):
        view.set_index((i,))
        QtCore.QCoreApplication.processEvents()
        view.repaint()
        item = view.image_item
        assert np.array_equal(item.image, data[i])
        ref = pg.ImageItem(axisOrder="row-major")
        ref.setLookupTable(item.lut, update=False)
        ref.setImage(data[i], autoLevels=False, levels=tuple(item.levels))
        ref.render()
        np.testing.assert_array_equal(_qimage_rgb(item.qimage), _qimage_rgb(ref.qimage))


def test_label_image_shows_each_object_in_its_own_colour(qtbot):
    from micrographia.io.palette import label_palette

    rng = np.random.default_rng(4)
    img = mg.from_array(rng.random((3, 48, 64)).astype(np.float32), scale=0.1, units="nm")
    labels = mg.run("segment.label", mg.run("segment.threshold", img, method="manual",
                                            value=0.8))
    view = _show(qtbot, make_view(labels))
    assert view.display_settings()["cmap"] == "labels"
    shown = view.image_item.image
    assert shown.shape == (48, 64, 3) and shown.dtype == np.uint8
    frame = np.asarray(labels.data[0])
    pal = label_palette(256)
    np.testing.assert_array_equal(shown, pal[np.where(frame > 0, (frame - 1) % 255 + 1, 0)])
    assert frame.max() > 12  # many objects, all in colour; background black
    assert tuple(shown[frame == 0][0]) == (0, 0, 0)
    # the user can still pick a continuous colormap
    view.apply_display({"cmap": "viridis"})
    assert view.image_item.image.ndim == 2
    # ... auto-contrasted on the labels, as any image (not a stale range)
    assert view.display_settings()["clim"] == display.levels(frame, {})
    # a grey image shown in the same view afterwards goes back to grey
    view.apply_display({"cmap": "labels"})
    view.set_dataset(img)
    assert view.display_settings()["cmap"] == "grey"
