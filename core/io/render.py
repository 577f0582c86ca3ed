"""Headless rendering of a dataset to an RGB image (PNG export, thumbnails, reports).

No plotting library is needed: colormaps are built here from published anchor colours.

Pipeline for each pixel value ``v`` (complex data: its magnitude):

1. ``t = (v - low) / (high - low)`` clipped to [0, 1], where ``(low, high)`` is ``clim`` or,
   when absent, the auto-contrast range that saturates ``auto_saturation`` percent of the
   finite pixels (half in each tail, as ImageJ's "Auto").
2. ``mapping``: ``"linear"`` keeps ``t``; ``"sqrt"`` gives ``sqrt(t)``; ``"log"`` gives
   ``log10(1 + 999 t) / 3`` (three decades above the low end).
3. ``gamma``: ``t ** gamma``.
4. ``invert``: ``1 - t``.
5. colour = ``LUT[round(255 t)]`` for a 256-entry colormap; NaN pixels get ``LUT[0]``.

With the grey map, linear mapping, gamma 1 and ``clim=(lo, hi)`` a value maps exactly to
``round(255 * (v - lo) / (hi - lo))``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

from ..dataset import Dataset
from ..errors import ParameterError

__all__ = ["render", "colormap", "COLORMAPS", "COMPLEX_MODES", "auto_clim", "complex_part",
           "default_complex_mode", "default_cmap", "is_label_image", "finite_values",
           "percentiles"]

# Ten evenly spaced samples of each perceptually uniform map (the published viridis family,
# Smith & van der Walt 2015; cividis, Nuñez et al. 2018), interpolated linearly to 256 entries.
_ANCHORS: dict[str, tuple[str, ...]] = {
    "viridis": ("#440154", "#482878", "#3E4A89", "#31688E", "#26828E", "#1F9E89", "#35B779",
                "#6DCD59", "#B4DE2C", "#FDE725"),
    "inferno": ("#000004", "#1B0C42", "#4B0C6B", "#781C6D", "#A52C60", "#CF4446", "#ED6925",
                "#FB9A06", "#F7D03C", "#FCFFA4"),
    "magma": ("#000004", "#180F3E", "#451077", "#721F81", "#9F2F7F", "#CD4071", "#F1605D",
              "#FD9567", "#FEC98D", "#FCFDBF"),
    "plasma": ("#0D0887", "#47039F", "#7301A8", "#9C179E", "#BD3786", "#D8576B", "#ED7953",
               "#FA9E3B", "#FDC926", "#F0F921"),
    "cividis": ("#00204D", "#00336F", "#39486B", "#575C6D", "#707173", "#8A8779", "#A69D75",
                "#C4B56C", "#E4CF5B", "#FFEA46"),
    # ColorBrewer's 11-class red-blue diverging scheme (blue for low values, near-white at the
    # centre): use it with a clim symmetric about zero (strain, difference images).
    "rdbu": ("#053061", "#2166AC", "#4393C3", "#92C5DE", "#D1E5F0", "#F7F7F7", "#FDDBC7",
             "#F4A582", "#D6604D", "#B2182B", "#67001F"),
    # A cyclic light-blue-dark-red-light loop (first and last colours equal) for phase images.
    "phase": ("#E2D9E2", "#A5B6D0", "#6A87C0", "#5A4DAC", "#3E2162", "#2F1436", "#5B1A3E",
              "#8C2E3D", "#B5614D", "#CFA08C", "#E2D9E2"),
}
#: Known colormap names. viridis, cividis and RdBu stay readable with the common colour-vision
#: deficiencies; RdBu is diverging, phase is cyclic.
COLORMAPS = ("gray", "grey", "viridis", "inferno", "magma", "plasma", "cividis", "hot", "RdBu",
             "phase", "labels")
_MAPPINGS = ("linear", "log", "sqrt")

#: What is shown of complex data: ``|z|``, ``log(1 + |z|)``, ``arg(z)`` (radians, -π..π),
#: the real or the imaginary part.
COMPLEX_MODES = ("amplitude", "log_amplitude", "phase", "real", "imaginary")


def complex_part(values: Any, mode: str) -> np.ndarray:
    """Return the real quantity shown of complex values.

    Parameters
    ----------
    values : array_like
        Complex (or real) values.
    mode : {"amplitude", "log_amplitude", "phase", "real", "imaginary"}
        ``|z|``, ``log(1 + |z|)``, ``numpy.angle(z)`` (radians in [-π, π]), ``z.real`` or
        ``z.imag``.

    Returns
    -------
    numpy.ndarray
        float32 for complex64 (and smaller) input, float64 otherwise; same shape.

    Raises
    ------
    ParameterError
        For an unknown mode.
    """
    a = np.asarray(values)
    if mode == "amplitude":
        out = np.abs(a)
    elif mode == "log_amplitude":
        out = np.log1p(np.abs(a))
    elif mode == "phase":
        out = np.angle(a)
    elif mode == "real":
        out = np.real(a)
    elif mode == "imaginary":
        out = np.imag(a)
    else:
        raise ParameterError(f"complex display mode must be one of {', '.join(COMPLEX_MODES)}, "
                             f"got {mode!r}")
    dtype = np.float32 if a.dtype.itemsize <= 8 and a.dtype.kind == "c" else np.float64
    return np.asarray(out).astype(dtype, copy=False)


def is_label_image(dataset: Dataset) -> bool:
    """Whether a dataset is a label image (objects numbered 1, 2, …; 0 is background).

    Operations that make one (``segment.label``, ``segment.watershed``, ``segment.multi_otsu``,
    the pixel classifier's labels) mark it with ``metadata["Micrographia"]["labels"] = True``;
    only integer data count.

    Parameters
    ----------
    dataset : Dataset
        The dataset.

    Returns
    -------
    bool
        True for a marked integer dataset.
    """
    if dataset.dtype.names is not None or dataset.dtype.kind not in "iu":
        return False
    md = dataset.metadata.get("Micrographia", {})
    return bool(md.get("labels", False)) if hasattr(md, "get") else False


def default_cmap(dataset: Dataset) -> str:
    """Return the colormap a dataset is shown with by default.

    Label images (:func:`is_label_image`) get the categorical ``"labels"`` palette, everything
    else ``"gray"``.

    Parameters
    ----------
    dataset : Dataset
        The dataset.

    Returns
    -------
    str
        A :data:`COLORMAPS` name.
    """
    return "labels" if is_label_image(dataset) else "gray"


def default_complex_mode(dataset: Dataset) -> str | None:
    """Return what is shown by default of a dataset's complex values (None for real data).

    A centred Fourier transform (``fft.fft`` with ``shift``) shows ``"log_amplitude"``, any
    other complex dataset ``"amplitude"``.

    Parameters
    ----------
    dataset : Dataset
        The dataset.

    Returns
    -------
    str or None
        A :data:`COMPLEX_MODES` entry, None when the data are not complex.
    """
    dtype = dataset.dtype
    if dtype.names is not None or dtype.kind != "c":
        return None
    md = dataset.metadata.get("Micrographia", {})
    fft = md.get("fft", {}) if hasattr(md, "get") else {}
    if hasattr(fft, "get") and fft.get("shift", False):
        return "log_amplitude"
    return "amplitude"


@cache
def colormap(name: str) -> np.ndarray:
    """Return a 256-entry RGB lookup table.

    Parameters
    ----------
    name : str
        One of :data:`COLORMAPS` (case-insensitive).

    Returns
    -------
    numpy.ndarray
        ``(256, 3)`` uint8, read-only.

    Raises
    ------
    ParameterError
        For an unknown name.
    """
    key = str(name).lower()
    x = np.linspace(0.0, 1.0, 256)
    if key == "labels":  # categorical: value k → entry 1 + (k − 1) mod 255, 0 black
        from .palette import label_palette

        return label_palette(256)
    if key in ("gray", "grey", "greys_r"):
        lut = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    elif key == "hot":
        # gnuplot's / matplotlib's "hot": red, then green, then blue ramp up
        r = np.clip(x / 0.365079, 0, 1)
        g = np.clip((x - 0.365079) / (0.746032 - 0.365079), 0, 1)
        b = np.clip((x - 0.746032) / (1 - 0.746032), 0, 1)
        lut = np.rint(np.stack([r, g, b], axis=1) * 255).astype(np.uint8)
    elif key in _ANCHORS:
        anchors = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in _ANCHORS[key]],
                           dtype=np.float64)
        xa = np.linspace(0.0, 1.0, len(anchors))
        lut = np.rint(np.stack([np.interp(x, xa, anchors[:, c]) for c in range(3)], axis=1)
                      ).astype(np.uint8)
    else:
        raise ParameterError(f"unknown colormap {name!r}; known: {', '.join(COLORMAPS)}")
    lut.flags.writeable = False
    return lut


def auto_clim(values: np.ndarray, saturation: float = 0.35) -> tuple[float, float]:
    """Return the display range that saturates ``saturation`` percent of the finite pixels.

    Parameters
    ----------
    values : numpy.ndarray
        Real values.
    saturation : float
        Percent of pixels drawn saturated, half at each end (0 gives min and max).

    Returns
    -------
    tuple of float
        ``(low, high)``; equal values give ``(v, v + 1)``.

    Notes
    -----
    The numbers are those of ``numpy.percentile(finite, [s, 100 - s])`` (linear method),
    computed by :func:`percentiles` without sorting or partitioning the whole frame.
    """
    finite = finite_values(values)
    if finite.size == 0:
        return 0.0, 1.0
    s = min(max(float(saturation), 0.0), 99.0) / 2.0
    lo, hi = (float(v) for v in percentiles(finite, [s, 100.0 - s]))
    if not hi > lo:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def finite_values(values: Any) -> np.ndarray:
    """Return the finite values of an array as a contiguous 1-D array (no needless copy).

    Same values, order and dtype as ``values[numpy.isfinite(values)]``; when every value is
    finite (checked with one min and one max, which NaN and ±inf cannot pass unnoticed) the
    mask and its compressed copy are skipped.

    Parameters
    ----------
    values : array_like
        Any real array.

    Returns
    -------
    numpy.ndarray
        1-D, the input's dtype.
    """
    a = np.asarray(values)
    flat = np.ascontiguousarray(a.ravel())
    if flat.dtype.kind in "biu":
        return flat
    if flat.size and flat.dtype.kind == "f":
        if np.isfinite(flat.min()) and np.isfinite(flat.max()):
            return flat
    return flat[np.isfinite(flat)]


#: Below this many values :func:`_select` partitions a copy of the whole array.
_SELECT_DIRECT = 1 << 16


def _select(v: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Return ``numpy.sort(v)[ranks]`` for a 1-D array without NaN, without sorting it.

    Large arrays: a deterministic strided sample (sorted, about 16k values) brackets each
    rank between two sample values ``a <= b``; the values in ``[a, b]`` are extracted and
    partitioned. The result is exact: with ``c`` values below ``a``, the sorted array holds
    the sorted values of ``[a, b]`` at positions ``c, c + 1, ...``; a rank outside that window
    (an unlucky sample) falls back to partitioning a copy of the whole array.
    """
    n = v.size
    ranks = np.asarray(ranks, dtype=np.intp)
    if n <= _SELECT_DIRECT:
        return np.partition(v, ranks)[ranks]
    step = (n // (1 << 14)) | 1  # odd: walks through every column of power-of-two widths
    sample = np.sort(v[::step])
    ms = sample.size
    margin = 3 * int(math.isqrt(ms)) + 8
    # one bracket per group of nearby ranks (sample positions within the margins)
    groups: list[list[int]] = []
    spans: list[list[int]] = []
    for j, r in enumerate(ranks.tolist()):
        p = int(r * ms // n)
        lo_i, hi_i = max(0, p - margin), min(ms - 1, p + margin)
        if spans and lo_i <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi_i)
            groups[-1].append(j)
        else:
            spans.append([lo_i, hi_i])
            groups.append([j])
    out = np.empty(ranks.size, dtype=v.dtype)
    for (lo_i, hi_i), members in zip(spans, groups):
        has_lo, has_hi = lo_i > 0, hi_i < ms - 1
        if not (has_lo or has_hi):
            return np.partition(v, ranks)[ranks]
        a, b = sample[lo_i], sample[hi_i]
        if has_lo and has_hi:
            below = int(np.count_nonzero(v < a))
            keep = v >= a
            keep &= v <= b
        elif has_lo:
            keep = v >= a
            below = n - int(np.count_nonzero(keep))
        else:
            below = 0
            keep = v <= b
        inside = v[keep]
        sub = ranks[members] - below
        if sub.min() < 0 or sub.max() >= inside.size:  # the sample misled us: exact anyway
            return np.partition(v, ranks)[ranks]
        out[members] = np.partition(inside, sub)[sub]
    return out


def percentiles(values: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Exact percentiles (linear interpolation, as :func:`numpy.percentile`), without sorting.

    The percentile ``q`` of ``n`` sorted values lies at position ``h = (n − 1)·q/100`` and is
    interpolated between its neighbours ``a = x[⌊h⌋]`` and ``b = x[⌊h⌋ + 1]`` with weight
    ``g = h − ⌊h⌋``: ``a + (b − a)·g`` for ``g < 0.5`` and ``b − (b − a)·(1 − g)`` otherwise
    (so the result stays between ``a`` and ``b`` in floating point). The order statistics come
    from :func:`_select`, not from a partition of a copy of the whole array; the numbers are
    those of :func:`numpy.percentile`, bit for bit (the tests compare them).

    Parameters
    ----------
    values : numpy.ndarray
        1-D, no NaN, at least one value.
    q : sequence of float
        Percentiles in [0, 100].

    Returns
    -------
    numpy.ndarray
        One float64 value per percentile (the input's type for float types wider than that).
    """
    x = np.asarray(values)
    n = x.shape[0]
    h = (n - 1) * np.true_divide(q, 100)
    i = np.clip(np.floor(h), 0, n - 1).astype(np.intp)
    j = np.minimum(i + 1, n - 1)
    g = h - i
    ranks = np.unique(np.concatenate((i, j)))
    order = _select(x, ranks)
    a, b = order[np.searchsorted(ranks, i)], order[np.searchsorted(ranks, j)]
    span = b - a
    return np.where(g < 0.5, a + span * g, b - span * (1 - g))


def _frame(dataset: Dataset, frame: Any) -> np.ndarray:
    if dataset.signal_dims != 2:
        raise ParameterError(
            f"render needs an image or a stack of images; {dataset.title or 'the dataset'!r} is "
            f"a {dataset.kind} with shape {dataset.shape}")
    nav = dataset.nav_shape
    if frame is None:
        index: tuple[int, ...] = (0,) * len(nav)
    else:
        index = tuple(int(i) for i in (frame if isinstance(frame, (tuple, list)) else (frame,)))
        if len(index) != len(nav):
            raise ParameterError(f"frame {index} does not match the navigation shape {nav}")
        for i, n in zip(index, nav):
            if not -n <= i < n:
                raise ParameterError(f"frame {index} is out of range for navigation shape {nav}")
    data = dataset.data[index] if index else dataset.data
    if type(data).__module__.split(".")[0] == "dask":
        data = data.compute()
    if type(data).__module__.split(".")[0] == "cupy":
        data = data.get()
    return np.asarray(data)


def render(dataset: Dataset, display: Mapping[str, Any] | None = None) -> np.ndarray:
    """Render an image (or one frame of a stack) to RGB with the given display settings.

    Parameters
    ----------
    dataset : Dataset
        An image, or a dataset with two signal axes (the frame is chosen by ``frame``).
        1-D signals are not rendered (a :class:`ParameterError` is raised).
    display : mapping, optional
        ``cmap`` (one of :data:`COLORMAPS`, default :func:`default_cmap`; ``"labels"`` draws
        each integer value in its own colour, 0 black, ignoring the range), ``clim`` ((low, high)),
        ``auto_saturation`` (percent, default 0.35), ``gamma`` (default 1), ``mapping``
        (``"linear"``, ``"log"`` or ``"sqrt"``), ``invert`` (bool), ``frame`` (navigation
        index tuple, default the first frame), ``complex`` (what is shown of complex data,
        one of :data:`COMPLEX_MODES`; default :func:`default_complex_mode`).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8.

    Raises
    ------
    ParameterError
        For a 1-D signal, an out-of-range frame or an invalid setting.
    """
    disp = dict(display or {})
    cmap = str(disp.get("cmap") or default_cmap(dataset))
    lut = colormap(cmap)
    mapping = str(disp.get("mapping", "linear"))
    if mapping not in _MAPPINGS:
        raise ParameterError(f"mapping must be one of {', '.join(_MAPPINGS)}, got {mapping!r}")
    gamma = float(disp.get("gamma", 1.0))
    if not gamma > 0:
        raise ParameterError(f"gamma must be > 0, got {gamma}")
    img = _frame(dataset, disp.get("frame"))
    if cmap.lower() == "labels" and not np.iscomplexobj(img):
        # categorical: each label its own colour, whatever the range, mapping or gamma
        from .palette import label_indices

        return lut[label_indices(img)]
    if np.iscomplexobj(img):
        img = complex_part(img, str(disp.get("complex") or default_complex_mode(dataset)))
    img = img.astype(np.float64)
    clim = disp.get("clim")
    if clim is None:
        lo, hi = auto_clim(img, float(disp.get("auto_saturation", 0.35)))
    else:
        lo, hi = (float(v) for v in clim)
        if not hi > lo:
            raise ParameterError(f"clim must be (low, high) with low < high, got {clim}")
    nan = np.isnan(img)
    invert = bool(disp.get("invert", False))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if mapping == "linear" and gamma == 1.0:
            # exact: round(255 * (v - lo) / (hi - lo))
            x = np.clip(255.0 * (img - lo) / (hi - lo), 0.0, 255.0)
            x[nan] = 0.0
            idx = np.rint(x).astype(np.intp)
            if invert:
                idx = 255 - idx
        else:
            t = np.clip((img - lo) / (hi - lo), 0.0, 1.0)
            t[nan] = 0.0
            if mapping == "sqrt":
                t = np.sqrt(t)
            elif mapping == "log":
                t = np.log10(1.0 + 999.0 * t) / 3.0
            if gamma != 1.0:
                t = t ** gamma
            if invert:
                t = 1.0 - t
            idx = np.rint(t * 255.0).astype(np.intp)
    idx[nan] = 0
    return lut[idx]
