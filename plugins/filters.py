"""Built-in plugin: spatial filters (``filters.*``)."""

from __future__ import annotations

from typing import Annotated, Literal

from micrographia import Dataset, Range, Units, hookimpl


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

    from micrographia.backend import is_gpu_array
    from micrographia.frames import map_frames, parallel_bands

    out_dtype = np.float64 if dataset.dtype == np.float64 else np.float32
    sig = tuple(sigma / abs(a.scale) if units == "calibrated" else sigma
                for a in dataset.sig_axes)
    gpu = is_gpu_array(dataset.data) or (dataset.is_lazy and is_gpu_array(dataset.data._meta))
    if gpu:
        from cupyx.scipy import ndimage
    else:
        from scipy import ndimage

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


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(gaussian, id="filters.gaussian", title="Gaussian blur…",
                 menu="Process/Filters", cheap=True, gpu=True)
