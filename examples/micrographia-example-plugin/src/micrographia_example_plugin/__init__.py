"""Example Micrographia plugin: contrast inversion (e.g. to compare ABF with HAADF)."""

from __future__ import annotations

from typing import Literal

from micrographia import Dataset, hookimpl


def invert(dataset: Dataset, *, about: Literal["range", "zero"] = "range") -> Dataset:
    """Invert the contrast of every frame.

    Parameters
    ----------
    dataset : Dataset
        Any dataset.
    about : {"range", "zero"}
        ``"range"`` maps each frame's minimum to its maximum and back (``min + max - x``);
        ``"zero"`` negates the values.

    Returns
    -------
    Dataset
        float32 (float64 for float64 input), same axes.
    """
    import numpy as np

    data = dataset.numpy()
    dtype = np.float64 if data.dtype == np.float64 else np.float32
    x = data.astype(dtype)
    if about == "zero":
        out = -x
    else:
        sig = tuple(range(len(dataset.nav_axes), dataset.ndim))
        out = x.min(axis=sig, keepdims=True) + x.max(axis=sig, keepdims=True) - x
    return dataset.replace(data=out, title=f"{dataset.title} inverted".strip())


@hookimpl
def micrographia_register(registry):  # noqa: ANN001, ANN201
    """Register the example operation."""
    registry.add(invert, id="example.invert", title="Invert contrast…", menu="Plugins/Example",
                 cheap=True)
