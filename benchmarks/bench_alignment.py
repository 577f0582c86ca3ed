"""Side-by-side timings and accuracy of ``alignment.register_stack`` against its peers.

Run from the repository root::

    python benchmarks/bench_alignment.py              # all three parts (a few minutes)
    python benchmarks/bench_alignment.py --quick      # fewer frames, best of 1
    python benchmarks/bench_alignment.py --part reference   # or all_pairs, memory
    python benchmarks/bench_alignment.py --gpu        # GPU against CPU (needs cupy and a GPU)

1. ``reference`` (defaults) against ``skimage.registration.phase_cross_correlation(ref, frame,
   upsample_factor=100)`` called per frame against the first frame, 100 frames of 512²;
2. ``all_pairs`` (defaults) against a straightforward numpy all-pairs implementation written
   below (same Gaussian + Sobel pre-filter, complex ``fft2`` per frame and ``ifft2`` per pair,
   parabolic sub-pixel peak, dense weighted least squares), 100 frames of 256²;
3. the tracemalloc peak of ``all_pairs`` on 1,000 frames of 128².

Frames: a band-limited random texture drawn on a larger canvas, shifted exactly by the Fourier
shift theorem (random ±20 px sub-pixel shifts), the central window cut out, Poisson noise at
~40 counts. Each row prints the time of one call (best of N after a warm-up), the ratio
``peer / ours`` (> 1: we are faster) and the RMS error of the shifts against the truth for both.
Nothing here is a test.

``--gpu`` instead times ``register_stack`` (``reference`` and ``all_pairs``, 100 frames of 512²;
30 with ``--quick``) on the GPU and on the CPU through the device setting
(``MICROGRAPHIA_DEVICE``), including the transfers to and from the device and a device
synchronisation before each clock stops, and prints the speed-up (CPU time / GPU time; the
goal of issue #5 is ≥ 30× for ``all_pairs``) and the largest shift difference. Without a usable
GPU it says why in one line and exits with status 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import micrographia as mg


def best_of(fn: Callable[[], Any], n: int) -> tuple[float, Any]:
    out = fn()  # warm up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def texture_stack(n: int, size: int, max_shift: float = 20.0, counts: float = 40.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Poisson frames of a texture shifted by known (dx, dy); frame 0 unshifted."""
    import scipy.fft as sf

    rng = np.random.default_rng(seed)
    big = size + 2 * int(max_shift) + 32
    fy = np.fft.fftfreq(big)[:, None]
    fx = np.fft.rfftfreq(big)[None, :]
    spec = sf.rfft2(rng.normal(size=(big, big))) * np.exp(
        -2 * np.pi ** 2 * 4.0 ** 2 * (fy ** 2 + fx ** 2))
    shifts = rng.uniform(-max_shift, max_shift, (n, 2))
    shifts[0] = 0.0
    c0 = (big - size) // 2
    out = np.empty((n, size, size), np.uint16)
    scale = None
    for k, (dx, dy) in enumerate(shifts):
        img = sf.irfft2(spec * np.exp(-2j * np.pi * (fx * dx + fy * dy)), s=(big, big))
        scale = scale or float(img.std())
        img = img[c0:c0 + size, c0:c0 + size] / scale
        out[k] = rng.poisson(counts * np.clip(1 + 0.5 * img, 0.05, None))
    return out, shifts


def rms(dx: np.ndarray, dy: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((dx - truth[:, 0]) ** 2 + (dy - truth[:, 1]) ** 2) / 2))


# ------------------------------------------------------------------------------- peers


