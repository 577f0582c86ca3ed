"""Tests of fft.fft, fft.ifft, fft.bandpass and fft.mask_filter against known truth."""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg


def _lattice(n=(96, 128), period=(0.8, 0.5), scale=0.05, noise=0.0, seed=0):
    yy, xx = np.mgrid[0:n[0], 0:n[1]] * scale
    a = np.cos(2 * np.pi * yy / period[0]) + np.cos(2 * np.pi * xx / period[1])
    if noise:
        a = a + np.random.default_rng(seed).normal(0, noise, a.shape)
    return mg.from_array(a.astype(np.float32), scale=scale, units="nm", title="lattice")


def test_fft_peak_at_known_frequency():
    d = _lattice(period=(0.8, 0.4))  # 96*0.05/0.8 = 6 cycles in y, 128*0.05/0.4 = 16 in x
    f = mg.run("fft.fft", d)
    assert f.dtype == np.complex64
    ky, kx = f.sig_axes
    assert ky.units == kx.units == "1/nm" and ky.name == "ky"
    p = np.abs(f.numpy())
    p[48, 64] = 0
    peaks = np.argwhere(p > 0.5 * p.max())
    coords = {(round(ky.offset + i * ky.scale, 6), round(kx.offset + j * kx.scale, 6))
              for i, j in peaks}
    expected = {(1 / 0.8, 0.0), (-1 / 0.8, 0.0), (0.0, 1 / 0.4), (0.0, -1 / 0.4)}
    for e in expected:
        assert any(abs(c[0] - e[0]) <= ky.scale and abs(c[1] - e[1]) <= kx.scale
                   for c in coords), (e, coords)
    np.testing.assert_allclose(f.numpy(), np.fft.fftshift(np.fft.fft2(d.numpy())), rtol=1e-4,
                               atol=1e-2)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_ifft_of_fft_is_identity_with_axes(dtype, rtol):
    rng = np.random.default_rng(3)
    a = rng.normal(5, 2, (3, 33, 40)).astype(dtype)
    d = mg.Dataset(a, [mg.Axis("t", 3, 1.0, 0.0, "s", True),
                       mg.Axis("y", 33, 0.07, 1.25, "nm"), mg.Axis("x", 40, 0.05, -3.0, "nm")])
    f = mg.run("fft.fft", d)
    back = mg.run("fft.ifft", f)
    assert back.dtype == dtype
    np.testing.assert_allclose(back.numpy(), a, rtol=rtol, atol=rtol * np.abs(a).max())
    assert back.axes == d.axes
    c = mg.run("fft.ifft", f, real_output=False)
    assert np.iscomplexobj(c.numpy())
    assert np.abs(c.numpy().imag).max() < 1e-4 * np.abs(a).max()
    # without the stored metadata the axes are reconstructed from the k axes
    bare = f.replace(metadata={})
    ax = mg.run("fft.ifft", bare).sig_axes
    assert ax[1].units == "nm" and ax[1].offset == 0.0
    np.testing.assert_allclose([ax[0].scale, ax[1].scale], [0.07, 0.05], rtol=1e-12)


def test_fft_lazy_equals_eager():
    import dask.array as da

    d = _lattice(noise=0.1)
    stack = mg.from_array(np.stack([d.numpy()] * 3), scale=0.05, units="nm")
    lazy = stack.replace(data=da.from_array(stack.numpy(), chunks=(1, 96, 128)))
    for op in ("fft.fft", "fft.bandpass"):
        a, b = mg.run(op, stack), mg.run(op, lazy)
        assert b.is_lazy
        np.testing.assert_array_equal(b.numpy(), a.numpy())


def _amp(img, scale, ky, kx):
    f = np.fft.fft2(img)
    fy = np.fft.fftfreq(img.shape[0], scale)
    fx = np.fft.fftfreq(img.shape[1], scale)
    return np.abs(f[np.argmin(abs(fy - ky)), np.argmin(abs(fx - kx))]) / img.size


def test_bandpass_removes_one_frequency_keeps_another():
    d = _lattice(period=(0.8, 0.2), n=(96, 128))  # ky = 1.25/nm, kx = 5/nm
    a0 = (_amp(d.numpy(), 0.05, 1.25, 0), _amp(d.numpy(), 0.05, 0, 5.0))
    lp = mg.run("fft.bandpass", d, high=2.5, order=4).numpy()
    assert _amp(lp, 0.05, 1.25, 0) / a0[0] > 0.99
    assert _amp(lp, 0.05, 0, 5.0) / a0[1] < 0.01
    hp = mg.run("fft.bandpass", d, low=2.5, order=4, edge="butterworth").numpy()
    assert _amp(hp, 0.05, 1.25, 0) / a0[0] < 0.01
    assert _amp(hp, 0.05, 0, 5.0) / a0[1] > 0.99
    g = mg.run("fft.bandpass", d, high=5.0, edge="gaussian").numpy()
    np.testing.assert_allclose(_amp(g, 0.05, 0, 5.0) / a0[1], 0.5, rtol=1e-3)
    with pytest.raises(mg.ParameterError, match="high"):
        mg.run("fft.bandpass", d, low=3.0, high=1.0)


