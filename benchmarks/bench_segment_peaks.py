"""Side-by-side timings of the segment/measure/peaks/restore operations against scikit-image.

Run from the repository root::

    python benchmarks/bench_segment_peaks.py            # best of 5
    python benchmarks/bench_segment_peaks.py --quick    # best of 3, smaller cases

Each row times one call of ``mg.run(op, dataset, ...)`` (validation, provenance and result
checking included) and the peer code written as its documentation shows, on the same array in
the same process, called alternately: best of N, ratio ``peer / ours`` (> 1: we are faster).
Where the results should agree they are checked before timing. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import best_of_pair  # benchmarks/ is on sys.path when run as a script

import micrographia as mg


def _disks(size: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.full((size, size), 20.0, np.float32)
    for cy, cx in rng.uniform(12, size - 12, (n, 2)):
        r = rng.uniform(6, 10)
        sl = (slice(int(cy - r - 1), int(cy + r + 2)), slice(int(cx - r - 1), int(cx + r + 2)))
        img[sl][np.hypot(yy[sl] - cy, xx[sl] - cx) <= r] = 100.0
    return img + rng.normal(0, 10, img.shape).astype(np.float32)


def _spots(size: int, pitch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = np.arange(pitch, size - pitch, pitch, dtype=float)
    cy, cx = np.meshgrid(g, g, indexing="ij")
    cy = cy.ravel() + rng.uniform(-0.5, 0.5, cy.size)
    cx = cx.ravel() + rng.uniform(-0.5, 0.5, cx.size)
    img = np.full((size, size), 10.0)
    w = 8
    for y, x in zip(cy, cx):
        r0, c0 = int(y) - w, int(x) - w
        yy, xx = np.mgrid[r0:r0 + 2 * w + 1, c0:c0 + 2 * w + 1]
        img[r0:r0 + 2 * w + 1, c0:c0 + 2 * w + 1] += 100 * np.exp(
            -((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.6 ** 2))
    return (img + rng.normal(0, 5, img.shape)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="best of 3 and smaller cases")
    ap.add_argument("-n", type=int, default=None, help="repeats (default 5, 3 with --quick)")
    args = ap.parse_args(argv)
    n = args.n or (3 if args.quick else 5)
    big = 1024 if args.quick else 2048

    import scipy
    import skimage
    from scipy import ndimage as ndi
    from scipy.optimize import curve_fit
    from skimage import morphology as skm
    from skimage.feature import match_template, peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.measure import label as sk_label
    from skimage.measure import regionprops_table
    from skimage.restoration import inpaint_biharmonic
    from skimage.segmentation import watershed as sk_watershed

    rows: list[tuple[str, float, str, float]] = []

    def case(name: str, peer_name: str, ours: Callable[[], Any], peer: Callable[[], Any],
             check: Callable[[Any, Any], None] | None = None) -> None:
        if check is not None:
            check(ours(), peer())
        t_ours, t_peer = best_of_pair(ours, peer, n)  # alternating calls
        rows.append((name, t_ours, peer_name, t_peer))
        print(f"  {name:<36} ours {t_ours * 1e3:9.1f} ms   {peer_name:<44} "
              f"{t_peer * 1e3:9.1f} ms   ratio {t_peer / t_ours:6.2f}", flush=True)

    def same(a: Any, b: Any) -> None:
        a = a.numpy() if isinstance(a, mg.Dataset) else np.asarray(a)
        np.testing.assert_array_equal(a, np.asarray(b))

    print(f"Micrographia {mg.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"scikit-image {skimage.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}, best of {n}")
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(other processes share the cores: compare the ratios of rows measured side by side)")

    # -- thresholds -----------------------------------------------------------------------
    img = _disks(big, big * big // 1500)
    d = mg.from_array(img)
    case(f"threshold otsu {big}² float32", "img > threshold_otsu(img)",
         lambda: mg.run("segment.threshold", d), lambda: img > threshold_otsu(img), same)
    stack = np.stack([_disks(256, 40, seed=s) for s in range(100)])
    ds = mg.from_array(stack)
    case("threshold otsu 100×256² stack", "loop: f > threshold_otsu(f)",
         lambda: mg.run("segment.threshold", ds),
         lambda: np.stack([f > threshold_otsu(f) for f in stack]), same)

    # -- binary ops -----------------------------------------------------------------------
    mask = img > threshold_otsu(img)
    dm = mg.from_array(mask)
    case(f"label {big}² mask (8-conn.)", "skimage.measure.label",
         lambda: mg.run("segment.label", dm), lambda: sk_label(mask), same)
    case(f"morphology open r=2 {big}²", "skimage.morphology.opening(disk(2))",
         lambda: mg.run("segment.morphology", dm, operation="open", radius=2),
         lambda: skm.opening(mask, skm.disk(2)), same)
    smask = stack > 60
    dsm = mg.from_array(smask)
    case("label 100×256² mask stack", "loop: skimage.measure.label",
         lambda: mg.run("segment.label", dsm), lambda: np.stack([sk_label(f) for f in smask]),
         same)

    def sk_ws(m: np.ndarray) -> np.ndarray:  # the scikit-image gallery's watershed example
        distance = ndi.distance_transform_edt(m)
        coords = peak_local_max(distance, min_distance=5, labels=sk_label(m))
        markers = np.zeros(distance.shape, dtype=bool)
        markers[tuple(coords.T)] = True
        return sk_watershed(-distance, ndi.label(markers)[0], mask=m)

    wmask = ndi.binary_fill_holes(skm.remove_small_objects(mask[:1024, :1024], max_size=30))
    dwm = mg.from_array(wmask)
    case("watershed 1024² (min_distance 5)", "skimage gallery example (no h-maxima)",
         lambda: mg.run("segment.watershed", dwm, min_distance=5), lambda: sk_ws(wmask))

    # -- measure --------------------------------------------------------------------------
    lab = sk_label(mask).astype(np.int32)
    dl = mg.from_array(lab)
    props = ("label", "area", "equivalent_diameter_area", "perimeter", "centroid",
             "orientation", "eccentricity", "axis_major_length", "axis_minor_length")

    def check_regions(t: Any, ref: Any) -> None:
        np.testing.assert_allclose(t["area_px"], ref["area"])
        np.testing.assert_allclose(t["perimeter_px"], ref["perimeter"])

    case(f"regions {lab.max()} labels {big}²", "regionprops_table(9 properties)",
         lambda: mg.run("measure.regions", dl),
         lambda: regionprops_table(lab, properties=props), check_regions)

    # -- peaks ----------------------------------------------------------------------------
    sp = _spots(512 if args.quick else 1024, 16)
    dsp = mg.from_array(sp)
    case(f"peaks.find {sp.shape[0]}², no refinement", "peak_local_max",
         lambda: mg.run("peaks.find", dsp, min_distance=5, refine=None),
         lambda: peak_local_max(sp, min_distance=5, threshold_rel=0.2))

    def gauss(xy: Any, a: float, x0: float, y0: float, s: float, b: float) -> Any:
        x, y = xy
        return b + a * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s * s))

    def peer_fit() -> np.ndarray:  # per-peak scipy.optimize.curve_fit, the usual recipe
        pk = peak_local_max(sp, min_distance=5, threshold_rel=0.2)
        yy, xx = np.mgrid[-4:5, -4:5]
        out = []
        for r, c in pk:
            if r < 4 or c < 4 or r + 5 > sp.shape[0] or c + 5 > sp.shape[1]:
                continue
            win = sp[r - 4:r + 5, c - 4:c + 5].astype(np.float64)
            p0 = (win.max() - win.min(), 0.0, 0.0, 1.5, win.min())
            try:
                p, _ = curve_fit(gauss, (xx.ravel(), yy.ravel()), win.ravel(), p0=p0)
            except RuntimeError:
                continue
            out.append((c + p[1], r + p[2]))
        return np.array(out)

    case(f"peaks.find {sp.shape[0]}², gaussian fit", "peak_local_max + curve_fit per peak",
         lambda: mg.run("peaks.find", dsp, min_distance=5, refine="gaussian"), peer_fit)
    tpl = sp[100:117, 100:117]
    dtpl = mg.from_array(tpl)
    case(f"template_match {sp.shape[0]}², 17² template", "match_template + peak_local_max",
         lambda: mg.run("peaks.template_match", dsp, dtpl),
         lambda: peak_local_max(match_template(sp, tpl, pad_input=True, mode="constant"),
                                min_distance=5, threshold_abs=0.5, exclude_border=False))
    case(f"template_match {sp.shape[0]}², 17² template", "match_template alone (map only)",
         lambda: mg.run("peaks.template_match", dsp, dtpl),
         lambda: match_template(sp, tpl, pad_input=True, mode="constant"))

    # -- restore --------------------------------------------------------------------------
    pois = np.random.default_rng(1).poisson(200, (big, big)).astype(np.uint16)
    dp = mg.from_array(pois)
    case(f"hot_pixels {big}² uint16", "ndi.median_filter 3×3 (detection only)",
         lambda: mg.run("restore.hot_pixels", dp), lambda: ndi.median_filter(pois, size=3))
    sm = _disks(256, 30).astype(np.float64)
    hole = np.zeros(sm.shape, bool)
    hole[100:120, 80:110] = True
    dsm2, dh = mg.from_array(sm), mg.from_array(hole)

    def check_inpaint(a: Any, b: Any) -> None:
        np.testing.assert_allclose(a.numpy(), b.astype(np.float32), rtol=1e-5, atol=1e-3)

    case("inpaint 256², 600 px hole", "inpaint_biharmonic",
         lambda: mg.run("restore.inpaint", dsm2, dh), lambda: inpaint_biharmonic(sm, hole),
         check_inpaint)

    print()
    print("| case | ours (ms) | peer | peer (ms) | peer / ours |")
    print("|---|---:|---|---:|---:|")
    for name, t_o, peer, t_p in rows:
        print(f"| {name} | {t_o * 1e3:.1f} | `{peer}` | {t_p * 1e3:.1f} | {t_p / t_o:.2f} |")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        raise SystemExit(main())
