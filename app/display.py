"""Display helpers shared by the views: lookup tables, display ranges and colormap names.

The on-screen rendering follows :mod:`micrographia.io.render` (the PNG exporter) step by step
so that what the user sees and what ``mg.save(..., "x.png")`` writes agree:

``t = clip((v - low) / (high - low), 0, 1)`` → mapping (linear, sqrt or log) → ``t ** gamma``
→ invert → ``colormap[round(255 t)]``.

pyqtgraph's :class:`~pyqtgraph.ImageItem` only maps values linearly between its levels onto the
entries of a lookup table, so the mapping, gamma, invert and colormap are folded into one long
table (:data:`LUT_SIZE` entries, one per small step of ``t``, fine enough for the steep start of
the log mapping) by :func:`lut`, and the levels come
from :func:`levels`.

The colormaps (including the diverging ``"RdBu"`` and the cyclic ``"phase"``) are those of
:mod:`micrographia.io.render`, so exported PNGs use the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from micrographia.errors import ParameterError
from micrographia.io import render as _render

__all__ = ["AUTO_SAMPLE", "COLORMAPS", "LUT_SIZE", "MAPPINGS", "DEFAULTS", "colormap", "lut",
           "levels", "normalize_settings"]

#: Number of entries of the lookup tables handed to pyqtgraph (fine enough that the
#: on-screen colour of a value differs from the exported PNG's by at most one grey level).
LUT_SIZE = 65536

#: Auto-contrast of frames with more values than this uses an evenly strided sample of them.
AUTO_SAMPLE = 1 << 20

#: Value mappings applied between the display range and the colormap.
MAPPINGS: tuple[str, ...] = ("linear", "sqrt", "log")

#: Display settings of a freshly opened view.
DEFAULTS: dict[str, Any] = {"cmap": "grey", "clim": None, "gamma": 1.0, "mapping": "linear",
                            "invert": False, "auto_saturation": 0.35}

#: Colormap names offered in the Colormaps menu.  ``grey`` first; ``viridis``, ``cividis``
#: and ``RdBu`` are colour-blind safe; ``RdBu`` is diverging (use a clim symmetric about
#: zero); ``phase`` is cyclic (for phase images in radians); ``labels`` is categorical (each
#: integer its own colour, 0 black: label images, chosen by default for them).
COLORMAPS: list[str] = ["grey", "viridis", "inferno", "magma", "plasma", "cividis", "hot",
                        "RdBu", "phase", "labels"]


@cache
def colormap(name: str) -> np.ndarray:
    """Return the 256-entry RGB table of a colormap.

    Parameters
    ----------
    name : str
        One of :data:`COLORMAPS` or any name :func:`micrographia.io.render.colormap` knows
        (``"gray"`` is accepted for ``"grey"``).

    Returns
    -------
    numpy.ndarray
        ``(256, 3)`` uint8, read-only.

    Raises
    ------
    ParameterError
        For an unknown name.
    """
    try:
        return _render.colormap(name)
    except ParameterError:
        raise ParameterError(
            f"unknown colormap {name!r}; known: {', '.join(COLORMAPS)}") from None


def normalize_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Validate display settings and return them in canonical form.

    Parameters
    ----------
    settings : mapping
        Any of ``cmap``, ``clim`` ((low, high) or None for auto-contrast), ``gamma``,
        ``mapping``, ``invert``, ``auto_saturation`` and ``frame`` (navigation index).

    Returns
    -------
    dict
        The same keys with checked, converted values.

    Raises
    ------
    ParameterError
        On an unknown key or an invalid value.
    """
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "cmap":
            colormap(str(value))
            out[key] = str(value)
        elif key == "clim":
            if value is None:
                out[key] = None
                continue
            lo, hi = (float(v) for v in value)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ParameterError(f"clim must be (low, high) with low < high, got {value}")
            out[key] = (lo, hi)
        elif key == "gamma":
            g = float(value)
            if not (np.isfinite(g) and g > 0):
                raise ParameterError(f"gamma must be > 0, got {value}")
            out[key] = g
        elif key == "mapping":
            if str(value) not in MAPPINGS:
                raise ParameterError(
                    f"mapping must be one of {', '.join(MAPPINGS)}, got {value!r}")
            out[key] = str(value)
        elif key == "invert":
            out[key] = bool(value)
        elif key == "auto_saturation":
            s = float(value)
            if not 0 <= s < 100:
                raise ParameterError(f"auto_saturation must be in [0, 100), got {value}")
            out[key] = s
        elif key == "frame":
            out[key] = tuple(int(i) for i in (value if isinstance(value, (tuple, list))
                                              else (value,)))
        else:
            raise ParameterError(
                f"unknown display setting {key!r}; known: cmap, clim, gamma, mapping, invert, "
                "auto_saturation, frame")
    return out