def test_mask_filter_recovers_lattice_from_noise():
    clean = _lattice(period=(0.8, 0.4)).numpy()
    noisy = _lattice(period=(0.8, 0.4), noise=2.0, seed=5)
    out = mg.run("fft.mask_filter", noisy)
    spots = out.metadata["Micrographia"]["mask_filter"]["spots"]
    assert len(spots) == 2
    found = {tuple(sorted(map(abs, np.round(s, 3)))) for s in spots}
    assert found == {(0.0, 1.25), (0.0, 2.5)}
    c_before = np.corrcoef(noisy.numpy().ravel(), clean.ravel())[0, 1]
    c_after = np.corrcoef(out.numpy().ravel(), clean.ravel())[0, 1]
    assert c_before < 0.5 and c_after > 0.97
    # explicit spots, remove mode takes the lattice out
    rem = mg.run("fft.mask_filter", _lattice(period=(0.8, 0.4)), spots=[[1.25, 0], [0, 2.5]],
                 mode="remove", soft_edge=0.1).numpy()
    assert np.abs(rem).max() < 1e-3


def test_mask_filter_no_spots_raises():
    d = mg.from_array(np.zeros((32, 32), np.float32))
    with pytest.raises(mg.ParameterError, match="no spots"):
        mg.run("fft.mask_filter", d)


@pytest.mark.parametrize("period", [0.37, 0.52, 1.13])
def test_spectrum_peak_within_one_bin_for_any_period(period):
    rng = np.random.default_rng(11)
    n, scale = 128, 0.05
    yy, xx = np.mgrid[0:n, 0:n] * scale
    a = np.cos(2 * np.pi * (0.6 * xx + 0.8 * yy) / period) + rng.normal(0, 0.5, (n, n))
    d = mg.from_array(a.astype(np.float32), scale=scale, units="nm")
    k_true = np.array([0.8, 0.6]) / period  # (ky, kx)
    for res in (np.abs(mg.run("fft.fft", d, window="hann").numpy()),
                mg.run("fft.power_spectrum", d).numpy()):
        ky, kx = mg.run("fft.fft", d).sig_axes
        res = res.copy()
        res[n // 2 - 2:n // 2 + 3, n // 2 - 2:n // 2 + 3] = 0
        i, j = np.unravel_index(np.argmax(res), res.shape)
        k = np.array([ky.offset + i * ky.scale, kx.offset + j * kx.scale])
        assert (np.abs(np.abs(k) - k_true) <= [ky.scale, kx.scale]).all(), (k, k_true)


def _numpy_power(a, window, log, subtract_mean):
    """Reference: float64 numpy, periodic window, ``fftshift(|fft2|**2)``, ``log1p``."""
    a = a.astype(np.float64)
    if subtract_mean:
        a = a - a.mean()
    if window != "none":
        c = [np.cos(2 * np.pi * np.arange(n) / n) for n in a.shape]
        w = [0.5 - 0.5 * ci if window == "hann" else 0.54 - 0.46 * ci for ci in c]
        w = [wi if wi.size > 1 else np.ones(1) for wi in w]  # length 1: no window
        a = a * w[0][:, None] * w[1][None, :]
    p = np.fft.fftshift(np.abs(np.fft.fft2(a)) ** 2)
    return np.log1p(p) if log else p


@pytest.mark.parametrize("shape", [(600, 700), (601, 515), (513, 2), (1, 520), (4, 4)])
@pytest.mark.parametrize("options", [dict(window="none", log=False, subtract_mean=False),
                                     dict(),  # the defaults: hann, log, mean subtracted
                                     dict(window="hamming", log=False, subtract_mean=True)])
def test_power_spectrum_equals_numpy_reference(shape, options):
    # frames large enough (above ~130 000 px) to take the banded, multi-threaded path
    rng = np.random.default_rng(5)
    a = rng.normal(100.0, 10.0, shape).astype(np.float32)
    got = mg.run("fft.power_spectrum", mg.from_array(a), **options).numpy()
    full = dict(window="hann", log=True, subtract_mean=True) | options
    ref = _numpy_power(a, **full)
    assert got.dtype == np.float32 and got.shape == shape
    if full["log"]:
        # log(1 + p) is exact to float32 where p is large; tiny powers carry the FFT's
        # absolute rounding (relative to the largest power), bounded here in p itself
        np.testing.assert_allclose(np.expm1(got.astype(np.float64)), np.expm1(ref),
                                   rtol=1e-4, atol=1e-5 * np.expm1(ref).max())
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * ref.max())


def test_power_spectrum_integer_float64_and_stack_inputs():
    rng = np.random.default_rng(6)
    counts = rng.poisson(50, (3, 400, 410)).astype(np.uint16)
    got = mg.run("fft.power_spectrum", mg.from_array(counts)).numpy()
    assert got.dtype == np.float32 and got.shape == counts.shape
    for i in range(3):
        ref = _numpy_power(counts[i], "hann", True, True)
        np.testing.assert_allclose(np.expm1(got[i].astype(np.float64)), np.expm1(ref),
                                   rtol=1e-4, atol=1e-5 * np.expm1(ref).max())
    f64 = counts[0].astype(np.float64)
    got = mg.run("fft.power_spectrum", mg.from_array(f64), log=False).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _numpy_power(f64, "hann", False, True), rtol=1e-9,
                               atol=1e-12 * got.max())
    # the input is never modified (the transform overwrites a private copy only)
    before = counts.copy()
    mg.run("fft.power_spectrum", mg.from_array(counts), window="none")
    np.testing.assert_array_equal(counts, before)
