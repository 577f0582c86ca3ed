"""Built-in image operations: numbers checked against numpy/scipy references."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

import micrographia as mg
from micrographia.plugins.fft import centred_power


def _image(shape=(48, 64), scale=0.05, dtype=np.float32, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return mg.from_array(rng.normal(100, 10, shape).astype(dtype), scale=scale, units="nm",
                         title="img", **kw)


def _stack(seed=1):
    rng = np.random.default_rng(seed)
    return mg.from_array(rng.poisson(40, (5, 32, 40)).astype(np.uint16), scale=0.2, units="nm",
                         title="stack")


def _lazy(d: mg.Dataset, chunks) -> mg.Dataset:
    return d.replace(data=da.from_array(np.asarray(d.data), chunks=chunks))


# -- gaussian -----------------------------------------------------------------------------
def test_gaussian_equals_scipy_per_frame():
    s = _stack()
    g = mg.run("filters.gaussian", s, sigma=1.5)
    assert g.dtype == np.float32 and g.axes == s.axes and g.title == "stack gaussian σ=1.5"
    for i in range(5):
        ref = ndimage.gaussian_filter(s.data[i].astype(np.float32), 1.5, mode="reflect")
        np.testing.assert_allclose(g.data[i], ref, rtol=1e-6, atol=1e-5)
    assert s.data.dtype == np.uint16  # input untouched


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_gaussian_banded_large_frame_is_bit_identical(monkeypatch, threads):
    monkeypatch.setenv("MICROGRAPHIA_THREADS", threads)
    d = _image(shape=(401, 390), dtype=np.float32, seed=4)  # large enough to be split in bands
    for sigma in (0.7, 3.0):
        g = mg.run("filters.gaussian", d, sigma=sigma)
        np.testing.assert_array_equal(g.data, ndimage.gaussian_filter(d.data, sigma))


def test_gaussian_calibrated_sigma_and_float64():
    d = _image(dtype=np.float64)
    g = mg.run("filters.gaussian", d, sigma=0.1, units="calibrated")  # 0.1 nm / 0.05 nm = 2 px
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.data, ndimage.gaussian_filter(d.data, 2.0), rtol=1e-12)


def test_gaussian_lazy_stays_lazy_and_equals_eager():
    s = _stack()
    lazy = _lazy(s, (2, 16, 20))  # signal axes split on purpose: map_frames rechunks
    g = mg.run("filters.gaussian", lazy, sigma=2.0)
    assert g.is_lazy
    np.testing.assert_array_equal(g.numpy(), mg.run("filters.gaussian", s, sigma=2.0).data)


# -- power spectrum -----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 64), (33, 47), (32, 45), (31, 16), (1, 8), (7, 1),
                                   (400, 401), (513, 512)])
def test_centred_power_equals_numpy_reference(shape):
    rng = np.random.default_rng(3)
    a = rng.normal(size=shape).astype(np.float32)
    ref = np.fft.fftshift(np.abs(np.fft.fft2(a.astype(np.float64))) ** 2)
    got = centred_power(a)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * ref.max())


def test_power_spectrum_lattice_peak_at_calibrated_k():
    n, dx, period = 128, 0.05, 0.4  # 0.4 nm fringes along x: peaks at kx = ±2.5 1/nm
    x = np.arange(n) * dx
    img = np.tile(np.cos(2 * np.pi * x / period), (n, 1)).astype(np.float32)
    d = mg.from_array(img, scale=dx, units="nm", title="fringes")
    p = mg.run("fft.power_spectrum", d, window="hann", log=False)
    ky, kx = p.sig_axes
    assert (ky.name, kx.name, kx.units) == ("ky", "kx", "1/nm")
    assert kx.scale == pytest.approx(1 / (n * dx)) and kx.offset == pytest.approx(-64 * kx.scale)
    assert p.title == "fringes power spectrum" and p.dtype == np.float32
    iy, ix = np.unravel_index(np.argmax(p.data), p.data.shape)
    assert ky.coords[iy] == pytest.approx(0.0, abs=ky.scale / 2)
    assert abs(kx.coords[ix]) == pytest.approx(2.5, abs=kx.scale)
    # both peaks, symmetric
    row = p.data[64]
    assert row[64 + 20] == pytest.approx(row[64 - 20], rel=1e-4)
    assert row[64 + 20] > 100 * np.median(p.data)


def test_power_spectrum_parseval_and_options():
    d = _image(shape=(30, 50))
    a = d.data.astype(np.float64)
    p = mg.run("fft.power_spectrum", d, window="none", log=False, subtract_mean=False)
    assert p.data.sum() == pytest.approx(a.size * (a ** 2).sum(), rel=1e-4)
    ref = np.fft.fftshift(np.abs(np.fft.fft2(a)) ** 2)
    np.testing.assert_allclose(p.data, ref, rtol=1e-3, atol=1e-5 * ref.max())
    # subtracting the mean empties the zero-frequency bin
    p0 = mg.run("fft.power_spectrum", d, window="none", log=False)
    assert p0.data[15, 25] < 1e-6 * p.data[15, 25]
    # log is log1p of the linear spectrum
    pl = mg.run("fft.power_spectrum", d, window="hamming", log=True)
    pn = mg.run("fft.power_spectrum", d, window="hamming", log=False)
    np.testing.assert_allclose(pl.data, np.log1p(pn.data), rtol=1e-6, atol=1e-6)
    # hann window: reference with a periodic 2-D Hann window
    w = lambda n: 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # noqa: E731
    ref_h = np.fft.fftshift(np.abs(np.fft.fft2((a - a.mean()) * np.outer(w(30), w(50)))) ** 2)
    ph = mg.run("fft.power_spectrum", d, log=False)
    np.testing.assert_allclose(ph.data, ref_h, rtol=1e-3, atol=1e-4 * ref_h.max())


def test_power_spectrum_complex_input():
    rng = np.random.default_rng(8)
    z = (rng.normal(size=(20, 24)) + 1j * rng.normal(size=(20, 24))).astype(np.complex64)
    p = mg.run("fft.power_spectrum", mg.from_array(z), window="none", log=False,
               subtract_mean=False)
    ref = np.fft.fftshift(np.abs(np.fft.fft2(z.astype(np.complex128))) ** 2)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.data, ref, rtol=1e-4, atol=1e-5 * ref.max())


def test_power_spectrum_stack_lazy_uncalibrated_and_errors():
    s = _stack()
    p = mg.run("fft.power_spectrum", s)
    assert p.nav_axes == s.nav_axes and p.shape == s.shape
    lazy = mg.run("fft.power_spectrum", _lazy(s, (2, 32, 40)))
    assert lazy.is_lazy
    np.testing.assert_allclose(lazy.numpy(), p.data, rtol=1e-6)
    u = mg.run("fft.power_spectrum", mg.from_array(np.ones((8, 8))))
    assert u.axes[-1].units == "1/px" and u.axes[-1].scale == 0.125
    assert u.dtype == np.float64  # float64 in, float64 out
    si = mg.from_array(np.ones((2, 3, 16)), signal_dims=1)
    with pytest.raises(mg.ParameterError, match="two signal axes"):
        mg.run("fft.power_spectrum", si)


# -- crop ---------------------------------------------------------------------------------
def test_crop_preserves_calibrated_coordinates():
    s = _stack()
    c = mg.run("image.crop", s, region={"x": (4.0, 20.0), "y": (1.0, 2.0)})
    x, y = c.axis("x"), c.axis("y")
    assert (x.size, x.offset) == (20, pytest.approx(4.0))  # clipped at the edge (8 nm)
    assert (y.size, y.offset) == (5, pytest.approx(1.0))  # 1.0, 1.2, ... 1.8 (stop excluded)
    np.testing.assert_array_equal(c.data, s.data[:, 5:10, 20:40])
    np.testing.assert_allclose(x.coords, s.axis("x").coords[20:40])
    px = mg.run("image.crop", s, region={"t": (1, 3), "x": (0, 10)}, calibrated=False)
    np.testing.assert_array_equal(px.data, s.data[1:3, :, :10])
    assert px.axis("t").offset == 1.0
    lazy = mg.run("image.crop", _lazy(s, (1, 32, 40)), region={"x": (4.0, 20.0)})
    assert lazy.is_lazy and lazy.shape == (5, 32, 20)


def test_crop_negative_scale_and_open_ends():
    ax = (mg.Axis("y", 4, 1.0), mg.Axis("x", 10, scale=-0.5, offset=5.0, units="nm"))
    d = mg.from_array(np.arange(40.0).reshape(4, 10), axes=ax)  # x: 5, 4.5, ... 0.5
    c = mg.run("image.crop", d, region={"x": (2.0, 4.0)})  # keeps 3.5 .. 2.0
    np.testing.assert_allclose(c.axis("x").coords, [3.5, 3.0, 2.5, 2.0])
    o = mg.run("image.crop", d, region={"x": (None, 1.5)})
    np.testing.assert_allclose(o.axis("x").coords, [1.0, 0.5])


def test_crop_errors():
    s = _stack()
    with pytest.raises(mg.ParameterError, match="no axis named 'q'"):
        mg.run("image.crop", s, region={"q": (0, 1)})
    with pytest.raises(mg.ParameterError, match="selects no sample"):
        mg.run("image.crop", s, region={"x": (100.0, 200.0)})
    with pytest.raises(mg.ParameterError, match="start must be smaller"):
        mg.run("image.crop", s, region={"x": (3.0, 1.0)})
    with pytest.raises(mg.ParameterError, match="nothing to crop"):
        mg.run("image.crop", s)


# -- bin ----------------------------------------------------------------------------------
def test_bin_sum_and_mean_exact():
    s = _stack()
    b = mg.run("image.bin", s, factor=2)
    ref = s.data.astype(np.uint64).reshape(5, 16, 2, 20, 2).sum(axis=(2, 4))
    assert b.dtype == np.uint32
    np.testing.assert_array_equal(b.data, ref)
    x = b.axis("x")
    assert x.scale == pytest.approx(0.4) and x.offset == pytest.approx(0.1)
    m = mg.run("image.bin", s, factor=4, reduce="mean")
    assert m.dtype == np.float32
    np.testing.assert_allclose(m.data, s.data.reshape(5, 8, 4, 10, 4).mean(axis=(2, 4)),
                               rtol=1e-6)
    assert m.axis("x").offset == pytest.approx(1.5 * 0.2)


def test_bin_no_overflow_trim_and_axes():
    d = mg.from_array(np.full((4, 9, 9), 65535, np.uint16))
    b = mg.run("image.bin", d, factor=4, axes="all")
    assert b.shape == (1, 2, 2) and b.dtype == np.uint32
    assert (b.data == 65535 * 64).all()
    assert "trimmed" in b.title and "y by 1" in b.title
    n = mg.run("image.bin", _stack(), factor=2, axes="navigation")
    assert n.shape == (2, 32, 40) and n.axis("t").scale == 2
    with pytest.raises(mg.ParameterError, match="no navigation axes"):
        mg.run("image.bin", _image(), axes="navigation")
    with pytest.raises(mg.ParameterError, match="fewer than the factor"):
        mg.run("image.bin", _image(), factor=100)
    big = mg.from_array(np.full((512, 512), 60000, np.uint16))  # 2**18 values per bin
    b = mg.run("image.bin", big, factor=512)
    assert b.dtype == np.uint64 and b.data[0, 0] == 60000 * 512 * 512


def test_bin_lazy():
    s = _stack()
    lazy = mg.run("image.bin", _lazy(s, (2, 7, 9)), factor=3)  # chunks not multiples of 3
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.numpy(), mg.run("image.bin", s, factor=3).data)


# -- sum ----------------------------------------------------------------------------------
def test_sum_axes_and_promotion():
    s = _stack()
    t = mg.run("image.sum", s)
    assert t.dtype == np.uint64 and t.axes == s.sig_axes and t.kind == "image"
    np.testing.assert_array_equal(t.data, s.data.sum(axis=0, dtype=np.uint64))
    sig = mg.run("image.sum", s, axes="signal")
    assert sig.shape == (5,) and not sig.axes[0].navigate  # a per-frame profile
    np.testing.assert_array_equal(sig.data, s.data.sum(axis=(1, 2), dtype=np.uint64))
    xy = mg.run("image.sum", s, axes="x, t", reduce="mean")
    np.testing.assert_allclose(xy.data, s.data.mean(axis=(0, 2)))
    assert [a.name for a in xy.axes] == ["y"]
    mx = mg.run("image.sum", s, reduce="max")
    assert mx.dtype == np.uint16
    np.testing.assert_array_equal(mx.data, s.data.max(axis=0))
    total = mg.run("image.sum", s, axes="all")
    assert isinstance(total, mg.Table) and total["sum"][0] == s.data.sum()
    im = _image()
    same = mg.run("image.sum", im)  # no navigation axes: values unchanged
    assert same.dtype == np.float32 and same.axes == im.axes
    np.testing.assert_array_equal(same.data, im.data)
    with pytest.raises(mg.ParameterError, match="no axis named 'z'"):
        mg.run("image.sum", s, axes="z")
    with pytest.raises(mg.ParameterError, match="named twice"):
        mg.run("image.sum", s, axes="x,x")


@pytest.mark.parametrize("axes", ["navigation", "signal", "x", "t,y"])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_sum_large_parallel_path_matches_numpy(axes, reduce):
    rng = np.random.default_rng(5)
    s = mg.from_array(rng.poisson(300, (4, 256, 260)).astype(np.uint16))
    f = mg.from_array(rng.normal(size=(4, 256, 260)).astype(np.float32))
    ax = {"navigation": (0,), "signal": (1, 2), "x": (2,), "t,y": (0, 1)}[axes]
    for d in (s, f):
        a = np.asarray(d.data)
        ref = {"sum": a.sum(axis=ax, dtype=np.uint64 if a.dtype == np.uint16 else None),
               "mean": a.mean(axis=ax, dtype=np.float64 if a.dtype == np.uint16 else None),
               "max": a.max(axis=ax)}[reduce]
        r = mg.run("image.sum", d, axes=axes, reduce=reduce)
        assert r.dtype == ref.dtype
        np.testing.assert_allclose(r.data, ref, rtol=1e-6)


def test_sum_lazy():
    s = _stack()
    lazy = mg.run("image.sum", _lazy(s, (2, 16, 40)))
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.numpy(), s.data.sum(axis=0))


# -- convert dtype ------------------------------------------------------------------------
def test_convert_refuses_out_of_range_and_rounds_half_even():
    d = mg.from_array(np.array([[-1.0, 0.5, 1.5, 2.5, 300.0, 1000.0]]))
    with pytest.raises(mg.ParameterError, match=r"3 of 6 values lie outside the uint8 range "
                                                 r"\[0, 255\]"):
        mg.run("image.convert_dtype", d, dtype="uint8")
    ok = mg.run("image.convert_dtype", mg.from_array(np.array([[0.5, 1.5, 2.5, 254.6]])),
                dtype="uint8")
    assert ok.dtype == np.uint8 and ok.data.tolist() == [[0, 2, 2, 255]]
    with pytest.raises(mg.ParameterError, match="NaN"):
        mg.run("image.convert_dtype", mg.from_array(np.array([[np.nan, 1.0]])), dtype="int16")
    u16 = mg.from_array(np.array([[0, 40000]], np.uint16))
    with pytest.raises(mg.ParameterError, match="int16 range"):
        mg.run("image.convert_dtype", u16, dtype="int16")
    assert mg.run("image.convert_dtype", u16, dtype="int32").data.tolist() == [[0, 40000]]


def test_convert_data_range_endpoints_and_intensity():
    a = np.array([[-2.0, 0.0, 3.0, 8.0]])
    d = mg.from_array(a)
    u8 = mg.run("image.convert_dtype", d, dtype="uint8", scaling="data_range")
    assert u8.data.tolist() == [[0, 51, 128, 255]]
    # the intensity calibration maps the new values back to the old ones
    phys = u8.intensity.offset + u8.intensity.scale * u8.data.astype(float)
    assert phys[0, 0] == pytest.approx(-2.0) and phys[0, -1] == pytest.approx(8.0)
    i16 = mg.run("image.convert_dtype", d, dtype="int16", scaling="data_range")
    assert i16.data[0, 0] == -32768 and i16.data[0, -1] == 32767
    const = mg.run("image.convert_dtype", mg.from_array(np.full((2, 2), 7.0)), dtype="uint8",
                   scaling="data_range")
    assert (const.data == 0).all()
    assert const.intensity.offset + const.intensity.scale * 0 == pytest.approx(7.0)
    f = mg.run("image.convert_dtype", d, dtype="float32", scaling="data_range")
    np.testing.assert_array_equal(f.data, a.astype(np.float32))  # floats: no scaling


def test_convert_complex_parts_and_lazy():
    z = np.array([[1 + 1j, -2 + 0j, 3j]], np.complex64)
    d = mg.from_array(z)
    for part, ref in [("real", z.real), ("imag", z.imag), ("abs", np.abs(z)),
                      ("phase", np.angle(z))]:
        r = mg.run("image.convert_dtype", d, complex_part=part)
        assert r.dtype == np.float32
        np.testing.assert_allclose(r.data, ref, rtol=1e-6)
    s = _stack()
    lazy = mg.run("image.convert_dtype", _lazy(s, (2, 32, 40)), dtype="uint8",
                  scaling="data_range")
    assert lazy.is_lazy
    np.testing.assert_array_equal(
        lazy.numpy(), mg.run("image.convert_dtype", s, dtype="uint8", scaling="data_range").data)
    big = mg.from_array(np.full((4, 8, 8), 40000, np.uint16))
    with pytest.raises(mg.ParameterError, match="256 of 256 values lie outside the uint8 range"):
        mg.run("image.convert_dtype", _lazy(big, (1, 8, 8)), dtype="uint8")


# -- general contract ---------------------------------------------------------------------
@pytest.mark.parametrize("op_id, params", [
    ("filters.gaussian", {}), ("fft.power_spectrum", {}), ("image.bin", {}),
    ("image.sum", {}), ("image.convert_dtype", {}), ("image.crop", {"region": {"x": (1, 6)}}),
])
def test_every_op_lazy_equals_eager_and_input_untouched(op_id, params):
    s = _stack()
    before = s.data.copy()
    eager = mg.run(op_id, s, **params)
    lazy = mg.run(op_id, _lazy(s, (1, 32, 40)), **params)
    assert lazy.is_lazy, op_id
    assert lazy.axes == eager.axes and lazy.dtype == eager.dtype
    np.testing.assert_allclose(lazy.numpy(), eager.data, rtol=1e-6)
    np.testing.assert_array_equal(s.data, before)


def test_intensity_calibration_follows_sums():
    it = mg.Intensity(units="e-", scale=2.0, offset=1.0)
    s = _stack().replace(intensity=it)
    assert mg.run("image.sum", s).intensity == mg.Intensity("e-", 2.0, 5.0)  # 5 frames
    assert mg.run("image.sum", s, reduce="mean").intensity == it
    assert mg.run("image.bin", s, factor=2).intensity == mg.Intensity("e-", 2.0, 4.0)
    assert mg.run("filters.gaussian", s).intensity == it
    assert mg.run("fft.power_spectrum", s).intensity == mg.Intensity()
