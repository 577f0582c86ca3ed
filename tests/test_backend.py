"""Compute backend: GPU probe, device selection, GPU fallback (with a fake GPU)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import micrographia as mg
from micrographia import backend, settings
from micrographia.compute import execute


@pytest.fixture(autouse=True)
def _fresh_probe():
    backend._set_probe_result(None)
    yield
    backend._set_probe_result(None)


class FakeGpuArray(np.ndarray):
    """A numpy array that looks like a cupy array (module name), with cupy's ``get()``."""

    def get(self):
        return np.array(self.view(np.ndarray), copy=True)


FakeGpuArray.__module__ = "cupy._fake"


def _fake_to_device(x, device):
    if device == "gpu":
        return np.array(x, copy=True).view(FakeGpuArray)
    return backend.to_numpy(x)


def _set_device(monkeypatch, value):
    monkeypatch.setenv("MICROGRAPHIA_DEVICE", value)
    settings.reset_cache()


def test_probe_without_cupy_is_fast_and_explains(monkeypatch):
    if backend.importlib.util.find_spec("cupy") is not None:
        pytest.skip("cupy is installed here")
    t0 = time.perf_counter()
    assert backend.gpu_available() is False
    assert time.perf_counter() - t0 < 2.0
    rep = backend.probe_report()
    assert rep["available"] is False and rep["cupy"] is None
    assert "cupy is not installed" in rep["reason"]
    _set_device(monkeypatch, "gpu")
    assert backend.selected_device() == "cpu"
    rep = backend.probe_report()
    assert rep["selected"] == "cpu" and "GPU requested but unavailable" in rep["note"]
    assert "cupy is not installed" in rep["note"]


def test_device_setting(monkeypatch):
    backend._set_probe_result(True, device="Fake GPU", cupy="13.0")
    assert backend.selected_device() == "gpu"  # auto
    _set_device(monkeypatch, "cpu")
    assert backend.selected_device() == "cpu"
    assert backend.probe_report()["selected"] == "cpu"
    _set_device(monkeypatch, "gpu")
    rep = backend.probe_report()
    assert backend.selected_device() == "gpu" and rep["device"] == "Fake GPU"
    backend._set_probe_result(False, reason="no CUDA driver")
    assert backend.selected_device() == "cpu"
    assert "no CUDA driver" in backend.probe_report()["note"]


def test_probe_subprocess_timeout_and_success(monkeypatch):
    real_find_spec = backend.importlib.util.find_spec
    monkeypatch.setattr(backend.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "cupy" else real_find_spec(name, *a))
    monkeypatch.setattr(backend, "_cupy_version", lambda: None)
    monkeypatch.setattr(backend, "_PROBE_CODE", "import time; time.sleep(30)")
    t0 = time.perf_counter()
    p = backend.probe(refresh=True, timeout=0.5)
    assert time.perf_counter() - t0 < 10
    assert p["available"] is False and "did not finish within 0.5 s" in p["reason"]
    monkeypatch.setattr(backend, "_PROBE_CODE", "import sys; sys.exit(3)")
    p = backend.probe(refresh=True)
    assert not p["available"] and "exited with code 3" in p["reason"]
    monkeypatch.setattr(backend, "_PROBE_CODE", 'print(\'{"available": true, "cupy": "13.1", '
                        '"device": "Fake H100", "memory_total": 80, "reason": ""}\')')
    monkeypatch.setattr(backend, "_cupy_version", lambda: "cupy-fake 13.1")
    p = backend.probe(refresh=True)
    assert p["available"] and p["device"] == "Fake H100" and p["source"] == "probe"
    # the answer is cached on disk, keyed by the cupy version
    backend._set_probe_result(None)
    monkeypatch.setattr(backend, "_PROBE_CODE", "raise SystemExit(1)")
    p = backend.probe()
    assert p["available"] and p["source"] == "cache"
    assert backend.gpu_available()


def test_array_helpers():
    a = np.arange(6.0)
    assert backend.array_namespace(a) is np
    assert backend.array_namespace(mg.from_array(a)) is np
    import dask.array as da

    lazy = da.from_array(a, chunks=3)
    assert backend.array_namespace(lazy) is da
    assert isinstance(backend.to_numpy(lazy), np.ndarray)
    assert backend.to_device(a, "cpu") is a
    np.testing.assert_array_equal(backend.to_numpy(a.view(FakeGpuArray)), a)
    assert backend.is_gpu_array(a.view(FakeGpuArray)) and not backend.is_gpu_array(a)
    with pytest.raises(ValueError, match="device"):
        backend.to_device(a, "tpu")


