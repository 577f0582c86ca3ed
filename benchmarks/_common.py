"""Timing helpers shared by the benchmark scripts (run them as ``python benchmarks/bench_x.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import micrographia as mg


def best_of_pair(ours: Callable[[], Any], peer: Callable[[], Any],
                 n: int) -> tuple[float, float]:
    """Best times of ``n`` calls of each, the calls alternating (ours, peer, ours, ...).

    Alternating puts both under the same momentary load of the machine, so their ratio is
    fairer than that of two separate series when other processes come and go.

    Parameters
    ----------
    ours, peer : callable
        The two functions timed (no arguments).
    n : int
        Calls of each after one warm-up call.

    Returns
    -------
    tuple of float
        Best seconds of ours and of the peer.
    """
    ours()  # warm up (imports, FFT plans, page faults)
    peer()
    t_o, t_p = [], []
    for _ in range(n):
        for fn, ts in ((ours, t_o), (peer, t_p)):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return min(t_o), min(t_p)


def values(x: Any) -> np.ndarray:
    """Return the array of a dataset (or the array itself).

    Parameters
    ----------
    x : Dataset or array-like
        A result.

    Returns
    -------
    numpy.ndarray
        Its values.
    """
    return x.numpy() if isinstance(x, mg.Dataset) else np.asarray(x)
