"""Compute backend: is a GPU usable, which device runs operations, moving arrays between them.

The probe never raises and never hangs: it first checks that cupy is installed at all
(:func:`importlib.util.find_spec`, no import), then runs one tiny kernel in a subprocess with a
timeout, because a broken CUDA driver can crash or stall the process that touches it. The answer
is cached for the process and, keyed by the cupy version, in ``<config dir>/gpu_probe.json`` (a
found GPU for a day, a failure for ten minutes; ``probe(refresh=True)`` probes again). Nothing
here imports cupy, dask or scipy at module level.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from types import ModuleType
from typing import Any

__all__ = ["gpu_available", "probe", "probe_report", "selected_device", "array_namespace",
           "ndimage_namespace", "to_device", "to_numpy", "is_gpu_array", "is_lazy_array",
           "PROBE_TIMEOUT"]

PROBE_TIMEOUT = 20.0
_CACHE_MAX_AGE = 24 * 3600.0
_CUPY_DISTS = ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy-rocm-6-0",
               "cupy-rocm-5-0")

_lock = threading.Lock()
_probe: dict[str, Any] | None = None
_forced: dict[str, Any] | None = None

_PROBE_CODE = r"""
import json, sys
try:
    import cupy
    a = cupy.arange(1024, dtype=cupy.float32)
    s = float((a * 2).sum())
    assert s == 1047552.0, s
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props.get("name", b"")
    name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    free, total = cupy.cuda.runtime.memGetInfo()
    print(json.dumps({"available": True, "cupy": cupy.__version__, "device": name,
                      "memory_total": int(total), "memory_free": int(free),
                      "device_count": int(cupy.cuda.runtime.getDeviceCount()), "reason": ""}))
except BaseException as exc:
    print(json.dumps({"available": False, "reason": f"{type(exc).__name__}: {exc}"[:500]}))
"""


def _cupy_version() -> str | None:
    """Return the installed cupy distribution's version without importing cupy."""
    from importlib import metadata

    for dist in _CUPY_DISTS:
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # broken metadata: no cache key
            return None
    return None


def _cache_file() -> Any:
    from .settings import config_dir

    return config_dir() / "gpu_probe.json"


def _read_cache(key: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(_cache_file().read_text(encoding="utf-8"))
        # a found GPU is remembered for a day, a failure for 10 minutes (drivers get fixed)
        max_age = _CACHE_MAX_AGE if raw.get("result", {}).get("available") else 600.0
        if raw.get("key") == key and time.time() - float(raw.get("time", 0)) < max_age:
            result = dict(raw["result"])
            result["source"] = "cache"
            return result
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def _write_cache(key: str, result: dict[str, Any]) -> None:
    try:
        f = _cache_file()
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "time": time.time(), "result": result}),
                       encoding="utf-8")
        os.replace(tmp, f)
    except OSError:
        pass


def _run_probe(timeout: float) -> dict[str, Any]:
    try:
        spec = importlib.util.find_spec("cupy")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return {"available": False, "cupy": None,
                "reason": "cupy is not installed (pip install 'micrographia[gpu]' or "
                          "cupy-cuda12x)", "source": "probe"}
    version = _cupy_version()
    key = f"{version}|{sys.executable}"
    if version is not None:
        cached = _read_cache(key)
        if cached is not None:
            return cached
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE_CODE], capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if lines:
            result = json.loads(lines[-1])
        else:
            tail = (r.stderr or r.stdout or "").strip().splitlines()[-1:] or ["no output"]
            result = {"available": False,
                      "reason": f"probe process exited with code {r.returncode}: {tail[0]}"}
    except subprocess.TimeoutExpired:
        result = {"available": False,
                  "reason": f"the GPU probe did not finish within {timeout:g} s"}
    except (OSError, ValueError) as exc:
        result = {"available": False, "reason": f"the GPU probe could not run: {exc}"}
    result.setdefault("cupy", version)
    result["probe_seconds"] = round(time.perf_counter() - t0, 3)
    if version is not None:
        _write_cache(key, result)
    result["source"] = "probe"
    return result