def test_gpu_failure_falls_back_to_cpu_with_a_note(monkeypatch):
    backend._set_probe_result(True, device="Fake GPU")

    class OutOfMemoryError(MemoryError):
        pass

    def boom(x, device):
        raise OutOfMemoryError("Out of memory allocating 4,294,967,296 bytes")

    monkeypatch.setattr(backend, "to_device", boom)
    d = mg.from_array(np.random.default_rng(0).normal(size=(3, 16, 16)).astype(np.float32))
    with mg.recording() as rec:
        g = mg.run("filters.gaussian", d, sigma=1.0)
    expected = mg.run("filters.gaussian", d.replace(data=np.asarray(d.data)), sigma=1.0)
    np.testing.assert_array_equal(g.data, expected.data)
    assert isinstance(g.data, np.ndarray)
    assert "# GPU failed (out of GPU memory: Out of memory allocating" in rec.text
    assert "ran filters.gaussian on the CPU" in rec.text
    assert rec.text.index("# GPU failed") < rec.text.index('mg.run("filters.gaussian"')


def test_gpu_missing_cupy_falls_back(monkeypatch):
    """A 'GPU' array reaches gaussian, whose cupyx import fails: the CPU reruns it."""
    backend._set_probe_result(True)
    monkeypatch.setattr(backend, "to_device", _fake_to_device)
    d = mg.from_array(np.ones((8, 8), np.float32))
    op = mg.operation("filters.gaussian")
    result, notes = execute(op, (d,), op.bind((d,), {}))
    assert isinstance(result.data, np.ndarray)
    assert len(notes) == 1 and "GPU failed (ModuleNotFoundError" in notes[0]


def test_gpu_success_returns_numpy(monkeypatch):
    backend._set_probe_result(True)
    monkeypatch.setattr(backend, "to_device", _fake_to_device)
    s = mg.from_array(np.arange(60, dtype=np.uint16).reshape(3, 4, 5))
    op = mg.operation("image.sum")
    result, notes = execute(op, (s,), op.bind((s,), {}))
    assert notes == [] and type(result.data) is np.ndarray
    np.testing.assert_array_equal(result.data, np.asarray(s.data).sum(axis=0))
    # parameter errors are not GPU failures: they are raised, not retried
    with pytest.raises(mg.ParameterError):
        execute(op, (s,), op.bind((s,), {"axes": "nope"}))


def test_cpu_setting_never_touches_the_gpu(monkeypatch):
    backend._set_probe_result(True)
    _set_device(monkeypatch, "cpu")

    def boom(x, device):
        raise AssertionError("moved to the GPU")

    monkeypatch.setattr(backend, "to_device", boom)
    d = mg.from_array(np.ones((8, 8), np.float32))
    op = mg.operation("filters.gaussian")
    _, notes = execute(op, (d,), op.bind((d,), {}))
    assert notes == []


@pytest.fixture
def fake_cupy(monkeypatch):
    """Numpy-backed, host/device-strict stand-ins for cupy and cupyx (tests/_fake_cupy.py)."""
    from _fake_cupy import install

    return install(monkeypatch)


@pytest.mark.parametrize("op_id, params", [
    ("filters.gaussian", {"sigma": 1.5}),
    ("fft.power_spectrum", {}),
    ("fft.power_spectrum", {"window": "none", "log": False}),
    ("image.bin", {"factor": 3, "reduce": "mean"}),
    ("image.bin", {"factor": 2}),
    ("image.sum", {"axes": "t,x"}),
    ("image.convert_dtype", {"dtype": "uint8", "scaling": "data_range"}),
])
def test_gpu_branches_with_a_fake_cupy(fake_cupy, op_id, params, monkeypatch):
    rng = np.random.default_rng(2)
    s = mg.from_array(rng.poisson(40, (3, 37, 40)).astype(np.uint16), scale=0.2, units="nm")
    op = mg.operation(op_id)
    assert op.gpu
    gpu_result, notes = execute(op, (s,), op.bind((s,), params))
    assert notes == [], notes
    assert type(gpu_result.data) is np.ndarray  # users always get numpy back
    _set_device(monkeypatch, "cpu")
    cpu_result, _ = execute(op, (s,), op.bind((s,), params))
    assert gpu_result.axes == cpu_result.axes and gpu_result.dtype == cpu_result.dtype
    np.testing.assert_allclose(gpu_result.data, cpu_result.data, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op_id", sorted(op.id for op in mg.operations() if op.gpu))
def test_every_gpu_op_matches_the_cpu_on_the_stand_in(fake_cupy, op_id, monkeypatch):
    """Every ``gpu=True`` operation runs its GPU branch on the strict stand-in without falling
    back to the CPU and gives the CPU's numbers (tests/test_gpu_real.py repeats this on a GPU)."""
    from _gpu_parity import check_gpu_equals_cpu

    check_gpu_equals_cpu(op_id, monkeypatch)


def test_ndimage_namespace_follows_the_device(fake_cupy):
    import dask.array as da
    import scipy.ndimage

    host = np.zeros((4, 4), np.float32)
    dev = fake_cupy.asarray(host)
    assert backend.ndimage_namespace(host) is scipy.ndimage
    assert backend.ndimage_namespace(dev).__name__ == "cupyx.scipy.ndimage"
    assert backend.ndimage_namespace(mg.from_array(host)) is scipy.ndimage
    lazy_dev = da.from_array(host, chunks=2).map_blocks(fake_cupy.asarray)
    assert backend.ndimage_namespace(lazy_dev).__name__ == "cupyx.scipy.ndimage"
