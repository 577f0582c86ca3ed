"""Side-by-side timings of Micrographia's core operations against numpy, scipy and skimage.

Run from the repository root::

    python benchmarks/bench_core_ops.py            # best of 7
    python benchmarks/bench_core_ops.py --quick    # best of 3, smaller cases skipped

Each row times one call of ``mg.run(op, dataset, ...)`` (validation, provenance and result
checking included) and one call of the peer code on the same array, in the same process, and
prints the best time of N calls and the ratio ``peer / ours`` (> 1: we are faster). Results are
checked to agree before timing. Nothing here is a test; timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import best_of_pair  # benchmarks/ is on sys.path when run as a script
from _common import values as _values

import micrographia as mg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="best of 3 and fewer cases")
    ap.add_argument("-n", type=int, default=None, help="repeats (default 7, 3 with --quick)")
    args = ap.parse_args(argv)
    n = args.n or (3 if args.quick else 7)

    import scipy
    import scipy.ndimage as ndi
    import skimage
    from skimage.filters import gaussian as sk_gaussian
    from skimage.measure import block_reduce

    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, float, float]] = []

    def case(name: str, peer_name: str, ours: Callable[[], Any], peer: Callable[[], Any],
             check: bool | float = True) -> None:
        if check:
            a, b = _values(ours()), _values(peer())
            tol = 1e-4 if check is True else float(check)
            assert a.shape == b.shape, (name, a.shape, b.shape)
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol,
                                       atol=tol * float(np.abs(b).max()), err_msg=name)
        t_ours, t_peer = best_of_pair(ours, peer, n)
        rows.append((name, peer_name, t_ours, t_peer))
        print(f"  {name:<34} ours {t_ours * 1e3:9.1f} ms   {peer_name:<34} "
              f"{t_peer * 1e3:9.1f} ms   ratio {t_peer / t_ours:6.2f}", flush=True)

    print(f"Micrographia {mg.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"scikit-image {skimage.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}, best of {n}")
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(other processes share the cores: compare the ratios of rows measured side by side)")

    # -- power spectrum -------------------------------------------------------------------
    sizes = (2048,) if args.quick else (2048, 4096)
    for size in sizes:
        img = rng.normal(100, 10, (size, size)).astype(np.float32)
        d = mg.from_array(img, scale=0.05, units="nm")
        win = np.outer(np.hanning(size), np.hanning(size))
        case(f"power spectrum {size}² (plain)", "fftshift(abs(fft2)**2) numpy",
             lambda d=d: mg.run("fft.power_spectrum", d, window="none", log=False,
                                subtract_mean=False),
             lambda img=img: np.fft.fftshift(np.abs(np.fft.fft2(img)) ** 2))
        case(f"power spectrum {size}² (hann+log)", "same numpy, hann+log",
             lambda d=d: mg.run("fft.power_spectrum", d),
             lambda img=img, w=win: np.log1p(
                 np.fft.fftshift(np.abs(np.fft.fft2((img - img.mean()) * w)) ** 2)),
             check=False)

    # -- gaussian -------------------------------------------------------------------------
    img = rng.normal(100, 10, (2048, 2048)).astype(np.float32)
    d = mg.from_array(img)
    case("gaussian σ=2 2048²", "scipy.ndimage.gaussian_filter",
         lambda: mg.run("filters.gaussian", d, sigma=2.0),
         lambda: ndi.gaussian_filter(img, 2.0, mode="reflect"))
    case("gaussian σ=2 2048²", "skimage.filters.gaussian",
         lambda: mg.run("filters.gaussian", d, sigma=2.0),
         lambda: sk_gaussian(img, sigma=2.0, preserve_range=True), check=False)
    stack = rng.normal(100, 10, (20, 512, 512)).astype(np.float32)
    ds = mg.from_array(stack)
    case("gaussian σ=2 20×512² stack", "scipy gaussian_filter σ=(0,2,2)",
         lambda: mg.run("filters.gaussian", ds, sigma=2.0),
         lambda: ndi.gaussian_filter(stack, (0, 2.0, 2.0), mode="reflect"))
    case("gaussian σ=2 20×512² stack", "skimage gaussian σ=(0,2,2)",
         lambda: mg.run("filters.gaussian", ds, sigma=2.0),
         lambda: sk_gaussian(stack, sigma=(0, 2.0, 2.0), preserve_range=True), check=False)

    # -- bin --------------------------------------------------------------------------------
    big = rng.poisson(100, (4096, 4096)).astype(np.uint16)
    db = mg.from_array(big)
    for f in (2, 4):
        case(f"bin ×{f} 4096² uint16 (sum)", "skimage block_reduce np.sum",
             lambda f=f: mg.run("image.bin", db, factor=f),
             lambda f=f: block_reduce(big, (f, f), np.sum))
        case(f"bin ×{f} 4096² uint16 (mean)", "skimage block_reduce np.mean",
             lambda f=f: mg.run("image.bin", db, factor=f, reduce="mean"),
             lambda f=f: block_reduce(big, (f, f), np.mean), check=1e-6)

    # -- sum --------------------------------------------------------------------------------
    st = rng.poisson(40, (100, 512, 512)).astype(np.uint16)
    dst = mg.from_array(st)
    case("sum 100×512² uint16 stack", "numpy sum(axis=0)",
         lambda: mg.run("image.sum", dst), lambda: st.sum(axis=0))
    stf = st.astype(np.float32)
    dstf = mg.from_array(stf)
    case("sum 100×512² float32 stack", "numpy sum(axis=0)",
         lambda: mg.run("image.sum", dstf), lambda: stf.sum(axis=0))

    print()
    print("| case | ours (ms) | peer | peer (ms) | peer/ours |")
    print("|---|---:|---|---:|---:|")
    for name, peer, t_o, t_p in rows:
        print(f"| {name} | {t_o * 1e3:.1f} | {peer} | {t_p * 1e3:.1f} | {t_p / t_o:.2f} |")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
