"""Built-in plugin: noise reduction (``denoise.*``).

Every operation works frame by frame over the navigation axes (except :func:`pca`, which uses
them), computes in floating point and returns float32 (float64 for float64 input); integer
counts are never rescaled. Strengths are given in units of the noise standard deviation σ,
estimated per frame by :func:`estimate_sigma` unless given, so the same options suit raw
counts and calibrated intensities alike.

On the GPU (cupy data, ``gpu=True`` operations): :func:`nl_means` (fast mode) and :func:`tv`
(Chambolle) run array-operation twins of scikit-image's algorithms
(:func:`nl_means_fast_xp`, :func:`tv_chambolle_xp`) and :func:`pca` runs its SVD there; the
other variants (slow NL-means, split Bregman) copy the frame to the host and back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from micrographia import (
    Dataset,
    OperationError,
    ParameterError,
    Range,
    Table,
    Units,
    hookimpl,
)

_MAD_TO_SIGMA = 0.6744897501960817  # median(|N(0, 1)|)


def estimate_sigma(frame: Any) -> float:
    """Estimate the standard deviation of additive white noise in one frame.

    Donoho's robust estimator on the finest Haar wavelet band: the diagonal detail
    ``(a - b - c + d) / 2`` of every 2×2 block (2-sample differences for 1-D frames) has the
    noise's variance and almost no signal; its median absolute value divided by 0.6745 is σ.

    Parameters
    ----------
    frame : array_like
        1-D or 2-D numpy or cupy array (more dimensions: the last two are used, the rest
        flattened); a cupy frame is reduced on the GPU.

    Returns
    -------
    float
        The estimate (0.0 for a frame smaller than 2 samples per axis).

    Examples
    --------
    >>> import numpy as np
    >>> from micrographia.plugins.denoise import estimate_sigma
    >>> noise = np.random.default_rng(0).normal(0, 3.0, (256, 256))
    >>> round(estimate_sigma(noise), 1)
    3.0
    """
    import numpy as np

    from micrographia.backend import array_namespace, is_gpu_array

    if is_gpu_array(frame):
        xp = array_namespace(frame)
        f = frame.astype(xp.float64, copy=False)
    else:
        xp = np
        f = np.asarray(frame, dtype=np.float64)
    if f.ndim == 1:
        n = f.shape[0] // 2 * 2
        if n < 2:
            return 0.0
        d = (f[0:n:2] - f[1:n:2]) / np.sqrt(2.0)
    else:
        f = f.reshape((-1,) + f.shape[-2:]) if f.ndim > 2 else f[None]
        ny, nx = f.shape[-2] // 2 * 2, f.shape[-1] // 2 * 2
        if ny < 2 or nx < 2:
            return 0.0
        f = f[:, :ny, :nx]
        d = (f[:, 0::2, 0::2] - f[:, 0::2, 1::2] - f[:, 1::2, 0::2] + f[:, 1::2, 1::2]) / 2.0
    return float(xp.median(xp.abs(d))) / _MAD_TO_SIGMA


def _float_dtype(dataset: Dataset) -> Any:
    import numpy as np

    return np.float64 if dataset.dtype == np.float64 else np.float32


def _need_images(dataset: Dataset, op: str) -> None:
    if dataset.signal_dims != 2:
        raise ParameterError(f"{op} works on images (two signal axes), not on "
                             f"{dataset.kind} data")


def _check_sigma(sigma: float | None, op: str) -> None:
    if sigma is not None and sigma <= 0:
        raise ParameterError(f"{op}: sigma must be positive (or None to estimate it); "
                             f"got {sigma!r}")


def _frame_sigma(f: Any, sigma: float | None) -> float:
    return float(sigma) if sigma is not None else estimate_sigma(f)


def _run_frames(dataset: Dataset, frame: Any, op: str, title: str,
                gpu_frame: Any = None) -> Dataset:
    """Apply ``frame(f, split)`` to every frame; in-memory stacks run frames in threads.

    scikit-image's denoisers release the GIL, so frames of an in-memory stack are denoised in
    parallel threads (``split=False``: one frame per thread); a single frame, lazy data (dask's
    scheduler runs blocks in parallel) and GPU data go through :func:`map_frames` with
    ``split=True`` (a frame may split its own work). The result never depends on which.

    A cupy frame goes to ``gpu_frame(f)``, which returns a cupy frame of the output dtype;
    without one it is copied to the host, denoised by ``frame`` and copied back.
    """
    import numpy as np

    from micrographia.backend import is_gpu_array
    from micrographia.frames import cpu_workers, map_frames
    from micrographia.tasks import check_cancelled, report_progress

    out_dtype = _float_dtype(dataset)
    n = int(np.prod(dataset.nav_shape))
    workers = min(cpu_workers(), n)

    def one_frame(f):  # noqa: ANN001, ANN202
        if not is_gpu_array(f):
            return frame(f, True)
        if gpu_frame is not None:
            return gpu_frame(f)
        from micrographia.backend import array_namespace

        return array_namespace(f).asarray(frame(f.get(), True))

    if dataset.is_lazy or dataset.on_gpu or workers < 2:
        out = map_frames(one_frame, dataset.data, signal_ndim=dataset.signal_dims,
                         out_dtype=out_dtype, message=op)
    else:
        import concurrent.futures

        data = dataset.data
        src = data.reshape((n,) + dataset.sig_shape)
        out = np.empty((n,) + dataset.sig_shape, out_dtype)

        def one(i: int) -> None:
            out[i] = frame(src[i], False)

        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mg-denoise") \
                as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            try:
                for k, fut in enumerate(concurrent.futures.as_completed(futures)):
                    fut.result()
                    check_cancelled()
                    report_progress((k + 1) / n, op)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        out = out.reshape(dataset.shape)
    return dataset.replace(data=out, title=f"{dataset.title} {title}".strip())


def _tile_edges(n: int, halo: int) -> list[int]:
    """Row edges of the tiles of an ``n``-row frame: each at least 16 halos tall."""
    k = max(1, min(64, n // (16 * halo)))
    return [n * i // k for i in range(k + 1)]


def nl_means_frame(f: Any, *, patch_size: int, patch_distance: int, h: float,
                   sigma: float | None, fast_mode: bool, parallel: bool = True,
                   tiles: int | None = None) -> Any:
    """Non-local means of one 2-D numpy frame, split into row tiles denoised in parallel.

    Each tile carries a halo of ``patch_distance + patch_size`` rows, more than the
    ``patch_distance + patch_size // 2`` rows any output pixel depends on, so the result equals
    scikit-image's whole-frame :func:`skimage.restoration.denoise_nl_means` (computed in
    float64) up to the rounding of its running sums (about 1e-12 relative). The tiling depends
    only on the frame's height (tiles at least 16 halos tall, so halos cost at most 12 %), so
    the result is the same on every machine and whether or not the tiles run in parallel.
    scikit-image's kernel releases the GIL, so tiles run in threads.

    Parameters
    ----------
    f : numpy.ndarray
        2-D frame.
    patch_size : int
        Side of the compared patches (px).
    patch_distance : int
        Search radius (px).
    h : float
        Filter strength in units of σ.
    sigma : float or None
        Noise standard deviation in data units (None: :func:`estimate_sigma`).
    fast_mode : bool
        scikit-image's fast (uniform patch weights) algorithm.
    parallel : bool
        Run the tiles in parallel threads (False: one after the other).
    tiles : int, optional
        Number of row tiles (default: from the frame's height; 1 is the whole-frame call).

    Returns
    -------
    numpy.ndarray
        float64 frame.
    """
    import numpy as np
    from skimage.restoration import denoise_nl_means

    from micrographia.frames import parallel_bands

    f = np.ascontiguousarray(f, dtype=np.float64)
    s = _frame_sigma(f, sigma)
    if s == 0:
        return f.copy()
    kw = dict(patch_size=patch_size, patch_distance=patch_distance, h=h * s, sigma=s,
              fast_mode=fast_mode, preserve_range=True)
    n = f.shape[0]
    halo = patch_distance + patch_size
    edges = _tile_edges(n, halo) if tiles is None else [n * i // tiles
                                                        for i in range(tiles + 1)]
    if len(edges) <= 2:
        return denoise_nl_means(f, **kw)
    out = np.empty_like(f)

    def run_tiles(t0: int, t1: int) -> None:
        for t in range(t0, t1):
            a, b = edges[t], edges[t + 1]
            lo, hi = max(0, a - halo), min(n, b + halo)
            out[a:b] = denoise_nl_means(f[lo:hi], **kw)[a - lo:b - lo]

    if parallel:
        parallel_bands(run_tiles, len(edges) - 1)
    else:
        run_tiles(0, len(edges) - 1)
    return out


# Schraudolph's exponential, as scikit-image's fast NL-means evaluates its weights
# (skimage/_shared/fast_exp.h): the high 32 bits of a double set to int(A·y) + B, the low ones 0.
_FAST_EXP_A = 1512775.3951951856938  # 2**20 / ln 2
_FAST_EXP_B = 1072632447  # 1023 * 2**20 - 60801 (least RMS error)
_NLM_DISTANCE_CUTOFF = 5.0  # patch distances (in h²) beyond which a weight is 0


def _fast_exp_neg(xp: Any, dist: Any) -> Any:
    """``exp(-dist)`` for ``dist >= 0`` with scikit-image's bit-level approximation."""
    hi = (dist * -_FAST_EXP_A).astype(xp.int64)  # C's (int) cast: truncation toward zero
    hi += _FAST_EXP_B
    hi <<= 32
    return hi.view(xp.float64)


def nl_means_fast_xp(f: Any, *, patch_size: int, patch_distance: int, h: float,
                     sigma: float = 0.0) -> Any:
    """Fast non-local means of one 2-D frame with array operations (numpy or cupy).

    The uniform-patch-weight algorithm of Darbon et al. (2008) with the conventions of
    scikit-image's ``denoise_nl_means(fast_mode=True, preserve_range=True)``, so that the
    result equals it to rounding (about 1e-15 relative): the frame is taken in float64 and
    mirror-padded (numpy's ``"reflect"``) by ``patch_size // 2 + patch_distance + 1``; an even
    ``patch_size`` is raised by one. For every shift ``t`` of the search window the squared
    difference between the frame and its shifted copy is box-summed over the
    ``(patch_size - 1)``-pixel square whose rows and columns run from ``1 - patch_size // 2``
    to ``patch_size // 2`` around the pixel (scikit-image's integral-image differences), the
    noise term ``2σ²`` per pixel is subtracted, negative sums are clipped to 0 and the result
    divided by ``h²·patch_size²``. Distances above 5 give weight 0, the others
    ``exp(-distance)`` by Schraudolph's approximation, and the centre pixel counts once with
    the weight of distance 0. The weights are symmetric, so only half of the shifts are
    computed: each serves the pixel and its partner.

    The work is a loop over ``((2·patch_distance + 1)² - 1) / 2`` shifts of whole-frame array
    operations, written for the GPU (cupy); on numpy it is about as fast as scikit-image's
    single-threaded kernel.

    Parameters
    ----------
    f : array
        2-D numpy or cupy frame.
    patch_size : int
        Side of the compared patches (px).
    patch_distance : int
        Search radius (px).
    h : float
        Cut-off distance in data units (scikit-image's ``h``).
    sigma : float
        Noise standard deviation in data units (0: no noise-variance correction).

    Returns
    -------
    array
        float64 frame of the input's array type.
    """
    import numpy as np

    from micrographia.backend import array_namespace, ndimage_namespace

    xp, ndimage = array_namespace(f), ndimage_namespace(f)
    s = patch_size + 1 if patch_size % 2 == 0 else patch_size
    o = s // 2
    d = int(patch_distance)
    pad = o + d + 1
    ny, nx = f.shape
    p = xp.pad(f.astype(xp.float64, copy=False), pad, mode="reflect")
    n = 2 * o  # the box scikit-image's integral image sums is (s - 1) pixels wide
    box_area = float(n * n)
    noise = 2.0 * float(sigma) ** 2 * box_area
    inv_h2s2 = 1.0 / (float(h) ** 2 * s * s)
    centre = float(_fast_exp_neg(np, np.zeros(1))[0])
    num = p[pad:pad + ny, pad:pad + nx] * centre
    den = xp.full((ny, nx), centre, dtype=xp.float64)
    for tr in range(-d, d + 1):
        for tc in range(0 if tr > 0 else 1, d + 1):
            # anchors: the output pixels and their partners shifted by -t
            r0, nr = pad - max(tr, 0), ny + abs(tr)
            c0, nc = pad - tc, nx + tc
            ra, rb, ca, cb = r0 - o + 1, r0 + nr + o, c0 - o + 1, c0 + nc + o
            diff = p[ra:rb, ca:cb] - p[ra + tr:rb + tr, ca + tc:cb + tc]
            diff *= diff
            # box sum over rows/cols [a - o + 1, a + o]: an even window, origin -1
            box = ndimage.uniform_filter(diff, size=n, origin=-1, mode="nearest")
            dist = box[o - 1:o - 1 + nr, o - 1:o - 1 + nc]
            dist *= box_area
            dist -= noise
            xp.maximum(dist, 0.0, out=dist)
            dist *= inv_h2s2
            w = xp.where(dist > _NLM_DISTANCE_CUTOFF, 0.0, _fast_exp_neg(xp, dist))
            w1 = w[max(tr, 0):max(tr, 0) + ny, tc:tc + nx]  # pixel p with p + t
            w2 = w[max(-tr, 0):max(-tr, 0) + ny, :nx]  # pixel p with p - t
            num += w1 * p[pad + tr:pad + tr + ny, pad + tc:pad + tc + nx]
            num += w2 * p[pad - tr:pad - tr + ny, pad - tc:pad - tc + nx]
            den += w1
            den += w2
    num /= den
    return num


def nl_means(dataset: Dataset, *,
             patch_size: Annotated[int, Range(3, 21), Units("px")] = 5,
             patch_distance: Annotated[int, Range(1, 50), Units("px")] = 6,
             h: Annotated[float, Range(0.01, 100.0), Units("σ")] = 0.8,
             sigma: Annotated[float, Range(0.0, None)] | None = None,
             fast_mode: bool = True) -> Dataset:
    """Non-local means denoising of every image.

    Each pixel becomes a weighted mean of the pixels whose surrounding patches look alike
    (scikit-image's :func:`~skimage.restoration.denoise_nl_means`, with the noise variance
    subtracted from patch distances). A frame is split into overlapping row tiles processed on
    all cores at once; the result equals the whole-frame computation to rounding. On the GPU
    the fast mode runs :func:`nl_means_fast_xp` (same result to rounding); ``fast_mode=False``
    copies each frame to the CPU and back.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with two signal axes.
    patch_size : int
        Side of the square patches compared (px).
    patch_distance : int
        Radius of the search window (px); cost grows with its square.
    h : float
        Filter strength in units of the noise standard deviation σ (0.8 as in
        scikit-image's example); larger smooths more.
    sigma : float, optional
        Noise standard deviation in data units; default: estimated per frame
        (:func:`estimate_sigma`).
    fast_mode : bool
        Fast algorithm (uniform patch weights, cost independent of ``patch_size``); False uses
        Gaussian-weighted patches, many times slower (and on the CPU even for GPU data).

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    _need_images(dataset, "denoise.nl_means")
    _check_sigma(sigma, "denoise.nl_means")
    out_dtype = _float_dtype(dataset)

    def frame(f, split):  # noqa: ANN001, ANN202
        return nl_means_frame(f, patch_size=patch_size, patch_distance=patch_distance, h=h,
                              sigma=sigma, fast_mode=fast_mode,
                              parallel=split).astype(out_dtype)

    def gpu_frame(f):  # noqa: ANN001, ANN202
        from micrographia.backend import array_namespace

        xp = array_namespace(f)
        f = f.astype(xp.float64)
        s = _frame_sigma(f, sigma)
        if s == 0:
            return f.astype(out_dtype)
        if not fast_mode:  # the Gaussian-weighted variant runs on the CPU (scikit-image)
            return xp.asarray(frame(f.get(), True))
        return nl_means_fast_xp(f, patch_size=patch_size, patch_distance=patch_distance,
                                h=h * s, sigma=s).astype(out_dtype)

    return _run_frames(dataset, frame, "Non-local means", f"NL-means h={h:g}σ", gpu_frame)


def tv_chambolle_xp(image: Any, weight: float, *, eps: float = 2.0e-4,
                    max_num_iter: int = 200) -> Any:
    """Chambolle's total-variation denoising of one frame with array operations (numpy or cupy).

    The same projection algorithm, in the same order of operations, as scikit-image's
    :func:`~skimage.restoration.denoise_tv_chambolle` on a float64 frame without channels
    (any number of dimensions): dual field ``p`` on forward differences (zero at the far
    edge of each axis), step ``τ = 1 / (2·ndim)``, and a stop when the energy
    ``(Σ d² + weight·Σ|∇u|) / size`` changes by less than ``eps`` times its first value. Only
    the energy, a scalar read back once per iteration, is summed in a different order, so
    the result equals scikit-image's to rounding unless the stopping test is decided at the
    last digit.

    Parameters
    ----------
    image : array
        numpy or cupy frame (any number of dimensions), converted to float64.
    weight : float
        Denoising weight (data units).
    eps : float
        Relative change of the energy that stops the iterations.
    max_num_iter : int
        Iteration limit.

    Returns
    -------
    array
        float64 frame of the input's array type.
    """
    from micrographia.backend import array_namespace

    xp = array_namespace(image)
    image = image.astype(xp.float64)
    ndim = image.ndim
    p = xp.zeros((ndim,) + image.shape, dtype=image.dtype)
    g = xp.zeros_like(p)
    d = xp.zeros_like(image)
    tau = 1.0 / (2.0 * ndim)
    out = image
    e_init = e_prev = 0.0
    i = 0
    while i < max_num_iter:
        if i > 0:
            d = -p.sum(0)  # the negative divergence of p
            for ax in range(ndim):
                dst = [slice(None)] * ndim
                dst[ax] = slice(1, None)
                src = [slice(None)] * ndim
                src[ax] = slice(0, -1)
                d[tuple(dst)] += p[ax][tuple(src)]
            out = image + d
        else:
            out = image
        energy = (d**2).sum()
        for ax in range(ndim):
            dst = [slice(None)] * ndim
            dst[ax] = slice(0, -1)
            g[ax][tuple(dst)] = xp.diff(out, axis=ax)
        norm = xp.sqrt((g**2).sum(axis=0))[None, ...]
        energy = (float(energy) + weight * float(norm.sum())) / float(image.size)
        norm *= tau / weight
        norm += 1.0
        p -= tau * g
        p /= norm
        if i == 0:
            e_init = e_prev = energy
        elif abs(e_prev - energy) < eps * e_init:
            break
        else:
            e_prev = energy
        i += 1
    return out


def tv(dataset: Dataset, *,
       weight: Annotated[float, Range(0.0, 1000.0), Units("σ")] = 1.0,
       method: Literal["chambolle", "bregman"] = "chambolle",
       sigma: Annotated[float, Range(0.0, None)] | None = None,
       max_iterations: Annotated[int, Range(1, 10000)] = 200) -> Dataset:
    """Total-variation denoising of every frame (smooths noise, keeps sharp edges).

    Uses scikit-image's :func:`~skimage.restoration.denoise_tv_chambolle` or
    :func:`~skimage.restoration.denoise_tv_bregman` (isotropic) on the frame in data units;
    ``weight`` is scaled by the noise σ so that it means the same for any intensity scale
    (Chambolle's weight ``weight·σ``, Bregman's fidelity ``1 / (2·weight·σ)``, which gives
    about the same smoothing). On the GPU, Chambolle's algorithm runs there
    (:func:`tv_chambolle_xp`, same result to rounding); split Bregman copies each frame to the
    CPU and back.

    Parameters
    ----------
    dataset : Dataset
        Image, stack, spectrum or spectrum image (1-D frames work with ``"chambolle"``).
    weight : float
        Regularisation strength in units of σ; larger gives flatter regions.
    method : {"chambolle", "bregman"}
        Chambolle's projection algorithm or split Bregman.
    sigma : float, optional
        Noise standard deviation in data units; default: estimated per frame.
    max_iterations : int
        Iteration limit.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    if method == "bregman" and dataset.signal_dims != 2:
        raise ParameterError("denoise.tv: method 'bregman' works on images only; use "
                             "'chambolle' for spectra")
    if dataset.signal_dims == 0:
        raise ParameterError("denoise.tv needs signal axes")
    _check_sigma(sigma, "denoise.tv")
    out_dtype = _float_dtype(dataset)

    def frame(f, split):  # noqa: ANN001, ANN202, ARG001
        import numpy as np
        from skimage.restoration import denoise_tv_bregman, denoise_tv_chambolle

        f = np.asarray(f, dtype=np.float64)
        s = _frame_sigma(f, sigma)
        if s == 0 or weight == 0:
            return f.astype(out_dtype)
        if method == "chambolle":
            r = denoise_tv_chambolle(f, weight=weight * s, max_num_iter=max_iterations)
        else:
            # in units of σ, so that the stopping tolerance (an RMS change) is scale-free
            r = s * denoise_tv_bregman(f / s, weight=1.0 / (2.0 * weight),
                                       max_num_iter=max_iterations)
        return r.astype(out_dtype)

    def gpu_frame(f):  # noqa: ANN001, ANN202
        from micrographia.backend import array_namespace

        xp = array_namespace(f)
        f = f.astype(xp.float64)
        s = _frame_sigma(f, sigma)
        if s == 0 or weight == 0:
            return f.astype(out_dtype)
        if method != "chambolle":  # split Bregman runs on the CPU (scikit-image)
            return xp.asarray(frame(f.get(), True))
        return tv_chambolle_xp(f, weight * s, max_num_iter=max_iterations).astype(out_dtype)

    return _run_frames(dataset, frame, "Total variation", f"TV {method} w={weight:g}σ",
                       gpu_frame)


def wavelet(dataset: Dataset, *,
            method: Literal["BayesShrink", "VisuShrink"] = "BayesShrink",
            wavelet: Literal["db1", "db2", "db4", "sym4", "sym8", "coif1", "bior2.2"] = "db2",
            mode: Literal["soft", "hard"] = "soft",
            levels: Annotated[int, Range(0, 12)] = 0,
            sigma: Annotated[float, Range(0.0, None)] | None = None) -> Dataset:
    """Wavelet-shrinkage denoising of every frame.

    scikit-image's :func:`~skimage.restoration.denoise_wavelet` (PyWavelets): detail
    coefficients are thresholded per sub-band (BayesShrink) or with the universal threshold
    σ·√(2 ln N) (VisuShrink), then the frame is reconstructed.

    Parameters
    ----------
    dataset : Dataset
        Image, stack, spectrum or spectrum image.
    method : {"BayesShrink", "VisuShrink"}
        Threshold rule: adaptive per sub-band, or one universal threshold (smoother).
    wavelet : str
        Wavelet family member (PyWavelets name).
    mode : {"soft", "hard"}
        Soft (shrink) or hard (keep or kill) thresholding.
    levels : int
        Number of decomposition levels; 0 chooses the largest useful number minus 3, as
        scikit-image does.
    sigma : float, optional
        Noise standard deviation in data units; default: estimated per frame.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    if dataset.signal_dims == 0:
        raise ParameterError("denoise.wavelet needs signal axes")
    _check_sigma(sigma, "denoise.wavelet")
    try:
        import pywt  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ParameterError("denoise.wavelet needs PyWavelets (pip install PyWavelets)") \
            from exc
    out_dtype = _float_dtype(dataset)

    def frame(f, split):  # noqa: ANN001, ANN202, ARG001
        import numpy as np
        from skimage.restoration import denoise_wavelet

        # in the output's precision (float32 unless the data are float64), as scikit-image
        # works on float32 input; integers are converted here, so never rescaled to [0, 1]
        f = np.asarray(f, dtype=out_dtype)
        s = _frame_sigma(f, sigma)
        if s == 0:
            return f.astype(out_dtype)
        r = denoise_wavelet(f, sigma=s, wavelet=wavelet, mode=mode,
                            wavelet_levels=levels or None, method=method,
                            rescale_sigma=True)
        return r.astype(out_dtype)

    return _run_frames(dataset, frame, "Wavelet denoising", f"wavelet {method}")


def bilateral_frame(f: Any, *, sigma_color: float, sigma_spatial: float,
                    parallel: bool = True, tiles: int | None = None) -> Any:
    """Bilateral filter of one 2-D numpy frame, split into row tiles filtered in parallel.

    scikit-image's :func:`~skimage.restoration.denoise_bilateral` (``mode="reflect"``) on the
    frame shifted to non-negative values (scikit-image's own shift of negative data keeps its
    colour look-up table scaled for the unshifted range). Its colour table depends on the
    frame's maximum, so every tile that does not reach the frame's bottom gets one extra row
    of that maximum below its halo (the halo is the window's radius, so the extra row lies
    outside every kept pixel's window; the top is used for the last tile): each tile then
    computes exactly what the whole-frame call computes for its pixels, bit for bit.

    Parameters
    ----------
    f : numpy.ndarray
        2-D frame.
    sigma_color : float
        Intensity standard deviation (data units, > 0).
    sigma_spatial : float
        Spatial standard deviation (px).
    parallel : bool
        Run the tiles in parallel threads (False: one after the other).
    tiles : int, optional
        Number of row tiles (default: from the frame's height; 1 is the whole-frame call).

    Returns
    -------
    numpy.ndarray
        float64 frame.
    """
    import math

    import numpy as np
    from skimage.restoration import denoise_bilateral

    from micrographia.frames import parallel_bands

    f = np.asarray(f, dtype=np.float64)
    low = min(float(f.min()), 0.0)
    g = f - low if low else np.array(f, copy=True)  # writable: skimage's Cython needs it
    kw = dict(sigma_color=sigma_color, sigma_spatial=sigma_spatial, mode="reflect")
    n, m = g.shape
    ext = max(5, 2 * int(math.ceil(3 * sigma_spatial)) + 1) // 2
    top = float(g.max())
    edges = _tile_edges(n, ext) if tiles is None else [n * i // tiles for i in range(tiles + 1)]
    if len(edges) <= 2 or top == float(g.min()):
        r = denoise_bilateral(g, **kw)
        return r + low if low else r
    out = np.empty_like(g)
    cap = np.full((1, m), top)

    def run_tiles(t0: int, t1: int) -> None:
        for t in range(t0, t1):
            a, b = edges[t], edges[t + 1]
            lo, hi = max(0, a - ext), min(n, b + ext)
            off = 0
            if hi < n:
                block = np.concatenate([g[lo:hi], cap])
            elif lo > 0:
                block, off = np.concatenate([cap, g[lo:hi]]), 1
            else:
                block = g[lo:hi]
            out[a:b] = denoise_bilateral(block, **kw)[off + a - lo:off + b - lo]

    if parallel:
        parallel_bands(run_tiles, len(edges) - 1)
    else:
        run_tiles(0, len(edges) - 1)
    return out + low if low else out


def bilateral(dataset: Dataset, *,
              sigma_spatial: Annotated[float, Range(0.1, 100.0), Units("px")] = 1.5,
              sigma_color: Annotated[float, Range(0.0, None)] | None = None,
              sigma: Annotated[float, Range(0.0, None)] | None = None) -> Dataset:
    """Bilateral filter of every image: a Gaussian blur that does not average across edges.

    scikit-image's :func:`~skimage.restoration.denoise_bilateral` with mirror-reflected edges;
    neighbours are weighted by their distance (``sigma_spatial``) and by their intensity
    difference (``sigma_color``). Large frames are split into row tiles filtered on all cores,
    bit-identical to the whole-frame call (:func:`bilateral_frame`).

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with two signal axes.
    sigma_spatial : float
        Standard deviation of the spatial Gaussian (px); the window is ±3 of it.
    sigma_color : float, optional
        Standard deviation of the intensity Gaussian in data units; default (auto) 2·σ of the
        frame's noise, so that noise is averaged and steps larger than a few σ are kept.
    sigma : float, optional
        Noise standard deviation for the automatic ``sigma_color``; default: estimated per
        frame.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    _need_images(dataset, "denoise.bilateral")
    _check_sigma(sigma, "denoise.bilateral")
    if sigma_color is not None and sigma_color <= 0:
        raise ParameterError(f"denoise.bilateral: sigma_color must be positive (or None for "
                             f"auto); got {sigma_color!r}")
    out_dtype = _float_dtype(dataset)

    def frame(f, split):  # noqa: ANN001, ANN202
        import numpy as np

        f = np.asarray(f, dtype=np.float64)
        sc = sigma_color if sigma_color is not None else 2.0 * _frame_sigma(f, sigma)
        if sc == 0:
            return f.astype(out_dtype)
        return bilateral_frame(f, sigma_color=sc, sigma_spatial=sigma_spatial,
                               parallel=split).astype(out_dtype)

    return _run_frames(dataset, frame, "Bilateral filter", f"bilateral σs={sigma_spatial:g}")


def _bm3d_installed() -> bool:
    """Whether the optional ``bm3d`` package can be imported (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("bm3d") is not None
    except (ImportError, ValueError):
        return False


def bm3d_frame(f: Any, *, sigma: float | None, stage: str = "both") -> Any:
    """BM3D of one 2-D numpy frame with the ``bm3d`` package, single-threaded and reproducible.

    The frame is rescaled to the range [0, 1] (and σ with it) before the call and back after
    it, so the result does not depend on the data's units. The package's own thread pool is
    not used (``num_threads=1``): with more threads its result changes slightly from call to
    call, and two of its multi-threaded calls running at once abort the process; single-
    threaded calls may run in parallel threads (frames of a stack).

    Parameters
    ----------
    f : numpy.ndarray
        2-D frame.
    sigma : float or None
        Noise standard deviation in data units (None: :func:`estimate_sigma`).
    stage : {"both", "hard_thresholding"}
        Both BM3D stages (hard thresholding, then Wiener filtering), or the first only (about
        twice as fast, slightly less effective).

    Returns
    -------
    numpy.ndarray
        float64 frame.
    """
    import numpy as np

    try:
        import bm3d as _bm3d
    except ImportError as exc:
        raise OperationError("denoise.bm3d needs the optional package `bm3d`: "
                             "pip install 'micrographia[bm3d]'") from exc
    f = np.asarray(f, dtype=np.float64)
    s = _frame_sigma(f, sigma)
    low, span = float(f.min()), float(np.ptp(f))
    if s == 0 or span == 0:
        return f.copy()
    profile = _bm3d.BM3DProfile()
    profile.num_threads = 1
    stages = (_bm3d.BM3DStages.ALL_STAGES if stage == "both"
              else _bm3d.BM3DStages.HARD_THRESHOLDING)
    g = np.ascontiguousarray((f - low) / span)
    r = _bm3d.bm3d(g, s / span, profile=profile, stage_arg=stages)
    return np.asarray(r, dtype=np.float64).reshape(f.shape) * span + low


def bm3d(dataset: Dataset, *,
         sigma: Annotated[float, Range(0.0, None)] | None = None,
         stage: Literal["both", "hard_thresholding"] = "both") -> Dataset:
    """BM3D denoising of every image (block matching and 3-D collaborative filtering).

    Similar patches are grouped into 3-D stacks, transformed, shrunk (hard thresholding,
    then empirical Wiener filtering) and put back (Dabov et al. 2007), with the reference
    implementation of the optional ``bm3d`` package (Mäkinen, Azzari & Foi). Usually the
    best of the denoisers here for additive white noise, and the slowest (seconds per
    512² frame). Each frame is rescaled to [0, 1] for the call, so any units work; the frames
    of an in-memory stack run in parallel threads, a single frame on one core.

    The ``bm3d`` package (with its compiled ``bm4d`` library) is licensed by Tampere
    University for non-commercial use only; it is an optional extra
    (``pip install 'micrographia[bm3d]'``), never installed or bundled by default, and without
    it this operation is not registered (no menu entry).

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with two signal axes.
    sigma : float, optional
        Noise standard deviation in data units; default: estimated per frame
        (:func:`estimate_sigma`, as for :func:`nl_means`).
    stage : {"both", "hard_thresholding"}
        Run both BM3D stages, or only the first (faster, slightly less effective).

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.

    Raises
    ------
    OperationError
        If the ``bm3d`` package is not installed (``pip install 'micrographia[bm3d]'``).
    """
    _need_images(dataset, "denoise.bm3d")
    _check_sigma(sigma, "denoise.bm3d")
    if stage not in ("both", "hard_thresholding"):
        raise ParameterError(f"denoise.bm3d: stage must be 'both' or 'hard_thresholding', "
                             f"got {stage!r}")
    if not _bm3d_installed():
        raise OperationError("denoise.bm3d needs the optional package `bm3d`: "
                             "pip install 'micrographia[bm3d]'")
    out_dtype = _float_dtype(dataset)

    def frame(f, split):  # noqa: ANN001, ANN202, ARG001
        return bm3d_frame(f, sigma=sigma, stage=stage).astype(out_dtype)

    return _run_frames(dataset, frame, "BM3D", "BM3D")


def _gavish_donoho_rank(s: Any, shape: tuple[int, int], noise: float | None) -> int:
    """Count the singular values above Gavish & Donoho's optimal hard threshold."""
    import numpy as np

    m, n = sorted(shape)
    beta = m / n
    if noise is not None:  # known noise level (Poisson-weighted data: unit variance)
        lam = np.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + np.sqrt(beta**2 + 14 * beta + 1)))
        tau = lam * np.sqrt(n) * noise
    else:  # unknown noise: scale the median singular value
        omega = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
        tau = omega * float(np.median(s))
    return int(np.count_nonzero(s > tau))


def pca(dataset: Dataset, *,
        n_components: Annotated[int, Range(0, None)] = 0,
        poisson_weighting: bool = False) -> tuple[Dataset, Table]:
    """Denoise a stack or spectrum image by keeping its main principal components.

    The data are unfolded into a matrix (navigation positions × signal values), optionally
    weighted for Poisson noise (Keenan & Kotula 2004: divided by √(row mean · column mean) so
    that counting noise has unit variance everywhere), decomposed by SVD (not mean-centred),
    truncated to N components and unfolded back (weights undone).

    With ``n_components=0`` N is chosen automatically by Gavish & Donoho's optimal hard
    threshold (2014) on the singular values: with Poisson weighting the noise level is known
    (1), giving ``λ*(β)·√n``; otherwise it is ``ω(β)·median(singular values)``, with β the
    matrix's aspect ratio. Both sit just above the Marchenko–Pastur edge of pure noise.

    Data on the GPU are weighted, decomposed (``cupy.linalg.svd``) and reconstructed there;
    the reconstruction does not depend on the signs the SVD gives its singular vectors.

    Parameters
    ----------
    dataset : Dataset
        Stack, spectrum image, 4D-STEM or any dataset with navigation and signal axes; lazy data
        are loaded into memory.
    n_components : int
        Number of components kept; 0 chooses automatically.
    poisson_weighting : bool
        Weight for Poisson (counting) noise, for raw counts.

    Returns
    -------
    Dataset
        Denoised data, float32 (float64 if the input is float64), same axes.
    Table
        Scree table: ``component`` (1, 2 …), ``explained_variance`` (squared singular value /
        number of navigation positions, of the weighted data with ``poisson_weighting``) and
        ``explained_variance_ratio`` (fraction of the total, summing to 1 over all
        components), one row per component (at most 500); metadata ``n_components`` gives
        the number kept.
    """
    import numpy as np

    from micrographia.backend import array_namespace, is_gpu_array, to_numpy
    from micrographia.tasks import report_progress

    if not dataset.nav_axes or dataset.signal_dims == 0:
        raise ParameterError(f"denoise.pca needs navigation and signal axes (a stack or a "
                             f"spectrum image), not {dataset.kind} data")
    out_dtype = _float_dtype(dataset)
    data = dataset.data
    if dataset.is_lazy:
        data = data.compute()
    shape = (int(np.prod(dataset.nav_shape)), int(np.prod(dataset.sig_shape)))
    if is_gpu_array(data):  # decomposed on the GPU; only the singular values come back
        xp = array_namespace(data)
        x = data.astype(xp.float64).reshape(shape)
    else:
        xp = np
        x = np.asarray(to_numpy(data), dtype=np.float64).reshape(shape)
    n_nav, n_sig = x.shape
    if n_components > min(n_nav, n_sig):
        raise ParameterError(f"denoise.pca: n_components must be at most {min(n_nav, n_sig)} "
                             f"for data with {n_nav} positions × {n_sig} values; "
                             f"got {n_components}")
    if poisson_weighting:
        if float(xp.nanmin(x)) < 0:
            raise ParameterError("denoise.pca: poisson_weighting needs non-negative counts")
        row = x.mean(axis=1, keepdims=True)
        col = x.mean(axis=0, keepdims=True)
        w = xp.sqrt(row * col / max(float(x.mean()), np.finfo(float).tiny))
        w[w == 0] = 1.0
        x = x / w
    report_progress(0.1, "PCA: SVD")
    u, s_dev, vt = xp.linalg.svd(x, full_matrices=False)
    s = to_numpy(s_dev)
    report_progress(0.8, "PCA: reconstruction")
    k = n_components or max(1, _gavish_donoho_rank(s, x.shape,
                                                    1.0 if poisson_weighting else None))
    rec = (u[:, :k] * s_dev[:k]) @ vt[:k]
    if poisson_weighting:
        rec *= w
    out = rec.reshape(dataset.shape).astype(out_dtype)
    denoised = dataset.replace(data=out, title=f"{dataset.title} PCA {k} components".strip())
    ev = s**2
    total = ev.sum()
    m = min(len(s), 500)
    ratio = ev[:m] / total if total > 0 else np.zeros(m)
    scree = Table({"component": np.arange(1, m + 1),
                   "explained_variance": ev[:m] / n_nav,
                   "explained_variance_ratio": ratio},
                  title=f"{dataset.title} PCA scree".strip(),
                  metadata={"n_components": k, "poisson_weighting": poisson_weighting})
    report_progress(1.0, "PCA")
    return denoised, scree


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    img, num = ("signal2d",), "iuf"
    registry.add(nl_means, id="denoise.nl_means", title="Non-local means…",
                 menu="Process/Denoise", kinds=img, dtypes=num, gpu=True)
    registry.add(tv, id="denoise.tv", title="Total variation…", menu="Process/Denoise",
                 dtypes=num, gpu=True)
    registry.add(wavelet, id="denoise.wavelet", title="Wavelet…", menu="Process/Denoise",
                 cheap=True, dtypes=num)
    registry.add(bilateral, id="denoise.bilateral", title="Bilateral…", menu="Process/Denoise",
                 kinds=img, dtypes=num)
    if _bm3d_installed():  # an optional package: no menu entry without it
        registry.add(bm3d, id="denoise.bm3d", title="BM3D…", menu="Process/Denoise",
                     kinds=img, dtypes=num)
    registry.add(pca, id="denoise.pca", title="PCA…", menu="Process/Denoise", dtypes=num,
                 kinds=("stack", "signal1d_stack", "spectrum_image", "4d", "image_series"),
                 gpu=True)
