"""Headless rendering: exact grey mapping, auto-contrast, colormaps, NaN and frame selection."""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg
from micrographia.dataset import Axis, Dataset
from micrographia.io.render import COLORMAPS, auto_clim, colormap, render


def _img(a) -> Dataset:
    a = np.asarray(a)
    return Dataset(a, [Axis("y", a.shape[0]), Axis("x", a.shape[1])])


def test_grey_clim_is_exact():
    rng = np.random.default_rng(0)
    v = rng.uniform(-5, 15, (17, 23))
    v[0, :5] = [-10, 0.0, 2.5, 10.0, 20]  # outside and on the range ends
    lo, hi = 0.0, 10.0
    rgb = render(_img(v), {"cmap": "gray", "clim": (lo, hi)})
    assert rgb.shape == (17, 23, 3) and rgb.dtype == np.uint8
    expected = np.array([[round(255 * (min(max(x, lo), hi) - lo) / (hi - lo)) for x in row]
                         for row in v])
    np.testing.assert_array_equal(rgb[..., 0], expected)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert rgb[0, :5, 0].tolist() == [0, 0, 64, 255, 255]  # 63.75 rounds to 64


def test_integer_ramp_maps_to_itself():
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = render(_img(ramp), {"clim": (0, 255)})
    np.testing.assert_array_equal(rgb[..., 0], ramp)


def test_auto_contrast_saturates_the_tails():
    v = np.arange(10000, dtype=np.float64).reshape(100, 100)
    lo, hi = auto_clim(v, 0.35)
    assert lo == pytest.approx(np.percentile(v, 0.175))
    assert hi == pytest.approx(np.percentile(v, 99.825))
    rgb = render(_img(v))[..., 0]
    # 0.35 % of 10000 pixels, half in each tail, lie outside the range and are saturated
    assert (v < lo).sum() == 18 and (v > hi).sum() == 18
    assert np.all(rgb[v <= lo] == 0) and np.all(rgb[v >= hi] == 255)
    inside = (v > lo + 0.01 * (hi - lo)) & (v < hi - 0.01 * (hi - lo))
    assert rgb[inside].min() > 0 and rgb[inside].max() < 255
    assert auto_clim(v, 0) == (0.0, 9999.0)  # no saturation: the full range
    assert auto_clim(v, 2.0) == pytest.approx((np.percentile(v, 1), np.percentile(v, 99)))
    # a single hot pixel does not wash out the image
    v2 = np.random.default_rng(1).normal(100, 5, (64, 64))
    v2[3, 3] = 1e6
    g = render(_img(v2))[..., 0]
    assert g.std() > 30


def test_constant_image_is_black():
    rgb = render(_img(np.full((4, 5), 7.0)))
    assert not rgb.any()


def test_invert():
    v = np.linspace(0, 1, 20).reshape(4, 5)
    a = render(_img(v), {"clim": (0, 1)})[..., 0].astype(int)
    b = render(_img(v), {"clim": (0, 1), "invert": True})[..., 0].astype(int)
    np.testing.assert_array_equal(a + b, np.full_like(a, 255))


def test_gamma_and_mappings():
    v = np.array([[0.0, 0.25, 0.5, 1.0]])
    g = render(_img(v), {"clim": (0, 1), "gamma": 2.0})[0, :, 0]
    assert g.tolist() == [0, round(255 * 0.0625), round(255 * 0.25), 255]
    s = render(_img(v), {"clim": (0, 1), "mapping": "sqrt"})[0, :, 0]
    assert s.tolist() == [0, round(255 * 0.5), round(255 * np.sqrt(0.5)), 255]
    lg = render(_img(v), {"clim": (0, 1), "mapping": "log"})[0, :, 0]
    assert lg.tolist() == [0] + [round(255 * np.log10(1 + 999 * t) / 3) for t in (0.25, 0.5)] \
        + [255]
    assert lg[1] > 200  # log lifts the dark end
    with pytest.raises(mg.ParameterError):
        render(_img(v), {"mapping": "cubic"})
    with pytest.raises(mg.ParameterError):
        render(_img(v), {"gamma": 0})


