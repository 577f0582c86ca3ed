"""Apply a per-frame function over the navigation axes of numpy, dask or cupy data.

A "frame" is the block of the last ``signal_ndim`` axes at one navigation index: an image of a
stack, a diffraction pattern of a 4D-STEM scan, a spectrum of a spectrum image. In memory the
frames are processed one by one, reporting progress and honouring cancellation
(:mod:`micrographia.tasks`); dask data stays lazy (``map_blocks`` with the signal axes in one
chunk); cupy data stays on the GPU.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .backend import array_namespace, is_lazy_array
from .dataset import Dataset
from .tasks import check_cancelled, report_progress

__all__ = ["map_frames", "parallel_bands", "cpu_workers"]

_pool: Any = None
_pool_lock = threading.Lock()
_MIN_BAND_WORK = 1 << 17  # elements below which splitting a frame costs more than it saves


def cpu_workers() -> int:
    """Return the number of threads used to split one frame's work (the CPU count).

    Returns
    -------
    int
        ``os.cpu_count()`` (at least 1), or ``$MICROGRAPHIA_THREADS`` when set.
    """
    env = os.environ.get("MICROGRAPHIA_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, os.cpu_count() or 1)


def parallel_bands(func: Callable[[int, int], Any], n: int, *, size: int = 0,
                   workers: int | None = None) -> None:
    """Call ``func(start, stop)`` on bands of ``range(n)`` in parallel threads and wait.

    numpy, scipy.ndimage and scipy.fft release the GIL, so splitting one large frame into row
    bands uses every core. ``func`` writes its band of the result itself.

    Parameters
    ----------
    func : callable
        ``func(start, stop)`` processes rows ``start:stop``.
    n : int
        Number of rows.
    size : int
        Total number of elements of the work; below about 130 000 it runs in one call.
    workers : int, optional
        Number of bands (default :func:`cpu_workers`).
    """
    global _pool
    k = min(n, workers or cpu_workers())
    if k <= 1 or (size and size < _MIN_BAND_WORK):
        func(0, n)
        return
    with _pool_lock:
        if _pool is None or _pool._max_workers < k:
            import concurrent.futures

            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(k, cpu_workers()),
                                                          thread_name_prefix="mg-band")
        pool = _pool
    edges = [n * i // k for i in range(k + 1)]
    futures = [pool.submit(func, a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    for f in futures:
        f.result()


def _loop(func: Callable[[Any], Any], data: Any, signal_ndim: int, out_dtype: np.dtype,
          out_sig_shape: tuple[int, ...], progress: bool, message: str) -> Any:
    xp = array_namespace(data)
    nav_shape = tuple(data.shape[:data.ndim - signal_ndim])
    if not nav_shape:  # a single frame: no copy into a result array
        check_cancelled()
        res = func(data)
        if not hasattr(res, "dtype") or res.dtype != out_dtype or res is data:
            res = xp.asarray(res).astype(out_dtype, copy=True)
        if tuple(res.shape) != out_sig_shape:
            raise ValueError(f"frame function returned shape {tuple(res.shape)}, expected "
                             f"{out_sig_shape}")
        if progress:
            report_progress(1.0, message)
        return res
    out = xp.empty(nav_shape + out_sig_shape, dtype=out_dtype)
    n = int(np.prod(nav_shape, dtype=np.int64))
    for i, idx in enumerate(np.ndindex(*nav_shape)):
        check_cancelled()
        out[idx] = func(data[idx])
        if progress:
            report_progress((i + 1) / n, message)
    return out


def map_frames(func: Callable[[Any], Any], dataset_or_array: Any, *, signal_ndim: int,
               out_dtype: Any, out_sig_shape: Sequence[int] | None = None,
               progress: bool = True, message: str = "") -> Any:
    """Apply ``func`` to every frame (the last ``signal_ndim`` axes) of an array.

    Parameters
    ----------
    func : callable
        ``func(frame) -> frame``; receives an array of the input's kind (numpy or cupy; numpy
        for dask blocks) with ``signal_ndim`` dimensions and returns one of shape
        ``out_sig_shape``.
    dataset_or_array : Dataset or array
        numpy, dask or cupy data (a :class:`~micrographia.Dataset`'s data is used).
    signal_ndim : int
        Number of trailing axes forming one frame (0 to ``ndim``).
    out_dtype : dtype
        Data type of the result.
    out_sig_shape : sequence of int, optional
        Shape of each output frame; default: the input frame's shape.
    progress : bool
        Report progress (per frame) to the enclosing task, if any.
    message : str
        Progress message.

    Returns
    -------
    array
        numpy, dask (lazy, not computed) or cupy array of shape
        ``nav_shape + out_sig_shape``, matching the input's kind.

    Raises
    ------
    CancelledError
        If the enclosing task is cancelled (checked before every frame).

    Examples
    --------
    >>> import numpy as np
    >>> from micrographia.frames import map_frames
    >>> a = np.arange(24.0).reshape(2, 3, 4)
    >>> map_frames(lambda f: f.T, a, signal_ndim=2, out_dtype=a.dtype,
    ...            out_sig_shape=(4, 3)).shape
    (2, 4, 3)
    """
    data = dataset_or_array
    if isinstance(data, Dataset):
        data = data.data
    if not 0 <= signal_ndim <= data.ndim:
        raise ValueError(f"signal_ndim must be between 0 and {data.ndim}, got {signal_ndim}")
    out_dtype = np.dtype(out_dtype)
    nav_ndim = data.ndim - signal_ndim
    sig_shape = tuple(int(s) for s in data.shape[nav_ndim:])
    out_sig = sig_shape if out_sig_shape is None else tuple(int(s) for s in out_sig_shape)
    if not is_lazy_array(data):
        return _loop(func, data, signal_ndim, out_dtype, out_sig, progress, message)

    if len(out_sig) != signal_ndim:
        raise ValueError("lazy map_frames keeps the number of signal dimensions")
    # dask: each block must hold whole frames; the function runs block by block when computed.
    if any(len(c) > 1 for c in data.chunks[nav_ndim:]):
        data = data.rechunk({i: -1 for i in range(nav_ndim, data.ndim)})

    def block(b: Any) -> Any:
        return _loop(func, b, signal_ndim, out_dtype, out_sig, False, "")

    chunks = tuple(data.chunks[:nav_ndim]) + tuple((s,) for s in out_sig)
    meta_xp = np
    if data._meta is not None and type(data._meta).__module__.split(".")[0] == "cupy":
        meta_xp = array_namespace(data._meta)
    return data.map_blocks(block, dtype=out_dtype, chunks=chunks,
                           meta=meta_xp.empty((0,) * len(chunks), dtype=out_dtype))
