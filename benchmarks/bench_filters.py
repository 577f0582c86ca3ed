"""Side-by-side timings of the fft.*, filters.* and transform.* operations against their peers.

Run from the repository root::

    python benchmarks/bench_filters.py            # best of 5
    python benchmarks/bench_filters.py -n 9       # more repeats on a noisy machine
    python benchmarks/bench_filters.py --smoke    # tiny arrays, one repeat: checks only

Each row times one call of ``mg.run(op, dataset, ...)`` (validation, provenance and result
checking included) and one call of the peer (scipy / scikit-image / numpy, called as their
documentation shows) on the same array, in the same process, and prints the best time of N
calls and the ratio ``peer / ours`` (> 1: we are faster). Results are checked to agree before
timing (rows marked "differs" compare peers that differ by design). Nothing here is a test.
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
from _common import best_of_pair  # benchmarks/ is on sys.path when run as a script
from _common import values as _values

import micrographia as mg


def best_cpu_of(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """Best wall time of ``n`` calls (after a warm-up) and that call's process CPU / wall."""
    fn()
    best = (float("inf"), 0.0)
    for _ in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        best = min(best, (wall, (time.process_time() - c0) / wall))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5, help="repeats (default 5)")
    ap.add_argument("--smoke", action="store_true", help="tiny arrays, one repeat")
    args = ap.parse_args(argv)
    n = 1 if args.smoke else args.n
    big = 128 if args.smoke else 2048
    mid = 96 if args.smoke else 1024
    nst = 4 if args.smoke else 100
    sst = 64 if args.smoke else 512  # frame size of the 100-frame CPU/wall rows

    import scipy
    import scipy.ndimage as ndi
    import skimage
    import skimage.filters as skf
    import skimage.transform as skt

    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, float, float]] = []

    def case(name: str, peer_name: str, ours: Callable[[], Any], peer: Callable[[], Any],
             check: bool | float = True) -> None:
        if check:
            a, b = _values(ours()), _values(peer())
            tol = 1e-4 if check is True else float(check)
            assert a.shape == b.shape, (name, a.shape, b.shape)
            np.testing.assert_allclose(a.astype(np.complex128), b.astype(np.complex128),
                                       rtol=tol, atol=tol * float(np.abs(b).max()),
                                       err_msg=name)
        t_ours, t_peer = best_of_pair(ours, peer, n)
        rows.append((name, peer_name, t_ours, t_peer))
        print(f"  {name:<34} ours {t_ours * 1e3:9.1f} ms   {peer_name:<40} "
              f"{t_peer * 1e3:9.1f} ms   ratio {t_peer / t_ours:6.2f}", flush=True)

    print(f"Micrographia {mg.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"scikit-image {skimage.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}, best of {n}")
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(other processes share the cores: compare the ratios of rows measured side by side)")

    img = rng.normal(100, 10, (big, big)).astype(np.float32)
    d = mg.from_array(img, scale=0.05, units="nm")
    u16 = rng.poisson(100, (mid, mid)).astype(np.uint16)
    du = mg.from_array(u16)
    stack = rng.poisson(40, (nst, 128, 128)).astype(np.uint16)
    ds = mg.from_array(stack)
    sq3 = np.ones((3, 3), bool)

    # -- filters ------------------------------------------------------------------------
    case(f"median 3 {big}² float32", "skimage.filters.median (3×3, reflect)",
         lambda: mg.run("filters.median", d, size=3),
         lambda: skf.median(img, sq3, mode="reflect"))
    case(f"median 5 {mid}² uint16", "scipy.ndimage.median_filter",
         lambda: mg.run("filters.median", du, size=5),
         lambda: ndi.median_filter(u16, 5))
    case(f"median 3 {nst}×128² uint16 stack", "skimage median per frame",
         lambda: mg.run("filters.median", ds, size=3),
         lambda: np.stack([skf.median(f, sq3, mode="reflect") for f in stack]))
    case(f"mean 5 {big}² float32", "scipy.ndimage.uniform_filter",
         lambda: mg.run("filters.mean", d, size=5),
         lambda: ndi.uniform_filter(img, 5))
    case(f"sobel {big}² float32", "skimage.filters.sobel",
         lambda: mg.run("filters.edges", d), lambda: skf.sobel(img))
    case(f"LoG σ=2 {big}² float32", "scipy.ndimage.gaussian_laplace",
         lambda: mg.run("filters.log", d, sigma=2.0),
         lambda: ndi.gaussian_laplace(img, 2.0), check=1e-3)
    case(f"DoG 1–4 {big}² float32", "skimage difference_of_gaussians",
         lambda: mg.run("filters.dog", d, sigma_low=1.0, sigma_high=4.0),
         lambda: skf.difference_of_gaussians(img, 1.0, 4.0, mode="reflect"), check=1e-3)
    case(f"unsharp r=2 {big}² float32", "skimage.filters.unsharp_mask",
         lambda: mg.run("filters.unsharp_mask", d, radius=2.0, amount=1.0),
         lambda: skf.unsharp_mask(img, 2.0, 1.0, preserve_range=True), check=1e-3)
    case(f"rolling ball r=10 {mid}² uint16", "skimage.restoration.rolling_ball",
         lambda: mg.run("filters.background", du, radius=10, output="background"),
         lambda: __import__("skimage.restoration", fromlist=["x"]).rolling_ball(u16, radius=10),
         check=False)

    # -- fft ----------------------------------------------------------------------------
    case(f"fft {big}² float32 (centred)", "numpy fftshift(fft2)",
         lambda: mg.run("fft.fft", d), lambda: np.fft.fftshift(np.fft.fft2(img)), check=1e-3)
    spec = mg.run("fft.fft", d)
    sp = spec.numpy()
    case(f"ifft {big}² complex64", "numpy ifft2(ifftshift).real",
         lambda: mg.run("fft.ifft", spec), lambda: np.fft.ifft2(np.fft.ifftshift(sp)).real,
         check=1e-3)

    # -- transforms ---------------------------------------------------------------------
    case(f"rotate 30° {big}² order 1", "scipy.ndimage.rotate",
         lambda: mg.run("transform.rotate", d, angle=30.0, order=1),
         lambda: ndi.rotate(img, 30.0, reshape=False, order=1))
    case(f"rotate 30° {big}² order 1", "skimage.transform.rotate (differs: mode)",
         lambda: mg.run("transform.rotate", d, angle=30.0, order=1),
         lambda: skt.rotate(img, 30.0, order=1, preserve_range=True), check=False)
    case(f"rescale ×0.5 {big}² (anti-alias)", "skimage.transform.rescale (differs: edges)",
         lambda: mg.run("transform.rescale", d, factor=0.5),
         lambda: skt.rescale(img, 0.5, order=1, anti_aliasing=True, preserve_range=True),
         check=False)
    case(f"polar {mid}² 360 angles", "skimage.transform.warp_polar (differs: radii)",
         lambda: mg.run("transform.polar", du, centre="image"),
         lambda: skt.warp_polar(u16.astype(np.float32), output_shape=(360, mid // 2),
                                preserve_range=True), check=False)

    # -- frame-wise operations on a 100-frame stack: are both cores busy? -----------------
    # Process CPU time / wall time of one call: about 1 for one busy core, up to the number of
    # cores when all are busy (>= 1.6 on two cores). Other processes on the machine lower it.
    from skimage.restoration import denoise_tv_chambolle

    big_stack = rng.poisson(40, (nst, sst, sst)).astype(np.float32)
    dbs = mg.from_array(big_stack)
    tv_sigma = float(np.sqrt(40.0))
    m = min(n, 2)  # these calls take seconds
    cpu_rows: list[tuple[str, str, tuple[float, float], tuple[float, float]]] = []

    def cpu_case(name: str, peer_name: str, ours: Callable[[], Any],
                 peer: Callable[[], Any]) -> None:
        a, b = _values(ours()), _values(peer())
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()),
                                   err_msg=name)
        o, p = best_cpu_of(ours, m), best_cpu_of(peer, m)
        cpu_rows.append((name, peer_name, o, p))
        print(f"  {name:<34} ours {o[0] * 1e3:9.1f} ms cpu/wall {o[1]:4.2f}   "
              f"{peer_name:<30} {p[0] * 1e3:9.1f} ms cpu/wall {p[1]:4.2f}   "
              f"ratio {p[0] / o[0]:6.2f}", flush=True)

    cpu_case(f"median 3 {nst}×{sst}² float32 stack", "skimage median per frame",
             lambda: mg.run("filters.median", dbs, size=3),
             lambda: np.stack([skf.median(f, sq3, mode="reflect") for f in big_stack]))
    cpu_case(f"denoise.tv {nst}×{sst}² float32 stack", "denoise_tv_chambolle per frame",
             lambda: mg.run("denoise.tv", dbs, sigma=tv_sigma),
             lambda: np.stack([denoise_tv_chambolle(f.astype(np.float64), weight=tv_sigma,
                                                    max_num_iter=200)
                               for f in big_stack]).astype(np.float32))

    print()
    print("| case | ours (ms) | peer | peer (ms) | peer/ours |")
    print("|---|---:|---|---:|---:|")
    for name, peer, t_o, t_p in rows:
        print(f"| {name} | {t_o * 1e3:.1f} | {peer} | {t_p * 1e3:.1f} | {t_p / t_o:.2f} |")
    print()
    print("| stack case | ours (ms) | ours CPU/wall | peer | peer (ms) | peer CPU/wall "
          "| peer/ours |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, peer, (t_o, c_o), (t_p, c_p) in cpu_rows:
        print(f"| {name} | {t_o * 1e3:.1f} | {c_o:.2f} | {peer} | {t_p * 1e3:.1f} | {c_p:.2f} "
              f"| {t_p / t_o:.2f} |")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