def skimage_loop(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from skimage.registration import phase_cross_correlation

    ref = frames[0]
    sh = np.array([phase_cross_correlation(ref, f, upsample_factor=100)[0] for f in frames])
    return -sh[:, 1], -sh[:, 0]  # skimage: the shift that registers the frame onto ref


def gauss_sobel(frames: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    import scipy.ndimage as ndi

    out = np.empty(frames.shape, np.float64)
    for k, f in enumerate(frames):
        g = ndi.gaussian_filter(f.astype(np.float64), sigma)
        out[k] = np.hypot(ndi.sobel(g, axis=1), ndi.sobel(g, axis=0))
    return out


def numpy_all_pairs(frames: np.ndarray, threshold: float = 0.1) -> tuple[np.ndarray, ...]:
    """Straightforward all-pairs registration (De Jong et al. 2020) in plain numpy."""
    n, h, w = frames.shape
    f = gauss_sobel(frames)
    win = np.outer(np.hanning(h), np.hanning(w))
    f = (f - f.mean(axis=(1, 2), keepdims=True)) * win
    spectra = [np.fft.fft2(x) for x in f]
    energy = (f ** 2).sum(axis=(1, 2))
    rows, rhs_x, rhs_y, weights = [], [], [], []
    for i in range(n):
        for j in range(i + 1, n):
            c = np.fft.ifft2(spectra[j] * np.conj(spectra[i])).real
            iy, ix = np.unravel_index(np.argmax(c), c.shape)
            cy = [c[(iy + d) % h, ix] for d in (-1, 0, 1)]
            cx = [c[iy, (ix + d) % w] for d in (-1, 0, 1)]
            oy = 0.5 * (cy[0] - cy[2]) / (cy[0] - 2 * cy[1] + cy[2])
            ox = 0.5 * (cx[0] - cx[2]) / (cx[0] - 2 * cx[1] + cx[2])
            dy = (iy + h // 2) % h - h // 2 + oy
            dx = (ix + w // 2) % w - w // 2 + ox
            wgt = c[iy, ix] / np.sqrt(energy[i] * energy[j])
            if wgt < threshold:
                continue
            row = np.zeros(n)
            row[j], row[i] = 1.0, -1.0
            rows.append(row)
            rhs_x.append(dx)
            rhs_y.append(dy)
            weights.append(wgt ** 2)  # sqrt of the W^4 weights
    a = np.array(rows) * np.array(weights)[:, None]
    a = np.vstack([a, np.eye(n)[0] * max(weights)])
    bx = np.append(np.array(rhs_x) * weights, 0.0)
    by = np.append(np.array(rhs_y) * weights, 0.0)
    sx = np.linalg.lstsq(a, bx, rcond=None)[0]
    sy = np.linalg.lstsq(a, by, rcond=None)[0]
    return sx - sx[0], sy - sy[0]


# ------------------------------------------------------------------------------- parts


def part_reference(n: int, size: int, repeats: int) -> None:
    frames, truth = texture_stack(n, size)
    d = mg.from_array(frames)
    t_ours, tab = best_of(lambda: mg.run("alignment.register_stack", d, apply=False), repeats)
    t_peer, (px, py) = best_of(lambda: skimage_loop(frames), repeats)
    filt = gauss_sobel(frames)
    pfx, pfy = skimage_loop(filt)
    print(f"reference, {n} frames of {size}²: ours {t_ours * 1e3:.0f} ms "
          f"(RMS {rms(tab['dx'], tab['dy'], truth):.4f} px); skimage loop "
          f"{t_peer * 1e3:.0f} ms (RMS {rms(px, py, truth):.4f} px); peer/ours "
          f"{t_peer / t_ours:.1f}×")
    print(f"    skimage on the same Gaussian+Sobel pre-filtered frames (filter not timed): "
          f"RMS {rms(pfx, pfy, truth):.4f} px")


def part_all_pairs(n: int, size: int, repeats: int) -> None:
    frames, truth = texture_stack(n, size, seed=1)
    d = mg.from_array(frames)
    t_ours, tab = best_of(lambda: mg.run("alignment.register_stack", d, apply=False,
                                         method="all_pairs"), repeats)
    t0 = time.perf_counter()
    px, py = numpy_all_pairs(frames)
    t_peer = time.perf_counter() - t0
    print(f"all_pairs, {n} frames of {size}² ({n * (n - 1) // 2} pairs): ours "
          f"{t_ours * 1e3:.0f} ms (RMS {rms(tab['dx'], tab['dy'], truth):.4f} px); numpy "
          f"{t_peer * 1e3:.0f} ms, one run (RMS {rms(px, py, truth):.4f} px); peer/ours "
          f"{t_peer / t_ours:.1f}×")


def part_memory(n: int, size: int, window: int | None) -> None:
    frames, truth = texture_stack(n, size, max_shift=8.0, seed=2)
    d = mg.from_array(frames)
    tracemalloc.start()
    t0 = time.perf_counter()
    tab = mg.run("alignment.register_stack", d, apply=False, method="all_pairs", window=window)
    el = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    npairs = tab.metadata["pairs"]
    dense = npairs * n * 8 / 2 ** 20
    print(f"all_pairs memory, {n} frames of {size}², window={window} ({npairs} pairs): "
          f"tracemalloc peak {peak / 2 ** 20:.0f} MiB (input stack {frames.nbytes / 2 ** 20:.0f} "
          f"MiB; a dense least-squares matrix alone would take {dense:.0f} MiB), {el:.1f} s, "
          f"RMS {rms(tab['dx'], tab['dy'], truth):.4f} px")


def part_gpu(n: int, size: int, repeats: int) -> None:
    from micrographia import backend, settings
    from micrographia.compute import execute

    if not backend.gpu_available():
        print(f"--gpu: no usable GPU ({backend.probe().get('reason') or 'unknown reason'}); "
              "nothing to time")
        return
    import cupy

    frames, truth = texture_stack(n, size, seed=3)
    d = mg.from_array(frames)
    op = mg.operation("alignment.register_stack")
    old = os.environ.get("MICROGRAPHIA_DEVICE")

    def timed(device: str, params: dict[str, Any]) -> tuple[float, Any]:
        os.environ["MICROGRAPHIA_DEVICE"] = device
        settings.reset_cache()
        bound = op.bind((d,), params)

        def call() -> Any:
            table, notes = execute(op, (d,), bound)
            if device == "gpu":
                cupy.cuda.Device().synchronize()
                if notes:
                    raise RuntimeError(f"the GPU run fell back to the CPU: {notes}")
            return table

        return best_of(call, repeats)

    print(f"GPU: {backend.probe().get('device')} (cupy {cupy.__version__})")
    try:
        for method in ("reference", "all_pairs"):
            params = {"method": method, "apply": False}
            t_gpu, tg = timed("gpu", params)
            t_cpu, tc = timed("cpu", params)
            diff = max(float(np.abs(tg[k] - tc[k]).max()) for k in ("dx", "dy"))
            print(f"{method}, {n} frames of {size}²: GPU {t_gpu * 1e3:.0f} ms (RMS "
                  f"{rms(tg['dx'], tg['dy'], truth):.4f} px), CPU {t_cpu * 1e3:.0f} ms (RMS "
                  f"{rms(tc['dx'], tc['dy'], truth):.4f} px); speed-up CPU/GPU "
                  f"{t_cpu / t_gpu:.1f}×"
                  + (" (goal ≥ 30×)" if method == "all_pairs" else "")
                  + f"; max |shift GPU − CPU| {diff:.2e} px")
    finally:
        if old is None:
            os.environ.pop("MICROGRAPHIA_DEVICE", None)
        else:
            os.environ["MICROGRAPHIA_DEVICE"] = old
        settings.reset_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames, one repeat")
    ap.add_argument("-n", type=int, default=3, help="repeats (best of n)")
    ap.add_argument("--part", choices=("reference", "all_pairs", "memory"), action="append")
    ap.add_argument("--gpu", action="store_true",
                    help="time register_stack on the GPU against the CPU (only this)")
    args = ap.parse_args()
    parts = args.part or ["reference", "all_pairs", "memory"]
    reps = 1 if args.quick else args.n
    if args.gpu:
        part_gpu(30 if args.quick else 100, 512, reps)
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if "reference" in parts:
        part_reference(30 if args.quick else 100, 512, reps)
    if "all_pairs" in parts:
        part_all_pairs(30 if args.quick else 100, 256, reps)
    if "memory" in parts:
        part_memory(200 if args.quick else 1000, 128, 20)
        if not args.quick:
            part_memory(1000, 128, None)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
