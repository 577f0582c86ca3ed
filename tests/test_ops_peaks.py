"""peaks.find and peaks.template_match: sub-pixel accuracy against known positions."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

import micrographia as mg

SIGMA = 1.6
AMP = 100.0


def _spots(seed=0, size=256, pitch=16, noise=AMP / 20, background=10.0):
    """Noisy round Gaussian spots (σ = 1.6 px, peak/noise = 20) at random sub-pixel positions."""
    rng = np.random.default_rng(seed)
    g = np.arange(12, size - 8, pitch, dtype=float)
    cy, cx = np.meshgrid(g, g, indexing="ij")
    cy = cy.ravel() + rng.uniform(-0.5, 0.5, cy.size)
    cx = cx.ravel() + rng.uniform(-0.5, 0.5, cx.size)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.full((size, size), background)
    for y, x in zip(cy, cx):
        img += AMP * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA ** 2))
    img += rng.normal(0, noise, img.shape)
    return img.astype(np.float32), cx, cy


def _errors(t, cx, cy, sel=None):
    px, py = np.asarray(t["x"]), np.asarray(t["y"])
    if sel is not None:
        px, py = px[sel], py[sel]
    d = np.hypot(px[:, None] - cx[None], py[:, None] - cy[None])
    j = d.argmin(axis=1)
    ok = d.min(axis=1) < 1.5
    # every true spot is found exactly once
    assert sorted(j[ok]) == list(range(len(cx)))
    return px[ok] - cx[j[ok]], py[ok] - cy[j[ok]]


def _rms(e):
    return float(np.sqrt(np.mean(e ** 2)))


def test_gaussian_refinement_reaches_cramer_rao():
    img, cx, cy = _spots()
    assert len(cx) >= 100
    d = mg.from_array(img, scale=0.1, units="nm", title="spots")
    t = mg.run("peaks.find", d, refine="gaussian", min_distance=5)
    ex, ey = _errors(t, cx, cy)
    # Cramér–Rao bound for these spots is about 0.04 px per axis; the issue asks ≤ 0.05 px
    assert _rms(ex) <= 0.05 and _rms(ey) <= 0.05, (_rms(ex), _rms(ey))
    assert abs(np.mean(ex)) < 0.01 and abs(np.mean(ey)) < 0.01  # unbiased
    good = np.isfinite(t["sigma"])
    np.testing.assert_allclose(np.median(t["sigma"][good]), SIGMA, rtol=0.03)
    np.testing.assert_allclose(t["x_cal"], 0.1 * t["x"])
    np.testing.assert_allclose(t["y_cal"], 0.1 * t["y"])
    assert t.units["x"] == "px" and t.units["x_cal"] == "nm" and t.units["sigma"] == "px"


def test_com_and_paraboloid_are_documented_as_biased():
    img, cx, cy = _spots()
    d = mg.from_array(img)
    results = {}
    for refine in ("com", "paraboloid"):
        ex, ey = _errors(mg.run("peaks.find", d, refine=refine, min_distance=5), cx, cy)
        results[refine] = (_rms(ex), _rms(ey))
        # measured (seed 0): com ≈ 0.12-0.13 px, paraboloid ≈ 0.09-0.10 px per axis
        assert max(results[refine]) < 0.2, results
    t = mg.run("peaks.find", d, refine=None, min_distance=5)
    assert np.all(t["x"] == np.round(t["x"])) and "sigma" not in t.columns
    ex, ey = _errors(t, cx, cy)
    assert _rms(ex) < 0.4  # integer pixels: ≈ 1/√12 ≈ 0.29 px


def test_stack_frame_column_and_lazy_equals_eager():
    frames = [_spots(seed=s, size=96)[0] for s in (1, 2, 3)]
    d = mg.from_array(np.stack(frames), scale=0.2, units="nm")
    t = mg.run("peaks.find", d, min_distance=5)
    assert "frame" in t.columns and set(t["frame"].tolist()) == {0, 1, 2}
    for i in range(3):
        single = mg.run("peaks.find", mg.from_array(frames[i], scale=0.2, units="nm"),
                        min_distance=5)
        np.testing.assert_allclose(t["x"][t["frame"] == i], single["x"])
        np.testing.assert_allclose(t["y"][t["frame"] == i], single["y"])
    lazy = d.replace(data=da.from_array(np.asarray(d.data), chunks=(1, 48, 96)))
    tl = mg.run("peaks.find", lazy, min_distance=5)
    for c in t.columns:
        np.testing.assert_array_equal(tl[c], t[c])


def test_thresholds_border_and_errors():
    img, cx, cy = _spots(size=64, noise=0.0, background=0.0)
    d = mg.from_array(img)
    t_all = mg.run("peaks.find", d, min_distance=5, exclude_border=False)
    assert len(t_all) == len(cx)
    t_abs = mg.run("peaks.find", d, min_distance=5, threshold_abs=1e6)
    assert len(t_abs) == 0 and "x" in t_abs.columns
    with pytest.raises(mg.ParameterError, match="refine"):
        mg.run("peaks.find", d, refine="spline")
    with pytest.raises(mg.ParameterError, match="threshold_rel"):
        mg.run("peaks.find", d, threshold_rel=2.0)


def test_template_match_finds_every_copy():
    rng = np.random.default_rng(5)
    motif = np.zeros((9, 9))
    motif[2:7, 4] = 1.0
    motif[4, 2:7] = 1.0  # a cross
    img = rng.normal(0, 0.05, (100, 120))
    truth = [(20, 30), (50, 80), (75, 25), (80, 100)]
    for r, c in truth:
        img[r - 4:r + 5, c - 4:c + 5] += motif
    d = mg.from_array(img.astype(np.float32), scale=0.5, units="nm")
    cmap, t = mg.run("peaks.template_match", d, mg.from_array(motif), threshold=0.6)
    assert cmap.shape == d.shape and cmap.axes == d.axes and cmap.dtype == np.float32
    found = sorted(zip(np.rint(t["y"]).astype(int), np.rint(t["x"]).astype(int)))
    assert found == sorted(truth)
    assert np.all(np.abs(t["x"] - np.rint(t["x"])) < 0.2)
    assert np.all(t["score"] > 0.75)  # noise 0.05 on a thin cross: NCC ≈ 0.83
    np.testing.assert_allclose(t["x_cal"], 0.5 * t["x"])
    # the same as scikit-image's map
    from skimage.feature import match_template

    ref = match_template(img, motif, pad_input=True, mode="constant")
    np.testing.assert_allclose(cmap.data, ref, atol=1e-5)
    # default template: the central patch finds itself
    cmap2, t2 = mg.run("peaks.template_match", d, template_size=9, threshold=0.99)
    assert len(t2) >= 1
    with pytest.raises(mg.ParameterError, match="larger"):
        mg.run("peaks.template_match", mg.from_array(motif), mg.from_array(img))
