"""GPU branches of stack registration and drift correction (plugins/alignment.py, issue #5).

The GPU code runs on the numpy-backed, host/device-strict stand-in for cupy of
``tests/_fake_cupy.py``: it must give the CPU's shifts and aligned stacks, without falling back
to the CPU, and really work on device arrays (``cupyx.scipy.fft``, no ``scipy.fft``).
``tests/test_gpu_real.py`` repeats the generic parity check on a real GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_alignment_stack import _texture_stack

import micrographia as mg
from micrographia import settings
from micrographia.compute import execute
from micrographia.plugins import alignment


def _set_device(monkeypatch, device):
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", device)
    settings.reset_cache()


@pytest.fixture
def fake_cupy(monkeypatch):
    """Numpy-backed, host/device-strict stand-ins for cupy and cupyx (tests/_fake_cupy.py)."""
    from _fake_cupy import install

    return install(monkeypatch)


@pytest.fixture(scope="module")
def drift():
    data, shifts = _texture_stack(n=10, size=96, max_shift=6.0, seed=3)
    return mg.from_array(data, scale=0.05, units="nm", title="drift"), shifts


def _both(op_id, inputs, params, monkeypatch):
    """Run on the (fake) GPU, then on the CPU; the GPU run must not fall back."""
    op = mg.operation(op_id)
    bound = op.bind(inputs, params)
    _set_device(monkeypatch, "gpu")
    gpu, notes = execute(op, inputs, bound)
    assert notes == [], notes
    _set_device(monkeypatch, "cpu")
    cpu, notes_cpu = execute(op, inputs, bound)
    assert notes_cpu == []
    return gpu, cpu


def _same_table(g, c, atol=1e-4):
    assert g.columns == c.columns
    for name in ("dx", "dy"):
        np.testing.assert_allclose(g[name], c[name], rtol=0, atol=atol)
    for name in c.columns:
        assert type(g[name]) is np.ndarray
        if name not in ("dx", "dy", "dx_cal", "dy_cal"):
            np.testing.assert_allclose(g[name], c[name], rtol=1e-4, atol=1e-6)


def _same_stack(g, c, shift_diff=0.0):
    """Same aligned stack; frames resampled at shifts ``shift_diff`` px apart may differ by
    about that times the steepest slope between neighbouring pixels (3× margin)."""
    assert type(g.data) is np.ndarray  # users get numpy back
    assert g.axes == c.axes and g.dtype == c.dtype
    cn = c.numpy()
    scale = float(np.abs(cn).max())
    slope = max(float(np.abs(np.diff(cn, axis=-1)).max()),
                float(np.abs(np.diff(cn, axis=-2)).max()))
    np.testing.assert_allclose(g.numpy(), cn, rtol=1e-5,
                               atol=1e-5 * scale + 3 * slope * shift_diff)


# Tolerance on dx, dy (px). With upsample >= 50 the last zoom stage runs in double precision and
# the GPU branch must give the CPU's shifts within 1e-4 px (here they agree to ~1e-12). With the
# default upsample=20 the last stage is complex64: the CPU result itself then moves by ~1e-4 px
# with the way its batch is split over threads (BLAS blocking), and the device computes each
# batch at once, so these runs are compared within 5e-4 px.
_TOL_DOUBLE, _TOL_SINGLE = 1e-4, 5e-4


@pytest.mark.parametrize("params", [
    {},
    {"method": "all_pairs"},
    {"upsample": 100},
    {"reference": "mean", "upsample": 100},
    {"reference": "running", "max_shift": 10.0, "upsample": 100},
    {"reference": "frame", "reference_frame": 4, "prefilter": "gaussian", "track": False,
     "upsample": 100},
    {"prefilter": "none", "pyramid": 1, "upsample": 100},
    {"method": "all_pairs", "upsample": 100},
    {"method": "all_pairs", "window": 3, "pyramid": 1, "prefilter": "gaussian", "upsample": 100},
    {"method": "all_pairs", "max_shift": 8.0, "roi": {"x": (0.5, 4.5)}, "border": "pad",
     "interpolation": "spline", "upsample": 100},
], ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_register_stack_gpu_matches_cpu(fake_cupy, drift, params, monkeypatch):
    d, truth = drift
    (g_stack, g_tab), (c_stack, c_tab) = _both("alignment.register_stack", (d,), params,
                                               monkeypatch)
    tol = _TOL_DOUBLE if params.get("upsample", 20) >= 50 else _TOL_SINGLE
    _same_table(g_tab, c_tab, atol=tol)
    diff = max(float(np.abs(g_tab[k] - c_tab[k]).max()) for k in ("dx", "dy"))
    _same_stack(g_stack, c_stack, diff)
    assert g_tab.metadata == c_tab.metadata
    if set(params) <= {"method", "upsample"}:
        # both really find the drift (random shifts up to 6 px, low-dose 96² frames)
        err = np.c_[g_tab["dx"] - truth[:, 0], g_tab["dy"] - truth[:, 1]]
        assert float(np.sqrt((err ** 2).mean())) < 0.4


def test_register_stack_gpu_batches(fake_cupy, drift, monkeypatch):
    """Tiny device batches (many chunks of frames and pairs) give the same result."""
    d, _ = drift
    params = {"method": "all_pairs", "apply": False, "upsample": 100}
    op = mg.operation("alignment.register_stack")
    _set_device(monkeypatch, "cpu")
    cpu, _ = execute(op, (d,), op.bind((d,), params))
    monkeypatch.setattr(alignment, "_GPU_CHUNK_BYTES", 1)
    _set_device(monkeypatch, "gpu")
    batches = []
    real = alignment._correlate

    def counting(sp, xs, *a, **k):
        batches.append(xs.shape[0])
        return real(sp, xs, *a, **k)

    monkeypatch.setattr(alignment, "_correlate", counting)
    gpu, notes = execute(op, (d,), op.bind((d,), params))
    assert notes == []
    assert max(batches) == 1 and len(batches) >= 45  # one pair per batch
    _same_table(gpu, cpu)


@pytest.mark.parametrize("params", [
    {},
    {"interpolation": "spline", "order": 1, "border": "pad", "fill": -1.0},
    {"interpolation": "spline", "border": "keep", "invert": True},
    {"border": "pad", "invert": True},
])
def test_apply_shifts_gpu_matches_cpu(fake_cupy, drift, params, monkeypatch):
    d, truth = drift
    rng = np.random.default_rng(1)
    n = d.shape[0]
    table = mg.Table({"frame": rng.permutation(n), "dx": rng.uniform(-4, 4, n),
                      "dy": rng.uniform(-4, 4, n)})
    g, c = _both("alignment.apply_shifts", (d, table), params, monkeypatch)
    _same_stack(g, c)


def test_gpu_path_uses_device_arrays(fake_cupy, drift, monkeypatch):
    """The GPU branch computes on device arrays with cupyx, and returns host tables."""
    import cupyx.scipy.fft as dfft
    import cupyx.scipy.ndimage as dndi
    import scipy.fft
    import scipy.ndimage

    d, _ = drift
    calls = {"rfft2": 0, "irfft2": 0, "shift": 0, "correlate": 0}

    def count(mod, name):
        real = getattr(mod, name)

        def wrapper(*a, **k):
            calls[name] += 1
            assert "workers" not in k  # no CPU threads options on the device
            return real(*a, **k)

        monkeypatch.setattr(mod, name, wrapper)

    count(dfft, "rfft2")
    count(dfft, "irfft2")
    count(dndi, "shift")

    def no_cpu(*a, **k):
        raise AssertionError("CPU FFT / interpolation called on the GPU path")

    for mod, name in ((scipy.fft, "rfft2"), (scipy.fft, "irfft2"), (scipy.ndimage, "shift")):
        monkeypatch.setattr(mod, name, no_cpu)
    real_corr = alignment._correlate

    def corr(sp, xs, *a, **k):
        calls["correlate"] += 1
        assert isinstance(xs, fake_cupy.ndarray) and isinstance(sp.spec, fake_cupy.ndarray)
        out = real_corr(sp, xs, *a, **k)
        assert all(type(v) is np.ndarray for v in out)  # per-pair scalars on the host
        return out

    monkeypatch.setattr(alignment, "_correlate", corr)
    real_table = alignment.Table

    def host_table(columns, **k):
        for name, v in columns.items():  # real cupy arrays would not convert silently
            assert not isinstance(v, fake_cupy.ndarray), name
        return real_table(columns, **k)

    monkeypatch.setattr(alignment, "Table", host_table)
    _set_device(monkeypatch, "gpu")
    for params in ({"method": "all_pairs"}, {"interpolation": "spline"}):
        op = mg.operation("alignment.register_stack")
        (stack, table), notes = execute(op, (d,), op.bind((d,), params))
        assert notes == []
        assert type(stack.data) is np.ndarray and type(table["dx"]) is np.ndarray
    assert calls["rfft2"] > 0 and calls["irfft2"] > 0 and calls["correlate"] > 0
    assert calls["shift"] == d.shape[0]  # spline resampling: one call per frame


def test_lazy_input_keeps_the_cpu_path(fake_cupy, drift, monkeypatch):
    import dask.array as da

    d, _ = drift
    lazy = d.replace(data=da.from_array(np.asarray(d.data), chunks=(3, -1, -1)))
    g, c = _both("alignment.register_stack", (lazy,), {"apply": False}, monkeypatch)
    for name in c.columns:
        np.testing.assert_array_equal(g[name], c[name])


def test_gpu_ops_are_registered(fake_cupy):
    assert mg.operation("alignment.register_stack").gpu
    assert mg.operation("alignment.apply_shifts").gpu