def lut(settings: Mapping[str, Any]) -> np.ndarray:
    """Build the lookup table for :meth:`pyqtgraph.ImageItem.setLookupTable`.

    Entry ``k`` of the table is the colour of the normalised value ``t = (k + 0.5) / N``
    (``N`` = :data:`LUT_SIZE`, the way pyqtgraph indexes a table between its levels; the
    first and last entries use exactly 0 and 1, where clipped values land) after
    the mapping, gamma and invert steps of :func:`micrographia.io.render.render`.

    Parameters
    ----------
    settings : mapping
        ``cmap`` (default ``"grey"``), ``gamma`` (default 1), ``mapping`` (default
        ``"linear"``), ``invert`` (default False); other keys are ignored.

    Returns
    -------
    numpy.ndarray
        ``(LUT_SIZE, 3)`` uint8.

    Raises
    ------
    ParameterError
        On an unknown colormap or mapping or a gamma that is not positive.
    """
    s = normalize_settings({k: settings[k] for k in ("cmap", "gamma", "mapping", "invert")
                            if k in settings})
    return _lut(s.get("cmap", "grey"), s.get("gamma", 1.0), s.get("mapping", "linear"),
                s.get("invert", False)).copy()


@cache
def _lut(cmap: str, gamma: float, mapping: str, invert: bool) -> np.ndarray:
    table = colormap(cmap)
    t = (np.arange(LUT_SIZE, dtype=np.float64) + 0.5) / LUT_SIZE
    t[0], t[-1] = 0.0, 1.0  # values at or beyond the levels (clipped) get the exact ends
    if mapping == "sqrt":
        t = np.sqrt(t)
    elif mapping == "log":
        t = np.log10(1.0 + 999.0 * t) / 3.0
    if gamma != 1.0:
        t = t ** gamma
    if invert:
        t = 1.0 - t
    out = table[np.rint(t * 255.0).astype(np.intp)]
    out.flags.writeable = False
    return out


def levels(frame: np.ndarray, settings: Mapping[str, Any]) -> tuple[float, float]:
    """Return the display range (low, high) for a frame.

    Parameters
    ----------
    frame : numpy.ndarray
        The values shown (complex values: their magnitude is used).
    settings : mapping
        ``clim`` is used when set; otherwise the auto-contrast range that saturates
        ``auto_saturation`` percent (default 0.35) of the finite values, half in each tail
        (:func:`micrographia.io.render.auto_clim`, ImageJ's "Auto"); frames larger than
        :data:`AUTO_SAMPLE` values use an evenly strided sample.

    Returns
    -------
    tuple of float
        ``(low, high)`` with ``low < high``.
    """
    clim = settings.get("clim")
    if clim is not None:
        lo, hi = (float(v) for v in clim)
        if lo < hi:
            return lo, hi
    values = np.asarray(frame)
    if np.iscomplexobj(values):
        values = np.abs(values)
    if values.dtype.kind == "b":
        values = values.astype(np.uint8)
    if values.size > AUTO_SAMPLE:
        # large frames: percentiles of an evenly strided sample (fast enough per frame); an
        # odd stride walks through all columns of power-of-two-wide frames
        values = values.ravel()[:: int(np.ceil(values.size / AUTO_SAMPLE)) | 1]
    return _render.auto_clim(values, float(settings.get("auto_saturation", 0.35)))
