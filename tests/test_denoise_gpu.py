"""GPU branches of ``denoise.*`` on the numpy-backed, host/device-strict cupy stand-in.

The array-operation twins of scikit-image's fast NL-means and Chambolle TV must give
scikit-image's numbers, on device frames, without mixing host and device arrays; the
operations must run them (not scikit-image) on GPU data and give the CPU path's result
through :func:`micrographia.compute.execute` without a CPU fallback.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrographia as mg
from micrographia import settings
from micrographia.compute import execute
from micrographia.plugins import denoise


@pytest.fixture
def cupy(monkeypatch):
    """The stand-in installed as cupy/cupyx, with the device setting on ``gpu``."""
    from _fake_cupy import install

    fake = install(monkeypatch)
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", "gpu")
    settings.reset_cache()
    yield fake
    settings.reset_cache()


def _set_device(monkeypatch, device):
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", device)
    settings.reset_cache()


def _texture(shape, seed=0, sigma=3.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    clean = 50 + 20 * np.cos(2 * np.pi * xx / 9.0) * np.sin(2 * np.pi * yy / 7.0)
    clean = clean + 30 * (np.hypot(yy - shape[0] / 2, xx - shape[1] / 2) < min(shape) / 4)
    return clean + rng.normal(0, sigma, shape)


def _gpu_vs_cpu(op_id, ds, params, monkeypatch):
    """Run an operation on the (stand-in) GPU and on the CPU; return both results."""
    op = mg.operation(op_id)
    bound = op.bind((ds,), params)
    _set_device(monkeypatch, "gpu")
    gpu, notes = execute(op, (ds,), bound)
    assert notes == [], notes  # ran on the GPU, no fallback
    _set_device(monkeypatch, "cpu")
    cpu, notes = execute(op, (ds,), bound)
    assert notes == []
    return gpu, cpu


def _assert_same_dataset(g, c, rtol=1e-5):
    assert type(g.data) is np.ndarray  # users get numpy back
    assert g.axes == c.axes and g.dtype == c.dtype and g.title == c.title
    scale = float(np.max(np.abs(c.numpy()))) or 1.0
    np.testing.assert_allclose(g.numpy(), c.numpy(), rtol=rtol, atol=rtol * scale)


def _forbid(monkeypatch, module, name):
    """Make ``module.name`` raise, to prove a GPU branch does not call it."""
    def boom(*args, **kwargs):
        raise AssertionError(f"{name} called on the GPU path")

    monkeypatch.setattr(module, name, boom)


def test_gpu_capable_ops_are_registered_so():
    assert mg.operation("denoise.nl_means").gpu
    assert mg.operation("denoise.tv").gpu
    assert mg.operation("denoise.pca").gpu
    for op_id in ("denoise.wavelet", "denoise.bilateral"):
        assert not mg.operation(op_id).gpu


# -- estimate_sigma ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 80), (3, 33, 40), (301,), (1,), (1, 9)])
def test_estimate_sigma_on_a_device_frame_equals_the_host_value(cupy, shape):
    f = np.random.default_rng(1).normal(5.0, 2.0, shape)
    host = denoise.estimate_sigma(f)
    dev = denoise.estimate_sigma(cupy.asarray(f))
    assert isinstance(dev, float)
    assert dev == host


# -- NL-means ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, patch_size, patch_distance, h, sigma", [
    ((64, 64), 5, 6, 2.4, 3.0),   # the operation's defaults (h = 0.8 σ)
    ((48, 71), 4, 3, 3.0, 0.0),   # non-square, even patch (raised to 5), no σ correction
    ((71, 40), 7, 4, 5.0, 2.0),   # tall frame, larger patch
    ((37, 52), 3, 1, 1.0, 3.0),   # smallest patch and window
    ((20, 9), 6, 5, 2.0, 1.0),    # frame narrower than the padding
])
def test_nl_means_kernel_equals_scikit_image(cupy, shape, patch_size, patch_distance, h,
                                             sigma):
    from skimage.restoration import denoise_nl_means

    img = _texture(shape, seed=shape[0])
    ref = denoise_nl_means(img, patch_size=patch_size, patch_distance=patch_distance, h=h,
                           sigma=sigma, fast_mode=True, preserve_range=True)
    dev = denoise.nl_means_fast_xp(cupy.asarray(img), patch_size=patch_size,
                                   patch_distance=patch_distance, h=h, sigma=sigma)
    assert isinstance(dev, cupy.ndarray) and dev.dtype == np.float64
    # equal to rounding (~1e-15); a weight's truncation to an integer exponent step may flip
    # at the last digit (2**-20 of that weight), hence not 1e-12
    np.testing.assert_allclose(dev.get(), ref, rtol=1e-7)
    # and the numpy twin gives the same numbers
    host = denoise.nl_means_fast_xp(img, patch_size=patch_size, patch_distance=patch_distance,
                                    h=h, sigma=sigma)
    assert type(host) is np.ndarray
    np.testing.assert_allclose(host, ref, rtol=1e-7)


def test_nl_means_kernel_denoises_rather_than_copying(cupy):
    img = _texture((64, 64), seed=3)
    out = denoise.nl_means_fast_xp(cupy.asarray(img), patch_size=5, patch_distance=6, h=2.4,
                                   sigma=3.0).get()
    resid = out - img
    assert 1.0 < float(np.std(resid)) < 4.0  # removed most of the σ = 3 noise


@pytest.mark.parametrize("params", [
    {},
    {"patch_size": 4, "patch_distance": 3, "h": 1.2},
    {"sigma": 2.5, "patch_size": 7, "patch_distance": 2},
])
def test_nl_means_op_on_the_gpu_equals_the_cpu(cupy, monkeypatch, params):
    import skimage.restoration

    image = mg.from_array(_texture((61, 90), seed=5).astype(np.float32), scale=0.1,
                          units="nm", title="img")
    stack = mg.from_array(np.random.default_rng(2).poisson(40, (3, 40, 33)).astype(np.uint16),
                          title="stack")
    for ds in (image, stack):
        op = mg.operation("denoise.nl_means")
        bound = op.bind((ds,), params)
        with monkeypatch.context() as m:  # the GPU must not call scikit-image's kernel
            _forbid(m, skimage.restoration, "denoise_nl_means")
            _set_device(monkeypatch, "gpu")
            gpu, notes = execute(op, (ds,), bound)
            assert notes == [], notes
        _set_device(monkeypatch, "cpu")
        cpu, _ = execute(op, (ds,), bound)
        _assert_same_dataset(gpu, cpu)


def test_nl_means_op_slow_mode_on_gpu_data_runs_on_the_host(cupy, monkeypatch):
    ds = mg.from_array(_texture((30, 41), seed=6).astype(np.float32))
    gpu, cpu = _gpu_vs_cpu("denoise.nl_means", ds, {"fast_mode": False, "patch_distance": 2},
                           monkeypatch)
    _assert_same_dataset(gpu, cpu)


def test_nl_means_float64_stays_float64(cupy, monkeypatch):
    ds = mg.from_array(_texture((32, 45), seed=8))
    gpu, cpu = _gpu_vs_cpu("denoise.nl_means", ds, {}, monkeypatch)
    assert gpu.dtype == np.float64
    _assert_same_dataset(gpu, cpu, rtol=1e-9)


def test_nl_means_constant_frame_on_gpu(cupy, monkeypatch):
    ds = mg.from_array(np.full((3, 16, 20), 7, np.uint16))
    gpu, cpu = _gpu_vs_cpu("denoise.nl_means", ds, {}, monkeypatch)
    _assert_same_dataset(gpu, cpu)
    assert np.all(gpu.numpy() == 7)


# -- total variation --------------------------------------------------------------------------
@pytest.mark.parametrize("shape, weight, iters", [
    ((64, 80), 3.0, 200),
    ((57, 40), 10.0, 50),
    ((300,), 2.0, 200),
    ((20, 9), 0.5, 2),  # two iterations: the first returns the input
    ((8, 9, 10), 2.0, 100),
])
def test_tv_chambolle_kernel_equals_scikit_image(cupy, shape, weight, iters):
    from skimage.restoration import denoise_tv_chambolle

    img = np.random.default_rng(len(shape)).normal(0, 3, shape) + np.linspace(0, 20, shape[-1])
    ref = denoise_tv_chambolle(img, weight=weight, max_num_iter=iters)
    dev = denoise.tv_chambolle_xp(cupy.asarray(img), weight, max_num_iter=iters)
    assert isinstance(dev, cupy.ndarray) and dev.dtype == np.float64
    np.testing.assert_allclose(dev.get(), ref, rtol=1e-9, atol=1e-12)
    assert float(np.abs(ref - img).max()) > 0.1  # it did smooth


@pytest.mark.parametrize("params", [
    {},
    {"weight": 3.0, "max_iterations": 30},
    {"sigma": 2.0, "weight": 0.5},
    {"weight": 0.0},
])
def test_tv_chambolle_op_on_the_gpu_equals_the_cpu(cupy, monkeypatch, params):
    import skimage.restoration

    image = mg.from_array(_texture((50, 63), seed=9).astype(np.float32), title="img")
    rng = np.random.default_rng(4)
    spectra = mg.from_array(rng.normal(10, 1, (4, 5, 200)).astype(np.float32),
                            signal_dims=1, title="si")
    stack = mg.from_array(rng.poisson(30, (3, 33, 28)).astype(np.uint16), title="stack")
    for ds in (image, spectra, stack):
        op = mg.operation("denoise.tv")
        bound = op.bind((ds,), params)
        with monkeypatch.context() as m:
            _forbid(m, skimage.restoration, "denoise_tv_chambolle")
            _set_device(monkeypatch, "gpu")
            gpu, notes = execute(op, (ds,), bound)
            assert notes == [], notes
        _set_device(monkeypatch, "cpu")
        cpu, _ = execute(op, (ds,), bound)
        _assert_same_dataset(gpu, cpu)


def test_tv_bregman_on_gpu_data_runs_on_the_host(cupy, monkeypatch):
    ds = mg.from_array(_texture((40, 45), seed=10).astype(np.float32))
    gpu, cpu = _gpu_vs_cpu("denoise.tv", ds, {"method": "bregman"}, monkeypatch)
    _assert_same_dataset(gpu, cpu)


# -- PCA --------------------------------------------------------------------------------------
def _low_rank_stack(seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:24, 0:30]
    comps = [np.cos(xx / 4.0), np.sin(yy / 3.0), np.exp(-((xx - 15) ** 2 + (yy - 12) ** 2) / 30)]
    coef = rng.uniform(0.5, 2.0, (16, len(comps)))
    clean = 100 + 10 * np.einsum("nk,kyx->nyx", coef, np.array(comps))
    return rng.poisson(clean).astype(np.uint16)


@pytest.mark.parametrize("params", [
    {},
    {"n_components": 3},
    {"poisson_weighting": True},
    {"poisson_weighting": True, "n_components": 5},
])
def test_pca_op_on_the_gpu_equals_the_cpu(cupy, monkeypatch, params):
    seen = []
    real_table = denoise.Table

    def table(columns, **kw):  # the scree columns must be host arrays
        seen.extend(type(v) for v in columns.values())
        return real_table(columns, **kw)

    monkeypatch.setattr(denoise, "Table", table)
    ds = mg.from_array(_low_rank_stack(), scale=0.5, units="nm", title="stack")
    gpu, cpu = _gpu_vs_cpu("denoise.pca", ds, params, monkeypatch)
    assert seen and all(t is np.ndarray for t in seen), seen
    _assert_same_dataset(gpu[0], cpu[0])
    g, c = gpu[1], cpu[1]
    assert g.metadata == c.metadata
    for name in c.columns:
        np.testing.assert_allclose(g[name], c[name], rtol=1e-9, atol=1e-12)


def test_pca_on_the_gpu_uses_the_device_svd(cupy, monkeypatch):
    import numpy.linalg

    # the stand-in's cupy.linalg.svd wraps numpy's original function: only a host SVD fails
    _forbid(monkeypatch, numpy.linalg, "svd")
    ds = mg.from_array(_low_rank_stack(1))
    op = mg.operation("denoise.pca")
    out, notes = execute(op, (ds,), op.bind((ds,), {}))
    assert notes == [], notes
    assert out[1].metadata["n_components"] >= 1


# -- CPU-only operations given device data ------------------------------------------------------
def test_cpu_only_denoisers_round_trip_device_frames(cupy):
    img = _texture((30, 37), seed=11).astype(np.float32)
    cpu = denoise.bilateral(mg.from_array(img))
    ds = mg.from_array(img)
    gpu = denoise.bilateral(ds.replace(data=cupy.asarray(img)))
    assert gpu.on_gpu and gpu.dtype == cpu.dtype
    np.testing.assert_array_equal(gpu.data.get(), cpu.numpy())
