"""Built-in plugin: registration of image pairs and stitching of tiles.

``alignment.register_pair`` finds the geometric transform between two images (or between every
frame of a stack and its first frame): by phase correlation with rotation and scale from the
log-polar transform of the Fourier magnitude (Reddy & Chatterji, IEEE TIP 5, 1996), by feature
matching (ORB or SIFT keypoints + RANSAC), or from point pairs the user clicked. An optional
intensity-based Gauss-Newton refinement then polishes the chosen model.

``alignment.stitch`` stitches overlapping tiles: it registers neighbouring pairs only (phase
correlation of the overlap strips, sub-pixel), solves a weighted least-squares problem for all
positions (first tile fixed) and blends the overlaps by linear feathering.

Transform convention
--------------------
Pixel coordinates are ``(x, y)`` with x along the last axis (right) and y along the one before
(down), in pixel units with the first pixel's centre at 0. The 3×3 matrix ``A`` (columns
``m00`` … ``m22`` of the transform table, row-major) maps a point of the **reference** to the
corresponding point of the **moving** image, ``(x_mov, y_mov, 1) = A @ (x_ref, y_ref, 1)``, so
the registered image is ``registered(p) = moving(A p)``. ``dx``/``dy`` are the displacement of
the reference's centre point in the moving image (for a pure shift: how far the moving image's
content moved). ``rotation`` is the angle in degrees by which the moving content is turned
relative to the reference, counter-clockwise as displayed (y down); ``scale`` is its
magnification (√|det|), ``scale_x``/``scale_y``/``shear`` come from ``A``'s linear part
``L = R(-rotation) @ [[scale_x, shear·scale_y], [0, scale_y]]``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Table, Units, hookimpl

_MIN_POINTS = {"translation": 1, "euclidean": 2, "similarity": 2, "affine": 3}
_MATRIX_COLUMNS = tuple(f"m{i}{j}" for i in range(3) for j in range(3))

# --------------------------------------------------------------------------------------------
# small numerical helpers


def _window(n: int) -> Any:
    """Return a sin² (Hann-like) taper of length ``n`` that is never exactly zero."""
    import numpy as np

    return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2


def _float_dtype(dataset: Dataset) -> Any:
    import numpy as np

    return np.float64 if dataset.dtype == np.float64 else np.float32


def _frames_of(dataset: Dataset) -> list[Any]:
    """Every 2-D frame of a dataset as float64 numpy arrays (flat navigation order)."""
    import numpy as np

    from micrographia.backend import to_numpy

    data = dataset.data
    if hasattr(data, "compute"):
        data = data.compute()
    arr = np.asarray(to_numpy(data), dtype=np.float64)
    return list(arr.reshape((-1,) + arr.shape[-2:]))


def _upsampled_peak(spec: Any, shape: tuple[int, int], centre: tuple[float, float],
                    upsample: int) -> tuple[float, float, float]:
    """Refine a correlation peak by a matrix-multiply DFT (Guizar-Sicairos et al. 2008).

    ``spec`` is the half (``rfft2``) cross-power spectrum of two real images of ``shape``; the
    correlation ``c(r) = Σ_k R(k) exp(2πi k·r / N)`` is evaluated on a grid of spacing
    ``1/upsample`` px, 1.5 px wide, around ``centre``. Returns (dy, dx, c_max / N).
    """
    import numpy as np

    ny, nx = shape
    ky = np.fft.fftfreq(ny) * ny
    kx = np.arange(spec.shape[1], dtype=np.float64)
    wx = np.full(kx.shape, 2.0)
    wx[0] = 1.0
    if nx % 2 == 0:
        wx[-1] = 1.0
    # zoom in stages of 15 × 15 samples (factor 10 per stage): each stage spans ±0.7 of the
    # previous spacing, so it always contains the previous stage's peak cell
    m, half = 15, 7
    cy, cx = centre
    factors = []
    f = 1
    while f < upsample:
        f = min(f * 10, upsample)
        factors.append(f)
    best = 0.0
    for f in factors:
        ry = cy + (np.arange(m) - half) / f
        rx = cx + (np.arange(m) - half) / f
        ey = np.exp((2j * np.pi / ny) * np.outer(ry, ky))
        ex = np.exp((2j * np.pi / nx) * np.outer(kx, rx)) * wx[:, None]
        c = (ey @ (spec @ ex)).real
        j, i = np.unravel_index(int(np.argmax(c)), c.shape)
        cy, cx, best = float(ry[j]), float(rx[i]), float(c[j, i])
    # parabolic interpolation between the finest samples
    dy = dx = 0.0
    if 0 < j < m - 1:
        a, b, d = c[j - 1, i], c[j, i], c[j + 1, i]
        den = a - 2 * b + d
        dy = 0.5 * (a - d) / den if den < 0 else 0.0
    if 0 < i < m - 1:
        a, b, d = c[j, i - 1], c[j, i], c[j, i + 1]
        den = a - 2 * b + d
        dx = 0.5 * (a - d) / den if den < 0 else 0.0
    return cy + dy / factors[-1], cx + dx / factors[-1], best / (ny * nx)


def _phase_correlate(a: Any, b: Any, *, upsample: int = 100, window: Any = "hann",
                     max_shift: tuple[float, float] | None = None,
                     ) -> tuple[float, float, float]:
    """Displacement ``(dy, dx)`` of ``b``'s content relative to ``a``'s, and the peak height.

    ``b(p) ≈ a(p - d)``. Phase correlation (whitened cross-power spectrum) with a coarse integer
    peak from an inverse real FFT, refined by an upsampled DFT. The peak height (0 … 1) is the
    fraction of the spectrum that agrees with the shift. ``window`` is ``"hann"`` (a sin² taper
    on both axes), ``None`` or an array multiplied into both images. ``max_shift`` limits the
    search of the coarse peak.
    """
    import numpy as np
    import scipy.fft as sfft

    ny, nx = a.shape
    a = a - a.mean()
    b = b - b.mean()
    if isinstance(window, str):
        w = np.outer(_window(ny), _window(nx))
        a, b = a * w, b * w
    elif window is not None:
        a, b = a * window, b * window
    fa = sfft.rfft2(a, workers=-1)
    fb = sfft.rfft2(b, workers=-1)
    r = fb * np.conj(fa)
    mag = np.abs(r)
    r /= np.maximum(mag, 1e-12 * max(float(mag.max()), 1e-300))
    c = sfft.irfft2(r, s=(ny, nx), workers=-1)
    if max_shift is not None:
        yy = np.fft.fftfreq(ny) * ny
        xx = np.fft.fftfreq(nx) * nx
        bad = (np.abs(yy)[:, None] > max_shift[0]) | (np.abs(xx)[None, :] > max_shift[1])
        c = np.where(bad, -np.inf, c)
    py, px = np.unravel_index(int(np.argmax(c)), c.shape)
    py = py - ny if py > ny // 2 else py
    px = px - nx if px > nx // 2 else px
    if upsample <= 1:
        return float(py), float(px), float(c[py, px]) / (ny * nx)
    return _upsampled_peak(r, (ny, nx), (float(py), float(px)), upsample)


def _ncc(a: Any, b: Any, mask: Any = None) -> float:
    """Zero-normalised cross-correlation of two arrays (over ``mask`` where given)."""
    if mask is not None:
        a, b = a[mask], b[mask]
    if a.size < 2:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else float("nan")


def _ncc_sampled(ref: Any, mov: Any, a: Any) -> float:
    """:func:`_ncc` of ``ref`` and ``mov(a p)`` on a grid of about 1e5 reference pixels."""
    import numpy as np
    from scipy import ndimage

    ny, nx = ref.shape
    stride = max(1, int(round(math.sqrt(ny * nx / 1e5))))
    yy, xx = np.mgrid[0:ny:stride, 0:nx:stride]
    xm = a[0, 0] * xx + a[0, 1] * yy + a[0, 2]
    ym = a[1, 0] * xx + a[1, 1] * yy + a[1, 2]
    ok = (xm >= 0) & (xm <= mov.shape[1] - 1) & (ym >= 0) & (ym <= mov.shape[0] - 1)
    w = ndimage.map_coordinates(mov, [ym[ok], xm[ok]], order=3, mode="nearest")
    return _ncc(ref[yy[ok], xx[ok]], w)


# --------------------------------------------------------------------------------------------
# transforms


def _fit_points(src: Any, dst: Any, model: str) -> Any:
    """Least-squares 3×3 matrix mapping points ``src`` (n×2, x y) onto ``dst``.

    Translation: mean difference; Euclidean/similarity: Umeyama (1991) without/with scale;
    affine: linear least squares.
    """
    import numpy as np

    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    out = np.eye(3)
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    if model == "translation":
        out[:2, 2] = md - ms
        return out
    s0, d0 = src - ms, dst - md
    if model == "affine":
        lin, *_ = np.linalg.lstsq(s0, d0, rcond=None)
        out[:2, :2] = lin.T
    else:
        cov = d0.T @ s0 / len(src)
        u, sv, vt = np.linalg.svd(cov)
        d = np.ones(2)
        if np.linalg.det(u) * np.linalg.det(vt) < 0:
            d[-1] = -1.0
        rot = u @ np.diag(d) @ vt
        scale = 1.0
        if model == "similarity":
            var = (s0 * s0).sum() / len(src)
            scale = float((sv * d).sum() / var) if var > 0 else 1.0
        out[:2, :2] = scale * rot
    out[:2, 2] = md - out[:2, :2] @ ms
    return out


def _check_rank(src: Any, model: str) -> None:
    """Refuse point sets that cannot determine the model (coincident or collinear points)."""
    import numpy as np

    s0 = np.asarray(src, dtype=np.float64)
    s0 = s0 - s0.mean(axis=0)
    spread = np.linalg.svd(s0, compute_uv=False) if len(s0) > 1 else np.zeros(2)
    scale = max(float(np.abs(s0).max(initial=0.0)), 1.0)
    if model in ("euclidean", "similarity") and spread[0] <= 1e-9 * scale:
        raise ParameterError(f"alignment.register_pair: the points of a {model} fit must not "
                             "all coincide")
    if model == "affine" and (len(spread) < 2 or spread[1] <= 1e-9 * scale):
        raise ParameterError("alignment.register_pair: an affine fit needs at least 3 points "
                             "that are not on one line")


def _decompose(a: Any) -> dict[str, float]:
    """Rotation (deg, counter-clockwise as displayed), scales and shear of a 3×3 matrix."""
    lin = a[:2, :2]
    theta = math.atan2(lin[1, 0], lin[0, 0])  # x towards y: clockwise as displayed
    sx = math.hypot(lin[0, 0], lin[1, 0])
    det = lin[0, 0] * lin[1, 1] - lin[0, 1] * lin[1, 0]
    sy = det / sx if sx > 0 else 0.0
    m = (lin[0, 0] * lin[0, 1] + lin[1, 0] * lin[1, 1]) / sx if sx > 0 else 0.0
    return {"rotation": 0.0 - math.degrees(theta), "scale": math.sqrt(abs(det)),
            "scale_x": sx, "scale_y": sy, "shear": m / sy if sy else 0.0}


def _centred(lin: Any, shape: tuple[int, int], t: Any = (0.0, 0.0)) -> Any:
    """3×3 matrix ``p -> c + lin (p - c) + t`` with ``c`` the image centre (x, y)."""
    import numpy as np

    c = np.array([(shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0])
    out = np.eye(3)
    out[:2, :2] = lin
    out[:2, 2] = c - lin @ c + np.asarray(t, dtype=np.float64)
    return out


def _rot(theta: float, scale: float = 1.0) -> Any:
    """Linear part ``scale · R(theta)`` in (x, y) coordinates."""
    import numpy as np

    c, s = math.cos(theta), math.sin(theta)
    return scale * np.array([[c, -s], [s, c]])


def _project(a: Any, model: str) -> Any:
    """Closest matrix of the model (polar decomposition of the linear part)."""
    import numpy as np

    if model == "affine":
        return a
    out = a.copy()
    if model == "translation":
        out[:2, :2] = np.eye(2)
        return out
    lin = a[:2, :2]
    u, sv, vt = np.linalg.svd(lin)
    rot = u @ vt
    out[:2, :2] = rot * (sv.mean() if model == "similarity" else 1.0)
    return out


def _warp(img: Any, a: Any, shape: tuple[int, int], order: int, cval: float = 0.0,
          prefiltered: bool = False) -> Any:
    """Sample ``img`` at ``a @ p`` for every pixel ``p`` of a grid of ``shape``."""
    import numpy as np
    from scipy import ndimage

    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    xm = a[0, 0] * xx + a[0, 1] * yy + a[0, 2]
    ym = a[1, 0] * xx + a[1, 1] * yy + a[1, 2]
    return ndimage.map_coordinates(img, [ym, xm], order=order, mode="constant", cval=cval,
                                   prefilter=not prefiltered)


def _inside(a: Any, ref_shape: tuple[int, int], mov_shape: tuple[int, int],
            margin: float = 0.0) -> Any:
    """Mask of reference pixels whose transformed position lies inside the moving image."""
    import numpy as np

    ny, nx = ref_shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    xm = a[0, 0] * xx + a[0, 1] * yy + a[0, 2]
    ym = a[1, 0] * xx + a[1, 1] * yy + a[1, 2]
    return ((xm >= margin) & (xm <= mov_shape[1] - 1 - margin) & (ym >= margin)
            & (ym <= mov_shape[0] - 1 - margin))


# --------------------------------------------------------------------------------------------
# phase correlation with rotation and scale


def _logpolar(img: Any, n_theta: int, n_rho: int, f_min: float, f_max: float) -> Any:
    """Log-polar resampling of the high-passed Fourier magnitude of a windowed image.

    Rows: angle θ in [0, π) (the magnitude of a real image is centro-symmetric); columns:
    log spatial frequency from ``f_min`` to ``f_max`` (cycles/px). The angle is measured from
    +x towards +y in physical frequency, so non-square images are handled.
    """
    import numpy as np
    import scipy.fft as sfft
    from scipy import ndimage

    ny, nx = img.shape
    w = np.outer(_window(ny), _window(nx))
    mag = np.abs(sfft.rfft2((img - img.mean()) * w, workers=-1))
    ky = np.fft.fftfreq(ny)[:, None]
    kx = (np.arange(mag.shape[1]) / nx)[None, :]
    xk = np.cos(np.pi * ky) * np.cos(np.pi * kx)
    mag *= (1.0 - xk) * (2.0 - xk)  # Reddy & Chatterji's high-pass emphasis
    mag = np.fft.fftshift(mag, axes=0)
    theta = np.arange(n_theta) * (np.pi / n_theta)
    rho = np.exp(np.linspace(math.log(f_min), math.log(f_max), n_rho))
    fx = np.outer(np.cos(theta), rho)
    fy = np.outer(np.sin(theta), rho)
    flip = fx < 0  # use |F(-f)| = |F(f)| to stay in the stored half plane
    fx = np.where(flip, -fx, fx)
    fy = np.where(flip, -fy, fy)
    rows = fy * ny + ny // 2
    cols = fx * nx
    lp = ndimage.map_coordinates(mag, [rows, cols], order=1, mode="nearest")
    return np.log1p(lp / max(float(lp.mean()), 1e-300))


def _rotation_scale(ref: Any, mov: Any, model: str, upsample: int) -> tuple[float, float]:
    """Rotation θ (rad, x towards y) and scale of ``mov``'s content relative to ``ref``'s."""
    import numpy as np

    n = min(ref.shape)
    n_theta = int(min(max(2 * n, 360), 1440))
    n_rho = int(min(max(n, 128), 1024))
    f_min, f_max = max(2.0 / n, 0.01), 0.45
    lr = _logpolar(ref, n_theta, n_rho, f_min, f_max)
    lm = _logpolar(mov, n_theta, n_rho, f_min, f_max)
    win = np.ones(n_theta)[:, None] * _window(n_rho)[None, :]  # angle axis is periodic
    d_rho = math.log(f_max / f_min) / (n_rho - 1)
    if model == "euclidean":  # no scale: correlate the angular profiles only
        shift_r = 0.0
        dth, dr, _ = _phase_correlate(lr, lm, upsample=upsample, window=win,
                                      max_shift=(n_theta / 2, 0))
    else:
        dth, dr, _ = _phase_correlate(lr, lm, upsample=upsample, window=win)
        shift_r = dr
    theta = dth * math.pi / n_theta
    scale = math.exp(-shift_r * d_rho)
    return theta, scale


def _register_phase(ref: Any, mov: Any, model: str, upsample: int) -> tuple[Any, float]:
    """3×3 matrix (reference → moving) by phase correlation; returns (matrix, peak height)."""
    import numpy as np

    if model == "translation":
        dy, dx, peak = _phase_correlate(ref, mov, upsample=upsample)
        a = np.eye(3)
        a[:2, 2] = (dx, dy)
        return a, peak
    theta, scale = _rotation_scale(ref, mov, model, upsample)
    # the magnitude cannot tell θ from θ + π: keep the angle whose translation peak is higher
    # (compared on 2 × 2 binned images when they are large; cheap and just as clear)
    b = 2 if min(ref.shape) >= 256 else 1
    ny, nx = (ref.shape[0] // b) * b, (ref.shape[1] // b) * b
    small = ref[:ny, :nx].reshape(ny // b, b, nx // b, b).mean(axis=(1, 3))
    peaks = []
    for extra in (0.0, math.pi):
        a0 = _centred(_rot(theta + extra, scale), ref.shape)
        sc = np.diag([float(b), float(b), 1.0])
        sc[:2, 2] = (b - 1) / 2.0  # binned pixel u covers full pixels b u … b u + b - 1
        warped = _warp(mov, a0 @ sc, small.shape, order=1, cval=float(mov.mean()))
        peaks.append(_phase_correlate(small, warped, upsample=1)[2])
    a0 = _centred(_rot(theta + (0.0 if peaks[0] >= peaks[1] else math.pi), scale), ref.shape)
    warped = _warp(mov, a0, ref.shape, order=1, cval=float(mov.mean()))
    dy, dx, peak = _phase_correlate(ref, warped, upsample=upsample)
    # warped(p) = mov(a0 p) and warped(p) ≈ ref(p - d): a = a0 ∘ translate(d)
    a = a0.copy()
    a[:2, 2] = a0[:2, :2] @ np.array([dx, dy]) + a0[:2, 2]
    return a, peak


# --------------------------------------------------------------------------------------------
# features


def _ransac(src: Any, dst: Any, model: str, threshold: float, trials: int,
            seed: int) -> tuple[Any, Any]:
    """Robust fit: minimal random samples, most inliers wins, refit on the inliers."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(src)
    k = _MIN_POINTS[model] + (1 if model == "affine" else 0)
    k = min(max(k, _MIN_POINTS[model]), n)
    best = np.zeros(n, bool)
    hom = np.column_stack([src, np.ones(n)])
    for _ in range(trials):
        idx = rng.choice(n, size=k, replace=False)
        try:
            a = _fit_points(src[idx], dst[idx], model)
        except np.linalg.LinAlgError:
            continue
        res = np.hypot(*(hom @ a[:2].T - dst).T)
        inl = res < threshold
        if inl.sum() > best.sum():
            best = inl
            if best.sum() > 0.9 * n:
                break
    if best.sum() < _MIN_POINTS[model]:
        raise ParameterError("alignment.register_pair: no consistent set of feature matches "
                             "was found (RANSAC); try method='phase', more keypoints or a "
                             "larger ransac_threshold")
    for _ in range(3):  # refit on inliers, re-select with the refined model
        a = _fit_points(src[best], dst[best], model)
        res = np.hypot(*(hom @ a[:2].T - dst).T)
        new = res < threshold
        if new.sum() < _MIN_POINTS[model] or np.array_equal(new, best):
            break
        best = new
    return _fit_points(src[best], dst[best], model), best