def probe(*, refresh: bool = False, timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """Find out whether cupy and a GPU are usable; never raises.

    Parameters
    ----------
    refresh : bool
        Probe again even if an answer is cached (in this process or on disk).
    timeout : float
        Seconds the probe subprocess may take.

    Returns
    -------
    dict
        ``available`` (bool), ``cupy`` (version or None), ``reason`` (why not, else ""), and when
        available ``device``, ``memory_total``, ``memory_free`` (bytes), ``device_count``.
    """
    global _probe
    with _lock:
        if _forced is not None:
            return dict(_forced)
        if _probe is None or refresh:
            if refresh:
                try:
                    _cache_file().unlink()
                except OSError:
                    pass
            try:
                _probe = _run_probe(timeout)
            except Exception as exc:  # the probe must never raise
                _probe = {"available": False, "cupy": None,
                          "reason": f"probe error: {type(exc).__name__}: {exc}"}
        return dict(_probe)


def gpu_available() -> bool:
    """Return True when cupy is installed and a GPU ran a test kernel (cached).

    Returns
    -------
    bool
        Whether operations can run on the GPU.
    """
    return bool(probe().get("available"))


def _set_probe_result(available: bool | None, reason: str = "", **info: Any) -> None:
    """Force the probe's answer (tests); ``None`` forgets it and probes for real next time.

    Parameters
    ----------
    available : bool or None
        The answer to give, or None to reset.
    reason : str
        Reason given when not available.
    **info
        Extra report entries (``device``, ``cupy`` ...).
    """
    global _forced, _probe
    with _lock:
        if available is None:
            _forced = None
            _probe = None
        else:
            _forced = {"available": bool(available), "cupy": info.pop("cupy", None),
                       "reason": "" if available else (reason or "forced unavailable"),
                       "source": "forced", **info}


def _setting() -> str:
    from . import settings

    try:
        return settings.get().device
    except Exception:  # an invalid MICROGRAPHIA_DEVICE must not break computing
        return "auto"


def selected_device() -> str:
    """Return the device operations run on: ``"cpu"`` or ``"gpu"``.

    The ``device`` setting (or ``MICROGRAPHIA_DEVICE``) decides: ``cpu`` always gives the CPU;
    ``auto`` and ``gpu`` give the GPU when the probe finds one and the CPU otherwise (with a
    reason in :func:`probe_report`).

    Returns
    -------
    str
        ``"cpu"`` or ``"gpu"``.
    """
    if _setting() == "cpu":
        return "cpu"
    return "gpu" if gpu_available() else "cpu"


def probe_report() -> dict[str, Any]:
    """Describe the GPU probe and the device choice (``micrographia device`` prints this).

    Returns
    -------
    dict
        ``available``, ``cupy``, ``device``, ``memory_total``, ``memory_free``, ``reason``,
        ``setting``, ``selected`` and a ``note`` when the GPU was requested but is unusable.
    """
    setting = _setting()
    p = probe() if setting != "cpu" else {"available": None, "cupy": None,
                                          "reason": "not probed: the device setting is cpu"}
    report: dict[str, Any] = {
        "available": p.get("available"),
        "cupy": p.get("cupy"),
        "device": p.get("device"),
        "memory_total": p.get("memory_total"),
        "memory_free": p.get("memory_free"),
        "reason": p.get("reason", ""),
        "setting": setting,
        "selected": "gpu" if setting != "cpu" and p.get("available") else "cpu",
        "source": p.get("source"),
    }
    if setting == "gpu" and not p.get("available"):
        report["note"] = f"GPU requested but unavailable ({p.get('reason')}); using the CPU"
    return report


# -- arrays -------------------------------------------------------------------------------
def is_gpu_array(x: Any) -> bool:
    """Whether ``x`` is a cupy array (checked without importing cupy).

    Parameters
    ----------
    x : Any
        An array.

    Returns
    -------
    bool
        True for cupy arrays.
    """
    return type(x).__module__.split(".")[0] == "cupy"


def is_lazy_array(x: Any) -> bool:
    """Whether ``x`` is a dask array (checked without importing dask).

    Parameters
    ----------
    x : Any
        An array.

    Returns
    -------
    bool
        True for dask arrays.
    """
    return type(x).__module__.split(".")[0] == "dask"


def array_namespace(x: Any) -> ModuleType:
    """Return the array module matching ``x``: numpy, cupy or dask.array.

    Parameters
    ----------
    x : Any
        An array (or a :class:`~micrographia.Dataset`, whose data is used).

    Returns
    -------
    module
        ``numpy``, ``cupy`` or ``dask.array``.
    """
    x = getattr(x, "data", x) if type(x).__name__ == "Dataset" else x
    if is_gpu_array(x):
        import cupy

        return cupy
    if is_lazy_array(x):
        import dask.array

        return dask.array
    import numpy

    return numpy


def ndimage_namespace(x: Any) -> ModuleType:
    """Return the ``ndimage`` module for ``x``'s device: ``cupyx.scipy.ndimage`` or ``scipy``'s.

    Parameters
    ----------
    x : Any
        An array, or a :class:`~micrographia.Dataset` (a lazy one counts as on the GPU when its
        blocks are cupy arrays).

    Returns
    -------
    module
        ``cupyx.scipy.ndimage`` for GPU data, ``scipy.ndimage`` otherwise.
    """
    x = getattr(x, "data", x) if type(x).__name__ == "Dataset" else x
    if is_gpu_array(x) or (is_lazy_array(x) and is_gpu_array(getattr(x, "_meta", None))):
        from cupyx.scipy import ndimage
    else:
        from scipy import ndimage
    return ndimage


def to_numpy(x: Any) -> Any:
    """Return ``x`` as a numpy array (copies from the GPU; computes dask arrays).

    Parameters
    ----------
    x : Any
        numpy, cupy or dask array (or anything :func:`numpy.asarray` accepts).

    Returns
    -------
    numpy.ndarray
        The values.
    """
    import numpy as np

    if is_lazy_array(x):
        x = x.compute()
    if is_gpu_array(x):
        return x.get()
    return np.asarray(x)


def to_device(x: Any, device: str) -> Any:
    """Move an array to ``"gpu"`` (cupy) or ``"cpu"`` (numpy).

    Dask arrays stay lazy: their blocks are moved when computed.

    Parameters
    ----------
    x : Any
        The array.
    device : {"cpu", "gpu"}
        Target.

    Returns
    -------
    Any
        The moved array (``x`` itself when already there).

    Raises
    ------
    ValueError
        On an unknown device.
    """
    if device == "cpu":
        if is_lazy_array(x):
            return x.map_blocks(to_numpy)
        return x if type(x).__module__ == "numpy" else to_numpy(x)
    if device == "gpu":
        import cupy

        if is_lazy_array(x):
            return x.map_blocks(cupy.asarray)
        return cupy.asarray(x)
    raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
