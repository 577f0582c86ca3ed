"""Built-in plugin: spatial filters (``filters.*``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Units, hookimpl


def gaussian(dataset: Dataset, *, sigma: Annotated[float, Range(0.0, 1000.0), Units("px")] = 1.0,
             units: Literal["px", "calibrated"] = "px") -> Dataset:
    """Gaussian blur of every frame (signal axes only).

    Each frame is filtered separately (navigation axes are never mixed), with mirror-reflected
    edges (``scipy.ndimage``'s ``"reflect"`` mode) and a kernel truncated at 4 σ. Lazy data stays
    lazy; data on the GPU is filtered there with ``cupyx.scipy.ndimage``.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    sigma : float
        Standard deviation of the Gaussian.
    units : {"px", "calibrated"}
        Whether ``sigma`` is in pixels or in the signal axes' calibrated units (then divided by
        each axis' scale).

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    import numpy as np

    from micrographia.frames import map_frames, parallel_bands

    out_dtype = np.float64 if dataset.dtype == np.float64 else np.float32
    sig = tuple(sigma / abs(a.scale) if units == "calibrated" else sigma
                for a in dataset.sig_axes)
    gpu, ndimage = _backend(dataset)

    def frame(f):  # noqa: ANN001, ANN202
        f = f.astype(out_dtype, copy=False)
        if gpu or f.ndim == 0:
            return ndimage.gaussian_filter(f, sig, mode="reflect")
        # Split the frame into row bands filtered in parallel threads; each band reads a halo
        # of the kernel's radius, so the result is identical to filtering the frame at once.
        out = np.empty(f.shape, out_dtype)
        n, radius = f.shape[0], int(4.0 * sig[0] + 0.5)

        def band(a: int, b: int) -> None:
            lo, hi = max(0, a - radius), min(n, b + radius)
            res = ndimage.gaussian_filter(f[lo:hi], sig, mode="reflect")
            out[a:b] = res[a - lo:a - lo + (b - a)]

        parallel_bands(band, n, size=f.size)
        return out

    if not sig or sigma == 0:
        out = dataset.data.astype(out_dtype)
    else:
        out = map_frames(frame, dataset.data, signal_ndim=dataset.signal_dims,
                         out_dtype=out_dtype, message="Gaussian blur")
    return dataset.replace(data=out, title=f"{dataset.title} gaussian σ={sigma:g}".strip())


# -- shared helpers ---------------------------------------------------------------------------
def _backend(dataset: Dataset) -> tuple[bool, Any]:
    """Return ``(on_gpu, ndimage module)`` for a dataset (cupyx.scipy.ndimage on the GPU)."""
    from micrographia.backend import ndimage_namespace

    ndimage = ndimage_namespace(dataset)
    return ndimage.__name__.startswith("cupyx"), ndimage


def _float_dtype(dataset: Dataset) -> Any:
    import numpy as np

    return np.float64 if dataset.dtype == np.float64 else np.float32


def _need_signal(dataset: Dataset, op: str, ndim: int | None = None) -> None:
    if dataset.signal_dims == 0 or (ndim is not None and dataset.signal_dims != ndim):
        want = "signal axes" if ndim is None else f"{ndim} signal axes"
        raise ParameterError(f"{op} needs a dataset with {want}; "
                             f"{dataset.title or 'this dataset'} has {dataset.signal_dims}")


def _per_frame(dataset: Dataset, func: Any, out_dtype: Any, message: str, title: str,
               halo: int | None = None) -> Dataset:
    """Map ``func`` over the frames (signal axes) and return the dataset with the result.

    With ``halo`` (the filter's reach in rows), a large numpy frame is split into row bands
    filtered in parallel threads, each reading ``halo`` extra rows on both sides, so the result
    is identical to filtering the frame at once.
    """
    import numpy as np

    from micrographia.frames import parallel_bands

    gpu, _ = _backend(dataset)
    work = func
    if halo is not None and not gpu and dataset.signal_dims >= 2:
        def work(f):  # noqa: ANN001, ANN202
            n = f.shape[0]
            out = np.empty(f.shape, out_dtype)

            def band(a: int, b: int) -> None:
                lo, hi = max(0, a - halo), min(n, b + halo)
                out[a:b] = func(f[lo:hi])[a - lo:a - lo + (b - a)]

            parallel_bands(band, n, size=f.size)
            return out

    out = map_frames_parallel(work, dataset.data, signal_ndim=dataset.signal_dims,
                              out_dtype=out_dtype, message=message)
    return dataset.replace(data=out, title=f"{dataset.title} {title}".strip())


def map_frames_parallel(func: Any, data: Any, *, signal_ndim: int, out_dtype: Any,
                        out_sig_shape: Any = None, message: str = "") -> Any:
    """:func:`micrographia.frames.map_frames`, with small in-memory frames run in parallel.

    Frames too small to be split into row bands (about 130 000 elements) are handed out to
    :func:`~micrographia.frames.parallel_bands` threads a few at a time, so a stack of small
    images uses every core; cancellation is checked and progress reported between groups, in
    the calling thread. Lazy, GPU and single-frame data go to ``map_frames`` unchanged.

    Parameters
    ----------
    func : callable
        Per-frame function.
    data : array
        numpy, dask or cupy data.
    signal_ndim : int
        Number of signal axes.
    out_dtype : dtype
        Result dtype.
    out_sig_shape : tuple of int, optional
        Shape of each output frame (default: unchanged).
    message : str
        Progress message.

    Returns
    -------
    array
        The result, like ``map_frames``.
    """
    import numpy as np

    from micrographia.frames import _MIN_BAND_WORK, cpu_workers, map_frames, parallel_bands
    from micrographia.tasks import check_cancelled, report_progress

    nav = tuple(data.shape[:data.ndim - signal_ndim])
    sig = tuple(data.shape[data.ndim - signal_ndim:])
    n = int(np.prod(nav, dtype=np.int64)) if nav else 0
    workers = cpu_workers()
    out_sig = sig if out_sig_shape is None else tuple(int(v) for v in out_sig_shape)
    # Frames (input or output) big enough to be split into row bands by ``func`` itself are
    # not also run in parallel here: the two would wait on the same thread pool.
    if (not isinstance(data, np.ndarray) or n < 2 or workers < 2
            or int(np.prod(sig, dtype=np.int64)) >= _MIN_BAND_WORK
            or int(np.prod(out_sig, dtype=np.int64)) >= _MIN_BAND_WORK):
        return map_frames(func, data, signal_ndim=signal_ndim, out_dtype=out_dtype,
                          out_sig_shape=out_sig_shape, message=message)
    flat = data.reshape((n,) + sig)
    out = np.empty((n,) + out_sig, dtype=out_dtype)
    group = 4 * workers
    for start in range(0, n, group):
        check_cancelled()
        stop = min(n, start + group)

        def run(a: int, b: int, start: int = start) -> None:
            for i in range(start + a, start + b):
                out[i] = func(flat[i])

        parallel_bands(run, stop - start, workers=workers)
        report_progress(stop / n, message)
    return out.reshape(nav + out_sig)


def median3x3(f: Any) -> Any:
    """3×3 median of a 2-D numpy array with mirror-reflected edges, from 18 minimum/maximum.

    Equals ``scipy.ndimage.median_filter(f, size=3, mode="reflect")`` exactly for integer and
    NaN-free float data: each column's three vertical neighbours are sorted (low, middle,
    high), and the median of the 3×3 window is the median of the largest of the three lows,
    the median of the three middles and the smallest of the three highs (the classic exact
    decomposition of the 3×3 median). Whole-array ``numpy.minimum``/``maximum`` calls are
    vectorised, many times faster than a general rank filter.

    Parameters
    ----------
    f : numpy.ndarray
        2-D integer or float array without NaN.

    Returns
    -------
    numpy.ndarray
        The filtered array, same dtype.
    """
    import numpy as np

    g = np.pad(f, 1, mode="symmetric")  # scipy's "reflect" is numpy's "symmetric"
    mn, mx = np.minimum, np.maximum
    a, b, c = g[:-2], g[1:-1], g[2:]
    lo1, hi1 = mn(a, b), mx(a, b)
    lo, t = mn(lo1, c), mx(lo1, c)
    mid, hi = mn(hi1, t), mx(hi1, t)

    def med3(x: Any, y: Any, z: Any) -> Any:
        m = mn(x, y)
        mx(x, y, out=x)
        mn(x, z, out=x)
        return mx(m, x, out=m)

    big = mx(mx(lo[:, :-2], lo[:, 1:-1]), lo[:, 2:])
    small = mn(mn(hi[:, :-2], hi[:, 1:-1]), hi[:, 2:])
    middle = med3(np.array(mid[:, :-2]), mid[:, 1:-1], mid[:, 2:])
    return med3(big, middle, small)


def _rank(dataset: Dataset, size: int, which: str, op: str) -> Dataset:
    _need_signal(dataset, op)
    if size < 1:
        raise ParameterError(f"{op}: size must be at least 1 px, got {size}")
    import numpy as np

    gpu, ndi = _backend(dataset)
    func = {"median": ndi.median_filter, "minimum": ndi.minimum_filter,
            "maximum": ndi.maximum_filter}[which]
    fast = (which == "median" and size == 3 and not gpu and dataset.signal_dims == 2
            and dataset.dtype.kind in "iuf")

    def frame(f):  # noqa: ANN001, ANN202
        if fast and (f.dtype.kind != "f" or not np.isnan(f).any()):
            return median3x3(f)
        return func(f, size=size, mode="reflect")

    return _per_frame(dataset, frame, dataset.dtype, f"{which} filter", f"{which} {size}px",
                      halo=size // 2 + 1)


def median(dataset: Dataset, *, size: Annotated[int, Range(1, 255), Units("px")] = 3) -> Dataset:
    """Median filter of every frame over a square (cube) window of ``size`` pixels.

    Identical to ``scipy.ndimage.median_filter(frame, size, mode="reflect")`` (and to
    ``skimage.filters.median`` with a square footprint and ``mode="reflect"``): mirror-reflected
    edges, frames filtered separately, lazy data stays lazy, GPU data is filtered with
    ``cupyx.scipy.ndimage``.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    size : int
        Width of the window in pixels along every signal axis.

    Returns
    -------
    Dataset
        Same dtype and axes as the input.
    """
    return _rank(dataset, size, "median", "filters.median")


def minimum(dataset: Dataset, *, size: Annotated[int, Range(1, 255), Units("px")] = 3) -> Dataset:
    """Minimum (grey erosion) filter of every frame over a square window of ``size`` pixels.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    size : int
        Width of the window in pixels along every signal axis.

    Returns
    -------
    Dataset
        Same dtype and axes as the input.
    """
    return _rank(dataset, size, "minimum", "filters.minimum")


def maximum(dataset: Dataset, *, size: Annotated[int, Range(1, 255), Units("px")] = 3) -> Dataset:
    """Maximum (grey dilation) filter of every frame over a square window of ``size`` pixels.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    size : int
        Width of the window in pixels along every signal axis.

    Returns
    -------
    Dataset
        Same dtype and axes as the input.
    """
    return _rank(dataset, size, "maximum", "filters.maximum")


def mean(dataset: Dataset, *, size: Annotated[int, Range(1, 255), Units("px")] = 3) -> Dataset:
    """Mean (uniform, box) filter of every frame over a square window of ``size`` pixels.

    Equals ``scipy.ndimage.uniform_filter`` of the frame converted to floating point, with
    mirror-reflected edges.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    size : int
        Width of the window in pixels along every signal axis.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    _need_signal(dataset, "filters.mean")
    if size < 1:
        raise ParameterError(f"filters.mean: size must be at least 1 px, got {size}")
    _, ndi = _backend(dataset)
    dt = _float_dtype(dataset)

    def frame(f):  # noqa: ANN001, ANN202
        return ndi.uniform_filter(f.astype(dt, copy=False), size=size, mode="reflect")

    return _per_frame(dataset, frame, dt, "Mean filter", f"mean {size}px", halo=size // 2 + 1)


def unsharp_mask(dataset: Dataset, *,
                 radius: Annotated[float, Range(0.0, 1000.0), Units("px")] = 2.0,
                 amount: Annotated[float, Range(0.0, 100.0), Step(0.1)] = 1.0) -> Dataset:
    """Sharpen every frame: ``f + amount * (f - gaussian(f, radius))``.

    The formula of ``skimage.filters.unsharp_mask(f, radius, amount, preserve_range=True)``
    (Gaussian with mirror-reflected edges, truncated at 4 σ), without clipping or rescaling.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    radius : float
        Standard deviation of the Gaussian blur, in pixels.
    amount : float
        Strength of the sharpening (0 returns the input as floating point).

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    _need_signal(dataset, "filters.unsharp_mask")
    _, ndi = _backend(dataset)
    dt = _float_dtype(dataset)

    def frame(f):  # noqa: ANN001, ANN202
        f = f.astype(dt, copy=False)
        if radius == 0:
            return f.copy()
        blur = ndi.gaussian_filter(f, radius, mode="reflect")
        blur -= f
        blur *= dt(-amount)  # amount * (f - blur)
        blur += f
        return blur

    return _per_frame(dataset, frame, dt, "Unsharp mask", f"unsharp r={radius:g} a={amount:g}",
                      halo=int(4.0 * radius + 0.5) + 1)


_EDGE_SMOOTH = {"sobel": (1.0, 2.0, 1.0), "prewitt": (1.0, 1.0, 1.0), "scharr": (3.0, 10.0, 3.0)}


def edges(dataset: Dataset, *,
          method: Literal["sobel", "prewitt", "scharr"] = "sobel") -> Dataset:
    """Gradient magnitude of every image with the Sobel, Prewitt or Scharr operator.

    The same numbers as ``skimage.filters.sobel`` / ``prewitt`` / ``scharr``: along each axis
    the derivative kernel ``[1, 0, -1]`` is combined with the normalised smoothing kernel
    (``[1, 2, 1] / 4``, ``[1, 1, 1] / 3``, ``[3, 10, 3] / 16``) across the other axis, edges
    mirror-reflected, and the magnitude is ``sqrt((g_y**2 + g_x**2) / 2)``.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    method : {"sobel", "prewitt", "scharr"}
        Gradient operator.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64) gradient magnitude, same axes.
    """
    import numpy as np

    _need_signal(dataset, "filters.edges", 2)
    gpu, ndi = _backend(dataset)
    dt = _float_dtype(dataset)
    s = np.asarray(_EDGE_SMOOTH[method])
    s = s / s.sum()
    d = np.array([1.0, 0.0, -1.0])
    if gpu:
        import cupy

        s, d = cupy.asarray(s), cupy.asarray(d)

    def frame(f):  # noqa: ANN001, ANN202
        f = f.astype(dt, copy=False)
        gy = ndi.correlate1d(ndi.correlate1d(f, d, axis=0, mode="reflect"), s, axis=1,
                             mode="reflect")
        gx = ndi.correlate1d(ndi.correlate1d(f, d, axis=1, mode="reflect"), s, axis=0,
                             mode="reflect")
        gy *= gy
        gx *= gx
        gy += gx
        gy *= dt(0.5)
        return (gy ** 0.5).astype(dt, copy=False)

    return _per_frame(dataset, frame, dt, "Edges", method, halo=2)


def log(dataset: Dataset, *,
        sigma: Annotated[float, Range(0.1, 1000.0), Units("px")] = 2.0) -> Dataset:
    """Laplacian of Gaussian of every frame (``scipy.ndimage.gaussian_laplace``).

    Bright blobs of radius about ``sigma * sqrt(2)`` give strong negative responses; multiply by
    ``-sigma**2`` for the scale-normalised blob detector.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    sigma : float
        Standard deviation of the Gaussian, in pixels.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    _need_signal(dataset, "filters.log")
    _, ndi = _backend(dataset)
    dt = _float_dtype(dataset)

    def frame(f):  # noqa: ANN001, ANN202
        return ndi.gaussian_laplace(f.astype(dt, copy=False), sigma, mode="reflect")

    return _per_frame(dataset, frame, dt, "Laplacian of Gaussian", f"LoG σ={sigma:g}",
                      halo=int(4.0 * sigma + 0.5) + 2)


def dog(dataset: Dataset, *,
        sigma_low: Annotated[float, Range(0.0, 1000.0), Units("px")] = 1.0,
        sigma_high: Annotated[float, Range(0.0, 1000.0), Units("px")] = 4.0) -> Dataset:
    """Difference of Gaussians: ``gaussian(f, sigma_low) - gaussian(f, sigma_high)``.

    A band-pass filter (``skimage.filters.difference_of_gaussians(f, sigma_low, sigma_high,
    mode="reflect")``): keeps structures between about ``sigma_low`` and ``sigma_high``.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    sigma_low : float
        Standard deviation of the smaller Gaussian, in pixels (0: no smoothing).
    sigma_high : float
        Standard deviation of the larger Gaussian, in pixels; must exceed ``sigma_low``.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    _need_signal(dataset, "filters.dog")
    if sigma_high <= sigma_low:
        raise ParameterError(f"filters.dog: sigma_high ({sigma_high:g}) must be larger than "
                             f"sigma_low ({sigma_low:g})")
    _, ndi = _backend(dataset)
    dt = _float_dtype(dataset)

    def frame(f):  # noqa: ANN001, ANN202
        f = f.astype(dt, copy=False)
        lo = ndi.gaussian_filter(f, sigma_low, mode="reflect") if sigma_low > 0 else f.copy()
        lo -= ndi.gaussian_filter(f, sigma_high, mode="reflect")
        return lo

    return _per_frame(dataset, frame, dt, "Difference of Gaussians",
                      f"DoG {sigma_low:g}-{sigma_high:g}", halo=int(4.0 * sigma_high + 0.5) + 1)


def convolve(dataset: Dataset, *,
             kernel: tuple[tuple[float, ...], ...] = ((0.0, -1.0, 0.0), (-1.0, 5.0, -1.0),
                                                      (0.0, -1.0, 0.0)),
             normalise: bool = False) -> Dataset:
    """Convolve every image with a custom kernel given as a nested list.

    True convolution (the kernel is flipped), as ``scipy.ndimage.convolve`` with
    mirror-reflected edges; the kernel's centre is element ``(rows // 2, columns // 2)``.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    kernel : list of list of float
        Rows of the kernel, e.g. ``[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]`` (the default
        sharpening kernel); all rows the same length.
    normalise : bool
        Divide the kernel by the sum of its elements (when that sum is not zero), so that a
        flat image keeps its value.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    import numpy as np

    _need_signal(dataset, "filters.convolve", 2)
    try:
        k = np.array(kernel, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError("filters.convolve: kernel must be a nested list of numbers with "
                             f"rows of equal length ({exc})") from None
    if k.ndim != 2 or k.size == 0:
        raise ParameterError(f"filters.convolve: kernel must be 2-D (a list of rows), got "
                             f"shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ParameterError("filters.convolve: kernel has non-finite values")
    if normalise and k.sum() != 0:
        k = k / k.sum()
    gpu, ndi = _backend(dataset)
    dt = _float_dtype(dataset)
    kk = k.astype(dt)
    if gpu:
        import cupy

        kk = cupy.asarray(kk)

    def frame(f):  # noqa: ANN001, ANN202
        return ndi.convolve(f.astype(dt, copy=False), kk, mode="reflect")

    return _per_frame(dataset, frame, dt, "Convolve", "convolved", halo=k.shape[0] // 2 + 1)


def _ball(radius: float) -> tuple[Any, Any]:
    """Footprint and (non-positive) height of a ball of ``radius`` px, centred at 0."""
    import numpy as np

    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    d2 = (yy * yy + xx * xx).astype(np.float64)
    foot = d2 <= radius * radius
    height = np.where(foot, np.sqrt(np.maximum(radius * radius - d2, 0.0)) - radius, 0.0)
    return foot, height


def background(dataset: Dataset, *,
               method: Literal["rolling_ball", "polynomial"] = "rolling_ball",
               radius: Annotated[float, Range(1.0, 1000.0), Units("px")] = 15.0,
               order: Annotated[int, Range(0, 6)] = 1,
               output: Literal["subtract", "background"] = "subtract") -> Dataset:
    """Estimate the slowly varying background of every image; subtract it or return it.

    ``"rolling_ball"``: the grey-scale opening of the image by a ball of ``radius`` pixels
    (intensity counted in the same units as pixels, the definition of Sternberg's rolling ball:
    the surface reached by the top of a ball rolled under the intensity landscape; its
    erosion step alone equals ``skimage.restoration.rolling_ball``, which returns the height of
    the ball's apex and so lies below the opening, never above the image).
    ``"polynomial"``: the least-squares 2-D polynomial of total degree ``order`` in x and y
    (``order=1`` is a tilted plane).

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes).
    method : {"rolling_ball", "polynomial"}
        Background model.
    radius : float
        Ball radius in pixels (rolling ball only); larger than the biggest feature to keep.
    order : int
        Polynomial degree (polynomial only).
    output : {"subtract", "background"}
        Return the image minus the background, or the background itself.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    import numpy as np

    _need_signal(dataset, "filters.background", 2)
    gpu, ndi = _backend(dataset)
    dt = _float_dtype(dataset)
    if method == "rolling_ball":
        foot, height = _ball(radius)
        if gpu:
            import cupy

            foot, height = cupy.asarray(foot), cupy.asarray(height)

        def bg(f):  # noqa: ANN001, ANN202
            return ndi.grey_opening(f, footprint=foot, structure=height, mode="reflect")
    else:
        ny, nx = dataset.sig_shape
        y = np.linspace(-1.0, 1.0, ny)
        x = np.linspace(-1.0, 1.0, nx)
        yy, xx = np.meshgrid(y, x, indexing="ij")
        terms = [(i, j) for i in range(order + 1) for j in range(order + 1 - i)]
        design = np.stack([(yy ** i * xx ** j).ravel() for i, j in terms], axis=1)
        pinv = np.linalg.pinv(design)  # (terms, pixels)
        if gpu:
            import cupy

            design, pinv = cupy.asarray(design), cupy.asarray(pinv)

        def bg(f):  # noqa: ANN001, ANN202
            coef = pinv @ f.ravel().astype(np.float64)
            return (design @ coef).reshape(f.shape)

    def frame(f):  # noqa: ANN001, ANN202
        f = f.astype(dt, copy=False)
        b = bg(f).astype(dt, copy=False)
        return b if output == "background" else f - b

    halo = 2 * int(math.ceil(radius)) + 2 if method == "rolling_ball" else None
    return _per_frame(dataset, frame, dt, "Background", f"background {method}", halo=halo)


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(gaussian, id="filters.gaussian", title="Gaussian blur…",
                 menu="Process/Filters", cheap=True, gpu=True)
    for func, id_, title in [
            (median, "filters.median", "Median…"), (mean, "filters.mean", "Mean…"),
            (minimum, "filters.minimum", "Minimum…"), (maximum, "filters.maximum", "Maximum…"),
            (unsharp_mask, "filters.unsharp_mask", "Unsharp mask…"),
            (log, "filters.log", "Laplacian of Gaussian…"),
            (dog, "filters.dog", "Difference of Gaussians…")]:
        registry.add(func, id=id_, title=title, menu="Process/Filters", cheap=True, gpu=True,
                     dtypes="buif")
    for func, id_, title, cheap in [
            (edges, "filters.edges", "Edges…", True),
            (convolve, "filters.convolve", "Convolve…", True),
            (background, "filters.background", "Subtract background…", False)]:
        registry.add(func, id=id_, title=title, menu="Process/Filters", cheap=cheap, gpu=True,
                     kinds=("signal2d",), dtypes="buif")