def _register_features(ref: Any, mov: Any, model: str, detector: str, n_keypoints: int,
                       threshold: float, seed: int) -> tuple[Any, int, int, float]:
    """3×3 matrix from keypoint matches + RANSAC; (matrix, matches, inliers, rms residual)."""
    import numpy as np
    from skimage.feature import ORB, SIFT, match_descriptors

    def norm(img: Any) -> Any:
        lo, hi = np.percentile(img, (0.1, 99.9))
        return np.clip((img - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(img)

    kps, descs = [], []
    for img in (ref, mov):
        if detector == "sift":
            ext: Any = SIFT(n_octaves=4, upsampling=1)
        else:
            ext = ORB(n_keypoints=n_keypoints, fast_threshold=0.05, downscale=1.2, n_scales=8)
        try:
            ext.detect_and_extract(norm(img))
        except (RuntimeError, ValueError, IndexError) as exc:
            raise ParameterError(f"alignment.register_pair: {detector.upper()} found no usable "
                                 f"keypoints ({exc}); try method='phase'") from exc
        kp, de = ext.keypoints, ext.descriptors
        if detector == "sift" and len(kp) > n_keypoints:  # SIFT keeps its detection order
            kp, de = kp[:n_keypoints], de[:n_keypoints]
        kps.append(np.asarray(kp, dtype=np.float64))
        descs.append(de)
    if min(len(k) for k in kps) < _MIN_POINTS[model]:
        raise ParameterError(f"alignment.register_pair: too few keypoints "
                             f"({len(kps[0])} and {len(kps[1])}); try method='phase'")
    matches = match_descriptors(descs[0], descs[1], cross_check=True,
                                max_ratio=0.8 if detector == "sift" else 0.9)
    if len(matches) < _MIN_POINTS[model] + 1:
        raise ParameterError(f"alignment.register_pair: only {len(matches)} keypoint matches; "
                             "try method='phase' or more keypoints")
    src = kps[0][matches[:, 0]][:, ::-1]  # (x, y)
    dst = kps[1][matches[:, 1]][:, ::-1]
    a, inl = _ransac(src, dst, model, threshold, 2000, seed)
    hom = np.column_stack([src[inl], np.ones(int(inl.sum()))])
    res = hom @ a[:2].T - dst[inl]
    rms = float(np.sqrt((res * res).sum(axis=1).mean()))
    return a, len(matches), int(inl.sum()), rms


# --------------------------------------------------------------------------------------------
# intensity refinement


def _refine(ref: Any, mov: Any, a: Any, model: str, iterations: int = 30) -> Any:
    """Gauss-Newton (Lucas-Kanade, forward additive) refinement of ``a`` for the model.

    Minimises Σ (mov(a p) − ref(p))² over reference pixels (a sample grid of about 1.3e5
    points, away from the borders) whose transformed position falls inside the moving image;
    both images are standardised first, so a gain/offset difference does not matter.
    """
    import numpy as np
    from scipy import ndimage

    ny, nx = ref.shape
    stride = max(1, int(round(math.sqrt(ny * nx / 1.3e5))))
    my, mx = max(2, ny // 20), max(2, nx // 20)
    yy, xx = np.mgrid[my:ny - my:stride, mx:nx - mx:stride].astype(np.float64)
    yy, xx = yy.ravel(), xx.ravel()
    r0 = ref[yy.astype(int), xx.astype(int)]
    sd = r0.std()
    if sd == 0 or mov.std() == 0 or yy.size < 16:
        return a
    coef = ndimage.spline_filter((mov - mov.mean()) / mov.std(), order=3)
    gy_img, gx_img = np.gradient(mov / mov.std())
    c = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0])
    xc, yc = xx - c[0], yy - c[1]
    a = a.copy()
    for _ in range(iterations):
        xm = a[0, 0] * xx + a[0, 1] * yy + a[0, 2]
        ym = a[1, 0] * xx + a[1, 1] * yy + a[1, 2]
        ok = (xm >= 1) & (xm <= mov.shape[1] - 2) & (ym >= 1) & (ym <= mov.shape[0] - 2)
        if ok.sum() < 16:
            break
        crd = [ym[ok], xm[ok]]
        w = ndimage.map_coordinates(coef, crd, order=3, prefilter=False)
        gx = ndimage.map_coordinates(gx_img, crd, order=1)
        gy = ndimage.map_coordinates(gy_img, crd, order=1)
        rr = r0[ok]
        rr = (rr - rr.mean()) / sd
        res = (w - w.mean()) - rr
        x_, y_ = xc[ok], yc[ok]
        lin = a[:2, :2]
        if model == "translation":
            jac = np.column_stack([gx, gy])
        elif model == "euclidean":
            th = math.atan2(lin[1, 0], lin[0, 0])
            dxm = -math.sin(th) * x_ - math.cos(th) * y_
            dym = math.cos(th) * x_ - math.sin(th) * y_
            jac = np.column_stack([gx * dxm + gy * dym, gx, gy])
        elif model == "similarity":
            jac = np.column_stack([gx * x_ + gy * y_, -gx * y_ + gy * x_, gx, gy])
        else:
            jac = np.column_stack([gx * x_, gx * y_, gx, gy * x_, gy * y_, gy])
        try:
            delta = np.linalg.solve(jac.T @ jac, -(jac.T @ res))
        except np.linalg.LinAlgError:
            break
        # parameters are those of the transform in centred coordinates: q = c' + L (p - c)
        t = lin @ c + a[:2, 2]  # where the centre goes
        if model == "translation":
            t = t + delta
        elif model == "euclidean":
            th = math.atan2(lin[1, 0], lin[0, 0]) + delta[0]
            lin = _rot(th)
            t = t + delta[1:]
        elif model == "similarity":
            al, be = lin[0, 0] + delta[0], lin[1, 0] + delta[1]
            lin = np.array([[al, -be], [be, al]])
            t = t + delta[2:]
        else:
            lin = lin + np.array([[delta[0], delta[1]], [delta[3], delta[4]]])
            t = t + np.array([delta[2], delta[5]])
        a = np.eye(3)
        a[:2, :2] = lin
        a[:2, 2] = t - lin @ c
        step = abs(delta[-2:]).max() + (np.abs(delta[:-2]).max() * max(nx, ny)
                                        if len(delta) > 2 else 0.0)
        if step < 1e-4:
            break
    return a


def _refine_checked(ref: Any, mov: Any, a: Any, model: str) -> Any:
    """:func:`_refine`, kept only if it does not lower the normalised cross-correlation."""
    a1 = _refine(ref, mov, _project(a, model), model)
    before, after = _ncc_sampled(ref, mov, a), _ncc_sampled(ref, mov, a1)
    if math.isfinite(after) and (not math.isfinite(before) or after >= before - 1e-6):
        return a1
    return a


# --------------------------------------------------------------------------------------------
# the operations


def _as_image(dataset: Dataset, what: str) -> None:
    if dataset.signal_dims != 2:
        raise ParameterError(f"alignment.register_pair: {what} must be an image (two signal "
                             f"axes), got {dataset.kind} data")


def register_pair(reference: Dataset, moving: Dataset | None = None, *,
                  method: Literal["phase", "features", "points"] = "phase",
                  model: Literal["translation", "euclidean", "similarity",
                                 "affine"] = "similarity",
                  points: tuple[tuple[float, float, float, float], ...] | None = None,
                  refine: bool = True,
                  detector: Literal["orb", "sift"] = "orb",
                  n_keypoints: Annotated[int, Range(10, 20000)] = 800,
                  ransac_threshold: Annotated[float, Range(0.1, 100), Units("px"),
                                              Step(0.5)] = 2.0,
                  upsample: Annotated[int, Range(1, 1000)] = 100,
                  order: Annotated[int, Range(0, 5)] = 3,
                  fill: float = 0.0,
                  apply: bool = True,
                  seed: int = 0) -> tuple[Dataset, Table] | Table:
    """Register a moving image onto a reference: rigid, similarity or affine transform.

    Three ways to find the transform:

    * ``phase`` — rotation and scale from the phase correlation of the log-polar resampled,
      high-passed Fourier magnitudes of the (windowed) images (Reddy & Chatterji 1996; the
      180° ambiguity is resolved by the stronger translation peak), then translation by phase
      correlation with upsampled-DFT sub-pixel refinement (Guizar-Sicairos 2008). Needs images
      of equal shape; models ``translation``, ``euclidean`` or ``similarity``.
    * ``features`` — ORB (or SIFT) keypoints from scikit-image, cross-checked descriptor
      matches, RANSAC fit of the model (seeded, so results repeat) and a least-squares refit
      on the inliers.
    * ``points`` — least-squares fit of the model to point pairs
      ``[[y_ref, x_ref, y_mov, x_mov], ...]`` in pixels (what the app's point-pair tool
      passes).

    With ``refine`` (phase and features) an intensity-based Gauss-Newton (Lucas-Kanade)
    refinement of the model polishes the estimate. Without a ``moving`` image every frame of
    ``reference`` (a stack) is registered to its first frame; a single image needs a
    ``moving`` image. The transform convention is in this module's docstring: the matrix maps
    reference pixel coordinates ``(x, y, 1)`` to moving ones.

    Parameters
    ----------
    reference : Dataset
        Reference image (its pixel grid and calibration are the output's), or a stack whose
        frames are registered to its first frame.
    moving : Dataset, optional
        Image to register onto the reference.
    method : {"phase", "features", "points"}
        How the transform is found.
    model : {"translation", "euclidean", "similarity", "affine"}
        Transform model: shift; rotation + shift; rotation + uniform scale + shift; general
        affine (features and points only).
    points : sequence of (y_ref, x_ref, y_mov, x_mov), optional
        Point pairs in pixels for ``method="points"`` (at least 1 / 2 / 2 / 3 for the models
        above).
    refine : bool
        Polish a phase or feature estimate by intensity-based Gauss-Newton refinement.
    detector : {"orb", "sift"}
        Keypoint detector for ``method="features"``.
    n_keypoints : int
        Maximum number of keypoints per image (features).
    ransac_threshold : float
        Largest distance (px) of a match from the model to count as an inlier (features).
    upsample : int
        Sub-pixel resolution of phase correlation peaks: 1/upsample px.
    order : int
        Spline order of the resampling of the moving image (0 nearest … 3 cubic … 5).
    fill : float
        Value of output pixels that fall outside the moving image.
    apply : bool
        Resample the moving image; when off only the transform table is returned.
    seed : int
        Seed of the RANSAC sampling (features).

    Returns
    -------
    Dataset
        The moving image resampled onto the reference grid (float32, float64 for float64
        input; reference axes). Only with ``apply``.
    Table
        One row per registered image: ``rotation`` (deg, counter-clockwise as displayed),
        ``scale``, ``scale_x``, ``scale_y``, ``shear``, ``dx``/``dy`` (px: displacement of the
        reference centre in the moving image), ``dx_cal``/``dy_cal`` (calibrated units), the
        matrix ``m00`` … ``m22`` (row-major, reference → moving pixel coordinates ``(x, y,
        1)``), ``ncc`` (normalised cross-correlation of reference and registered image over
        the overlap), ``peak`` (phase correlation peak height, NaN otherwise), ``matches`` and
        ``inliers`` (feature or point counts) and ``rms_residual`` (px, RMS distance of the
        inlier points from the fitted model; NaN for phase); ``frame`` for a stack.
    """
    import numpy as np

    from micrographia.tasks import check_cancelled, report_progress

    op = "alignment.register_pair"
    _as_image(reference, "the reference")
    if moving is not None:
        _as_image(moving, "the moving image")
        if reference.nav_axes or moving.nav_axes:
            raise ParameterError(f"{op}: with a moving image both inputs must be single images "
                                 f"(got {reference.kind} and {moving.kind}); pass a stack alone "
                                 "to register its frames to the first")
        ref_frames = _frames_of(reference)
        pairs = [(ref_frames[0], _frames_of(moving)[0])]
        stack_mode = False
    else:
        if not reference.nav_axes:
            raise ParameterError(f"{op}: choose the image to register onto "
                                 f"{reference.title or 'this image'} as the second (moving) "
                                 "input, or run it on a stack to register every frame to the "
                                 "first")
        ref_frames = _frames_of(reference)
        pairs = [(ref_frames[0], f) for f in ref_frames]
        stack_mode = True
    if method == "phase" and model == "affine":
        raise ParameterError(f"{op}: method='phase' finds translation, euclidean or similarity "
                             "transforms; use method='features' or 'points' for 'affine'")
    if method == "phase" and pairs[0][0].shape != pairs[0][1].shape:
        raise ParameterError(f"{op}: method='phase' needs images of the same shape, got "
                             f"{pairs[0][0].shape} and {pairs[0][1].shape}; use "
                             "method='features' or 'points'")
    pts = None
    if method == "points":
        if moving is None:
            raise ParameterError(f"{op}: method='points' needs a moving image as second input")
        if not points:
            raise ParameterError(f"{op}: method='points' needs point pairs "
                                 "[[y_ref, x_ref, y_mov, x_mov], ...]")
        try:
            pts = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{op}: points must be numbers [[y_ref, x_ref, y_mov, x_mov], "
                                 f"...]: {exc}") from None
        if pts.ndim != 2 or pts.shape[1] != 4:
            raise ParameterError(f"{op}: every point pair must have 4 numbers "
                                 "(y_ref, x_ref, y_mov, x_mov)")
        if not np.isfinite(pts).all():
            raise ParameterError(f"{op}: points must be finite")
        need = _MIN_POINTS[model]
        if len(pts) < need:
            raise ParameterError(f"{op}: a {model} fit needs at least {need} point pair(s), got "
                                 f"{len(pts)}")
        _check_rank(pts[:, 1::-1], model)
    elif points:
        raise ParameterError(f"{op}: points are only used with method='points'")

    rows: list[dict[str, float]] = []
    out_frames = []
    dtype = _float_dtype(moving if moving is not None else reference)
    for k, (ref, mov) in enumerate(pairs):
        check_cancelled()
        report_progress(k / len(pairs), "registering")
        peak = rms = float("nan")
        n_match = n_inl = 0
        if stack_mode and k == 0:
            a = np.eye(3)
        elif method == "points":
            src, dst = pts[:, 1::-1], pts[:, 3:1:-1]
            a = _fit_points(src, dst, model)
            hom = np.column_stack([src, np.ones(len(src))])
            res = hom @ a[:2].T - dst
            rms = float(np.sqrt((res * res).sum(axis=1).mean()))
            n_match = n_inl = len(pts)
        elif method == "phase":
            a, peak = _register_phase(ref, mov, model, upsample)
            if refine:
                a = _refine_checked(ref, mov, a, model)
        else:
            a, n_match, n_inl, rms = _register_features(ref, mov, model, detector,
                                                        n_keypoints, ransac_threshold, seed)
            if refine:
                a = _refine_checked(ref, mov, a, model)
        a = _project(a, model)
        a[2] = (0.0, 0.0, 1.0)
        if apply:
            warped = _warp(mov, a, ref.shape, order=order, cval=fill)
            ncc = _ncc(ref, warped, _inside(a, ref.shape, mov.shape))
            out_frames.append(warped.astype(dtype))
        else:
            ncc = _ncc_sampled(ref, mov, a)
        row = _decompose(a)
        c = np.array([(ref.shape[1] - 1) / 2.0, (ref.shape[0] - 1) / 2.0, 1.0])
        dx, dy = (a @ c)[:2] - c[:2]
        row.update(dx=float(dx), dy=float(dy))
        row.update({name: float(v) for name, v in zip(_MATRIX_COLUMNS, a.ravel())})
        row.update(ncc=ncc, peak=peak, matches=n_match, inliers=n_inl, rms_residual=rms)
        rows.append(row)
    report_progress(1.0, "registered")

    ay, ax = reference.sig_axes
    names = ["rotation", "scale", "scale_x", "scale_y", "shear", "dx", "dy", "dx_cal", "dy_cal",
             *_MATRIX_COLUMNS, "ncc", "peak", "matches", "inliers", "rms_residual"]
    cols: dict[str, Any] = {}
    if stack_mode:
        cols["frame"] = np.arange(len(rows), dtype=np.int64)
    for name in names:
        if name == "dx_cal":
            cols[name] = np.array([r["dx"] * ax.scale for r in rows])
        elif name == "dy_cal":
            cols[name] = np.array([r["dy"] * ay.scale for r in rows])
        elif name in ("matches", "inliers"):
            cols[name] = np.array([r[name] for r in rows], dtype=np.int64)
        else:
            cols[name] = np.array([r[name] for r in rows], dtype=np.float64)
    units = {"rotation": "deg", "dx": "px", "dy": "px", "rms_residual": "px"}
    if ax.units:
        units["dx_cal"] = ax.units
    if ay.units:
        units["dy_cal"] = ay.units
    title = (reference.title if moving is None else
             f"{moving.title} on {reference.title}").strip()
    table = Table(cols, units=units, title=f"{title} transform".strip(),
                  metadata={"method": method, "model": model,
                            "matrix": "reference -> moving pixel coordinates (x, y, 1)"})
    if not apply:
        return table
    if stack_mode:
        data = np.stack(out_frames).reshape(reference.shape)
        registered = reference.replace(data=data.astype(dtype),
                                       title=f"{reference.title} registered".strip())
    else:
        registered = reference.replace(data=out_frames[0],
                                       title=f"{title} registered".strip())
        if moving is not None:
            registered = registered.replace(intensity=moving.intensity)
    return registered, table


# --------------------------------------------------------------------------------------------
# stitching


def _grid_positions(n: int, ty: int, tx: int, rows: int, cols: int, overlap: float,
                    grid_order: str) -> Any:
    import numpy as np

    if rows == 0 and cols == 0:
        cols = int(math.ceil(math.sqrt(n)))
    if cols == 0:
        cols = int(math.ceil(n / rows))
    if rows == 0:
        rows = int(math.ceil(n / cols))
    if rows * cols < n:
        raise ParameterError(f"alignment.stitch: a {rows} × {cols} grid has room for "
                             f"{rows * cols} tiles, the stack has {n}")
    step_y, step_x = ty * (1.0 - overlap), tx * (1.0 - overlap)
    pos = np.zeros((n, 2))
    for k in range(n):
        r, c = divmod(k, cols)
        if grid_order == "snake" and r % 2 == 1:
            c = cols - 1 - c
        pos[k] = (r * step_y, c * step_x)
    return pos


def _overlap_box(o: Any, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Overlap of tile i (at 0) and tile j (at integer offset ``o``) in tile i coordinates."""
    ty, tx = shape
    y0, y1 = max(0, int(o[0])), min(ty, int(o[0]) + ty)
    x0, x1 = max(0, int(o[1])), min(tx, int(o[1]) + tx)
    return y0, y1, x0, x1


def _pair_offset(ti: Any, tj: Any, rel: Any, upsample: int,
                 refine: bool = True) -> tuple[Any, float] | None:
    """Measure the offset of tile j relative to tile i near ``rel`` (px); (offset, peak)."""
    import numpy as np

    o = np.round(rel).astype(int)
    y0, y1, x0, x1 = _overlap_box(o, ti.shape)
    if y1 - y0 < 2 or x1 - x0 < 2:
        return None
    si = ti[y0:y1, x0:x1]
    sj = tj[y0 - o[0]:y1 - o[0], x0 - o[1]:x1 - o[1]]
    dy, dx, peak = _phase_correlate(si, sj, upsample=upsample)
    if refine and min(si.shape) >= 8 and max(abs(dy), abs(dx)) < 2:
        # the window biases sub-pixel peaks of narrow strips: polish by Gauss-Newton
        a = np.eye(3)
        a[:2, 2] = (dx, dy)
        a = _refine(si, sj, a, "translation")
        if np.abs(a[:2, 2] - (dx, dy)).max() < 1:
            dx, dy = a[:2, 2]
    # strip_j(u) = strip_i(u - d) with d = o - O  =>  O = o - d
    return o - np.array([dy, dx]), peak


def stitch(tiles: Dataset, *,
           positions: tuple[tuple[float, float], ...] | None = None,
           units: Literal["px", "calibrated"] = "px",
           rows: Annotated[int, Range(0, 10000)] = 0,
           cols: Annotated[int, Range(0, 10000)] = 0,
           overlap: Annotated[float, Range(0.0, 0.95), Step(0.05)] = 0.2,
           grid_order: Literal["row-major", "snake"] = "row-major",
           max_correction: Annotated[float, Range(0, None), Units("px")] = 0.0,
           min_quality: Annotated[float, Range(0.0, 1.0), Step(0.01)] = 0.05,
           upsample: Annotated[int, Range(1, 1000)] = 50,
           blend: Literal["linear", "none"] = "linear",
           order: Annotated[int, Range(0, 5)] = 1) -> tuple[Dataset, Table]:
    """Stitch overlapping tiles into one mosaic, refining their approximate positions.

    The tiles are the frames of a stack (flat navigation index = tile index). Their approximate
    top-left positions come from ``positions`` (stage positions, in pixels or calibrated
    units) or, when not given, from a grid layout (``rows`` × ``cols``, ``overlap`` fraction,
    row-major or snake order). Only tiles whose approximate rectangles overlap are registered,
    by phase correlation of the overlap strips (sub-pixel, twice: the second time on strips
    re-cut at the first estimate). Pairs with a peak height below ``min_quality`` or a
    correction above ``max_correction`` are dropped; the positions then follow from a weighted
    least-squares solution of all pair offsets (weights: peak height², first tile fixed at its
    given position; a tile without an accepted pair keeps its given position). The mosaic
    blends overlaps by linear feathering (weights falling linearly to the tile edges).

    Parameters
    ----------
    tiles : Dataset
        Stack of tiles of equal shape.
    positions : sequence of (y, x), optional
        Approximate top-left position of every tile; a grid layout when not given.
    units : {"px", "calibrated"}
        Units of ``positions``: pixels, or the tiles' calibrated units.
    rows : int
        Grid rows (0: from ``cols``, or a near-square grid).
    cols : int
        Grid columns (0: from ``rows``, or a near-square grid).
    overlap : float
        Overlap fraction of neighbouring grid tiles.
    grid_order : {"row-major", "snake"}
        Tile order in the grid: every row left to right, or alternate rows right to left.
    max_correction : float
        Largest accepted change of a pair offset from the given one (px); 0: half of the
        overlap strip's smaller side.
    min_quality : float
        Smallest accepted phase correlation peak height (0 … 1) of a pair.
    upsample : int
        Sub-pixel resolution of the pair registration: 1/upsample px.
    blend : {"linear", "none"}
        Feather the overlaps, or let later tiles cover earlier ones.
    order : int
        Spline order of the sub-pixel placement of the tiles.

    Returns
    -------
    Dataset
        The mosaic (float32, float64 for float64 tiles; the tiles' calibration, offset at the
        mosaic's top-left corner; uncovered pixels 0).
    Table
        One row per tile: ``tile``, refined ``y``/``x`` (px, in the frame of the given
        positions), ``y_given``/``x_given``, the correction ``dy``/``dx`` (refined − given), the
        refined position in calibrated units ``y_cal``/``x_cal``, and ``pairs`` (accepted
        neighbour pairs of the tile). Metadata: numbers of pairs used and dropped and the RMS
        residual of the least-squares solution (px).
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy import ndimage
    from scipy.sparse.linalg import spsolve

    from micrographia.tasks import check_cancelled, report_progress

    op = "alignment.stitch"
    if tiles.signal_dims != 2 or not tiles.nav_axes:
        raise ParameterError(f"{op} needs a stack of tiles (navigation axis = tile index), got "
                             f"{tiles.kind} data")
    frames = _frames_of(tiles)
    n = len(frames)
    ty, tx = frames[0].shape
    ay, ax = tiles.sig_axes
    if positions is not None:
        try:
            given = np.asarray(positions, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{op}: positions must be numbers [[y, x], ...]: {exc}") from None
        if given.ndim != 2 or given.shape[1] != 2:
            raise ParameterError(f"{op}: positions must be a list of (y, x) pairs")
        if len(given) != n:
            raise ParameterError(f"{op}: {len(given)} positions given for {n} tiles")
        if not np.isfinite(given).all():
            raise ParameterError(f"{op}: positions must be finite")
        if units == "calibrated":
            given = given / np.array([ay.scale, ax.scale])
    else:
        given = _grid_positions(n, ty, tx, rows, cols, overlap, grid_order)

    # neighbour pairs: approximate rectangles share at least 2 × 2 px
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            rel = given[j] - given[i]
            oy, ox = ty - abs(rel[0]), tx - abs(rel[1])
            if oy >= 2 and ox >= 2:
                pairs.append((i, j, min(oy, ox)))
    if not pairs:
        raise ParameterError(f"{op}: no two tiles overlap at the given positions; check the "
                             "positions (top-left corners, px unless units='calibrated') or "
                             "the grid overlap")
    meas = []
    dropped = 0
    for k, (i, j, side) in enumerate(pairs):
        check_cancelled()
        report_progress(0.7 * k / len(pairs), "registering tile pairs")
        nominal = given[j] - given[i]
        limit = max_correction if max_correction > 0 else side / 2.0
        rel = nominal
        res = None
        for it in range(2):
            # first pass: integer peak only; second: strips re-cut there, sub-pixel + polish
            res = _pair_offset(frames[i], frames[j], rel, upsample if it else 1,
                               refine=it == 1)
            if res is None or np.abs(res[0] - nominal).max() > limit:
                res = None
                break
            rel = res[0]
        if res is None or not res[1] >= min_quality:
            dropped += 1
            continue
        meas.append((i, j, res[0], res[1]))

    # weighted least squares: P_j - P_i = O_ij, P_0 fixed, weak prior on the given positions
    report_progress(0.75, "solving positions")
    m = len(meas)
    rows_i, cols_i, vals = [], [], []
    rhs = np.zeros((m + n, 2))
    w = np.zeros(m + n)
    for e, (i, j, o, q) in enumerate(meas):
        rows_i += [e, e]
        cols_i += [j, i]
        vals += [1.0, -1.0]
        rhs[e] = o
        w[e] = q * q
    for t in range(n):
        rows_i.append(m + t)
        cols_i.append(t)
        vals.append(1.0)
        rhs[m + t] = given[t]
        w[m + t] = 1e6 if t == 0 else 1e-8
    mat = sp.csr_matrix((vals, (rows_i, cols_i)), shape=(m + n, n))
    wm = sp.diags(w)
    normal = (mat.T @ wm @ mat).tocsc()
    pos = np.column_stack([spsolve(normal, mat.T @ (w * rhs[:, d])) for d in range(2)])
    pos = pos - pos[0] + given[0]
    resid = [float(np.hypot(*(pos[j] - pos[i] - o))) for i, j, o, _ in meas]
    n_pairs = np.zeros(n, dtype=np.int64)
    for i, j, _, _ in meas:
        n_pairs[i] += 1
        n_pairs[j] += 1

    # mosaic
    report_progress(0.8, "blending")
    origin = pos[0] + np.floor(pos.min(axis=0) - pos[0] + 1e-9)  # on the first tile's grid
    size = np.ceil(pos.max(axis=0) - origin + np.array([ty, tx])).astype(int)
    dtype = _float_dtype(tiles)
    acc = np.zeros(tuple(size), dtype=np.float64)
    wsum = np.zeros(tuple(size), dtype=np.float64)
    for t in range(n):
        check_cancelled()
        p = pos[t] - origin
        y0, x0 = int(math.floor(p[0])), int(math.floor(p[1]))
        y1, x1 = min(size[0], y0 + ty + 1), min(size[1], x0 + tx + 1)
        gy = np.arange(y0, y1) - p[0]  # tile coordinates of the mosaic pixels
        gx = np.arange(x0, x1) - p[1]
        vy = (gy >= -1e-9) & (gy <= ty - 1 + 1e-9)
        vx = (gx >= -1e-9) & (gx <= tx - 1 + 1e-9)
        gy, gx = np.clip(gy, 0, ty - 1), np.clip(gx, 0, tx - 1)
        yy, xx = np.meshgrid(gy, gx, indexing="ij")
        vals_t = ndimage.map_coordinates(frames[t], [yy, xx], order=order, mode="nearest")
        if blend == "linear":
            wy = np.minimum(gy + 1.0, ty - gy) * vy
            wx = np.minimum(gx + 1.0, tx - gx) * vx
            wt = np.outer(wy, wx)
            acc[y0:y1, x0:x1] += wt * vals_t
            wsum[y0:y1, x0:x1] += wt
        else:
            valid = np.outer(vy, vx)
            acc[y0:y1, x0:x1][valid] = vals_t[valid]
            wsum[y0:y1, x0:x1][valid] = 1.0
    mosaic = np.divide(acc, wsum, out=np.zeros_like(acc), where=wsum > 0).astype(dtype)
    new_axes = (ay.replace(size=int(size[0]), offset=ay.offset + origin[0] * ay.scale),
                ax.replace(size=int(size[1]), offset=ax.offset + origin[1] * ax.scale))
    out = tiles.replace(data=mosaic, axes=new_axes, title=f"{tiles.title} mosaic".strip())
    table = Table({"tile": np.arange(n, dtype=np.int64),
                   "y": pos[:, 0].copy(), "x": pos[:, 1].copy(),
                   "y_given": given[:, 0].copy(), "x_given": given[:, 1].copy(),
                   "dy": pos[:, 0] - given[:, 0], "dx": pos[:, 1] - given[:, 1],
                   "y_cal": ay.offset + pos[:, 0] * ay.scale,
                   "x_cal": ax.offset + pos[:, 1] * ax.scale,
                   "pairs": n_pairs},
                  units={k: "px" for k in ("y", "x", "y_given", "x_given", "dy", "dx")}
                  | ({"y_cal": ay.units} if ay.units else {})
                  | ({"x_cal": ax.units} if ax.units else {}),
                  title=f"{tiles.title} tile positions".strip(),
                  metadata={"pairs_used": m, "pairs_dropped": dropped,
                            "rms_residual": float(np.sqrt(np.mean(np.square(resid))))
                            if resid else float("nan")})
    report_progress(1.0, "stitched")
    return out, table


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(register_pair, id="alignment.register_pair", title="Register image pair…",
                 menu="Align", kinds=("signal2d",), dtypes="iuf")
    registry.add(stitch, id="alignment.stitch", title="Stitch tiles…", menu="Align",
                 kinds=("stack",), dtypes="iuf")
