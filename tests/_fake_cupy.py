"""A numpy-backed stand-in for cupy / cupyx, strict about host-device mixing.

Machines without a GPU (CI, most sessions) still exercise the GPU branches of the operations:
array-module dispatch, ``cupyx.scipy.*`` imports, transfers to and from the device. The numbers are
numpy's and scipy's, so a GPU branch that computes something different from its CPU twin fails
here. Like real cupy, and unlike a plain alias of numpy, the stand-in refuses what cupy refuses:

- every array that ``cupy.*``, ``cupy.fft.*``, ``cupyx.scipy.ndimage.*`` or ``cupyx.scipy.fft.*``
  returns is a :class:`FakeGpuArray` (a "device" array, ``type(x).__module__ == "cupy._fake"``);
- a ufunc that mixes a device array with a host (numpy) array of one or more dimensions raises
  ``TypeError`` (cupy: "Unsupported type <class 'numpy.ndarray'>");
- ``cupyx.scipy.ndimage`` / ``cupyx.scipy.fft`` functions given a host array raise ``TypeError``,
  and scipy / numpy functions that would silently convert a device array to host memory
  (``scipy.ndimage.*`` called on a device array) do so only through ``.get()`` in real cupy — the
  stand-in cannot catch every such call, so keep GPU code to ``xp``/``cupyx`` names.

What it cannot check: cupy functions that numpy lacks (or that differ in signature) and real
device speed or memory. ``tests/test_gpu_real.py`` checks those on a real GPU.

Use :func:`install` from a fixture::

    @pytest.fixture
    def fake_cupy(monkeypatch):
        return install(monkeypatch)
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

import numpy as np


class FakeGpuArray(np.ndarray):
    """A numpy array that looks like a cupy array (module name), with cupy's ``get()``."""

    def get(self) -> np.ndarray:
        """Copy to host memory, like ``cupy.ndarray.get``."""
        return np.array(self.view(np.ndarray), copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs + tuple(kwargs.get("out", ()) or ()):
            if type(x) is np.ndarray and x.ndim > 0:
                raise TypeError(f"Unsupported type {type(x)!r} (host array mixed with a device "
                                f"array in {ufunc.__name__})")
        args = tuple(x.view(np.ndarray) if isinstance(x, FakeGpuArray) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, FakeGpuArray) else o
                                  for o in kwargs["out"])
        result = getattr(ufunc, method)(*args, **kwargs)
        return _to_fake(result)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        if return_scalar:
            return obj[()]
        return obj.view(FakeGpuArray) if isinstance(obj, np.ndarray) else obj


FakeGpuArray.__module__ = "cupy._fake"


def _to_fake(x: Any) -> Any:
    if type(x) is np.ndarray:
        return x.view(FakeGpuArray)
    if isinstance(x, tuple):
        return tuple(_to_fake(v) for v in x)
    if isinstance(x, list):
        return [_to_fake(v) for v in x]
    return x


def _device_only(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    for x in (*args, *kwargs.values()):
        if type(x) is np.ndarray and x.ndim > 0:
            raise TypeError(f"{name}: Unsupported type {type(x)!r} (host array given to a "
                            f"device function)")


def _wrap_module(src: types.ModuleType, name: str, *, strict: bool) -> types.ModuleType:
    mod = types.ModuleType(name)
    for attr in dir(src):
        if attr.startswith("__"):
            continue
        value = getattr(src, attr)
        if callable(value) and not isinstance(value, type) and not isinstance(value, np.ufunc):
            @functools.wraps(value)
            def wrapper(*args, _f=value, _n=f"{name}.{attr}", **kwargs):
                if strict:
                    _device_only(args, kwargs, _n)
                return _to_fake(_f(*args, **kwargs))

            setattr(mod, attr, wrapper)
        else:
            setattr(mod, attr, value)
    return mod


def _asarray(x: Any, dtype: Any = None, order: Any = None) -> FakeGpuArray:
    if isinstance(x, FakeGpuArray) and (dtype is None or x.dtype == np.dtype(dtype)):
        return x
    return np.array(x, dtype=dtype, copy=True).view(FakeGpuArray)


def _asnumpy(x: Any, stream: Any = None) -> np.ndarray:
    return x.get() if isinstance(x, FakeGpuArray) else np.asarray(x)


def _get_array_module(*args: Any) -> types.ModuleType:
    for x in args:
        if isinstance(x, FakeGpuArray):
            return sys.modules["cupy"]
    return np


def install(monkeypatch: Any) -> types.ModuleType:
    """Install the stand-ins as ``cupy``, ``cupyx``, ``cupyx.scipy.{ndimage,fft,signal}``.

    Parameters
    ----------
    monkeypatch : pytest.MonkeyPatch
        Undoes the installation after the test.

    Returns
    -------
    module
        The fake ``cupy`` module.
    """
    import scipy.fft
    import scipy.ndimage
    import scipy.signal

    from micrographia import backend

    cupy = _wrap_module(np, "cupy", strict=False)
    cupy.ndarray = FakeGpuArray
    cupy.asarray = _asarray
    cupy.array = lambda x, dtype=None, copy=True, **kw: np.array(
        x.view(np.ndarray) if isinstance(x, FakeGpuArray) else x, dtype=dtype,
        copy=True).view(FakeGpuArray)
    cupy.asnumpy = _asnumpy
    cupy.get_array_module = _get_array_module
    cupy.fft = _wrap_module(np.fft, "cupy.fft", strict=True)
    cupy.linalg = _wrap_module(np.linalg, "cupy.linalg", strict=True)
    cupy.random = _wrap_module(np.random, "cupy.random", strict=False)
    cuda = types.ModuleType("cupy.cuda")
    cuda.is_available = lambda: True

    class _Device:
        def __init__(self, id: int = 0) -> None:
            self.id = id

        def synchronize(self) -> None:
            pass

    class _Pool:
        def free_all_blocks(self) -> None:
            pass

        def used_bytes(self) -> int:
            return 0

    cuda.Device = _Device
    cupy.cuda = cuda
    cupy.get_default_memory_pool = lambda: _Pool()
    cupy.__version__ = "13.99-fake"

    cupyx = types.ModuleType("cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy")
    ndimage = _wrap_module(scipy.ndimage, "cupyx.scipy.ndimage", strict=True)
    fft = _wrap_module(scipy.fft, "cupyx.scipy.fft", strict=True)
    signal = _wrap_module(scipy.signal, "cupyx.scipy.signal", strict=True)
    cupyx_scipy.ndimage, cupyx_scipy.fft, cupyx_scipy.signal = ndimage, fft, signal
    cupyx.scipy = cupyx_scipy
    for name, mod in (("cupy", cupy), ("cupy.fft", cupy.fft), ("cupy.linalg", cupy.linalg),
                      ("cupy.random", cupy.random), ("cupy.cuda", cuda), ("cupyx", cupyx),
                      ("cupyx.scipy", cupyx_scipy), ("cupyx.scipy.ndimage", ndimage),
                      ("cupyx.scipy.fft", fft), ("cupyx.scipy.signal", signal)):
        monkeypatch.setitem(sys.modules, name, mod)
    # the probe's answer and the device setting are restored when the test ends
    monkeypatch.setattr(backend, "_forced", {"available": True, "cupy": cupy.__version__,
                                             "reason": "", "device": "numpy-backed fake"})
    return cupy
