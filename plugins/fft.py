"""Built-in plugin: Fourier transforms (``fft.*``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from micrographia import Dataset, ParameterError, Range, Step, Units, hookimpl


def _window_1d(xp: Any, n: int, kind: str, dtype: Any) -> Any:
    """Periodic (DFT-even) Hann or Hamming window of length ``n``."""
    if kind == "none" or n == 1:
        return xp.ones(n, dtype=dtype)
    c = xp.cos(2.0 * xp.pi * xp.arange(n, dtype=xp.float64) / n)
    w = 0.5 - 0.5 * c if kind == "hann" else 0.54 - 0.46 * c
    return w.astype(dtype)


def _power_half_to_centred(r: Any, ny: int, nx: int, log: bool, out: Any) -> None:
    """Write ``fftshift(|F|**2)`` (or its ``log(1 + .)``) of a real frame into ``out``.

    ``r`` is the frame's ``rfft2`` (numpy, C-contiguous, ``ny × (nx // 2 + 1)``). Row bands of
    ``r`` are processed in parallel threads, a few rows at a time so the intermediate stays in
    cache: each row's power (and log) is computed once and written twice, to its own place in
    the right half of the centred layout and, mirrored through the origin (Hermitian symmetry
    ``P(-k) = P(k)``), to the left half.
    """
    import numpy as np

    from micrographia.frames import parallel_bands

    cy, cx = ny // 2, nx // 2
    m = nx - cx  # columns kx = 0 .. m-1 go to the right half
    w = r.shape[1]
    rv = r.view(out.dtype).reshape(ny, 2 * w)  # re, im interleaved
    # source rows whose destination rows wrap around inside a chunk are split there
    cuts = sorted({0, ny, min(ny, cy + 1), ny - cy})
    chunk = max(8, min(64, (1 << 15) // max(w, 1)))

    def band(a: int, b: int) -> None:
        buf = np.empty((chunk, w), out.dtype)
        sq = np.empty((chunk, 2 * w), out.dtype)
        s = a
        while s < b:
            e = min(b, s + chunk, min(c for c in cuts if c > s))
            k = e - s
            p, t = buf[:k], sq[:k]
            np.square(rv[s:e], out=t)  # contiguous, then re² + im²: faster than strided
            np.add(t[:, 0::2], t[:, 1::2], out=p)
            if log:
                # log(1 + p), not log1p: numpy's float32 log1p is scalar code, 5x slower
                # than its vectorised log; p >= 0, so the difference is below resolution.
                p += 1
                np.log(p, out=p)
            o = (s + cy) % ny  # row of ky = s
            out[o:o + k, cx:] = p[:, :m]
            if cx:
                o = (cy - s) % ny  # row of ky = -s; later source rows go upwards
                out[o - k + 1:o + 1, :cx] = p[::-1, cx:0:-1]
            s = e

    parallel_bands(band, ny, size=ny * nx)


def centred_power(frame: Any, xp: Any = None, fft: Any = None, *, log: bool = False,
                  out: Any = None) -> Any:
    """Return ``fftshift(|fft2(frame)|**2)`` of a real 2-D frame, computed from a real FFT.

    Only half of the spectrum is transformed (``rfft2``); the other half follows from Hermitian
    symmetry, ``F(-k) = conj(F(k))``, so ``|F|**2`` is mirrored through the origin.

    Parameters
    ----------
    frame : array
        Real 2-D numpy or cupy array (float32 gives a float32 result).
    xp : module, optional
        Array module (default: numpy).
    fft : callable, optional
        ``rfft2`` implementation (default: ``scipy.fft.rfft2`` using every core, allowed to
        overwrite ``frame`` only if it is passed in as a private copy by the caller: the
        default never overwrites it).
    log : bool
        Return ``log(1 + power)`` instead (computed on the half spectrum only).
    out : numpy.ndarray, optional
        C-contiguous array of the frame's shape and the result's real dtype to write into
        (numpy only). It may be ``frame`` itself when that is a private copy: the frame is not
        read after its transform.

    Returns
    -------
    array
        Power spectrum with the zero frequency at index ``(ny // 2, nx // 2)``.
    """
    if xp is None:
        import numpy as xp
    if fft is None:
        import scipy.fft

        def fft(a: Any) -> Any:
            return scipy.fft.rfft2(a, workers=-1)

    ny, nx = frame.shape
    r = fft(frame)
    if xp.__name__ == "numpy":
        rdtype = xp.float64 if r.dtype == xp.complex128 else xp.float32
        r = xp.ascontiguousarray(r, dtype=xp.complex128 if rdtype == xp.float64
                                 else xp.complex64)
        if (out is None or out.dtype != rdtype or not out.flags.c_contiguous
                or xp.may_share_memory(out, r)):
            out = xp.empty((ny, nx), dtype=rdtype)
        _power_half_to_centred(r, ny, nx, log, out)
        return out
    half = r.real * r.real
    half += r.imag * r.imag
    out = xp.empty((ny, nx), dtype=half.dtype)
    cy, cx = ny // 2, nx // 2
    m = nx - cx  # columns kx = 0 .. m-1 (non-negative frequencies)

    def fill(a: int, b: int) -> None:
        """Fill output rows a:b (row i holds ky = i - cy)."""
        # kx >= 0: source row (i - cy) mod ny
        lo, hi = max(a, cy), b
        if hi > lo:
            out[lo:hi, cx:] = half[lo - cy:hi - cy, :m]
        lo, hi = a, min(b, cy)
        if hi > lo:
            out[lo:hi, cx:] = half[lo - cy + ny:hi - cy + ny, :m]
        if not cx:
            return
        # kx < 0: P(ky, kx) = P(-ky, -kx): source row (cy - i) mod ny, columns cx .. 1
        lo, hi = a, min(b, cy + 1)
        if hi > lo:
            out[lo:hi, :cx] = half[cy - hi + 1:cy - lo + 1, 1:cx + 1][::-1, ::-1]
        lo, hi = max(a, cy + 1), b
        if hi > lo:
            out[lo:hi, :cx] = half[ny + cy - hi + 1:ny + cy - lo + 1, 1:cx + 1][::-1, ::-1]

    fill(0, ny)
    if log:
        out += 1
        xp.log(out, out=out)
    return out


def _k_axis(axis: Any, name: str) -> Any:
    n = axis.size
    scale = 1.0 / (n * axis.scale)
    units = axis.units if axis.units and axis.units not in ("<undefined>",) else "px"
    return axis.replace(name=name, scale=scale, offset=-(n // 2) * scale, units=f"1/{units}")


def power_spectrum(dataset: Dataset, *, window: Literal["hann", "hamming", "none"] = "hann",
                   log: bool = True, subtract_mean: bool = True) -> Dataset:
    """Power spectrum |FFT|² of every 2-D frame, centred, with calibrated 1/length axes.

    The spectrum is ``|F(k)|²`` of the (mean-subtracted, windowed) frame, without
    normalisation (so, with no window and no mean subtraction, it sums to
    ``ny * nx * sum(frame**2)``, Parseval's theorem). The zero frequency sits at pixel
    ``(ny // 2, nx // 2)``; axis ``kx`` has scale ``1 / (nx * dx)`` in ``1/<units>``, so a lattice
    of period ``d`` gives peaks at ``±1/d``. Stacks give a stack of spectra; lazy data stays
    lazy. Uses a real FFT on every core (``scipy.fft.rfft2``) and Hermitian symmetry.

    Parameters
    ----------
    dataset : Dataset
        Image, stack, 4D-STEM scan or any dataset with two signal axes (real, or complex such
        as an exit wave or hologram, transformed with a full complex FFT).
    window : {"hann", "hamming", "none"}
        Window applied to each frame before the transform to suppress the cross caused by the
        frame's edges (periodic windows, the 2-D window is the outer product of 1-D ones).
    log : bool
        Return ``log(1 + power)``, which shows weak reflections next to the central peak.
    subtract_mean : bool
        Subtract each frame's mean first, removing the central (zero-frequency) spike.

    Returns
    -------
    Dataset
        float32 spectra with signal axes ``ky, kx`` in ``1/<units>`` (float64 input gives
        float64).
    """
    import numpy as np

    from micrographia.backend import is_gpu_array
    from micrographia.frames import map_frames, parallel_bands

    if dataset.signal_dims != 2:
        raise ParameterError(
            f"fft.power_spectrum needs a dataset with two signal axes (images); "
            f"{dataset.title or 'this dataset'} has {dataset.signal_dims} "
            f"({', '.join(a.name for a in dataset.sig_axes) or 'none'})")
    ny, nx = dataset.sig_shape
    if ny == 0 or nx == 0:
        raise ParameterError("fft.power_spectrum: the frames are empty")
    dtype = np.float64 if dataset.dtype in (np.float64, np.complex128) else np.float32
    gpu = is_gpu_array(dataset.data) or (dataset.is_lazy and is_gpu_array(dataset.data._meta))
    if gpu:
        import cupy as xp

        def rfft(a: Any) -> Any:
            return xp.fft.rfft2(a)
    else:
        xp = np
        rfft = None  # scipy.fft.rfft2 on every core
    wy = _window_1d(xp, ny, window, dtype)
    wx = _window_1d(xp, nx, window, dtype)
    windowed = window != "none"
    # the full 2-D window only where it is used (GPU, complex input); the CPU path for real
    # frames multiplies by the two 1-D windows in cache-sized bands instead
    w2 = (wy[:, None] * wx[None, :]
          if windowed and (xp is not np or np.issubdtype(dataset.dtype, np.complexfloating))
          else None)
    complex_in = np.issubdtype(dataset.dtype, np.complexfloating)

    cdtype = np.complex128 if dtype == np.float64 else np.complex64

    def complex_power(f: Any) -> Any:
        if xp is np:
            import scipy.fft

            spec = scipy.fft.fft2(f, workers=-1)
        else:
            spec = xp.fft.fft2(f)
        return xp.fft.fftshift((spec.real * spec.real + spec.imag * spec.imag).astype(dtype))

    def real_cpu_frame(f: Any) -> Any:
        """Real frame on the CPU: one fused pass (cast, mean, window) into a private copy."""
        import scipy.fft

        if not subtract_mean and not windowed:
            g = np.ascontiguousarray(f, dtype=dtype)  # rfft2 does not overwrite it
            return centred_power(g, np, log=log)
        f = np.asarray(f)
        mu = 0.0
        if subtract_mean:
            sums = [0.0] * (ny + 1)

            def partial_sum(a: int, b: int) -> None:
                # row sums in the data's type (pairwise, vectorised), then float64
                sums[a] = float(f[a:b].sum(axis=-1).sum(dtype=np.float64))

            parallel_bands(partial_sum, ny, size=f.size)
            mu = sum(sums) / f.size
        g = np.empty((ny, nx), dtype)
        rows = max(1, (1 << 18) // max(1, nx))  # about 1 MB of float32 at a time

        def prepare(a: int, b: int) -> None:
            for s in range(a, b, rows):
                e = min(b, s + rows)
                band = g[s:e]
                if subtract_mean:  # cast and subtract in one pass
                    np.subtract(f[s:e], band.dtype.type(mu), out=band, casting="unsafe")
                else:
                    band[...] = f[s:e]
                if windowed:
                    band *= wx
                    band *= wy[s:e, None]

        parallel_bands(prepare, ny, size=f.size)

        def rfft(a: Any) -> Any:
            return scipy.fft.rfft2(a, workers=-1, overwrite_x=True)

        # the private copy is not needed after its transform: the spectrum is written into it
        # (one fresh frame-sized buffer per frame instead of two: fewer page faults)
        return centred_power(g, np, rfft, log=log, out=g)

    def frame(f: Any) -> Any:
        if xp is np and not complex_in:
            return real_cpu_frame(f)
        f = f.astype(cdtype if complex_in else dtype, copy=True)
        if subtract_mean:
            f -= f.mean(dtype=cdtype if complex_in else np.float64).astype(f.dtype)
        if w2 is not None:
            f *= w2
        p = complex_power(f) if complex_in else centred_power(f, xp, rfft)
        if log:
            # log(1 + p), not log1p: numpy's float32 log1p is scalar code, 5x slower than its
            # vectorised log; p >= 0, so the difference is below float32 resolution.
            def logband(a: int, b: int) -> None:
                band = p[a:b]
                band += 1
                xp.log(band, out=band)

            if xp is np:
                parallel_bands(logband, ny, size=p.size)
            else:
                logband(0, ny)
        return p

    out = map_frames(frame, dataset.data, signal_ndim=2, out_dtype=dtype,
                     message="Power spectrum")
    ay, ax = dataset.sig_axes
    axes = dataset.nav_axes + (_k_axis(ay, "ky"), _k_axis(ax, "kx"))
    from micrographia import Intensity

    return dataset.replace(data=out, axes=axes, intensity=Intensity(),
                           title=f"{dataset.title} power spectrum".strip())


# -- complex FFT, inverse, Fourier filters ---------------------------------------------------
def _need_images(dataset: Dataset, op: str) -> None:
    if dataset.signal_dims != 2:
        raise ParameterError(
            f"{op} needs a dataset with two signal axes (images); "
            f"{dataset.title or 'this dataset'} has {dataset.signal_dims}")
    if 0 in dataset.sig_shape:
        raise ParameterError(f"{op}: the frames are empty")


def _xp_fft(dataset: Dataset) -> tuple[Any, Any, Any]:
    """Return ``(xp, fft2, ifft2)`` for the dataset's device (scipy.fft on every core)."""
    import numpy as np

    from micrographia.backend import is_gpu_array

    gpu = is_gpu_array(dataset.data) or (dataset.is_lazy and is_gpu_array(dataset.data._meta))
    if gpu:
        import cupy

        return cupy, cupy.fft.fft2, cupy.fft.ifft2
    import scipy.fft

    def fft2(a: Any) -> Any:
        return scipy.fft.fft2(a, workers=-1)

    def ifft2(a: Any) -> Any:
        return scipy.fft.ifft2(a, workers=-1)

    return np, fft2, ifft2


def _k_grid(xp: Any, ay: Any, ax: Any) -> tuple[Any, Any]:
    """Centred frequency coordinates (1/units) of an image with axes ``ay, ax``: ky[:, None]..."""
    ky = (xp.arange(ay.size) - ay.size // 2) / (ay.size * ay.scale)
    kx = (xp.arange(ax.size) - ax.size // 2) / (ax.size * ax.scale)
    return ky[:, None], kx[None, :]


def _fft_md(dataset: Dataset) -> dict[str, Any]:
    md = dataset.metadata.get("Micrographia", {})
    return dict(md.get("fft", {})) if hasattr(md, "get") else {}


def fft(dataset: Dataset, *, window: Literal["none", "hann", "hamming"] = "none",
        shift: bool = True) -> Dataset:
    """Complex 2-D Fourier transform of every image, with calibrated 1/length axes.

    ``F = fft2(frame)`` without normalisation (``numpy.fft.fft2``'s convention). With
    ``shift`` the zero frequency sits at pixel ``(ny // 2, nx // 2)`` and axis ``kx`` has
    scale ``1 / (nx * dx)`` and offset ``-(nx // 2) * scale`` in ``1/<units>`` (the axes of
    ``fft.power_spectrum``). The original axes' offsets, scales and names are stored in
    ``metadata["Micrographia"]["fft"]`` so that :func:`ifft` restores them exactly.

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with two signal axes (real or complex).
    window : {"none", "hann", "hamming"}
        Window applied before the transform (periodic, outer product of 1-D windows). With a
        window, ``fft.ifft`` returns the windowed image.
    shift : bool
        Centre the zero frequency (``fftshift``). Without it the frequencies are in numpy's
        order, and the k axes (offset 0) are only right for the first half of each axis.

    Returns
    -------
    Dataset
        complex64 (complex128 for float64/complex128 input), signal axes ``ky, kx``.
    """
    import numpy as np

    _need_images(dataset, "fft.fft")
    double = dataset.dtype in (np.float64, np.complex128)
    rdt = np.float64 if double else np.float32
    cdt = np.complex128 if double else np.complex64
    xp, fft2, _ = _xp_fft(dataset)
    ny, nx = dataset.sig_shape
    w2 = None
    if window != "none":
        w2 = _window_1d(xp, ny, window, rdt)[:, None] * _window_1d(xp, nx, window, rdt)[None, :]

    def frame(f: Any) -> Any:
        f = f.astype(cdt if f.dtype.kind == "c" else rdt, copy=False)
        if w2 is not None:
            f = f * w2
        out = fft2(f).astype(cdt, copy=False)
        return xp.fft.fftshift(out) if shift else out

    from micrographia.plugins.filters import map_frames_parallel

    out = map_frames_parallel(frame, dataset.data, signal_ndim=2, out_dtype=cdt, message="FFT")
    ay, ax = dataset.sig_axes
    ky, kx = _k_axis(ay, "ky"), _k_axis(ax, "kx")
    if not shift:
        ky, kx = ky.replace(offset=0.0), kx.replace(offset=0.0)
    md = dict(dataset.metadata)
    mgmd = dict(md.get("Micrographia", {}))
    mgmd["fft"] = {"shift": bool(shift), "window": window,
                   "names": [ay.name, ax.name], "units": [ay.units, ax.units],
                   "scales": [ay.scale, ax.scale], "offsets": [ay.offset, ax.offset],
                   "real": not np.issubdtype(dataset.dtype, np.complexfloating)}
    md["Micrographia"] = mgmd
    from micrographia import Intensity

    return dataset.replace(data=out, axes=dataset.nav_axes + (ky, kx), metadata=md,
                           intensity=Intensity(), title=f"{dataset.title} FFT".strip())


def ifft(dataset: Dataset, *, real_output: bool = True) -> Dataset:
    """Inverse of :func:`fft`: complex spectra with k axes back to images with spatial axes.

    The spectrum is un-shifted (``ifftshift``, unless ``fft.fft`` recorded ``shift=False``)
    and transformed with ``ifft2``. The spatial axes get scale ``1 / (N * dk)``, offset 0 and
    the units without the ``1/``, unless the metadata written by ``fft.fft`` holds the
    original axes: then they are restored exactly (names, scales, offsets, units), so
    ``ifft(fft(x))`` equals ``x`` (to float rounding). Any dataset with two signal axes is
    accepted (a real one is treated as a spectrum with zero imaginary part).

    Parameters
    ----------
    dataset : Dataset
        Centred complex spectra (the result of ``fft.fft``, possibly filtered).
    real_output : bool
        Return the real part (float), as for the transform of a real image; otherwise the
        complex result.

    Returns
    -------
    Dataset
        float32 (float64 for complex128 input) when ``real_output``, else complex64
        (complex128); signal axes in real space.
    """
    import numpy as np

    _need_images(dataset, "fft.ifft")
    double = dataset.dtype in (np.float64, np.complex128)
    rdt = np.float64 if double else np.float32
    cdt = np.complex128 if double else np.complex64
    xp, _, ifft2 = _xp_fft(dataset)
    md = _fft_md(dataset)
    shifted = bool(md.get("shift", True))
    out_dt = rdt if real_output else cdt

    def frame(f: Any) -> Any:
        f = f.astype(cdt, copy=False)
        if shifted:
            f = xp.fft.ifftshift(f)
        r = ifft2(f)
        return (r.real if real_output else r).astype(out_dt, copy=False)

    from micrographia.plugins.filters import map_frames_parallel

    out = map_frames_parallel(frame, dataset.data, signal_ndim=2, out_dtype=out_dt,
                              message="Inverse FFT")
    axes = []
    for i, a in enumerate(dataset.sig_axes):
        units = a.units[2:] if a.units.startswith("1/") else a.units
        new = a.replace(name=("y", "x")[i], scale=1.0 / (a.size * a.scale), offset=0.0,
                        units=units or "px")
        if md.get("scales") and math.isclose(new.scale, md["scales"][i], rel_tol=1e-9):
            new = new.replace(name=md["names"][i], scale=md["scales"][i],
                              offset=md["offsets"][i], units=md["units"][i])
        axes.append(new)
    meta = dict(dataset.metadata)
    if md:
        mgmd = dict(meta.get("Micrographia", {}))
        mgmd.pop("fft", None)
        meta["Micrographia"] = mgmd
        if not mgmd:
            meta.pop("Micrographia")
    from micrographia import Intensity

    return dataset.replace(data=out, axes=dataset.nav_axes + tuple(axes), metadata=meta,
                           intensity=Intensity(), title=f"{dataset.title} IFFT".strip())


def _fourier_filter(dataset: Dataset, mask: Any, xp: Any, message: str, title: str,
                    metadata: Any = None) -> Dataset:
    """Multiply every frame's centred spectrum by ``mask`` (centred) and transform back."""
    import numpy as np

    double = dataset.dtype in (np.float64, np.complex128)
    rdt = np.float64 if double else np.float32
    cdt = np.complex128 if double else np.complex64
    complex_in = np.issubdtype(dataset.dtype, np.complexfloating)
    _, fft2, ifft2 = _xp_fft(dataset)
    m = xp.fft.ifftshift(mask).astype(rdt)
    out_dt = cdt if complex_in else rdt

    def frame(f: Any) -> Any:
        spec = fft2(f.astype(cdt if complex_in else rdt, copy=False))
        spec *= m
        r = ifft2(spec)
        return (r if complex_in else r.real).astype(out_dt, copy=False)

    from micrographia.plugins.filters import map_frames_parallel

    out = map_frames_parallel(frame, dataset.data, signal_ndim=2, out_dtype=out_dt,
                              message=message)
    kw = {} if metadata is None else {"metadata": metadata}
    return dataset.replace(data=out, title=f"{dataset.title} {title}".strip(), **kw)


def bandpass(dataset: Dataset, *,
             low: Annotated[float, Range(0.0, None), Units("1/units")] = 0.0,
             high: Annotated[float, Range(0.0, None), Units("1/units")] = 0.0,
             edge: Literal["butterworth", "gaussian"] = "butterworth",
             order: Annotated[int, Range(1, 20)] = 2) -> Dataset:
    """Low-, high- or band-pass Fourier filter with smooth edges, cut-offs in 1/units.

    The cut-offs are spatial frequencies ``|k| = sqrt(kx**2 + ky**2)`` in the inverse of the
    image's calibrated units (``1/nm`` for an image in nm; a lattice period ``d`` sits at
    ``1/d``). The transfer function is the product of a low-pass with cut-off ``high``
    (frequencies above it removed) and a high-pass with cut-off ``low`` (frequencies below it
    removed); each passes exactly one half (amplitude) at its cut-off. ``0`` disables a side,
    so ``low > 0, high = 0`` is a high-pass, ``low = 0, high > 0`` a low-pass. Edges:
    Butterworth ``1 / (1 + (k / high)**(2 order))`` or Gaussian
    ``2**(-(k / high)**2)``. Each frame is filtered separately.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes), real or complex.
    low : float
        High-pass cut-off in 1/units: longer periods than ``1 / low`` are removed (0: none).
    high : float
        Low-pass cut-off in 1/units: shorter periods than ``1 / high`` are removed (0: none).
    edge : {"butterworth", "gaussian"}
        Shape of the transition.
    order : int
        Butterworth order (steepness); ignored for Gaussian edges.

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; complex for complex input), same axes.
    """
    import numpy as np

    _need_images(dataset, "fft.bandpass")
    if high and low and high <= low:
        raise ParameterError(f"fft.bandpass: high ({high:g}) must be above low ({low:g}) for "
                             "a band-pass")
    xp, _, _ = _xp_fft(dataset)
    ky, kx = _k_grid(np, *dataset.sig_axes)
    k = np.sqrt(ky * ky + kx * kx)

    def lowpass(kk: Any, cut: float) -> Any:
        if edge == "gaussian":
            return np.exp2(-(kk / cut) ** 2)
        return 1.0 / (1.0 + (kk / cut) ** (2 * order))

    mask = np.ones_like(k)
    if high > 0:
        mask *= lowpass(k, high)
    if low > 0:
        mask *= 1.0 - lowpass(k, low)
    if xp is not np:
        mask = xp.asarray(mask)
    return _fourier_filter(dataset, mask, xp, "Band-pass",
                           f"bandpass {low:g}-{high:g}")


def _detect_spots(frame: Any, ay: Any, ax: Any, threshold: float, max_spots: int,
                  exclude: float) -> list[tuple[float, float]]:
    """Strongest local maxima of the power spectrum, one of each Friedel pair, in 1/units."""
    import numpy as np
    from scipy import ndimage

    f = np.asarray(frame, dtype=np.float64)
    f = f - f.mean()
    ny, nx = f.shape
    w = _window_1d(np, ny, "hann", np.float64)[:, None] * _window_1d(np, nx, "hann",
                                                                     np.float64)[None, :]
    p = np.abs(np.fft.fftshift(np.fft.fft2(f * w))) ** 2
    p = ndimage.gaussian_filter(p, 0.7)
    ky, kx = _k_grid(np, ay, ax)
    kr = np.sqrt(ky * ky + kx * kx)
    kmax = min(1 / (2 * abs(ay.scale)), 1 / (2 * abs(ax.scale)))
    p[kr <= exclude * kmax] = 0.0
    peak = ndimage.maximum_filter(p, size=5, mode="wrap") == p
    top = p.max()
    if top <= 0:
        return []
    cand = np.argwhere(peak & (p >= threshold * top))
    order = np.argsort(-p[cand[:, 0], cand[:, 1]], kind="stable")
    spots: list[tuple[float, float]] = []
    for i, j in cand[order]:
        s = (float(ky[i, 0]), float(kx[0, j]))
        tol = 1.5 / (ny * abs(ay.scale)), 1.5 / (nx * abs(ax.scale))
        if any(abs(s[0] + t[0]) <= tol[0] and abs(s[1] + t[1]) <= tol[1] for t in spots):
            continue  # the Friedel partner of a spot already taken
        spots.append(s)
        if len(spots) >= max_spots:
            break
    return spots


def mask_filter(dataset: Dataset, *, spots: tuple[tuple[float, float], ...] | None = None,
                radius: Annotated[float, Range(0.0, None), Units("1/units")] = 0.0,
                soft_edge: Annotated[float, Range(0.0, None), Units("1/units")] = 0.0,
                mode: Literal["keep", "remove"] = "keep", keep_centre: bool = True,
                threshold: Annotated[float, Range(0.0, 1.0), Step(0.01)] = 0.1,
                max_spots: Annotated[int, Range(1, 100)] = 6) -> Dataset:
    """Fourier mask ("Bragg") filter: keep or remove round spots and their Friedel partners.

    Every spot ``(ky, kx)`` also masks ``(-ky, -kx)``, so a real image stays real. With
    ``mode="keep"`` only the spots (and, with ``keep_centre``, a disc of the same radius at
    the origin, the mean and slow variations) pass: the periodic lattice is kept and the
    noise and amorphous background removed. With ``mode="remove"`` the spots are taken out
    (e.g. to remove a lattice or a periodic noise). Each disc has radius ``radius`` and, with
    ``soft_edge > 0``, a Gaussian roll-off of that width outside it.

    Parameters
    ----------
    dataset : Dataset
        Image or stack (two signal axes), real or complex.
    spots : list of (ky, kx), optional
        Spot positions in calibrated spatial frequency (1/units, the axes of
        ``fft.power_spectrum``). Default ``None``: the strongest local maxima of the power
        spectrum of the first frame (Hann window, centre excluded, at least ``threshold``
        times the strongest), at most ``max_spots`` Friedel pairs. The spots used are
        stored in ``metadata["Micrographia"]["mask_filter"]["spots"]``.
    radius : float
        Radius of each disc in 1/units; 0 means 3 frequency bins.
    soft_edge : float
        Width (Gaussian σ) of the smooth edge in 1/units; 0 for a hard edge.
    mode : {"keep", "remove"}
        Keep only the spots, or remove them.
    keep_centre : bool
        In ``"keep"`` mode also keep a disc around the zero frequency (the mean).
    threshold : float
        Auto-detection: smallest spot power relative to the strongest spot.
    max_spots : int
        Auto-detection: largest number of spots (Friedel pairs count once).

    Returns
    -------
    Dataset
        float32 (float64 for float64 input; complex for complex input), same axes.
    """
    import numpy as np

    _need_images(dataset, "fft.mask_filter")
    ay, ax = dataset.sig_axes
    dk = max(1 / (ay.size * abs(ay.scale)), 1 / (ax.size * abs(ax.scale)))
    r = radius if radius > 0 else 3 * dk
    if spots is None:
        first = dataset.data[(0,) * len(dataset.nav_shape)]
        from micrographia.backend import to_numpy

        first = to_numpy(first.compute() if hasattr(first, "compute") else first)
        spots = _detect_spots(first, ay, ax, threshold, max_spots, exclude=0.05)
        if not spots:
            raise ParameterError("fft.mask_filter found no spots in the power spectrum; give "
                                 "`spots` or lower `threshold`")
    else:
        try:
            spots = [(float(s[0]), float(s[1])) for s in spots]
        except (TypeError, ValueError, IndexError):
            raise ParameterError("fft.mask_filter: spots must be a list of (ky, kx) pairs in "
                                 "1/units") from None
    xp, _, _ = _xp_fft(dataset)
    ky, kx = _k_grid(np, ay, ax)
    keep = np.zeros((ay.size, ax.size))
    centres = list(spots) + [(-a, -b) for a, b in spots]
    if mode == "keep" and keep_centre:
        centres.append((0.0, 0.0))
    for sy, sx in centres:
        d = np.sqrt((ky - sy) ** 2 + (kx - sx) ** 2)
        if soft_edge > 0:
            disc = np.exp(-np.maximum(d - r, 0.0) ** 2 / (2 * soft_edge ** 2))
        else:
            disc = (d <= r).astype(np.float64)
        np.maximum(keep, disc, out=keep)
    mask = keep if mode == "keep" else 1.0 - keep
    if xp is not np:
        mask = xp.asarray(mask)
    md = dict(dataset.metadata)
    mgmd = dict(md.get("Micrographia", {}))
    mgmd["mask_filter"] = {"spots": [list(s) for s in spots], "radius": r, "mode": mode,
                           "units": ay.units and f"1/{ay.units}"}
    md["Micrographia"] = mgmd
    return _fourier_filter(dataset, mask, xp, "Mask filter", f"mask filter ({mode})",
                           metadata=md)


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(power_spectrum, id="fft.power_spectrum", title="Power spectrum (FFT)",
                 kinds=("signal2d",),
                 menu="Process/FFT", cheap=True, gpu=True)
    registry.add(fft, id="fft.fft", title="FFT (complex)…", kinds=("signal2d",),
                 menu="Process/FFT", cheap=True, gpu=True)
    registry.add(ifft, id="fft.ifft", title="Inverse FFT…", kinds=("signal2d",),
                 menu="Process/FFT", cheap=True, gpu=True)
    registry.add(bandpass, id="fft.bandpass", title="Band-pass filter…", kinds=("signal2d",),
                 menu="Process/FFT", cheap=True, gpu=True)
    registry.add(mask_filter, id="fft.mask_filter", title="Mask (Bragg) filter…",
                 kinds=("signal2d",), menu="Process/FFT", cheap=True, gpu=True)
