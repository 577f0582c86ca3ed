"""Built-in plugin: spatial filters (``filters.*``)."""

from __future__ import annotations

from typing import Annotated, Literal

from micrographia import Dataset, Range, Units, hookimpl


def gaussian(dataset: Dataset, *, sigma: Annotated[float, Range(0.0, 1000.0), Units("px")] = 1.0,
             units: Literal["px", "calibrated"] = "px") -> Dataset:
    """Gaussian blur of every frame (signal axes only).

    Parameters
    ----------
    dataset : Dataset
        Image, stack or any dataset with signal axes.
    sigma : float
        Standard deviation of the Gaussian.
    units : {"px", "calibrated"}
        Whether ``sigma`` is in pixels or in the signal axes' calibrated units.

    Returns
    -------
    Dataset
        float32 (float64 if the input is float64), same axes.
    """
    import numpy as np
    from scipy import ndimage

    data = dataset.numpy()
    out_dtype = np.float64 if data.dtype == np.float64 else np.float32
    sig = [0.0] * len(dataset.nav_axes) + [
        sigma / abs(a.scale) if units == "calibrated" else sigma for a in dataset.sig_axes]
    out = ndimage.gaussian_filter(data.astype(out_dtype, copy=False), sig, mode="reflect")
    return dataset.replace(data=out, title=f"{dataset.title} gaussian σ={sigma:g}".strip())


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201, D103
    registry.add(gaussian, id="filters.gaussian", title="Gaussian blur…",
                 menu="Process/Filters", cheap=True, gpu=True)
