"""Built-in plugin: Fourier transforms (``fft.*``)."""

from __future__ import annotations

from typing import Any, Literal

from micrographia import Dataset, ParameterError, hookimpl


def _window_1d(xp: Any, n: int, kind: str, dtype: Any) -> Any:
    """Periodic (DFT-even) Hann or Hamming window of length ``n``."""
    if kind == "none" or n == 1:
        return xp.ones(n, dtype=dtype)
    c = xp.cos(2.0 * xp.pi * xp.arange(n, dtype=xp.float64) / n)
    w = 0.5 - 0.5 * c if kind == "hann" else 0.54 - 0.46 * c
    return w.astype(dtype)


def centred_power(frame: Any, xp: Any = None, fft: Any = None) -> Any:
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
        ``rfft2`` implementation (default: ``scipy.fft.rfft2`` using every core).

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

    if xp.__name__ == "numpy":
        from micrographia.frames import parallel_bands

        parallel_bands(fill, ny, size=ny * nx)
    else:
        fill(0, ny)
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
    w2 = None if window == "none" else wy[:, None] * wx[None, :]
    complex_in = np.issubdtype(dataset.dtype, np.complexfloating)

    cdtype = np.complex128 if dtype == np.float64 else np.complex64

    def complex_power(f: Any) -> Any:
        if xp is np:
            import scipy.fft

            spec = scipy.fft.fft2(f, workers=-1)
        else:
            spec = xp.fft.fft2(f)
        return xp.fft.fftshift((spec.real * spec.real + spec.imag * spec.imag).astype(dtype))

    def frame(f: Any) -> Any:
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


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(power_spectrum, id="fft.power_spectrum", title="Power spectrum (FFT)",
                 kinds=("signal2d",),
                 menu="Process/FFT", cheap=True, gpu=True)
