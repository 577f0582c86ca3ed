"""Side-by-side timings of Micrographia's ``denoise.*`` operations against scikit-image/numpy.

Run from the repository root::

    python benchmarks/bench_denoise.py            # best of 5
    python benchmarks/bench_denoise.py --quick    # best of 3, the larger cases skipped

Each row times one call of ``mg.run(op, dataset, ...)`` (validation, provenance and result
checking included) and one call of the peer code as its documentation shows it, on the same
array, in the same process, and prints the best time of N calls and the ratio ``peer / ours``
(> 1: we are faster). Results are checked to agree before timing (or, where the peer computes
in float32 and we in float64, to give the same PSNR within 0.05 dB). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import best_of_pair  # benchmarks/ is on sys.path when run as a script
from _common import values as _values

import micrographia as mg


def _phantom(n: int, m: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:m]
    img = 0.5 + 0.3 * np.sin(xx / 6.0) * np.cos(yy / 9.0)
    return img + 0.8 * (np.hypot(yy - n / 2, xx - m / 2) < n / 4)


def _psnr(a: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(np.ptp(clean) ** 2
                               / np.mean((a.astype(np.float64) - clean) ** 2)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="best of 3 and fewer cases")
    ap.add_argument("-n", type=int, default=None, help="repeats (default 5, 3 with --quick)")
    args = ap.parse_args(argv)
    n = args.n or (3 if args.quick else 5)

    import skimage
    from skimage.restoration import (
        denoise_bilateral,
        denoise_nl_means,
        denoise_tv_bregman,
        denoise_tv_chambolle,
        denoise_wavelet,
    )

    rng = np.random.default_rng(0)
    sigma = 0.1
    rows: list[tuple[str, str, float, float]] = []

    def case(name: str, peer_name: str, ours: Callable[[], Any], peer: Callable[[], Any],
             check: float | None = 1e-4, clean: np.ndarray | None = None,
             reps: int | None = None) -> None:
        a, b = _values(ours()), _values(peer())
        assert a.shape == b.shape, (name, a.shape, b.shape)
        if check is not None:
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=0,
                                       atol=check * float(np.abs(b).max()), err_msg=name)
        if clean is not None:  # same quality
            pa, pb = _psnr(a, clean), _psnr(b, clean)
            assert pa >= pb - 0.05, (name, pa, pb)
        t_ours, t_peer = best_of_pair(ours, peer, reps or n)
        rows.append((name, peer_name, t_ours, t_peer))
        print(f"  {name:<36} ours {t_ours * 1e3:9.1f} ms   {peer_name:<40} "
              f"{t_peer * 1e3:9.1f} ms   ratio {t_peer / t_ours:6.2f}", flush=True)

    print(f"Micrographia {mg.__version__}, numpy {np.__version__}, "
          f"scikit-image {skimage.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}, best of {n}")
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(other processes share the cores: compare the ratios of rows measured side by side)")

    # -- non-local means on one image (peer: skimage's documented call, float32 image) -----
    sizes = (512,) if args.quick else (512, 1024)
    for size in sizes:
        clean = _phantom(size, size)
        img = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
        d = mg.from_array(img)
        case(f"nl_means {size}² (σ given)", "denoise_nl_means(fast, σ given)",
             lambda d=d: mg.run("denoise.nl_means", d, sigma=sigma),
             lambda img=img: denoise_nl_means(img, h=0.8 * sigma, sigma=sigma, fast_mode=True,
                                              patch_size=5, patch_distance=6),
             check=None, clean=clean)

        def sk_auto(img: np.ndarray = img) -> Any:
            from skimage.restoration import estimate_sigma

            s = float(np.mean(estimate_sigma(img)))
            return denoise_nl_means(img, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5,
                                    patch_distance=6)

        case(f"nl_means {size}² (σ estimated)", "estimate_sigma + denoise_nl_means",
             lambda d=d: mg.run("denoise.nl_means", d), sk_auto, check=None, clean=clean)

    # -- a stack: frames in parallel vs a loop over frames ---------------------------------
    frames = 8 if args.quick else 20
    clean = _phantom(256, 256)
    stack = (clean + rng.normal(0, sigma, (frames, 256, 256))).astype(np.float32)
    ds = mg.from_array(stack)
    case(f"nl_means {frames}×256² stack", "loop of denoise_nl_means",
         lambda: mg.run("denoise.nl_means", ds, sigma=sigma),
         lambda: np.stack([denoise_nl_means(f, h=0.8 * sigma, sigma=sigma, fast_mode=True,
                                            patch_size=5, patch_distance=6) for f in stack]),
         check=None, clean=clean)

    # -- the other denoisers, one image and a 100-frame stack ------------------------------
    clean = _phantom(512, 512)
    img = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
    d, f64 = mg.from_array(img), img.astype(np.float64)
    case("tv chambolle 512²", "denoise_tv_chambolle(weight=0.1)",
         lambda: mg.run("denoise.tv", d, weight=1.0, sigma=sigma),
         lambda: denoise_tv_chambolle(f64, weight=0.1, max_num_iter=200))
    case("tv bregman 512²", "denoise_tv_bregman (σ-scaled)",
         lambda: mg.run("denoise.tv", d, method="bregman", sigma=sigma),
         lambda: sigma * denoise_tv_bregman(f64 / sigma, weight=0.5, max_num_iter=200))
    case("wavelet BayesShrink 512²", "denoise_wavelet(db2, σ given)",
         lambda: mg.run("denoise.wavelet", d, sigma=sigma),
         lambda: denoise_wavelet(f64, sigma=sigma, wavelet="db2", rescale_sigma=True))
    # bilateral on non-negative data: for negative values scikit-image shifts the image but
    # keeps its colour table scaled for the unshifted maximum; we shift before calling it
    pos = mg.from_array(img + np.float32(1.0))
    pos64 = f64 + 1.0
    case("bilateral 512² (values ≥ 0)", "denoise_bilateral(σc=0.2, σs=1.5)",
         lambda: mg.run("denoise.bilateral", pos, sigma_color=0.2),
         lambda: denoise_bilateral(pos64, sigma_color=0.2, sigma_spatial=1.5, mode="reflect"))

    frames = 30 if args.quick else 100
    small = _phantom(128, 128)
    stack = (small + rng.normal(0, sigma, (frames, 128, 128))).astype(np.float32)
    ds = mg.from_array(stack)
    s64 = stack.astype(np.float64)
    case(f"tv chambolle {frames}×128²", "loop of denoise_tv_chambolle",
         lambda: mg.run("denoise.tv", ds, sigma=sigma),
         lambda: np.stack([denoise_tv_chambolle(f, weight=0.1, max_num_iter=200) for f in s64]))
    case(f"wavelet {frames}×128²", "loop of denoise_wavelet",
         lambda: mg.run("denoise.wavelet", ds, sigma=sigma),
         lambda: np.stack([denoise_wavelet(f, sigma=sigma, wavelet="db2", rescale_sigma=True)
                           for f in s64]))
    dpos = mg.from_array(stack + np.float32(1.0))
    case(f"bilateral {frames}×128² (values ≥ 0)", "loop of denoise_bilateral",
         lambda: mg.run("denoise.bilateral", dpos, sigma_color=0.2),
         lambda: np.stack([denoise_bilateral(f + 1.0, sigma_color=0.2, sigma_spatial=1.5,
                                             mode="reflect") for f in s64]))

    # -- BM3D (optional package `bm3d`; its own call uses all cores, ours one per frame) ----
    try:
        import bm3d
    except ImportError:
        print("  bm3d not installed: BM3D rows skipped (pip install 'micrographia[bm3d]')")
    else:
        for size in ((256,) if args.quick else (256, 512)):
            clean = _phantom(size, size)
            img = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
            d = mg.from_array(img)
            case(f"bm3d {size}² (σ given)", "bm3d.bm3d(img, σ), all threads",
                 lambda d=d: mg.run("denoise.bm3d", d, sigma=sigma),
                 lambda img=img: bm3d.bm3d(img, sigma), check=None, clean=clean, reps=1)
            nlm = _psnr(mg.run("denoise.nl_means", d, sigma=sigma).numpy(), clean)
            print(f"    PSNR {size}²: noisy {_psnr(img, clean):.2f} dB, nl_means {nlm:.2f} dB, "
                  f"bm3d {_psnr(mg.run('denoise.bm3d', d, sigma=sigma).numpy(), clean):.2f} dB")
        frames = 4
        clean = _phantom(256, 256)
        stack = (clean + rng.normal(0, sigma, (frames, 256, 256))).astype(np.float32)
        ds = mg.from_array(stack)
        case(f"bm3d {frames}×256² stack", "loop of bm3d.bm3d, all threads",
             lambda: mg.run("denoise.bm3d", ds, sigma=sigma),
             lambda: np.stack([bm3d.bm3d(f, sigma) for f in stack]), check=None,
             clean=clean, reps=1)

    # -- PCA of a spectrum image (peer: truncated numpy SVD, 3 components) ------------------
    ny, nx, ne = (32, 32, 512) if args.quick else (64, 64, 1024)
    e = np.arange(ne)
    comps = np.stack([np.exp(-0.5 * ((e - c * ne) / (0.03 * ne)) ** 2)
                      for c in (0.25, 0.5, 0.75)]) + 0.1
    yy, xx = np.mgrid[0:ny, 0:nx]
    ab = np.stack([1 + 0.8 * np.sin(xx / 3.0), 1 + 0.8 * np.cos(yy / 4.0), 0.5 + (xx > nx / 2)])
    counts = rng.poisson(np.einsum("kyx,ke->yxe", ab, comps) * 30).astype(np.uint16)
    dsi = mg.from_array(counts, signal_dims=1)

    def np_pca(k: int = 3) -> np.ndarray:
        x = counts.reshape(-1, ne).astype(np.float64)
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        return ((u[:, :k] * s[:k]) @ vt[:k]).reshape(counts.shape).astype(np.float32)

    case(f"pca {ny}×{nx}×{ne} SI, 3 components", "numpy svd + truncation",
         lambda: mg.run("denoise.pca", dsi, n_components=3)[0], np_pca)  # (denoised, scree)

    print()
    print("| case | ours (ms) | peer | peer (ms) | peer/ours |")
    print("|---|---:|---|---:|---:|")
    for name, peer_name, t_ours, t_peer in rows:
        print(f"| {name} | {t_ours * 1e3:.1f} | `{peer_name}` | {t_peer * 1e3:.1f} | "
              f"{t_peer / t_ours:.2f} |")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
