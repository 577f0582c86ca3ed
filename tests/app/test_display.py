"""Tests of app/display.py: lookup tables and display ranges match the PNG renderer."""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg
from micrographia.app import display
from micrographia.errors import ParameterError
from micrographia.io import render as render_mod

N = display.LUT_SIZE


def _pyqtgraph_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The LUT entry pyqtgraph picks for a value between levels (lo, hi)."""
    return np.clip(np.floor((values - lo) * N / (hi - lo)), 0, N - 1).astype(np.intp)


def test_grey_lut_endpoints_and_linear_ramp():
    lut = display.lut({"cmap": "grey"})
    assert lut.shape == (N, 3) and lut.dtype == np.uint8
    assert tuple(lut[0]) == (0, 0, 0)
    assert tuple(lut[-1]) == (255, 255, 255)
    # entry k is the colour of t = (k + 0.5) / N
    assert tuple(lut[N // 2]) == (128, 128, 128)
    assert np.all(np.diff(lut[:, 0].astype(int)) >= 0)


def test_invert_and_gamma_fold_into_the_lut():
    inv = display.lut({"cmap": "grey", "invert": True})
    assert tuple(inv[0]) == (255, 255, 255) and tuple(inv[-1]) == (0, 0, 0)
    g2 = display.lut({"cmap": "grey", "gamma": 2.0})
    assert tuple(g2[0]) == (0, 0, 0) and tuple(g2[-1]) == (255, 255, 255)
    t = (N // 2 + 0.5) / N
    assert g2[N // 2, 0] == round(255 * t ** 2)  # 64
    sq = display.lut({"mapping": "sqrt"})
    assert sq[N // 4, 0] == round(255 * np.sqrt((N // 4 + 0.5) / N))  # 128
    lg = display.lut({"mapping": "log"})
    assert lg[0, 0] == 0 and lg[-1, 0] == 255
    assert lg[N // 10, 0] == round(255 * np.log10(1 + 999 * (N // 10 + 0.5) / N) / 3)  # 170


@pytest.mark.parametrize("settings", [
    {"cmap": "grey"},
    {"cmap": "viridis", "gamma": 0.7},
    {"cmap": "inferno", "mapping": "log", "invert": True},
    {"cmap": "magma", "mapping": "sqrt"},
])
def test_on_screen_colours_match_the_png_renderer(settings):
    rng = np.random.default_rng(1)
    img = rng.normal(100.0, 30.0, size=(64, 64))
    ds = mg.from_array(img)
    clim = (60.0, 150.0)
    png = render_mod.render(ds, {**settings, "clim": clim})
    screen = display.lut(settings)[_pyqtgraph_index(img, *clim)]
    diff = np.abs(png.astype(int) - screen.astype(int))
    # at most one colormap entry apart (a rounding tie), and almost always identical
    step = np.abs(np.diff(display.colormap(settings["cmap"]).astype(int), axis=0)).max()
    assert diff.max() <= step
    assert (diff.max(axis=-1) == 0).mean() > 0.99


def test_levels_clim_and_auto_contrast_percentiles():
    rng = np.random.default_rng(2)
    frame = rng.gamma(2.0, 50.0, size=(100, 120))
    frame[3, 4] = np.nan
    assert display.levels(frame, {"clim": (1.0, 9.0)}) == (1.0, 9.0)
    lo, hi = display.levels(frame, {"auto_saturation": 1.0})
    want = np.percentile(frame[np.isfinite(frame)], [0.5, 99.5])
    assert lo == pytest.approx(want[0]) and hi == pytest.approx(want[1])
    lo, hi = display.levels(frame, {})
    want = np.percentile(frame[np.isfinite(frame)], [0.175, 99.825])
    assert (lo, hi) == pytest.approx(tuple(want))
    assert display.levels(frame, {"auto_saturation": 0.0}) == (
        pytest.approx(np.nanmin(frame)), pytest.approx(np.nanmax(frame)))
    # complex: magnitude; constant: a valid range
    z = np.full((4, 4), 3 + 4j)
    z[0, 0] = 0
    assert display.levels(z, {"auto_saturation": 0}) == (0.0, 5.0)
    assert display.levels(np.ones((3, 3)), {}) == (1.0, 2.0)


def test_auto_contrast_of_large_frames_within_a_grey_level_of_the_exact_range():
    # frames above AUTO_SAMPLE values are contrasted from an evenly strided sample: the range
    # must stay within one of the 256 grey levels of the exact percentiles, also for a
    # diffraction pattern whose bright tail is a few small spots
    rng = np.random.default_rng(1)
    n = 2048
    assert n * n > 3 * display.AUTO_SAMPLE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    lattice = (np.cos(xx * 0.3) * np.cos(yy * 0.3)
               + rng.normal(0, 0.3, (n, n))).astype(np.float32)
    dp = 1e4 / (1 + np.hypot(xx - n / 2, yy - n / 2) / 25) ** 2
    for cy, cx in rng.uniform(100, n - 100, (40, 2)):
        dp += 5e3 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0 ** 2))
    dp = rng.poisson(dp).astype(np.float32)
    for frame in (lattice, dp):
        exact = np.percentile(frame, [0.175, 99.825])
        lo, hi = display.levels(frame, {})
        grey = (exact[1] - exact[0]) / 256
        assert abs(lo - exact[0]) < grey and abs(hi - exact[1]) < grey


def test_colormap_list_covers_the_needed_kinds():
    for name in ("grey", "viridis", "inferno", "magma", "cividis", "RdBu", "phase"):
        assert name in display.COLORMAPS
    for name in display.COLORMAPS:
        table = display.colormap(name)
        assert table.shape == (256, 3) and table.dtype == np.uint8
    # viridis equals the renderer's; the diverging map is light in the middle and dark at
    # both ends; the cyclic map starts and ends on the same colour
    assert np.array_equal(display.colormap("viridis"), render_mod.colormap("viridis"))
    rdbu = display.colormap("RdBu").astype(int)
    assert rdbu[128].sum() > 700 and rdbu[0].sum() < 250 and rdbu[-1].sum() < 250
    assert rdbu[0, 2] > rdbu[0, 0] and rdbu[-1, 0] > rdbu[-1, 2]  # blue low, red high
    phase = display.colormap("phase")
    assert np.array_equal(phase[0], phase[-1])
    assert np.array_equal(display.colormap("gray"), display.colormap("grey"))


def test_normalize_settings_rejects_bad_values():
    assert display.normalize_settings({"clim": [1, 2], "invert": 1, "frame": 3}) == {
        "clim": (1.0, 2.0), "invert": True, "frame": (3,)}
    for bad in ({"cmap": "nope"}, {"clim": (2, 1)}, {"gamma": 0}, {"mapping": "cube"},
                {"auto_saturation": -1}, {"colour": "red"}):
        with pytest.raises(ParameterError):
            display.normalize_settings(bad)
    with pytest.raises(ParameterError):
        display.lut({"cmap": "unknown"})
