"""A categorical palette for label images.

255 colours, each as different from the others as possible, so that neighbouring objects of a
segmentation are told apart at a glance.

The colours are chosen greedily in CIE L*a*b* (the method of Glasbey, van der Heijden, Toh and
Gray, J. Appl. Stat. 34, 2007): start from black (the background, label 0), then repeatedly add
the candidate of a 32-level RGB grid farthest from every colour chosen so far. Candidates that
are very dark or very light are left out, so that objects stand out from a black background and
from each other's white outlines. The result is deterministic (no random numbers) and computed
once per process (about 0.2 s).
"""

from __future__ import annotations

from functools import cache

import numpy as np

__all__ = ["label_palette", "label_indices"]


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB in [0, 1] (N, 3) to CIE L*a*b* (D65 white)."""
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]),
                     200 * (f[:, 1] - f[:, 2])], axis=1)


@cache
def label_palette(n: int = 256) -> np.ndarray:
    """Return the categorical lookup table: entry 0 black, entries 1… maximally distinct.

    Parameters
    ----------
    n : int
        Number of entries (2–1024), background included.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` uint8, read-only.

    Raises
    ------
    ValueError
        When ``n`` is out of range.
    """
    if not 2 <= n <= 1024:
        raise ValueError(f"a label palette has 2 to 1024 entries, got {n}")
    levels = np.linspace(0.0, 1.0, 32)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _srgb_to_lab(grid)
    keep = (lab[:, 0] > 35) & (lab[:, 0] < 92)  # visible on black, distinct from white
    grid, lab = grid[keep], lab[keep]
    chosen = [np.zeros(3)]
    nearest = np.sum((lab - _srgb_to_lab(np.zeros((1, 3)))) ** 2, axis=1)
    for _ in range(n - 1):
        k = int(np.argmax(nearest))
        chosen.append(grid[k])
        nearest = np.minimum(nearest, np.sum((lab - lab[k]) ** 2, axis=1))
    lut = np.rint(np.array(chosen) * 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def label_indices(labels: np.ndarray, n: int = 256) -> np.ndarray:
    """Map label values to palette entries.

    0 (and negatives, NaN) → 0, label k → 1 + (k−1) mod (n−1): consecutive labels get the most
    different colours, and large label numbers cycle through the palette.

    Parameters
    ----------
    labels : numpy.ndarray
        Label image (integers, or floats holding integers).
    n : int
        Palette size.

    Returns
    -------
    numpy.ndarray
        Indices into :func:`label_palette` (uint8 when ``n`` ≤ 256, else uint16), same shape.
    """
    a = np.asarray(labels)
    if a.dtype.kind == "f":
        ok = np.isfinite(a) & (a >= 1)
        k = np.where(ok, a, 1).astype(np.int64)
    elif a.dtype.kind == "b":
        ok = a
        k = a.astype(np.int64)
    else:
        ok = a >= 1
        k = a.astype(np.int64, copy=False)
    idx = np.where(ok, (k - 1) % (n - 1) + 1, 0)
    return idx.astype(np.uint8 if n <= 256 else np.uint16)
