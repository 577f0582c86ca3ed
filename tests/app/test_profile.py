"""Line selection with a width on the views, line_profile and the live ProfileWindow."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

import micrographia as mg  # noqa: E402
from micrographia.app.profile import (  # noqa: E402
    ProfileWindow,
    line_length,
    line_profile,
    profile_distances,
)
from micrographia.app.views import make_view  # noqa: E402
from micrographia.dataset import Axis  # noqa: E402
from micrographia.errors import ParameterError  # noqa: E402

SY, SX = 0.5, 0.25  # nm per pixel along y and x
OY, OX = 10.0, -3.0  # nm


def _ramp(ny: int = 30, nx: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    return 2.0 * x + 3.0 * y + 1.0


def _image(data: np.ndarray, title: str = "ramp") -> mg.Dataset:
    ny, nx = data.shape[-2:]
    axes = [Axis(f"t{i}", n, 1.0, 0.0, "", True) for i, n in enumerate(data.shape[:-2])]
    axes += [Axis("y", ny, SY, OY, "nm", False), Axis("x", nx, SX, OX, "nm", False)]
    return mg.Dataset(data, axes=axes, title=title)


def _cal(iy: float, ix: float) -> tuple[float, float]:
    return OY + iy * SY, OX + ix * SX


# -- line_profile ------------------------------------------------------------------------
def test_line_profile_of_a_linear_ramp_is_exact():
    f = _ramp()
    # horizontal: integer samples, one per pixel, both ends included
    p = line_profile(f, (2, 1), (2, 17))
    np.testing.assert_array_equal(p, 2.0 * np.arange(1, 18) + 7.0)
    # diagonal 3-4-5 line of length 20 px: 21 samples, bilinear is exact on a ramp
    p = line_profile(f, (2, 3), (14, 19))
    t = np.linspace(0.0, 1.0, 21)
    np.testing.assert_allclose(p, 2.0 * (3 + 16 * t) + 3.0 * (2 + 12 * t) + 1.0, atol=1e-12)
    # a width does not change the profile of a ramp across its own direction when the line
    # runs along x (rows above and below average to the centre row)
    np.testing.assert_allclose(line_profile(f, (10, 2), (10, 30), width=5),
                               line_profile(f, (10, 2), (10, 30)), atol=1e-12)


def test_width_averages_parallel_lines():
    rng = np.random.default_rng(3)
    f = rng.random((25, 30))
    # odd width along a row: the mean of the rows around it
    np.testing.assert_allclose(line_profile(f, (10, 3), (10, 20), width=3),
                               f[9:12, 3:21].mean(axis=0), atol=1e-14)
    # even width: lines half-way between rows (bilinear: mean of the two neighbours)
    half = 0.5 * (f[8:12, 3:21] + f[9:13, 3:21])
    np.testing.assert_allclose(line_profile(f, (10, 3), (10, 20), width=4),
                               half.mean(axis=0), atol=1e-14)
    # along a column: the mean of the columns around it
    np.testing.assert_allclose(line_profile(f, (2, 7), (22, 7), width=5),
                               f[2:23, 5:10].mean(axis=1), atol=1e-14)


@pytest.mark.parametrize("width", [1, 2, 5])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_matches_skimage_profile_line(width, order):
    from skimage.measure import profile_line

    rng = np.random.default_rng(width * 10 + order)
    f = rng.random((40, 50))
    for start, end in (((3.5, 4.2), (20.1, 45.7)), ((35, 45), (2, 3)), ((0, 0), (39, 49)),
                       ((12, 0), (12, 49))):
        ours = line_profile(f, start, end, width=width, order=order)
        ref = profile_line(f, start, end, linewidth=width, order=order, mode="reflect")
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_distances_lengths_and_errors():
    assert line_length((2, 3), (14, 19), (SY, SX)) == pytest.approx(math.hypot(12 * SY, 16 * SX))
    d = profile_distances((2, 3), (14, 19), (SY, SX))
    np.testing.assert_allclose(d, np.linspace(0, math.hypot(6.0, 4.0), 21))
    assert line_profile(np.ones((4, 4)), (1, 1), (1, 1)).shape == (1,)
    np.testing.assert_allclose(line_profile(np.full((4, 4), 2 + 0j), (0, 0), (0, 3)), 2.0)
    with pytest.raises(ParameterError):
        line_profile(np.ones(5), (0, 0), (0, 3))
    with pytest.raises(ParameterError):
        line_profile(np.ones((5, 5)), (0, 0), (0, 3), width=0)


# -- the view's line selection -------------------------------------------------------------
def test_view_line_roi_in_calibrated_units(qtbot):
    view = make_view(_image(_ramp()))
    qtbot.addWidget(view)
    assert view.supports_line() and view.line_roi() is None
    with qtbot.waitSignal(view.lineChanged):
        view.line_action.trigger()
    line = view.line_roi()
    assert line is not None and line["width"] == 1
    assert line["start"][0] == line["end"][0]  # the default line is horizontal
    with qtbot.waitSignal(view.lineChanged):
        view.set_line_roi(_cal(2, 3), _cal(14, 19), width=3)
    line = view.line_roi()
    np.testing.assert_allclose(line["start"], _cal(2, 3))
    np.testing.assert_allclose(line["end"], _cal(14, 19))
    assert line["width"] == 3 and view.line_width_spin.value() == 3
    px = view.line_roi_pixels()
    np.testing.assert_allclose(px["start"], (2, 3), atol=1e-9)
    np.testing.assert_allclose(px["end"], (14, 19), atol=1e-9)
    # the width spin box changes the width (and says so)
    with qtbot.waitSignal(view.lineChanged):
        view.line_width_spin.setValue(5)
    assert view.line_roi()["width"] == 5
    assert view._main.band.isVisible()
    # dragging the whole line (the ROI's position) moves both ends
    view._main.line.setPos((SX * 2, SY * 1))
    np.testing.assert_allclose(view.line_roi_pixels()["start"], (3, 5), atol=1e-9)
    # remove
    with qtbot.waitSignal(view.lineChanged):
        view.line_action.trigger()
    assert view.line_roi() is None and not view.line_action.isChecked()


def test_profile_window_on_ramp_is_exact_with_calibrated_distance(qtbot, tmp_path):
    view = make_view(_image(_ramp()))
    qtbot.addWidget(view)
    view.set_line_roi(_cal(2, 3), _cal(14, 19))
    pw = ProfileWindow(view)
    qtbot.addWidget(pw)
    dist, values = pw.profile()
    t = np.linspace(0.0, 1.0, 21)
    np.testing.assert_allclose(values, 2.0 * (3 + 16 * t) + 3.0 * (2 + 12 * t) + 1.0,
                               atol=1e-9)
    length = math.hypot(12 * SY, 16 * SX)  # nm
    np.testing.assert_allclose(dist, np.linspace(0.0, length, 21), atol=1e-9)
    assert pw.units == "nm"
    stats = pw.statistics()
    assert stats["length"] == pytest.approx(length)
    assert stats["min"] == pytest.approx(values.min())
    assert stats["max"] == pytest.approx(values.max())
    assert stats["mean"] == pytest.approx(values.mean())
    assert "length 7.2111 nm" in pw.stats_label.text()
    assert pw.plot.getPlotItem().getAxis("bottom").labelText == "distance (nm)"
    # live: moving the line recomputes
    with qtbot.waitSignal(pw.refreshed):
        view.set_line_roi(_cal(5, 0), _cal(5, 39), width=3)
    dist, values = pw.profile()
    np.testing.assert_allclose(values, 2.0 * np.arange(40) + 16.0, atol=1e-9)
    np.testing.assert_allclose(dist, SX * np.arange(40), atol=1e-9)
    # Save CSV (micrographia.io.write of a Table) round-trips
    out = pw.save_csv(tmp_path / "profile.csv")
    from micrographia.io import read_table

    table = read_table(out)
    np.testing.assert_allclose(table["distance"], dist, rtol=1e-12)
    np.testing.assert_allclose(table["value"], values, rtol=1e-12)
    assert table.units.get("distance") == "nm"
    # Copy: tab-separated with a header
    pw.copy()
    from PySide6 import QtWidgets

    lines = QtWidgets.QApplication.clipboard().text().splitlines()
    assert lines[0] == "distance (nm)\tvalue" and len(lines) == 41
    assert [float(v) for v in lines[2].split("\t")] == pytest.approx([SX, 18.0])


def test_profile_follows_stack_frame(qtbot):
    frames = np.stack([(k + 1) * _ramp(20, 24) for k in range(4)])
    view = make_view(_image(frames, "stack"))
    qtbot.addWidget(view)
    assert type(view).__name__ == "StackView"
    view.set_line_roi(_cal(4, 2), _cal(4, 20), width=1)
    pw = ProfileWindow(view)
    qtbot.addWidget(pw)
    base = 2.0 * np.arange(2, 21) + 13.0
    np.testing.assert_allclose(pw.profile()[1], base)
    with qtbot.waitSignal(pw.refreshed):
        view.sliders[0].setValue(2)
    np.testing.assert_allclose(pw.profile()[1], 3 * base)
    # closing stops following
    pw.close()
    view.set_index((3,))
    np.testing.assert_allclose(pw.profile()[1], 3 * base)


def test_profile_window_draws_default_line_and_uncalibrated_axes(qtbot):
    f = _ramp(16, 20)
    ds = mg.from_array(f, title="pixels")
    view = make_view(ds)
    qtbot.addWidget(view)
    pw = ProfileWindow(view)
    qtbot.addWidget(pw)
    line = view.line_roi()
    assert line is not None and view.line_action.isChecked()
    assert pw.units == "px"
    (y0, x0), (y1, x1) = line["start"], line["end"]
    assert y0 == y1 == 7.0  # through the centre row
    np.testing.assert_allclose(pw.profile()[1], line_profile(f, (y0, x0), (y1, x1)))
    assert pw.statistics()["length"] == pytest.approx(x1 - x0)


def test_line_on_spectrum_image_navigator(qtbot):
    rng = np.random.default_rng(0)
    data = rng.random((12, 14, 32))
    axes = [Axis("y", 12, 2.0, 0.0, "nm", True), Axis("x", 14, 2.0, 0.0, "nm", True),
            Axis("E", 32, 0.1, 100.0, "eV", False)]
    ds = mg.Dataset(data, axes=axes, title="si")
    view = make_view(ds)
    qtbot.addWidget(view)
    assert view.supports_line()
    view.set_line_roi((2.0, 0.0), (2.0, 26.0), width=1)
    pw = ProfileWindow(view)
    qtbot.addWidget(pw)
    np.testing.assert_allclose(pw.profile()[1], data.sum(axis=-1)[1, :], rtol=1e-6)
    assert pw.units == "nm" and pw.statistics()["length"] == pytest.approx(26.0)
