"""GPU against CPU for the operations that run on the GPU, on the same data, in one run.

Run from the repository root on a machine with a CUDA GPU and cupy (``pip install -e .[gpu]``)::

    python benchmarks/bench_gpu.py              # the issue's headline rows, best of 3
    python benchmarks/bench_gpu.py --all        # also every gpu=True operation at 2048²
    python benchmarks/bench_gpu.py --size 2048  # smaller frames for the headline rows

Each row times ``mg.run(op, dataset, ...)`` end to end, as a user gets it: validation, the
transfer of the input to the device, the computation, the transfer of the result back to host
memory (which waits for the device) and provenance. The device setting is switched between
``cpu`` and ``gpu`` (``MICROGRAPHIA_DEVICE``); a GPU run that fell back to the CPU is reported as
such, never timed as a GPU row. The first call of each is a warm-up (cupy compiles its kernels
on first use) and is not timed. The results of both are compared before timing.

Without a usable GPU the script says why in one line and exits 0. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import values  # benchmarks/ is on sys.path when run as a script

import micrographia as mg
from micrographia import backend, settings
from micrographia.compute import execute


def _device(name: str) -> None:
    os.environ["MICROGRAPHIA_DEVICE"] = name
    settings.reset_cache()


def _lattice(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    img = 100 + 40 * np.cos(2 * np.pi * xx / 7.3) * np.cos(2 * np.pi * yy / 9.1)
    return (img + rng.normal(0, 10, img.shape)).astype(np.float32)


def _drift_stack(frames: int, n: int, seed: int = 1) -> np.ndarray:
    from scipy.ndimage import fourier_shift, gaussian_filter

    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.normal(0, 1, (n, n)), 3)
    base = 40 * (base - base.min()) / np.ptp(base) + 10
    f = np.fft.fft2(base)
    out = np.empty((frames, n, n), np.float32)
    for i in range(frames):
        s = rng.uniform(-20, 20, 2)
        out[i] = rng.poisson(np.clip(np.fft.ifft2(fourier_shift(f, s)).real, 0, None))
    return out


def _time(fn: Callable[[], Any], n: int) -> float:
    fn()  # warm-up: kernel compilation, FFT plans, memory pool
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _run(op_id: str, ds: mg.Dataset, params: dict[str, Any]) -> tuple[Any, list[str]]:
    op = mg.operation(op_id)
    return execute(op, (ds,), op.bind((ds,), params))


def _first(result: Any) -> Any:
    return result[0] if isinstance(result, tuple) else result


def _agree(g: Any, c: Any) -> str:
    g, c = _first(g), _first(c)
    if not isinstance(c, mg.Dataset):  # a table: largest difference of its numeric columns
        err = 0.0
        for name in c.columns:
            b = np.asarray(c[name])
            if b.dtype.kind in "fiu" and b.size:
                err = max(err, float(np.max(np.abs(np.asarray(g[name], np.float64) - b))))
        return f"{err:.1e} (abs, table)"
    a, b = values(g).astype(np.complex128), values(c).astype(np.complex128)
    scale = float(np.max(np.abs(b))) or 1.0
    err = float(np.max(np.abs(a - b))) / scale
    return f"{err:.1e}"


def bench_row(label: str, op_id: str, ds: mg.Dataset, params: dict[str, Any],
              n: int) -> tuple[str, float, float, str] | tuple[str, str]:
    """Time one operation on the CPU and on the GPU.

    Parameters
    ----------
    label : str
        Row label.
    op_id : str
        Operation id.
    ds : Dataset
        Input.
    params : dict
        Parameters.
    n : int
        Timed repeats (after one warm-up each).

    Returns
    -------
    tuple
        ``(label, cpu_s, gpu_s, max relative difference)``, or ``(label, why)`` when the GPU
        run fell back to the CPU.
    """
    _device("gpu")
    g, notes = _run(op_id, ds, params)
    if notes:
        return label, f"GPU fell back: {notes[0]}"
    _device("cpu")
    c, _ = _run(op_id, ds, params)
    agree = _agree(g, c)
    t_cpu = _time(lambda: _run(op_id, ds, params), n)
    _device("gpu")
    t_gpu = _time(lambda: _run(op_id, ds, params), n)
    return label, t_cpu, t_gpu, agree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3, help="timed repeats (default 3)")
    ap.add_argument("--size", type=int, default=4096, help="frame side of the headline rows")
    ap.add_argument("--frames", type=int, default=100, help="frames of the drift stack")
    ap.add_argument("--stack-size", type=int, default=512, help="frame side of the drift stack")
    ap.add_argument("--all", action="store_true", help="also every gpu=True op at 2048²")
    args = ap.parse_args(argv)
    if not backend.gpu_available():
        print(f"bench_gpu: no usable GPU here ({backend.probe().get('reason', '?')}); "
              "nothing to compare")
        return 0
    rep = backend.probe_report()
    print(f"# {rep.get('device')} · cupy {rep.get('cupy')} · {platform.processor() or 'cpu'} "
          f"({os.cpu_count()} cores) · python {sys.version.split()[0]}")
    s = args.size
    img = mg.from_array(_lattice(s), scale=0.02, units="nm", title="lattice")
    nf, ns = args.frames, args.stack_size
    stack = mg.from_array(_drift_stack(nf, ns), scale=0.1, units="nm", title="drift")
    rows_spec: list[tuple[str, str, mg.Dataset, dict[str, Any]]] = [
        (f"fft.power_spectrum {s}² f32", "fft.power_spectrum", img, {}),
        (f"filters.gaussian σ=2 {s}² f32", "filters.gaussian", img, {"sigma": 2.0}),
        (f"filters.median 5 {s}² f32", "filters.median", img, {"size": 5}),
        (f"denoise.nl_means {s}² f32", "denoise.nl_means", img, {}),
        (f"denoise.tv {s}² f32", "denoise.tv", img, {}),
        (f"segment.threshold otsu {s}² f32", "segment.threshold", img, {}),
        (f"alignment.register_stack reference {nf}×{ns}²", "alignment.register_stack", stack,
         {"method": "reference", "apply": False}),
        (f"alignment.register_stack all_pairs {nf}×{ns}²", "alignment.register_stack", stack,
         {"method": "all_pairs", "apply": False}),
    ]
    if args.all:
        small = mg.from_array(_lattice(min(s, 2048), 3), scale=0.02, units="nm", title="small")
        done = {r[1] for r in rows_spec}
        for op in mg.operations():
            if op.gpu and op.id not in done and op.accepts(small):
                rows_spec.append((f"{op.id} {small.shape[-1]}² (defaults)", op.id, small, {}))
    print(f"{'operation':46s} {'CPU s':>9s} {'GPU s':>9s} {'CPU/GPU':>8s}  max rel diff")
    for label, op_id, ds, params in rows_spec:
        try:
            if not mg.operation(op_id).gpu:
                print(f"{label:46s} (CPU only: not registered with gpu=True)")
                continue
        except KeyError:
            print(f"{label:46s} (not registered)")
            continue
        try:
            row = bench_row(label, op_id, ds, params, args.n)
        except mg.MicrographiaError as exc:
            print(f"{label:46s} error: {exc}")
            continue
        if len(row) == 2:
            print(f"{row[0]:46s} {row[1]}")
        else:
            lab, tc, tg, agree = row
            print(f"{lab:46s} {tc:9.4f} {tg:9.4f} {tc / tg:7.1f}×  {agree}", flush=True)
    _device("auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