@pytest.mark.parametrize("name,low,high", [
    ("gray", (0, 0, 0), (255, 255, 255)),
    ("grey", (0, 0, 0), (255, 255, 255)),
    ("viridis", (68, 1, 84), (253, 231, 37)),
    ("inferno", (0, 0, 4), (252, 255, 164)),
    ("magma", (0, 0, 4), (252, 253, 191)),
    ("plasma", (13, 8, 135), (240, 249, 33)),
    ("cividis", (0, 32, 77), (255, 234, 70)),
    ("hot", (0, 0, 0), (255, 255, 255)),
])
def test_colormap_endpoints(name, low, high):
    lut = colormap(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert tuple(lut[0]) == low and tuple(lut[-1]) == high
    rgb = render(_img(np.array([[0.0, 1.0]])), {"cmap": name, "clim": (0, 1)})
    assert tuple(rgb[0, 0]) == low and tuple(rgb[0, 1]) == high


def test_colormaps_are_smooth_and_monotonic_in_lightness():
    for name in COLORMAPS:
        if name == "labels":
            continue  # categorical by design (tested below)
        lut = colormap(name).astype(float)
        assert np.abs(np.diff(lut, axis=0)).max() <= 12, name
        luma = lut @ [0.299, 0.587, 0.114]
        if name in ("RdBu", "phase"):
            continue  # diverging and cyclic maps are not monotonic by design (tested below)
        if name != "plasma":  # plasma's blue end is slightly brighter than its purple
            assert np.all(np.diff(luma) > -1.0), name
    hot = colormap("hot")
    assert tuple(hot[93]) == (255, 0, 0) or hot[93, 0] >= 250  # red saturates first
    with pytest.raises(mg.ParameterError, match="unknown colormap"):
        colormap("jet")


def test_diverging_and_cyclic_maps():
    rdbu = colormap("RdBu").astype(float)
    luma = rdbu @ [0.299, 0.587, 0.114]
    assert 120 <= int(np.argmax(luma)) <= 135  # lightest at the centre (zero of a symmetric clim)
    assert rdbu[0, 2] > rdbu[0, 0] and rdbu[-1, 0] > rdbu[-1, 2]  # blue low end, red high end
    phase = colormap("phase")
    np.testing.assert_array_equal(phase[0], phase[-1])  # -pi and +pi get the same colour
    rgb = render(_img(np.array([[-1.0, 0.0, 1.0]])), {"cmap": "RdBu", "clim": (-1, 1)})
    assert rgb[0, 1].min() >= 240  # zero is near-white


def test_nan_goes_to_the_low_end():
    v = np.array([[np.nan, 0.0, 1.0], [2.0, np.nan, 3.0]])
    rgb = render(_img(v), {"cmap": "viridis", "clim": (0, 3)})
    assert tuple(rgb[0, 0]) == (68, 1, 84) and tuple(rgb[1, 1]) == (68, 1, 84)
    assert tuple(rgb[1, 2]) == (253, 231, 37)
    auto = render(_img(v))  # NaNs ignored by auto-contrast
    assert auto[0, 1, 0] == 0 and auto[1, 2, 0] == 255
    inv = render(_img(v), {"clim": (0, 3), "invert": True})
    assert inv[0, 0, 0] == 0 and inv[0, 1, 0] == 255


def test_complex_renders_magnitude():
    v = np.array([[3 + 4j, 0j], [1j, -2.5 + 0j]], dtype=np.complex64)
    rgb = render(_img(v), {"clim": (0, 5)})[..., 0]
    assert rgb.tolist() == [[255, 0], [51, round(255 * 0.5)]]


def test_frame_selection():
    data = np.stack([np.full((4, 6), k, dtype=np.uint16) for k in range(5)])
    data[:, 0, 0] = 0
    data[:, 0, 1] = 10
    d = mg.Dataset(data, [Axis("t", 5, navigate=True), Axis("y", 4), Axis("x", 6)])
    first = render(d, {"clim": (0, 10)})
    assert first[1, 1, 0] == 0
    third = render(d, {"clim": (0, 10), "frame": (3,)})
    assert third[1, 1, 0] == round(255 * 0.3)
    assert render(d, {"clim": (0, 10), "frame": 4})[1, 1, 0] == 102
    with pytest.raises(mg.ParameterError, match="out of range"):
        render(d, {"frame": (5,)})


def test_lazy_frame():
    da = pytest.importorskip("dask.array")
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    d = mg.Dataset(da.from_array(data, chunks=(1, 4, 5)),
                   [Axis("t", 3, navigate=True), Axis("y", 4), Axis("x", 5)])
    np.testing.assert_array_equal(render(d, {"frame": (2,), "clim": (40, 59)}),
                                  render(mg.Dataset(data[2]), {"clim": (40, 59)}))


def test_spectrum_is_refused():
    s = mg.Dataset(np.arange(10.0), [Axis("E", 10, units="eV")])
    with pytest.raises(mg.ParameterError, match="spectrum"):
        render(s)


def test_label_palette_is_distinct_and_background_black():
    from micrographia.io.palette import _srgb_to_lab, label_indices, label_palette

    lut = colormap("labels")
    assert lut.shape == (256, 3) and tuple(lut[0]) == (0, 0, 0)
    assert np.array_equal(lut, label_palette(256))
    lab = _srgb_to_lab(lut[1:].astype(float) / 255)
    d = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert d.min() > 10  # every pair of the 255 colours differs visibly (ΔE*ab)
    assert d[:12, :12].min() > 40  # the first dozen (small segmentations) very clearly
    assert lab[:, 0].min() > 30  # none is lost against the black background
    idx = label_indices(np.array([[0, 1, 2, 255, 256, 511, -4]]))
    np.testing.assert_array_equal(idx, [[0, 1, 2, 255, 1, 1, 0]])
    np.testing.assert_array_equal(label_indices(np.array([np.nan, 0.0, 3.0])), [0, 0, 3])


def test_label_images_render_categorically_by_default():
    labels = np.zeros((6, 8), np.int32)
    labels[1:3, 1:3] = 1
    labels[3:5, 4:7] = 2
    labels[0, 7] = 300
    plain = _img(labels)
    marked = plain.replace(metadata={"Micrographia": {"labels": True}})
    from micrographia.io.render import default_cmap, is_label_image

    assert not is_label_image(plain) and is_label_image(marked)
    assert default_cmap(plain) == "gray" and default_cmap(marked) == "labels"
    rgb = render(marked)
    lut = colormap("labels")
    assert tuple(rgb[0, 0]) == (0, 0, 0)
    assert tuple(rgb[1, 1]) == tuple(lut[1]) and tuple(rgb[3, 4]) == tuple(lut[2])
    assert tuple(rgb[0, 7]) == tuple(lut[1 + (300 - 1) % 255])
    # the display range, mapping and gamma do not change a categorical rendering
    same = render(marked, {"clim": (0, 1000), "mapping": "log", "gamma": 2.0})
    np.testing.assert_array_equal(same, rgb)
    # an explicit colormap still wins; unmarked data stays grey
    grey = render(marked, {"cmap": "gray"})
    assert np.all(grey[..., 0] == grey[..., 1]) and grey[0, 7, 0] == 255
    assert np.all(render(plain)[..., 0] == render(plain)[..., 2])
