"""Pair registration (rotation + scale + shift) and tile stitching: time and accuracy.

Run from the repository root::

    python benchmarks/bench_alignment_pair.py            # best of 3
    python benchmarks/bench_alignment_pair.py --quick    # best of 1, 512² images

``alignment.register_pair(method="phase")`` (log-polar rotation/scale + phase-correlation
translation, with and without the default Gauss-Newton refinement; ``apply=False``, so only the
estimate is timed) against scikit-image's gallery recipe ("Using Polar and Log-Polar
Transformations for Registration": difference-of-Gaussians band-pass, Hann window, ``fftshift``
magnitude, ``warp_polar(scaling="log")``, ``phase_cross_correlation``) followed by undoing the
rotation/scale with ``skimage.transform.warp`` and ``phase_cross_correlation(upsample_factor=100)``
for the translation. Test images: a smooth band-limited random texture resampled exactly (cubic
splines) by a known similarity transform, centre crop. Then ``alignment.stitch`` on a 3 × 3 grid of
512² tiles with ±5 px position errors. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

import micrographia as mg


def best_of(fn: Callable[[], Any], n: int) -> tuple[float, Any]:
    out = fn()  # warm up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def texture(n: int, seed: int, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.normal(size=(n, n)), sigma, mode="wrap")
    return (f - f.mean()) / f.std()


def similarity_pair(crop: int, rot_deg: float, scale: float, shift: tuple[float, float],
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(reference, moving): moving content turned by rot_deg (counter-clockwise as displayed),
    magnified by scale and moved by shift (dx, dy) about the centre."""
    n = int(crop * 1.6)
    big = texture(n, seed)
    coef = ndimage.spline_filter(big, order=3)
    off = (n - 1) / 2 - (crop - 1) / 2
    yy, xx = np.mgrid[0:crop, 0:crop].astype(float)
    ref = ndimage.map_coordinates(coef, [yy + off, xx + off], order=3, prefilter=False)
    th = -math.radians(rot_deg)
    lin = scale * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = (crop - 1) / 2
    li = np.linalg.inv(lin)
    q = np.stack([xx.ravel() - c - shift[0], yy.ravel() - c - shift[1]])
    p = li @ q + c
    mov = ndimage.map_coordinates(coef, [p[1] + off, p[0] + off], order=3, prefilter=False)
    return ref.astype(np.float32), mov.reshape(crop, crop).astype(np.float32)


def skimage_recipe(ref: np.ndarray, mov: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation (deg, CCW displayed), scale, dx, dy by the scikit-image gallery recipe."""
    from scipy.fft import fft2, fftshift
    from skimage.filters import difference_of_gaussians, window
    from skimage.registration import phase_cross_correlation
    from skimage.transform import SimilarityTransform, warp, warp_polar

    a = difference_of_gaussians(ref, 5, 20)
    b = difference_of_gaussians(mov, 5, 20)
    w = window("hann", ref.shape)
    fa = np.abs(fftshift(fft2(a * w)))
    fb = np.abs(fftshift(fft2(b * w)))
    shape = fa.shape
    radius = shape[0] // 8  # the gallery's choice: only the lower frequencies
    pa = warp_polar(fa, radius=radius, output_shape=shape, scaling="log", order=0)
    pb = warp_polar(fb, radius=radius, output_shape=shape, scaling="log", order=0)
    pa, pb = pa[: shape[0] // 2], pb[: shape[0] // 2]
    shifts, _, _ = phase_cross_correlation(pa, pb, upsample_factor=10, normalization=None)
    angle = (360 / shape[0]) * shifts[0]
    klog = shape[1] / np.log(radius)
    scale = np.exp(shifts[1] / klog)
    # undo rotation + scale about the centre, then the translation
    c = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2])
    th = -math.radians(angle)
    lin = scale * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    m = np.eye(3)
    m[:2, :2] = lin
    m[:2, 2] = c - lin @ c
    unrot = warp(mov, SimilarityTransform(matrix=m), order=1, preserve_range=True)
    sh, _, _ = phase_cross_correlation(ref * w, unrot * w, upsample_factor=100)
    d = lin @ -np.asarray(sh[::-1])  # content displacement of the moving image
    return float(angle), float(scale), float(d[0]), float(d[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="best of 1, 512² images")
    args = ap.parse_args(argv)
    reps = 1 if args.quick else 3
    size = 512 if args.quick else 1024
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (start)")
    print(f"## register_pair(method='phase') vs skimage gallery recipe, {size}² images, "
          f"best of {reps}")
    print("| case | method | time (s) | rotation err (°) | scale err (%) | shift err (px) |")
    print("|---|---|---|---|---|---|")
    for rot, sc, shift in [(7.3, 1.04, (3.2, -5.1)), (-23.0, 0.95, (-1.7, 2.4))]:
        ref, mov = similarity_pair(size, rot, sc, shift)
        r, m = mg.from_array(ref), mg.from_array(mov)
        case = f"rot {rot}°, scale {sc}, shift {shift}"
        rows = {}
        for label, kw in (("ours (refine)", {}), ("ours (log-polar only)", {"refine": False})):
            t, tab = best_of(lambda kw=kw, r=r, m=m: mg.run("alignment.register_pair", r, m,
                                                            apply=False, **kw), reps)
            rows[label] = (t, tab["rotation"][0], tab["scale"][0], tab["dx"][0], tab["dy"][0])
        t, res = best_of(lambda ref=ref, mov=mov: skimage_recipe(ref, mov), reps)
        rows["skimage recipe"] = (t, *res)
        t_ours = rows["ours (refine)"][0]
        for label, (t, ang, s, dx, dy) in rows.items():
            print(f"| {case} | {label} | {t:.3f} ({t / t_ours:.2f}× ours) | "
                  f"{abs(ang - rot):.4f} | {abs(s / sc - 1) * 100:.4f} | "
                  f"{math.hypot(dx - shift[0], dy - shift[1]):.4f} |")
    print(f"\n## stitch: 3 × 3 tiles of {size // 2}², 20 % overlap, ±5 px position errors, "
          f"best of {reps}")
    t = size // 2
    step = int(round(t * 0.8))
    src = texture(2 * step + t + 40, 2, sigma=2.5)
    truth = np.array([(20 + r * step, 20 + c * step) for r in range(3) for c in range(3)], float)
    tiles = np.stack([src[int(y):int(y) + t, int(x):int(x) + t] for y, x in truth])
    given = truth + np.random.default_rng(11).uniform(-5, 5, truth.shape)
    stack = mg.from_array(tiles.astype(np.float32))
    ts, (mosaic, tab) = best_of(lambda: mg.run("alignment.stitch", stack,
                                               positions=given.tolist()), reps)
    pos = np.column_stack([tab["y"], tab["x"]])
    err = np.abs((pos - pos[0]) - (truth - truth[0])).max()
    print("| tiles | mosaic | time (s) | max position error (px) |")
    print("|---|---|---|---|")
    print(f"| 9 × {t}² | {mosaic.shape[0]} × {mosaic.shape[1]} | {ts:.3f} | {err:.4f} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} (end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
